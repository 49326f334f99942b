"""SLEM, String-Level Exact Match (Timor et al., ICML 2025).

The drafter drafts in its own vocabulary; the draft's *text* is re-tokenized by the target's
tokenizer (with a look-behind, so that merges across the old boundary come out right); the target
keeps candidates only where they equal its own pick. Nothing is resampled, so it is lossless for any
drafter at any temperature. Under sampling its acceptance is only sum_t p(t) psi(t): even a drafter
identical to the target agrees with the target's independent draw less often than under greedy.

Token healing (``healable_tail``) lives here too: when the drafter's context ends in whitespace it
backs that token off, lets the draft spell it again, and the drafter's catch-up takes it back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..trace import TranslateEvent
from ..vocab import Vocabulary
from .base import Algorithm, Candidates, Decoding, Draft, draft_tokens, respell
from .rules import Verdict, exact_match


@dataclass
class SLEMDraft(Draft):
    """A draft that may have been healed: ``healed`` is the spelling of the drafter context's last
    token that drafting backed off; the tokens then spell ``healed`` first, then the new text."""

    healed: bytes = b""


def healable_tail(vocab: Vocabulary, ids: list[int]) -> bytes:
    """The spelling of the context's last token if drafting should re-spell it (token healing).

    Byte-level BPE keeps whitespace whole at the *end* of a text ("\\n" + 8 spaces), but in running
    text a newline joins the indentation after it and the last space joins the next word ("\\n" + 7
    spaces, then " total"). A drafter context that ends in such a token is one the drafter rarely saw
    in training, and its next guess suffers. Token healing backs that token off and lets the first
    drafted token spell it again. A lone space is left alone: in running text it stands on its own
    before digits, and the target committing it alone tells the drafter that a number follows.
    """
    last = vocab.token_bytes[ids[-1]] if len(ids) > 1 else None
    return last if last and last.isspace() and last != b" " else b""


class SLEM(Algorithm):
    """Draft text, re-tokenize it for the target, verify by exact match.

    ``heal=True`` (the default) drafts with token healing when the drafter's context ends in
    whitespace (``healable_tail``). Only the proposals change, so SLEM stays lossless.
    """

    name = "slem"

    def __init__(self, lookahead: int = 4, lookbehind: int = 10, heal: bool = True) -> None:
        super().__init__(lookahead, lookbehind)
        if not isinstance(heal, bool):
            raise ValueError(f"heal must be True (token healing, the default) or False, got {heal!r}")
        self.heal = heal

    def params(self) -> dict:
        return {**super().params(), "heal": self.heal}

    def draft(self, run: Decoding) -> SLEMDraft:
        # Drafter tokens do not map one to one onto candidates: draft a full lookahead whenever
        # one candidate fits (translate cuts the candidates to the budget).
        n, limit = (self.lookahead, "lookahead") if run.candidate_budget() > 0 else (0, "budget")
        whole = run.drafter.draft_continuation(run, n, limit)  # prompt lookup: a copy, no pass
        if whole is not None:
            return SLEMDraft(whole.tokens, whole.event, whole.laws, whole.max_candidates)
        healed = healable_tail(run.drafter.vocab, run.drafter_ids) if self.heal and n > 0 else b""
        if healed:  # draft after the context without its last token; the first token re-spells it
            draft = draft_tokens(run, n, limit=limit, context=run.drafter_ids[:-1],
                                 first=run.drafter.vocab.ids_starting_with(healed))
        else:
            draft = draft_tokens(run, n, limit=limit)
        healed = healed if draft.tokens else b""
        draft.event.healed = healed.decode("utf-8", errors="replace")
        return SLEMDraft(draft.tokens, draft.event, draft.laws, healed=healed)

    def translate(self, run: Decoding, draft: SLEMDraft) -> Candidates:
        target, drafter = run.target.vocab, run.drafter.vocab
        text_tokens = draft.tokens[:-1] if draft.ended_with_eos else draft.tokens
        new = drafter.bytes_of(text_tokens)[len(draft.healed):]
        cont = target.continue_ids(run.target_ids, new, self.lookbehind, rewrite=False)
        tokens = list(cont.ids)
        if draft.ended_with_eos and not cont.dropped and target.eos_ids:
            tokens.append(min(target.eos_ids))  # the drafter ended its text: propose the target's EOS
        if draft.max_candidates is not None:  # a copied draft: keep its first candidates only
            tokens = tokens[:draft.max_candidates]
        over_budget, tokens = tokens[run.candidate_budget():], tokens[:run.candidate_budget()]
        if draft.max_candidates is not None:  # copied text beyond the candidates is not proposed
            kept, spelled = len(target.bytes_of(tokens)), 0
            for i, token in enumerate(draft.tokens):
                draft.event.used[i] = spelled < kept
                spelled += len(drafter.token_bytes[token] or b"")
        event = TranslateEvent(
            iteration=run.iteration, text=new.decode("utf-8", errors="replace"),
            window_ids=cont.window, window_text=target.text_of(cont.window),
            target_tokens=tokens, target_texts=[target.describe(t) for t in tokens],
            dropped=cont.dropped.decode("utf-8", errors="replace"),
            over_budget=[target.describe(t) for t in over_budget])
        return Candidates(tokens, event, drafter_path=draft.tokens)

    def verify(self, run: Decoding, cand: Candidates, p: torch.Tensor,
               scores: torch.Tensor) -> Verdict:
        """Exact match at every temperature: SLEM has no proposal law to reject with."""
        return exact_match(run, cand, p, scores)

    def catch_up(self, run: Decoding, draft: SLEMDraft, cand: Candidates,
                 committed: list[int]) -> None:
        """As every algorithm does, except after a healed draft: that one continued the drafter's
        context without its last token, which its first token spells again, so the context drops
        it and the committed text starts with it."""
        if not draft.healed or run.pair.same_vocabulary:
            return super().catch_up(run, draft, cand, committed)
        run.drafter_ids = respell(run, run.drafter_ids[:-1], cand.drafter_path,
                                  draft.healed + run.target.vocab.bytes_of(committed))
