"""Turning logits into probabilities and probabilities into tokens, with every random draw visible.

All sampling here is *inverse-CDF sampling*: draw one uniform number u in [0, 1) and pick the token
whose interval of the cumulative distribution contains u. One token costs exactly one recorded number,
so a trace can show the draw that picked it, and the same seed gives the same tokens on any device.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from .trace import TokenProb


def probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) in float32, shape ``[..., V]``.

    Temperature 0 means greedy decoding; the decision is then an argmax, and this returns the
    temperature-1 distribution only so that charts can show what the model believed.
    """
    scale = temperature if temperature > 0 else 1.0
    return torch.softmax(logits.float() / scale, dim=-1)


def sample(probs: torch.Tensor, u: float) -> int:
    """The token whose cumulative-probability interval holds ``u`` (``probs``: ``[V]``, any scale)."""
    return sample_cdf(cumulative(probs), u)


def cumulative(probs: torch.Tensor) -> torch.Tensor:
    """The cumulative sums of ``probs``, in float64 so that rounding does not bias the last tokens
    of a large vocabulary (on the CPU for Apple's MPS, which has no float64). Compute once to draw
    many samples from one law."""
    if probs.device.type == "mps":
        probs = probs.cpu()
    return torch.cumsum(probs.double(), dim=0)


def sample_cdf(cdf: torch.Tensor, u: float) -> int:
    """Inverse-CDF sampling on precomputed cumulative sums. A zero-probability token has an empty
    interval (its cumulative sum equals its neighbour's), so it is never picked."""
    x = torch.tensor([u], dtype=cdf.dtype, device=cdf.device) * cdf[-1]
    index = int(torch.searchsorted(cdf, x, right=True).item())
    if index >= cdf.shape[0]:  # u * total rounded up to the total: take the last possible token
        index = int(torch.searchsorted(cdf, cdf[-1:], right=False).item())
    return index


def residual(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """norm(max(0, p - q)): where a replacement comes from after a rejection (``[V]`` each).

    If p <= q everywhere (possible only when p == q, since both sum to 1), a rejection cannot have
    happened; p itself is then returned so that the caller never divides by zero.
    """
    r = torch.clamp(p - q, min=0.0)
    total = r.sum()
    return r / total if total > 0 else p


def restricted(q: torch.Tensor, keep: torch.Tensor) -> tuple[torch.Tensor | None, float]:
    """q restricted to the tokens ``keep`` selects (a boolean mask ``[V]`` or ids ``[n]``) and
    renormalised, with the mass they held: ``(q', mass)``. q' is ``None`` when they held none."""
    kept = torch.zeros_like(q)
    kept[keep] = q[keep]
    mass = float(kept.sum())
    return (kept / mass if mass > 0 else None), mass


class Draws:
    """A seeded stream of uniform numbers in [0, 1).

    Two independent streams are used per run, one for the drafter and one for the target's
    decisions, so that an algorithm's target-side draws line up with plain autoregressive decoding.
    """

    def __init__(self, seed_sequence: np.random.SeedSequence) -> None:
        self._rng = np.random.Generator(np.random.PCG64(seed_sequence))

    def uniform(self) -> float:
        return float(self._rng.random())


def seeded_streams(seed: int) -> tuple[Draws, Draws]:
    """(drafter draws, target draws) for one run."""
    drafter_seed, target_seed = np.random.SeedSequence(seed).spawn(2)
    return Draws(drafter_seed), Draws(target_seed)


def top_k(probs: torch.Tensor, k: int, describe: Callable[[int], str]) -> list[TokenProb]:
    """The ``k`` most likely tokens of ``probs`` (``[V]``), described for display; [] when k == 0."""
    if k <= 0:
        return []
    values, ids = torch.topk(probs, min(k, probs.shape[-1]))
    return [TokenProb(int(i), describe(int(i)), float(v))
            for v, i in zip(values.tolist(), ids.tolist())]
