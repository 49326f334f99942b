"""The two ways a target can judge candidates, shared by every algorithm (``Algorithm.verify``
picks one), and the accept phase that records their verdict.

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

Each rule returns a complete ``Verdict``, the target's own token included; ``settle`` records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..sampling import residual
from ..trace import AcceptEvent, PositionCheck, ResidualDraw, TokenProb, VerifyEvent

if TYPE_CHECKING:
    from .base import Algorithm, Candidates, Decoding


@dataclass
class Verdict:
    """What the target decided: how many candidates it kept, and its own token after them.

    ``replaces``: the token replaces a rejected candidate (or, in SLRS, a proposal of nothing),
    drawn from the law whose top-k is ``residual_top`` (the residual; p itself under exact match
    and in SLRS, whose tries at sampling the residual are ``residual_draws``); otherwise it is a
    bonus token after candidates that all passed.
    """

    event: VerifyEvent
    accepted: int
    token: int
    draw: float | None
    replaces: bool
    residual_top: list[TokenProb] = field(default_factory=list)
    residual_draws: list[ResidualDraw] = field(default_factory=list)


def exact_match(run: Decoding, cand: Candidates, p: torch.Tensor, scores: torch.Tensor) -> Verdict:
    """Keep candidates while they equal the target's own pick; ``p`` and ``scores`` (the processed
    logits greedy decoding takes the argmax of) are ``[m + 1, V]``."""
    vocab = run.target.vocab
    event = VerifyEvent(iteration=run.iteration, rule="exact-match", bonus_top=[])
    for j, token in enumerate(cand.tokens):
        choice, u = run.target_choice(p[j], scores[j])
        check = PositionCheck(position=j, candidate=token, candidate_text=vocab.describe(token),
                              p=float(p[j, token]), top=run.top_target(p[j]), choice=choice,
                              choice_text=vocab.describe(choice), draw=u, accepted=choice == token)
        if cand.proposal_probs:
            check.q = cand.proposal_probs[j]
        event.positions.append(check)
        if not check.accepted:
            return Verdict(event, j, choice, u, replaces=True, residual_top=run.top_target(p[j]))
    m = len(cand.tokens)
    event.bonus_top = run.top_target(p[m])
    choice, u = run.target_choice(p[m], scores[m])
    return Verdict(event, m, choice, u, replaces=False)


def rejection_sampling(run: Decoding, algorithm: Algorithm, cand: Candidates,
                       p: torch.Tensor) -> Verdict:
    """Keep candidate j with probability min(1, p_j(x_j) / q_j(x_j)), stopping at the first
    rejection; then draw the replacement from the residual (``algorithm.residual_token``), or a
    bonus from p when all were kept. ``p``: ``[m + 1, V]``."""
    vocab = run.target.vocab
    event = VerifyEvent(iteration=run.iteration, rule="rejection-sampling")
    m = len(cand.tokens)
    for j, token in enumerate(cand.tokens):
        pj, qj = float(p[j, token]), cand.proposal_probs[j]
        accept_prob = min(1.0, pj / qj)
        u = run.target_draws.uniform()
        event.positions.append(PositionCheck(
            position=j, candidate=token, candidate_text=vocab.describe(token), p=pj,
            top=run.top_target(p[j]), q=qj, accept_prob=accept_prob, draw=u,
            accepted=u < accept_prob))
        if u >= accept_prob:
            return _replacement(run, algorithm, cand, event, j, p[j])
    event.bonus_top = run.top_target(p[m])
    if cand.law_after_last:  # SLRS proposed nothing after the last candidate: that is rejected too
        return _replacement(run, algorithm, cand, event, m, p[m])
    token, u = run.choose(p[m], run.target_draws)
    return Verdict(event, m, token, u, replaces=False)


def _replacement(run: Decoding, algorithm: Algorithm, cand: Candidates, event: VerifyEvent,
                 position: int, p: torch.Tensor) -> Verdict:
    """The verdict of a rejection at ``position``: a token drawn from the residual there."""
    token, u, tries = algorithm.residual_token(run, cand, position, p)
    if cand.proposal is not None and position < len(cand.tokens):
        top = run.top_target(residual(p, cand.proposal[position]))
    else:  # no full proposal (SLRS): p itself
        top = run.top_target(p)
    return Verdict(event, position, token, u, replaces=True, residual_top=top, residual_draws=tries)


def settle(run: Decoding, cand: Candidates, verdict: Verdict) -> AcceptEvent:
    """The accept phase: the kept candidates plus one token of the target's own, as recorded."""
    vocab = run.target.vocab
    k, m, token = verdict.accepted, len(cand.tokens), verdict.token
    event = AcceptEvent(iteration=run.iteration, accepted=k, candidates=m,
                        first_rejected=k if k < m else None)
    if verdict.replaces:
        event.replacement, event.replacement_text = token, vocab.describe(token)
        event.replacement_draw = verdict.draw
        event.residual_top, event.residual_draws = verdict.residual_top, verdict.residual_draws
    else:
        event.bonus, event.bonus_text, event.bonus_draw = token, vocab.describe(token), verdict.draw
    event.committed = [*cand.tokens[:k], token]
    event.committed_texts = [vocab.describe(t) for t in event.committed]
    return event
