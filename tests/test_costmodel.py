"""The cost model's numbers: a pass cost curve that cannot fall, and the two acceptance ratios."""

from __future__ import annotations

import math

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
