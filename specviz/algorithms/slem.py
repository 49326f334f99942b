"""SLEM, String-Level Exact Match (Timor et al., ICML 2025).

The drafter drafts in its own vocabulary; the draft's *text* is re-tokenized by the target's
tokenizer (with a look-behind, so that merges across the old boundary come out right); the target
keeps candidates only where they equal its own pick. Nothing is resampled, so it is lossless for any
drafter at any temperature. Under sampling its acceptance is only sum_t p(t) psi(t): even a drafter
identical to the target agrees with the target's independent draw less often than under greedy.
"""

from __future__ import annotations

from ..trace import TranslateEvent
from .base import Algorithm, Candidates, Decoding, Draft, draft_tokens


class SLEM(Algorithm):
    """Draft text, re-tokenize it for the target, verify by exact match.

    ``heal=True`` (the default) drafts with token healing when the drafter's context ends in
    whitespace (``base.healable_tail``). Only the proposals change, so SLEM stays lossless.
    """

    name = "slem"

    def __init__(self, lookahead: int = 4, lookbehind: int = 10, heal: bool = True) -> None:
        super().__init__(lookahead, lookbehind)
        if not isinstance(heal, bool):
            raise ValueError(f"heal must be True (token healing, the default) or False, got {heal!r}")
        self.heal = heal

    def params(self) -> dict:
        return {**super().params(), "heal": self.heal}

    def draft(self, run: Decoding) -> Draft:
        # Drafter tokens do not map one to one onto candidates: draft a full lookahead whenever
        # one candidate fits (translate cuts the candidates to the budget).
        n, limit = (self.lookahead, "lookahead") if run.candidate_budget() > 0 else (0, "budget")
        whole = run.drafter.draft_continuation(run, n, limit)  # prompt lookup: a copy, no pass
        return whole if whole is not None else draft_tokens(run, n, heal=self.heal, limit=limit)

    def translate(self, run: Decoding, draft: Draft) -> Candidates:
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
            iteration=0, text=new.decode("utf-8", errors="replace"),
            window_ids=cont.window, window_text=target.text_of(cont.window),
            target_tokens=tokens, target_texts=[target.describe(t) for t in tokens],
            dropped=cont.dropped.decode("utf-8", errors="replace"),
            over_budget=[target.describe(t) for t in over_budget])
        return Candidates(tokens, event, drafter_path=draft.tokens)
