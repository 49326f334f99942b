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

from .algorithms.sd import to_target_width
from .algorithms.slrs import psi_lattices
from .algorithms.tli import onto_target_ids
from .sampling import probabilities, restricted

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
        return to_target_width(q, target.vocab.size)
    target_of = pair.intersection.target_of
    if rule == "tli":  # q', as TLI draws from it
        q = restricted(q, target_of >= 0)[0]
        if q is None:  # no mass on shared tokens: TLI drafts nothing, so no law to compare with
            return torch.full((target.vocab.size,), float("nan"))
    return onto_target_ids(q[None], target_of, target.vocab.size)[0]


def expected_acceptance(pair, prompt: str, rule: str, temperature: float = 1.0) -> float:
    """sum_t min(p(t), r(t)) for the first position after ``prompt`` (temperature > 0)."""
    if temperature <= 0:
        raise ValueError("At temperature 0 acceptance is all or nothing: compare argmaxes instead.")
    p = probabilities(pair.target.logits(pair.target.prompt_ids(prompt), 1)[0], temperature).cpu()
    return float(torch.minimum(p, proposal_law(pair, prompt, rule, temperature)).sum())


def first_position_rates(pair, prompt: str, temperature: float, max_tokens: int = 2000) -> dict:
    """The exact chance that the first candidate after ``prompt`` is kept, rule by rule:

    * ``tli``: sum min(p, q') with q' the drafter's law restricted to the shared tokens;
    * ``slrs``: sum min(p, psi), rejection sampling from psi (SLRS);
    * ``exact_match``: sum p psi, the same proposal kept only when it equals the target's own draw
      (SLEM's rule; SLEM's own first candidate is the first target token of its re-tokenized
      draft, which is psi's token when the draft is long enough to spell it).

    psi is computed for the ``max_tokens`` most probable target tokens (all 262k would take
    minutes); the rest of p, ``unresolved``, bounds the error: the true sums lie in
    [value, value + unresolved].
    """
    target = pair.target
    p = probabilities(target.logits(target.prompt_ids(prompt), 1)[0], temperature).cpu()
    top = torch.argsort(p, descending=True)[:max_tokens].tolist()
    lattices = psi_lattices(pair, prompt, top, temperature=temperature)
    psi = torch.tensor([lattices[t].psi for t in top], dtype=p.dtype)
    p_top = p[top]
    return {"tli": expected_acceptance(pair, prompt, "tli", temperature),
            "slrs": float(torch.minimum(p_top, psi).sum()),
            "exact_match": float((p_top * psi).sum()),
            "psi_mass": float(psi.sum()), "unresolved": max(0.0, 1.0 - float(p_top.sum()))}
