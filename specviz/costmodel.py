"""The cost model of speculative decoding: what an iteration yields, what it costs, and the speedup.

Notation (Leviathan et al. 2023; see ``shared/reference/algorithms.md``):

* ``a``: the acceptance, the chance that the target accepts a candidate it judges, taken as the
  same at every position; measured as accepted / judged (``Stats.acceptance``), *not* as accepted /
  proposed (``Stats.kept_share``, lower: candidates after a rejection are proposed but never judged);
* ``k``: the lookahead, candidates drafted per iteration;
* ``c``: the cost of drafting one candidate relative to one target forward pass;
* ``v``: the cost of the verify pass over k + 1 positions relative to one target step. About 1 on a
  GPU for small k (the pass is memory-bound); on a small CPU it grows with k, so measure it.

An iteration keeps candidates until the first rejection and then adds one token of the target's
own, so it yields 1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a) tokens, for k c + v target steps
of time. Plain decoding yields 1 token per step, so the speedup is the ratio of the two rates.

The functions take plain numbers (and ``Stats`` / ``Trace`` objects where they read measurements),
so a benchmark can import them without anything else from specviz.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate


def _check(a: float, k: float) -> None:
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"acceptance a must be in [0, 1], got {a!r}")
    if k < 0:
        raise ValueError(f"lookahead k must be >= 0, got {k!r}")


def expected_tokens_per_iteration(a: float, k: float) -> float:
    """Expected new tokens per iteration (per target pass): (1 - a^(k+1)) / (1 - a), or k + 1 if
    a = 1. ``k`` may be fractional (a mean number of candidates)."""
    _check(a, k)
    if a == 1.0:
        return k + 1.0
    return (1.0 - a ** (k + 1)) / (1.0 - a)


def expected_tokens_over_iterations(a: float, candidate_counts: Sequence[int]) -> float:
    """Mean tokens per iteration when iteration i proposes ``candidate_counts[i]`` candidates: the
    mean of E(a, m_i). Not E(a, mean m): E is concave in m, so a drafter proposing 0 or k (prompt
    lookup: no match, or a full copy) yields fewer tokens than the mean count would promise."""
    if not candidate_counts:
        raise ValueError("need the candidate count of at least one iteration")
    return sum(expected_tokens_per_iteration(a, m) for m in candidate_counts) / len(candidate_counts)


def predicted_speedup(a: float, k: float, c: float, verify_cost: float = 1.0) -> float:
    """Speedup over plain decoding: expected tokens per iteration / (k c + verify_cost).

    With ``verify_cost=1`` this is the textbook (1 - a^(k+1)) / ((1 - a)(k c + 1)).
    """
    if c < 0 or verify_cost <= 0:
        raise ValueError(f"need c >= 0 and verify_cost > 0, got c={c!r}, "
                         f"verify_cost={verify_cost!r}")
    return expected_tokens_per_iteration(a, k) / (k * c + verify_cost)


def acceptance_from_tokens_per_iteration(tokens: float, k: float) -> float:
    """The ``a`` for which the model yields ``tokens`` per iteration with ``k`` candidates
    (the inverse of ``expected_tokens_per_iteration``, by bisection; it increases with a)."""
    if k <= 0 or tokens <= 1.0:
        return 0.0
    if tokens >= k + 1.0:
        return 1.0
    low, high = 0.0, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if expected_tokens_per_iteration(mid, k) < tokens:
            low = mid
        else:
            high = mid
    return (low + high) / 2


def acceptance_from_stats(stats, lookahead: float | None = None) -> float:
    """Per-position acceptance ``a`` that explains a run's measured tokens per iteration.

    An estimate of ``stats.acceptance`` (accepted / judged) from counts alone: ``a`` solves
    expected_tokens_per_iteration(a, k) = new tokens / iterations, with k = ``lookahead`` or the
    mean number of candidates per iteration. ``stats.kept_share`` (accepted / proposed) is *not*
    ``a``: candidates after a rejection are never judged, so it underestimates a.
    """
    if not stats.iterations or not stats.proposed:
        return 0.0
    k = lookahead if lookahead is not None else stats.proposed / stats.iterations
    return acceptance_from_tokens_per_iteration(stats.new_tokens / stats.iterations, k)


def pass_cost(costs: list[float], n: float) -> float:
    """Cost of a forward pass over ``n`` positions, from ``costs[i]`` measured over i + 1 positions.

    ``n`` may be fractional (a mean over passes). A pass over more positions never costs less, so
    the measured points are first made non-decreasing (each is raised to the largest before it:
    timing noise, not a cheaper pass). Between points the cost is linear; beyond the last point it
    grows with the mean slope of the whole curve, never below the largest measured cost (a noisy
    last pair of points must not bend the extrapolation down).
    """
    if not costs:
        return 0.0
    n = max(n, 1.0)
    curve = list(accumulate(costs, max))
    if len(curve) == 1:
        return curve[0] * n
    last = len(curve)
    if n >= last:
        slope = (curve[-1] - curve[0]) / (last - 1)
        return curve[-1] + slope * (n - last)
    i = int(n)  # the segment from i to i + 1 positions
    return curve[i - 1] + (curve[i] - curve[i - 1]) * (n - i)


def cost_ratio(stats) -> float:
    """``c`` measured: drafter seconds per proposed candidate / target seconds per forward pass.

    Per candidate rather than per drafter pass, because SLEM and SLRS may need several drafter
    passes (or a fraction of one) per target candidate; for SD the two are the same.
    """
    if not stats.proposed or not stats.target_forward_passes or not stats.target_seconds:
        return 0.0
    return (stats.drafter_seconds / stats.proposed) / (stats.target_seconds /
                                                       stats.target_forward_passes)


def measured_speedup(baseline, run) -> float:
    """Seconds per token of the ``baseline`` run (autoregressive) over that of ``run`` (Stats)."""
    if not run.new_tokens or not run.seconds or not baseline.new_tokens:
        return 0.0
    return (baseline.seconds / baseline.new_tokens) / (run.seconds / run.new_tokens)


@dataclass
class SpeedupPoint:
    """One measured configuration, as ``viz.speedup_figure`` draws it (dicts with these keys work).

    ``speedup`` is measured against plain decoding; ``acceptance`` is a and ``cost_ratio`` c as
    defined above; ``verify_cost`` is v at this lookahead.
    """

    algorithm: str
    lookahead: int
    speedup: float
    acceptance: float
    cost_ratio: float
    verify_cost: float = 1.0

    @property
    def predicted(self) -> float:
        """The cost model's speedup for this point's own a, k, c and v."""
        return predicted_speedup(self.acceptance, self.lookahead, self.cost_ratio, self.verify_cost)
