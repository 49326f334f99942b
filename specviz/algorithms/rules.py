"""The two ways a target can judge candidates, shared by every algorithm.

**Exact match** (SLEM at any temperature; every algorithm at temperature 0). The target picks its own
token at each position, exactly as plain decoding would (argmax, or a sample from p with one draw).
Candidates are kept while they equal the target's pick; the first pick that differs is kept too, and
if all match, the pick after the last candidate is a bonus. Every output token is the target's own
pick from the target's own p, so the output is exactly the target's, whatever the drafter did.

**Rejection sampling** (SD, TLI and SLRS at temperature > 0). A candidate x proposed with
probability q(x) is kept with probability min(1, p(x)/q(x)). After the first rejection the target
draws from the residual norm(max(0, p - q)), and if all were kept it draws a bonus from p. Then
P(output = x) = min(p(x), q(x)) + P(reject) * residual(x) = p(x): lossless, *provided q is exactly
the law the candidate was drawn from*. That proviso is where cross-vocabulary algorithms go wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..sampling import residual
from ..trace import AcceptEvent, PositionCheck, VerifyEvent
from .base import Algorithm, Candidates, Decoding


@dataclass
class Verdict:
    """How many candidates passed, and (exact match) the target's own next token."""

    event: VerifyEvent
    accepted: int
    next_token: int | None = None
    next_draw: float | None = None


def exact_match(run: Decoding, cand: Candidates, p: torch.Tensor, scores: torch.Tensor) -> Verdict:
    """Keep candidates while they equal the target's own pick; ``p`` and ``scores`` (the processed
    logits greedy decoding takes the argmax of) are ``[m + 1, V]``."""
    vocab = run.target.vocab
    event = VerifyEvent(iteration=0, rule="exact-match", bonus_top=[])
    for j, token in enumerate(cand.tokens):
        choice, u = run.target_choice(p[j], scores[j])
        check = PositionCheck(position=j, candidate=token, candidate_text=vocab.describe(token),
                              p=float(p[j, token]), top=run.top_target(p[j]), choice=choice,
                              choice_text=vocab.describe(choice), draw=u, accepted=choice == token)
        if cand.proposal_probs:
            check.q = cand.proposal_probs[j]
        event.positions.append(check)
        if not check.accepted:
            return Verdict(event, accepted=j, next_token=choice, next_draw=u)
    m = len(cand.tokens)
    event.bonus_top = run.top_target(p[m])
    choice, u = run.target_choice(p[m], scores[m])
    return Verdict(event, accepted=m, next_token=choice, next_draw=u)


def rejection_sampling(run: Decoding, cand: Candidates, p: torch.Tensor,
                       scores: torch.Tensor) -> Verdict:
    """Keep candidate j with probability min(1, p_j(x_j) / q_j(x_j)), stopping at the first rejection.
    (Only at temperature > 0, so ``scores`` is not needed.)"""
    vocab = run.target.vocab
    event = VerifyEvent(iteration=0, rule="rejection-sampling")
    for j, token in enumerate(cand.tokens):
        pj, qj = float(p[j, token]), cand.proposal_probs[j]
        accept_prob = min(1.0, pj / qj)
        u = run.target_draws.uniform()
        event.positions.append(PositionCheck(
            position=j, candidate=token, candidate_text=vocab.describe(token), p=pj,
            top=run.top_target(p[j]), q=qj, accept_prob=accept_prob, draw=u,
            accepted=u < accept_prob))
        if u >= accept_prob:
            return Verdict(event, accepted=j)
    event.bonus_top = run.top_target(p[len(cand.tokens)])
    return Verdict(event, accepted=len(cand.tokens))


def settle(run: Decoding, algorithm: Algorithm, cand: Candidates, verdict: Verdict,
           p: torch.Tensor) -> AcceptEvent:
    """The accept phase: the kept candidates plus one token of the target's own."""
    vocab = run.target.vocab
    k, m = verdict.accepted, len(cand.tokens)
    event = AcceptEvent(iteration=0, accepted=k, candidates=m,
                        first_rejected=k if k < m else None)
    if verdict.next_token is not None:  # exact match: the target already picked it
        token, u, extra = verdict.next_token, verdict.next_draw, []
        rejected = k < m
        if rejected:
            event.residual_top = run.top_target(p[k])
    elif k < m or cand.law_after_last:  # rejection sampling: draw from the residual
        token, u, extra = algorithm.residual_token(run, cand, k, p[k])
        rejected = True
        event.residual_top = _residual_top(run, cand, k, p[k])
    else:
        token, u = run.choose(p[m], run.target_draws)
        extra, rejected = [], False
    if rejected:
        event.replacement, event.replacement_text, event.replacement_draw = token, vocab.describe(token), u
        event.residual_draws = extra
    else:
        event.bonus, event.bonus_text, event.bonus_draw = token, vocab.describe(token), u
    event.committed = [*cand.tokens[:k], token]
    event.committed_texts = [vocab.describe(t) for t in event.committed]
    return event


def _residual_top(run: Decoding, cand: Candidates, position: int, p: torch.Tensor) -> list:
    """Top-k of the residual a replacement comes from (of p itself where no full proposal exists)."""
    if cand.proposal is not None and position < len(cand.tokens):
        return run.top_target(residual(p, cand.proposal[position]))
    return run.top_target(p)
