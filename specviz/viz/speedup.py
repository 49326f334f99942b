"""Measured speedups against the cost model's curve, over the lookahead, for several algorithms.

Markers are measurements; the dashed line of the same colour is ``costmodel.predicted_speedup`` with
the algorithm's mean measured acceptance a and cost ratio c. Where markers fall below their curve,
something the model leaves out (tokenization, alignment, Python overhead) is costing time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import plotly.graph_objects as go

from ..costmodel import SpeedupPoint, predicted_speedup
from .style import GREY, algorithm_colour, base_layout


def _as_point(point: SpeedupPoint | Mapping) -> SpeedupPoint:
    return point if isinstance(point, SpeedupPoint) else SpeedupPoint(**point)


def speedup_figure(points: Iterable[SpeedupPoint | Mapping],
                   lookaheads: Iterable[int] | None = None,
                   verify_cost: float | Callable[[int], float] = 1.0) -> go.Figure:
    """Measured speedup (markers) and the model's prediction (lines) against the lookahead k.

    ``points``: ``SpeedupPoint`` objects or dicts with their fields (algorithm, lookahead, speedup,
    acceptance, cost_ratio, optionally verify_cost). ``verify_cost`` is v(k) for the curves: a
    number, or a function of k (measure it on CPUs, where verifying k tokens costs more than one).
    """
    points = [_as_point(p) for p in points]
    ks = sorted(lookaheads) if lookaheads is not None else \
        list(range(1, max((p.lookahead for p in points), default=8) + 3))
    v = verify_cost if callable(verify_cost) else (lambda k: verify_cost)
    data = []
    for algorithm in dict.fromkeys(p.algorithm for p in points):
        mine = [p for p in points if p.algorithm == algorithm]
        colour = algorithm_colour(algorithm)
        a = sum(p.acceptance for p in mine) / len(mine)
        c = sum(p.cost_ratio for p in mine) / len(mine)
        data.append(go.Scatter(
            name=f"{algorithm} measured", x=[p.lookahead for p in mine],
            y=[p.speedup for p in mine], mode="markers",
            marker={"color": colour, "size": 11, "line": {"color": GREY, "width": 1}},
            legendgroup=algorithm,
            customdata=[(p.acceptance, p.cost_ratio, p.verify_cost, p.predicted) for p in mine],
            hovertemplate=f"{algorithm}, k = %{{x}}: measured %{{y:.2f}}×<br>"
                          "a = %{customdata[0]:.3f}, c = %{customdata[1]:.3f}, "
                          "v = %{customdata[2]:.2f}<br>"
                          "model: %{customdata[3]:.2f}×<extra></extra>"))
        data.append(go.Scatter(
            name=f"{algorithm} model (a = {a:.2f}, c = {c:.2f})", x=ks,
            y=[predicted_speedup(a, k, c, v(k)) for k in ks], mode="lines",
            line={"color": colour, "dash": "dash"}, legendgroup=algorithm,
            hovertemplate=f"{algorithm} model, k = %{{x}}: %{{y:.2f}}×<extra></extra>"))
    data.append(go.Scatter(name="no speedup", x=[min(ks, default=1), max(ks, default=1)], y=[1, 1],
                           mode="lines", line={"color": GREY, "width": 1}, hoverinfo="skip",
                           showlegend=False))
    layout = base_layout(
        "Speedup over plain decoding: measured (markers) and cost model (dashed)", height=440,
        top=100, xaxis={"title": "lookahead k (candidates per iteration)", "dtick": 1},
        yaxis={"title": "speedup (×)", "rangemode": "tozero"})
    return go.Figure(data=data, layout=layout)
