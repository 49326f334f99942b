"""The cost model's numbers: a pass cost curve that cannot fall, and the two acceptance ratios."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from specviz import costmodel
from specviz.trace import Stats


def test_pass_cost_never_falls_with_more_positions():
    # measured seconds over 1..6 positions, with a noisy dip at the end (2.18 then 1.71 steps)
    costs = [1.0, 1.04, 1.15, 1.86, 2.18, 1.71]
    cost = [costmodel.pass_cost(costs, n) for n in range(1, 13)]
    assert all(later >= earlier for earlier, later in zip(cost, cost[1:]))
    assert cost[5] == 2.18  # the dip is timing noise: a pass over 6 costs at least one over 5
    assert cost[8] >= max(costs)  # v(9): extrapolated, never below the largest measured cost
    assert math.isclose(cost[8], 2.18 + (2.18 - 1.0) / 5 * 3)  # the curve's mean slope
    assert math.isclose(costmodel.pass_cost(costs, 2.5), 1.04 + 0.11 * 0.5)  # between points


def test_pass_cost_edges():
    assert costmodel.pass_cost([], 3) == 0.0
    assert costmodel.pass_cost([2.0], 3) == 6.0  # one point: proportional to positions
    assert costmodel.pass_cost([2.0, 3.0], 0.5) == 2.0  # fewer than one position counts as one


def test_speedup_with_a_dipping_verify_curve_stays_below_the_gpu_bound():
    """Notebook 5's 'what would pay': verifying on a CPU can only cost more than one GPU step, so
    the CPU prediction can never beat the GPU one (the old extrapolation gave 6.56x vs 2.50x)."""
    costs = [1.0, 1.04, 1.15, 1.86, 2.18, 1.71]
    for c in (0.58, 0.25, 0.1, 0.02):
        cpu = max(costmodel.predicted_speedup(0.66, k, c, costmodel.pass_cost(costs, k + 1))
                  for k in range(1, 9))
        gpu = max(costmodel.predicted_speedup(0.66, k, c, 1.0) for k in range(1, 9))
        assert cpu <= gpu


def test_two_acceptance_ratios_have_two_names():
    stats = Stats(iterations=2, proposed=8, judged=5, accepted=3)
    assert stats.acceptance == 3 / 5  # the cost model's a: of the candidates the target judged
    assert stats.kept_share == 3 / 8  # of everything proposed, judged or not
    assert "acceptance a 0.60" in str(stats) and "kept 0.38 of proposed" in str(stats)
    assert not hasattr(stats, "acceptance_rate")
    assert Stats().acceptance == 0.0 and Stats().kept_share == 0.0


def test_pass_cost_interpolation():
    pc = costmodel.PassCosts(threads=1, target=[1.0, 2.0, 4.0], drafter=[0.5, 0.6, 0.7])
    assert pc.target_pass(1) == 1.0 and pc.target_pass(2.5) == 3.0
    assert pc.target_pass(4) == 5.5  # extrapolated with the curve's mean slope (costmodel.pass_cost)
    assert pc.c == 0.5 and pc.verify_cost(3) == 4.0


def exact_tokens_per_iteration(a: float, m: int) -> float:
    """Every accept/reject pattern of m candidates, each kept with probability a: the kept prefix
    plus the target's own token, weighted by the pattern's probability."""
    total = 0.0
    for verdicts in itertools.product([True, False], repeat=m):
        kept = next((i for i, ok in enumerate(verdicts) if not ok), m)
        total += math.prod(a if ok else 1 - a for ok in verdicts) * (kept + 1)
    return total


def test_the_prediction_uses_each_iterations_candidates_not_their_mean():
    """Prompt lookup proposes 0 candidates (no match) or a full copy; E(a, m) is concave in m, so
    E(a, mean m) over-predicts. The benchmark must average E(a, m_i) over the measured m_i."""
    a, counts = 0.6, [0, 0, 5, 5]
    exact = statistics.fmean(exact_tokens_per_iteration(a, m) for m in counts)
    assert costmodel.expected_tokens_over_iterations(a, counts) == pytest.approx(exact)
    assert costmodel.expected_tokens_per_iteration(a, 2.5) > exact + 0.3  # the mean-based answer

    pc = costmodel.PassCosts(threads=1, target=[1.0] * 6, drafter=[],
                   prefill={"copy/0": {"target_seconds": 1.0, "drafter_seconds": 0.0}})
    s = {"impl": "specviz", "algorithm": "slem", "new_tokens": 40, "runs": 1, "acceptance": a,
         "candidates_per_iteration": 2.5, "drafter_passes_per_iteration": 1.0,
         "seconds_per_token": 1.0}
    run = {"prompt_set": "copy", "prompt_index": 0, "candidate_counts": counts}
    got = costmodel.analytic_prediction(s, [run], pc, drafts=True)
    assert got["predicted_tokens_per_iteration"] == pytest.approx(exact)
    # 1 s of prefill, then one 1-second pass per iteration (a flat cost curve, a free drafter)
    assert got["predicted_seconds_per_token"] == pytest.approx((1 + (40 / exact - 1)) / 40)
