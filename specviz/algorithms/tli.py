"""TLI, Token-Level Intersection (Timor et al., ICML 2025).

Only tokens that both vocabularies spell identically can be proposed. The drafter's q is restricted
to those shared tokens and renormalised, q'(x) = q(x) / q(shared), so every draft *is* a target token;
standard rejection sampling with q' (mapped into target ids) is then lossless.

With a byte drafter (``sv.PromptLookup``, ``sv.NGramDrafter``) the shared tokens are the target's
single-byte tokens (all 256 bytes for byte-level BPE and byte-fallback vocabularies) plus EOS, so
each drafted byte is one candidate and ``lookahead`` counts bytes. Acceptance is low: a target
spells ' the' as one token, almost never as four single bytes, so p is small on single-byte tokens
except punctuation and digits. That is the paper's point about TLI with character-level drafters.

The bug this file must not have (Hugging Face transformers 5.24, see the project's reference notes):
the law used in min(1, p/q) must be the law the token was *actually drawn from*, row for row. Here the
same tensor ``q'`` is drawn from and then mapped with one index table, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..sampling import restricted
from ..trace import TranslateEvent
from .base import Algorithm, Candidates, Decoding, Draft, draft_tokens


@dataclass
class TLIDraft(Draft):
    """A draft from q' with, per token, the mass q gave the shared tokens (q' = q / that mass)."""

    intersection_mass: list[float] = field(default_factory=list)


def onto_target_ids(laws: torch.Tensor, target_of: torch.Tensor, width: int) -> torch.Tensor:
    """Laws over the drafter's ids, ``[n, V_drafter]``, as laws over the target's ids,
    ``[n, width]``: the probability of each shared token moves to its target id (``target_of[d]``,
    the intersection's index table; -1 for a token the target lacks, whose probability is dropped).
    Nothing is dropped from q', which TLI draws from."""
    target_of = target_of.to(laws.device)
    shared = torch.nonzero(target_of >= 0).squeeze(1)
    out = torch.zeros(laws.shape[0], width, device=laws.device)
    return out.index_add_(1, target_of[shared], laws[:, shared])


class TLI(Algorithm):
    """Draft from q restricted to the shared vocabulary; verify by rejection sampling."""

    name = "tli"
    draft_law = proposal_symbol = "q'"
    drafts_are_candidates = True
    translation = "intersection"

    def check(self, pair) -> None:
        if pair.intersection.size <= 1:
            raise ValueError(
                f"{pair.target.name!r} and {pair.drafter.name!r} share no tokens (spelled the same), "
                "so TLI cannot propose anything. Use algorithm='slem'.")

    def draft(self, run: Decoding) -> TLIDraft:
        shared = run.pair.intersection_on(run.drafter.device).target_of >= 0
        masses: list[float] = []

        def restrict(q: torch.Tensor) -> torch.Tensor | None:
            q_shared, mass = restricted(q, shared)
            if q_shared is not None:
                masses.append(mass)
            return q_shared

        n, limit = self.draft_limit(run)
        draft = draft_tokens(run, n, restrict, limit=limit)
        return TLIDraft(draft.tokens, draft.event, draft.laws, intersection_mass=masses)

    def translate(self, run: Decoding, draft: TLIDraft) -> Candidates:
        target_of = run.pair.intersection_on(run.drafter.device).target_of
        tokens = [int(target_of[d]) for d in draft.tokens]
        proposal = None
        if tokens:
            proposal = onto_target_ids(torch.stack(draft.laws).to(run.target.device), target_of,
                                       run.target.vocab.size)
        probs = [float(proposal[j, t]) for j, t in enumerate(tokens)]
        vocab = run.target.vocab
        event = TranslateEvent(
            iteration=run.iteration, text=draft.event.text, target_tokens=tokens,
            target_texts=[vocab.describe(t) for t in tokens],
            mapping=list(zip(draft.tokens, tokens)),
            intersection_mass=draft.intersection_mass, proposal_probs=probs)
        return Candidates(tokens, event, drafter_path=draft.tokens, proposal_probs=probs,
                          proposal=proposal)
