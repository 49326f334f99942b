"""Exact acceptance rates of one draft position, straight from the two models' distributions.

For rejection sampling with proposal law r, the chance that the first drafted token is kept is
sum_t min(p(t), r(t)). Which r depends on the algorithm:

* ``"sd"``: the drafter's q (one shared vocabulary);
* ``"union"``: the naive baseline across vocabularies: q over the union of both vocabularies, so
  drafts outside the target's vocabulary are always rejected (only shared tokens can count);
* ``"tli"``: q restricted to the shared tokens and renormalised, q' = q / q(shared);
* ``"slrs"``: psi, the law of SLRS's proposal (its tokenization paths summed; see slrs.py).

TLI's renormalisation can only help: min(p, q') >= min(p, q) token by token on the shared tokens.
"""

from __future__ import annotations

import torch

from .algorithms.slrs import psi_lattices
from .sampling import probabilities

RULES = ("sd", "union", "tli", "slrs")


def proposal_law(pair, prompt: str, rule: str, temperature: float = 1.0) -> torch.Tensor:
    """The law over *target* tokens that ``rule`` proposes first after ``prompt``: ``[V_target]``."""
    if rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)}, got {rule!r}")
    target, drafter = pair.target, pair.drafter
    if rule == "slrs":
        lattices = psi_lattices(pair, prompt, temperature=temperature)
        return torch.tensor([lattices[t].psi for t in range(target.vocab.size)])
    q = probabilities(drafter.logits(drafter.prompt_ids(prompt), 1)[0], temperature).cpu()
    if rule == "sd":
        if not pair.same_vocabulary:
            raise ValueError("'sd' needs one shared vocabulary; use 'union' or 'tli' here.")
        return torch.nn.functional.pad(q, (0, target.vocab.size - q.shape[0]))[:target.vocab.size]
    target_of = pair.intersection.target_of
    shared = torch.nonzero(target_of >= 0).squeeze(1)
    law = torch.zeros(target.vocab.size).index_add_(0, target_of[shared], q[shared])
    return law / law.sum() if rule == "tli" else law


def expected_acceptance(pair, prompt: str, rule: str, temperature: float = 1.0) -> float:
    """sum_t min(p(t), r(t)) for the first position after ``prompt`` (temperature > 0)."""
    if temperature <= 0:
        raise ValueError("At temperature 0 acceptance is all or nothing: compare argmaxes instead.")
    p = probabilities(pair.target.logits(pair.target.prompt_ids(prompt), 1)[0], temperature).cpu()
    return float(torch.minimum(p, proposal_law(pair, prompt, rule, temperature)).sum())
