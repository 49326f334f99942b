"""Greedy decoding: every algorithm must reproduce the target's own greedy output token for token."""

import pytest
import torch
from conftest import CROSS_PAIRS, Wrapped, mimic, tiny

import specviz as sv
from specviz.lossless import fate_of
from specviz.models.base import LanguageModel

PROMPTS = [
    "The weather today is", " leading space", "trailing space ", "  two leading spaces",
    "line one\nline two\n", "\n\nstarts with newlines", "def area(r):\n    return", "1234 + 5678 =",
    "Call 555-0199 at 09:30", "Wow!!! ...?! --", "(a, b) -> [c]", "café crème brûlée",
    "El niño soñó", "中文 text", "🌈 rainbow 🙂", "Ünïcödé ß", "x", "The", "a b c d e f g",
    "Tabs\tand\tmore", "rain, rain, rain", "quote \"this\" and 'that'",
]


def hf_greedy(model, tokenizer, prompt, n):
    inputs = tokenizer(prompt, return_tensors="pt")
    out = model.generate(**inputs, do_sample=False, max_new_tokens=n, top_k=None, top_p=None)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("name", [*CROSS_PAIRS, "shared-vocab"])
def test_every_algorithm_equals_target_greedy(name):
    pair = tiny(name)
    algorithms = ["slem", "tli", "slrs"] + (["sd"] if pair.same_vocabulary else [])
    target = pair.target
    for prompt in PROMPTS:
        reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=16)
        assert reference.token_ids == hf_greedy(target.model, target.tokenizer, prompt, 16), prompt
        for algorithm in algorithms:
            for lookahead in (4,) if prompt not in PROMPTS[:4] else (1, 4, 7):
                res = sv.generate(pair, prompt, algorithm, max_new_tokens=16, lookahead=lookahead)
                assert res.token_ids == reference.token_ids, (algorithm, lookahead, prompt)
                assert res.text == reference.text


@pytest.mark.parametrize("name", [*CROSS_PAIRS, "shared-vocab"])
def test_greedy_equality_where_drafts_are_kept_partly_kept_and_rejected(name):
    """With a drafter that often agrees (``conftest.mimic``), commit-after-accept, the rollback
    after a partial acceptance and the target's own token after a rejection all run; each must
    leave the output equal to plain greedy decoding. The test asserts that all three happened:
    drafts all kept and none kept for every algorithm, partly kept for at least one (greedy SLRS
    on bpe-vs-spm keeps all or nothing on these prompts)."""
    pair = mimic(name)
    algorithms = ["slem", "tli", "slrs"] + (["sd"] if pair.same_vocabulary else [])
    partly = 0
    for algorithm in algorithms:
        fates = {"all kept": 0, "partly kept": 0, "none kept": 0}
        for prompt in PROMPTS[:8]:
            reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=16)
            res = sv.generate(pair, prompt, algorithm, max_new_tokens=16, lookahead=4)
            assert res.token_ids == reference.token_ids, (algorithm, prompt)
            for it in res.trace.iterations:
                accept = it.get("accept")
                if accept.candidates:
                    fates[fate_of(accept.accepted, accept.candidates)] += 1
        assert fates["all kept"] and fates["none kept"], (algorithm, fates)
        partly += fates["partly kept"]
    assert partly, "no draft was partly kept"


def test_greedy_breaks_ties_as_plain_decoding_does():
    """Greedy is the argmax of the logits, first index on an exact tie, as in Hugging Face. Two
    logits 1e-9 apart can round to one probability in a float32 softmax (an argmax over
    probabilities would then pick the first); plain decoding picks the larger."""
    base = mimic("spm-vs-bpe")
    low, high = 40, 70

    class Tied(Wrapped):
        def __init__(self, inner, gap):
            super().__init__(inner)
            self.gap = gap

        def logits(self, ids, n=1):
            out = self.inner.logits(ids, n).clone()
            out -= out.amax(-1, keepdim=True) + 1.0
            out[:, low], out[:, high] = 0.0, self.gap
            return out

    for gap, winner in ((0.0, low), (1e-9, high)):
        pair = sv.ModelPair(Tied(base.target, gap), base.drafter)
        for algorithm in ("autoregressive", "slem", "tli", "slrs"):
            res = sv.generate(pair, "The", algorithm, max_new_tokens=4)
            assert res.token_ids == [winner] * 4, (gap, algorithm)


def test_greedy_with_repetition_penalty_equals_hugging_face():
    """The target's settings apply under greedy decoding too: repetition penalty changes the
    argmax, exactly as Hugging Face's generate(repetition_penalty=...) does."""
    pair = mimic("spm-vs-bpe")
    target = pair.target
    changed = 0
    for prompt in PROMPTS[:8]:
        inputs = target.tokenizer(prompt, return_tensors="pt")
        out = target.model.generate(**inputs, do_sample=False, max_new_tokens=12, top_k=None,
                                    top_p=None, repetition_penalty=1.8)
        expected = out[0, inputs["input_ids"].shape[1]:].tolist()
        for algorithm in ("autoregressive", "slem", "tli", "slrs"):
            res = sv.generate(pair, prompt, algorithm, max_new_tokens=12, repetition_penalty=1.8)
            assert res.token_ids == expected, (algorithm, prompt)
        changed += expected != sv.generate(pair, prompt, "autoregressive",
                                           max_new_tokens=12).token_ids
    assert changed > 0  # the penalty mattered


class EosBias(Wrapped):
    """A model whose EOS logit is raised by ``bias``: makes EOS turn up inside drafts."""

    def __init__(self, inner: LanguageModel, bias: float) -> None:
        super().__init__(inner)
        self.bias = bias

    def logits(self, ids, n=1):
        out = self.inner.logits(ids, n).clone()
        out[:, sorted(self.vocab.eos_ids)] += self.bias
        return out

    def branch_logits(self, ids, branches):
        out = self.inner.branch_logits(ids, branches).clone()
        out[:, sorted(self.vocab.eos_ids)] += self.bias
        return out


def test_eos_inside_a_draft_stops_there():
    """Raise EOS in both models until drafts propose it. The output must equal plain greedy
    decoding and stop at the target's first EOS, also when that EOS is an accepted draft token
    (the bonus token the verify pass yields after it must be dropped)."""
    drafted_eos = accepted_eos = 0
    for name, bias in (("spm-vs-bpe", 10.0), ("shared-vocab", 12.0)):
        base = tiny(name)
        pair = sv.ModelPair(EosBias(base.target, bias), EosBias(base.drafter, bias))
        eos = pair.target.vocab.eos_ids
        algorithms = ["slem", "tli", "slrs"] + (["sd"] if pair.same_vocabulary else [])
        for prompt in PROMPTS:
            reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=24)
            for algorithm in algorithms:
                res = sv.generate(pair, prompt, algorithm, max_new_tokens=24, lookahead=6)
                assert res.token_ids == reference.token_ids, (name, algorithm, prompt)
                assert all(t not in eos for t in res.token_ids[:-1])
                drafted_eos += sum(any(t in eos for t in it.get("translate").target_tokens)
                                   for it in res.trace.iterations)
                last = res.trace.iterations[-1].get("accept")
                accepted_eos += last.finished == "eos" and len(last.committed) <= last.accepted
    assert drafted_eos > 0 and accepted_eos > 0


def test_stops_at_max_new_tokens_exactly(toy):
    pair = tiny("shared-vocab")
    for n in (0, 1, 2, 3, 7):
        for algorithm in ("autoregressive", "sd", "slem", "tli", "slrs"):
            res = sv.generate(pair, "The weather", algorithm, max_new_tokens=n, lookahead=5)
            assert len(res.token_ids) == n or res.stats.finish_reason == "eos"
            assert res.stats.new_tokens == len(res.token_ids)


def test_same_seed_same_output_and_trace():
    pair = tiny("spm-vs-bpe")
    for algorithm in ("slem", "tli", "slrs"):
        a = sv.generate(pair, "The rain", algorithm, max_new_tokens=12, temperature=0.8, seed=5)
        b = sv.generate(pair, "The rain", algorithm, max_new_tokens=12, temperature=0.8, seed=5)
        assert a.token_ids == b.token_ids
        strip = lambda t: [(e.phase, {k: v for k, v in vars(e).items() if k != "seconds"})
                           for e in t.events]
        assert strip(a.trace) == strip(b.trace)


def test_slem_sampling_is_the_target_sampler_itself():
    """SLEM spends one target draw per output token, like plain sampling: same seed, same text."""
    for name in ("spm-vs-bpe", "bpe-vs-char"):
        pair = tiny(name)
        for seed in range(5):
            ar = sv.generate(pair, "The weather", "autoregressive", max_new_tokens=12,
                             temperature=1.0, seed=seed)
            slem = sv.generate(pair, "The weather", "slem", max_new_tokens=12, temperature=1.0,
                               seed=seed)
            assert slem.token_ids == ar.token_ids


def test_kv_cache_logits_match_a_full_forward_pass():
    """Crop-and-extend through the cache gives the logits of a fresh full pass."""
    model = tiny("spm-vs-bpe").target
    ids = model.prompt_ids("The weather today is fine and warm")
    model.reset()
    model.logits(ids + [5, 6, 7], 3)  # fill the cache with a 'draft'
    cached = model.logits(ids + [8, 9], 2)  # reject it: crop back to ids, feed new tokens
    with torch.inference_mode():
        full = model.model(torch.tensor([ids + [8, 9]])).logits[0, -2:]
    torch.testing.assert_close(cached, full, atol=1e-4, rtol=1e-4)
    branches = model.branch_logits(ids, [[3, 4], [5, 6], [7, 8]])
    one_by_one = torch.stack([model.logits(ids + b, 1)[0] for b in ([3, 4], [5, 6], [7, 8])])
    torch.testing.assert_close(branches, one_by_one, atol=1e-4, rtol=1e-4)


def test_sd_with_a_drafter_head_wider_than_the_target_vocabulary():
    """Padding ids past the target's vocabulary spell nothing: SD must never propose them (it used
    to crash the verify pass with an IndexError when one was drawn). Here they hold most of q."""
    import dataclasses

    base = mimic("shared-vocab")
    extra = 24

    class WideHead(Wrapped):
        def __init__(self, inner):
            super().__init__(inner)
            self.vocab = dataclasses.replace(inner.vocab,
                                             token_bytes=[*inner.vocab.token_bytes, *[None] * extra])

        def logits(self, ids, n=1):
            out = self.inner.logits(ids, n)
            return torch.cat([out, out.amax(-1, keepdim=True).expand(-1, extra)], -1)

    pair = sv.ModelPair(base.target, WideHead(base.drafter))
    assert pair.same_vocabulary
    width = pair.target.vocab.size
    reference = sv.generate(pair, "The rain", "autoregressive", max_new_tokens=12)
    assert sv.generate(pair, "The rain", "sd", max_new_tokens=12).token_ids == reference.token_ids
    kept = 0
    for seed in range(20):
        res = sv.generate(pair, "The rain", "sd", max_new_tokens=12, temperature=1.0, seed=seed)
        assert all(t < width for it in res.trace.iterations
                   for t in it.get("translate").target_tokens)
        kept += res.stats.accepted
    assert kept > 0
