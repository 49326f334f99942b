"""Token healing in SLEM's drafter: it changes what is proposed, never what is output.

A drafter context that ends in whitespace is backed off by one token and the first drafted token
must spell that whitespace again (``specviz.algorithms.slem.healable_tail``). These tests check the
rule itself, that the drafter's context always spells exactly the committed text, and that output
is unchanged.
"""

from types import SimpleNamespace

import pytest
from conftest import CROSS_PAIRS, Wrapped, tiny

import specviz as sv
from specviz.algorithms.slem import healable_tail
from specviz.models.base import LanguageModel

PROMPTS = ["def area(r):\n    ", "line one\n", "two spaces  ", "The rain\n\n", "x =\t", "The rain"]


class Recording(Wrapped):
    """A model that remembers the context of every forward pass it is asked for."""

    def __init__(self, inner: LanguageModel) -> None:
        super().__init__(inner)
        self.calls = []

    def logits(self, ids, n=1):
        self.calls.append(list(ids))
        return self.inner.logits(ids, n)


def test_which_tails_are_healed():
    vocab = tiny("spm-vs-bpe").drafter.vocab  # byte-level BPE
    ids = vocab.encode_continuation(b"def f():\n    ")
    assert vocab.token_bytes[ids[-1]].isspace() and healable_tail(vocab, ids)  # indentation
    assert healable_tail(vocab, vocab.encode_continuation(b"line\n")) == b"\n"
    assert healable_tail(vocab, vocab.encode_continuation(b"costs ")) == b""  # a lone space
    assert healable_tail(vocab, vocab.encode_continuation(b"words")) == b""
    assert healable_tail(vocab, vocab.encode_continuation(b"\n\n")[-1:]) == b""  # nothing before


@pytest.mark.parametrize("name", CROSS_PAIRS)
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_drafter_context_spells_the_committed_text(name, temperature):
    """Before every draft, the drafter's context plus the healed whitespace spells exactly its
    prompt and the output so far; the candidates' text is the draft's text after that whitespace."""
    base = tiny(name)
    drafter = Recording(base.drafter)
    pair = sv.ModelPair(base.target, drafter)
    healed_drafts = 0
    for prompt in PROMPTS:
        for heal in (True, False):
            starts = []
            hooks = SimpleNamespace(on_draft=lambda event: starts.append(len(drafter.calls)))
            before = len(drafter.calls)
            res = sv.generate(pair, prompt, sv.SLEM(lookahead=4, heal=heal), max_new_tokens=16,
                              temperature=temperature, seed=1, hooks=hooks)
            reference = sv.generate(base, prompt, "autoregressive", max_new_tokens=16,
                                    temperature=temperature, seed=1)
            assert res.token_ids == reference.token_ids, (prompt, heal)
            committed = drafter.vocab.bytes_of(drafter.prompt_ids(prompt))  # SentencePiece: " " + prompt
            for it, end in zip(res.trace.iterations, starts):
                draft, translate = it.get("draft"), it.get("translate")
                if draft.tokens:
                    first = drafter.calls[before]
                    assert drafter.vocab.bytes_of(first) + draft.healed.encode() == committed
                    assert draft.text.startswith(draft.healed)
                    assert translate.text == draft.text[len(draft.healed):]
                    healed_drafts += bool(draft.healed)
                    assert heal or not draft.healed
                committed += base.target.vocab.bytes_of(it.get("accept").committed)
                before = end
    assert healed_drafts > 0
