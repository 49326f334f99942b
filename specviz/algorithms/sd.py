"""Standard speculative decoding (Leviathan et al. 2023; Chen et al. 2023): drafter and target share
one vocabulary, so a drafted token *is* a target token and its proposal law is the drafter's q."""

from __future__ import annotations

import torch

from ..sampling import restricted
from ..trace import TranslateEvent
from .base import Algorithm, Candidates, Decoding, Draft, draft_tokens


class SD(Algorithm):
    """Draft ``lookahead`` tokens from q; verify by rejection sampling with min(1, p/q)."""

    name = "sd"
    drafts_are_candidates = True
    translation = "same-vocabulary"

    def check(self, pair) -> None:
        if not pair.same_vocabulary:
            raise ValueError(
                f"Standard speculative decoding needs one shared vocabulary, but {pair.target.name!r} "
                f"({pair.target.vocab.size} tokens) and {pair.drafter.name!r} "
                f"({pair.drafter.vocab.size} tokens) tokenize differently. Use algorithm='slem' "
                "(any pair, greedy or sampling) or algorithm='tli' (sampling on the shared tokens)."
            )

    def draft(self, run: Decoding) -> Draft:
        n, limit = self.draft_limit(run)
        return draft_tokens(run, n, restrict=_within(run.target.vocab.size), limit=limit)

    def translate(self, run: Decoding, draft: Draft) -> Candidates:
        tokens = draft.tokens
        event = TranslateEvent(iteration=run.iteration, text=draft.event.text,
                               target_tokens=list(tokens),
                               target_texts=[run.target.vocab.describe(t) for t in tokens],
                               proposal_probs=list(draft.event.probs))
        proposal = None
        if tokens:
            proposal = to_target_width(torch.stack(draft.laws).to(run.target.device),
                                       run.target.vocab.size)
        return Candidates(tokens, event, drafter_path=tokens,
                          proposal_probs=list(draft.event.probs), proposal=proposal)


def to_target_width(laws: torch.Tensor, width: int) -> torch.Tensor:
    """Laws over the drafter's ids, ``[..., V_drafter]``, as laws over the target's ``width`` ids,
    ``[..., width]``: one vocabulary, but the drafter's table may be shorter (zeros are added) or
    longer (padding ids that spell nothing, on which ``_within`` leaves no mass)."""
    return torch.nn.functional.pad(laws, (0, width - laws.shape[-1]))[..., :width]


def _within(width: int):
    """The restriction of q to the target's ids ``0..width-1``: a drafter head wider than the
    target's (padding ids that spell nothing) must never propose an id the target cannot judge.
    q is renormalised, so the law drawn from is the law verified with: still lossless."""
    def restrict(q: torch.Tensor) -> torch.Tensor | None:
        if q.shape[-1] <= width:
            return q
        return restricted(q, torch.arange(width, device=q.device))[0]
    return restrict
