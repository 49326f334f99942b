"""Turning logits into probabilities and probabilities into tokens, with every random draw visible.

All sampling here is *inverse-CDF sampling*: draw one uniform number u in [0, 1) and pick the token
whose interval of the cumulative distribution contains u. One token costs exactly one recorded number,
so a trace can show the draw that picked it, and the same seed gives the same tokens on any device.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .trace import TokenProb


def probabilities(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(logits / temperature) in float32, shape ``[..., V]``.

    Temperature 0 means greedy decoding; the decision is then an argmax, and this returns the
    temperature-1 distribution only so that charts can show what the model believed.
    """
    scale = temperature if temperature > 0 else 1.0
    logits = logits.float()
    # Shifting by the max first means a tiny temperature sends logits to -inf (probability 0),
    # never to +inf, where softmax would compute inf - inf = nan.
    return torch.softmax((logits - logits.amax(dim=-1, keepdim=True)) / scale, dim=-1)


PENALTY_RANGE = (1e-3, 1e3)
"""Repetition penalties outside it divide a logit into float32 overflow (1e-38 made every seen
token's logit infinite: greedy repeated one token, sampling failed)."""


def _is_number(value) -> bool:
    """A real number, not a bool (True is an int to Python, not a setting a user means)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_whole_number(value, at_least: int) -> bool:
    """An int (not a bool) of at least ``at_least``: the check of every count a user passes."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= at_least


@dataclass(frozen=True)
class TargetSettings:
    """How the *target's* logits become the distribution specviz reproduces, as Hugging Face's
    ``generate`` does with a generation config: repetition penalty, then temperature, then top-k,
    then top-p. Every place that computes p applies the same settings (the verify pass, the exact
    law in ``lossless``); the drafter keeps its own law, and losslessness holds against this p.

    * ``repetition_penalty`` r: a token already in the context has its logit divided by r if
      positive, multiplied by r if negative (r > 1 discourages repeats); ``None`` or 1: off;
    * ``top_k`` k: only the k highest logits stay possible (ties with the k-th stay too);
    * ``top_p`` t: only the smallest set of likeliest tokens holding at least t of the mass stays.
    """

    top_k: int | None = None
    top_p: float | None = None
    repetition_penalty: float | None = None

    def __post_init__(self) -> None:
        if self.top_k is not None and not is_whole_number(self.top_k, 1):
            raise ValueError(f"top_k must be None (off) or an integer >= 1 (keep the k likeliest "
                             f"tokens), got {self.top_k!r}. Not to be confused with trace_top_k.")
        if self.top_p is not None and (not _is_number(self.top_p) or not 0 < self.top_p <= 1):
            raise ValueError(f"top_p must be None (off) or a number in (0, 1] (the probability "
                             f"mass to keep), got {self.top_p!r}")
        low, high = PENALTY_RANGE
        if self.repetition_penalty is not None and (
                not _is_number(self.repetition_penalty)
                or not low <= self.repetition_penalty <= high):
            raise ValueError(f"repetition_penalty must be None (off) or a number from {low} to "
                             f"{high} (1: off, above 1 discourages repeats; farther out, logits "
                             f"overflow float32), got {self.repetition_penalty!r}")

    @property
    def active(self) -> bool:
        return self.top_k is not None or self.top_p is not None or \
            self.repetition_penalty not in (None, 1, 1.0)

    def scores(self, logits: torch.Tensor, ids: Sequence[int]) -> torch.Tensor:
        """Processed logits ``[n, V]`` for the last ``n`` positions of ``ids`` (row j predicts the
        token after ``ids[:len(ids) - n + 1 + j]``); excluded tokens get -inf. No temperature."""
        logits = logits.float()
        if self.repetition_penalty not in (None, 1, 1.0):
            logits = logits.clone()
            n, r = logits.shape[0], float(self.repetition_penalty)
            for j in range(n):
                seen = torch.tensor(sorted(set(ids[:len(ids) - n + 1 + j])), dtype=torch.long,
                                    device=logits.device)
                seen = seen[seen < logits.shape[-1]]
                row = logits[j, seen]
                logits[j, seen] = torch.where(row > 0, row / r, row * r)
        return logits

    def probabilities(self, scores: torch.Tensor, temperature: float) -> torch.Tensor:
        """The law ``[n, V]``: softmax(scores / temperature), cut by top-k and top-p, renormalised.
        At temperature 0 the decision is the argmax of ``scores``; this law is for display."""
        probs = probabilities(scores, temperature)
        if self.top_k is not None and self.top_k < probs.shape[-1]:
            kth = torch.topk(probs, self.top_k, dim=-1).values[..., -1:]
            probs = torch.where(probs >= kth, probs, torch.zeros_like(probs))
        if self.top_p is not None and self.top_p < 1:
            ranked, order = torch.sort(probs, dim=-1, descending=True)
            before = (torch.cumsum(ranked, dim=-1) - ranked) / ranked.sum(-1, keepdim=True)
            keep = torch.zeros_like(probs).scatter(-1, order, (before < self.top_p).to(probs.dtype))
            probs = probs * keep
        return probs / probs.sum(-1, keepdim=True)


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
