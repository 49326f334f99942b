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
so a benchmark can import them without anything else from specviz. Its inputs measured on a machine,
``PassCosts``, price each forward pass of a benchmark run (``counted_seconds``) and, with the
measured acceptance alone, predict its time per token (``analytic_prediction``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models.base import LanguageModel
    from .models.pair import ModelPair
    from .prompts import Prompt


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


# -- measured on the machine: seconds per forward pass ---------------------------------------------

@dataclass
class PassCosts:
    """Seconds per forward pass, measured on the benchmark's own prompts at one thread count.

    ``target[n-1]`` and ``drafter[n-1]``: a pass over ``n`` new positions after a real context (the
    prompt plus half the output length). ``prefill[key]``: each prompt's own first pass (seconds)
    and its length (tokens), for each model.
    """

    threads: int
    target: list[float]
    drafter: list[float]
    prefill: dict[str, dict[str, float]] = field(default_factory=dict)

    def target_pass(self, n: float) -> float:
        return pass_cost(self.target, n)

    def drafter_pass(self, n: float) -> float:
        return pass_cost(self.drafter, n)

    @property
    def c(self) -> float | None:
        """Drafter step over target step, one position each: the paper's cost coefficient."""
        return self.drafter[0] / self.target[0] if self.drafter else None

    def verify_cost(self, n: float) -> float:
        """A target pass over ``n`` positions, in target steps (about 1 on a GPU, more on a CPU)."""
        return self.target_pass(n) / self.target[0]

    @classmethod
    def mean(cls, parts: Sequence[PassCosts]) -> PassCosts:
        """Several measurements averaged: curves point by point, prefills prompt by prompt."""
        curve = lambda name: [statistics.fmean(col) for col in  # noqa: E731
                              zip(*(getattr(p, name) for p in parts), strict=True)]
        keys = dict.fromkeys(k for p in parts for k in p.prefill)
        prefill = {k: {f: statistics.fmean(p.prefill[k][f] for p in parts if k in p.prefill)
                       for f in next(p.prefill[k] for p in parts if k in p.prefill)} for k in keys}
        return cls(parts[0].threads, curve("target"), curve("drafter"), prefill)


def measure_pass_costs(pair: ModelPair, prompt: Prompt, max_positions: int, context_tokens: int,
                       repeats: int = 5) -> PassCosts:
    """Time each model's prefill of ``prompt``, then its forward pass over 1..``max_positions`` new
    positions after the prompt plus ``context_tokens`` more (the middle of a run): median of
    ``repeats``, because the first pass after a change of shape is often slow."""
    import torch

    curves: dict[str, list[float]] = {"target": [], "drafter": []}
    prefill: dict[str, float] = {}
    for role, model in (("target", pair.target), ("drafter", pair.drafter)):
        if model is None:
            continue
        ids = model.prompt_ids(prompt.text)
        prefill |= {f"{role}_tokens": len(ids),
                    f"{role}_seconds": pass_seconds(model, ids, len(ids), fresh=True)}
        context, extra = ids + _filler(ids, context_tokens), _filler(ids, max_positions)
        curves[role] = [statistics.median(pass_seconds(model, context + extra[:n], n)
                                          for _ in range(repeats))
                        for n in range(1, max_positions + 1)]
    return PassCosts(torch.get_num_threads(), curves["target"], curves["drafter"],
                     {prompt.key: prefill})


def _filler(ids: list[int], n: int) -> list[int]:
    """``n`` ordinary tokens to stand for generated text (the prompt's own, cycled; BOS skipped)."""
    body = ids[1:] or ids
    return (body * (n // len(body) + 1))[:n]


def pass_seconds(model: LanguageModel, ids: list[int], n: int, fresh: bool = False) -> float:
    """One forward pass over exactly the last ``n`` of ``ids``, timed by the model's own counter."""
    if fresh:
        model.reset()
    before = model.counter.seconds
    model.logits(ids, n)
    return model.counter.seconds - before


# -- predictions for a benchmark's runs (rows of ``bench``) ----------------------------------------

def counted_seconds(row: dict, pc: PassCosts) -> float | None:
    """Seconds a run should take if it were nothing but its forward passes, each priced at the
    measured cost of its own number of positions (a mean would not do: on a CPU the cost jumps
    between sizes). Each model's first pass is the prompt's prefill, measured for that prompt.
    A drafter without a forward pass to price (prompt lookup, n-gram) adds its own measured time."""
    pre = pc.prefill.get(f"{row['prompt_set']}/{row['prompt_index']}")
    if pre is None or row.get("target_pass_sizes") is None:
        return None
    total = 0.0
    for role, price in (("target", pc.target_pass), ("drafter", pc.drafter_pass)):
        sizes = row[f"{role}_pass_sizes"]
        if sizes:
            total += pre[f"{role}_seconds"] + sum(price(n) for n in sizes[1:])
        elif sizes is None:
            total += row.get(f"{role}_seconds") or 0.0
    return total


PREDICTIONS = ("predicted_tokens_per_iteration", "predicted_seconds_per_token", "predicted_gap",
               "ideal_speedup")


def analytic_prediction(s: dict, runs: list[dict], pc: PassCosts, drafts: bool) -> dict:
    """Time per token predicted from the measured acceptance ``a`` alone: the paper's cost model,
    with the verify pass priced as measured on this machine rather than as one target step.

    ``s``: one setting's summary; ``runs``: its rows; ``drafts``: False for plain decoding, which
    is one target pass per token after the prefill. An iteration drafts (d drafter passes),
    verifies m candidates (one target pass over m + 1 positions) and yields E(a, m) tokens; a run
    adds each model's prefill. m varies from one iteration to the next (prompt lookup proposes 0 or
    a full copy), so tokens per iteration and the verify pass's price are averaged over the
    measured counts m_i, not taken at their mean.
    """
    keys = [f"{r['prompt_set']}/{r['prompt_index']}" for r in runs]
    if (s["impl"] != "specviz" or not s["new_tokens"] or any(k not in pc.prefill for k in keys)
            or any(r.get("candidate_counts") is None for r in runs)):
        return dict.fromkeys(PREDICTIONS)
    n = s["new_tokens"] / s["runs"]
    seconds = statistics.fmean(pc.prefill[k]["target_seconds"] for k in keys)
    if not drafts:
        expected, ideal = 1.0, None
        seconds += (n - 1) * pc.target_pass(1)
    else:
        a = s["acceptance"] or 0.0
        counts = [c for r in runs for c in r["candidate_counts"]]
        drafting = s["drafter_passes_per_iteration"] * pc.drafter_pass(1)
        expected = expected_tokens_over_iterations(a, counts)
        iterations = n / expected
        verify = statistics.fmean(pc.target_pass(c + 1) for c in counts)
        seconds += statistics.fmean(pc.prefill[k]["drafter_seconds"] for k in keys)
        seconds += (iterations - 1) * verify + iterations * drafting
        ideal = expected * pc.target_pass(1) / (drafting + verify)  # tokens per target step
    return {"predicted_tokens_per_iteration": expected,
            "predicted_seconds_per_token": seconds / n,
            "predicted_gap": s["seconds_per_token"] / (seconds / n) - 1,
            "ideal_speedup": ideal}
