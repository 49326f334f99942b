"""A run at a glance: where drafts get rejected, what each target pass yields, where time goes.

Four panels: the acceptance a per candidate position (accepted / judged there: the ratio the cost
model takes, ``Stats.acceptance``), tokens per iteration (accepted drafts plus the target's own),
output tokens against target forward passes (the diagonal is plain decoding), and time per
iteration split by phase.
"""

from __future__ import annotations

from itertools import accumulate

import plotly.graph_objects as go

from ..trace import PHASES, Trace
from .style import FATE_COLOURS, GREY, PHASE_COLOURS, base_layout, note, panel_title

LEFT, RIGHT = (0.0, 0.44), (0.56, 1.0)
TOP, BOTTOM = (0.6, 0.94), (0.0, 0.34)


def acceptance_by_position(trace: Trace) -> tuple[list[int], list[int]]:
    """Per candidate position: how many candidates the target judged there, and how many passed."""
    judged: list[int] = []
    passed: list[int] = []
    for it in trace.iterations:
        verify = it.get("verify")
        for check in verify.positions if verify is not None else []:
            while len(judged) <= check.position:
                judged.append(0)
                passed.append(0)
            judged[check.position] += 1
            passed[check.position] += check.accepted
    return judged, passed


def summary_figure(trace: Trace) -> go.Figure:
    """Acceptance per position, tokens per iteration, tokens per target pass, time per phase."""
    stats = trace.stats
    judged, passed = acceptance_by_position(trace)
    iterations, kept, own = [], [], []
    for it in trace.iterations:
        accept = it.get("accept")
        if accept is not None:
            iterations.append(it.index)
            kept.append(min(accept.accepted, len(accept.committed)))
            own.append(len(accept.committed) - kept[-1])
    cumulative = list(accumulate((k + o for k, o in zip(kept, own)), initial=0))

    def axes(n: int) -> dict:
        return {"xaxis": f"x{n}" if n > 1 else "x", "yaxis": f"y{n}" if n > 1 else "y"}

    data = [
        go.Bar(name="accepted / judged", x=list(range(len(judged))),
               y=[p / j for p, j in zip(passed, judged)], customdata=list(zip(passed, judged)),
               text=[f"{p}/{j}" for p, j in zip(passed, judged)], textposition="outside",
               marker={"color": FATE_COLOURS["accepted"]}, showlegend=False, cliponaxis=False,
               hovertemplate="position %{x}: %{customdata[0]} of %{customdata[1]} judged "
                             "candidates accepted (%{y:.0%})<extra></extra>", **axes(1)),
        go.Bar(name="accepted drafts", x=iterations, y=kept,
               marker={"color": FATE_COLOURS["accepted"]},
               hovertemplate="iteration %{x}: %{y} accepted drafts<extra></extra>", **axes(2)),
        go.Bar(name="target's own token", x=iterations, y=own,
               marker={"color": FATE_COLOURS["replacement"]},
               hovertemplate="iteration %{x}: %{y} token of the target's own<extra></extra>",
               **axes(2)),
        go.Scatter(name="this run", x=list(range(len(cumulative))), y=cumulative,
                   mode="lines", line={"color": PHASE_COLOURS["accept"], "width": 3},
                   showlegend=False,
                   hovertemplate="%{x} target passes: %{y} tokens<extra></extra>", **axes(3)),
        go.Scatter(name="plain decoding", x=[0, len(cumulative) - 1], y=[0, len(cumulative) - 1],
                   mode="lines", line={"color": GREY, "dash": "dash"}, showlegend=False,
                   hovertemplate="plain decoding: one token per pass<extra></extra>", **axes(3)),
    ]
    seconds = sum(stats.phase_seconds.values()) or 1.0
    for phase in PHASES:
        share = stats.phase_seconds.get(phase, 0.0)
        ms = [1000 * (it.get(phase).seconds if it.get(phase) else 0.0) for it in trace.iterations]
        data.append(go.Bar(
            name=f"{phase} {1000 * share:.1f} ms ({share / seconds:.0%})",
            x=[it.index for it in trace.iterations], y=ms, marker={"color": PHASE_COLOURS[phase]},
            hovertemplate=f"iteration %{{x}}: {phase} %{{y:.2f}} ms<extra></extra>",
            **axes(4)))

    per_token = stats.target_forward_passes / stats.new_tokens if stats.new_tokens else 0.0
    annotations = [
        panel_title(f"acceptance a per position: accepted / judged (all: {stats.acceptance:.2f})",
                    LEFT, TOP[1]),
        panel_title(f"tokens per iteration (mean {stats.tokens_per_iteration:.2f})", RIGHT, TOP[1]),
        panel_title(f"tokens vs target passes: {per_token:.2f} passes per token", LEFT, BOTTOM[1]),
        panel_title("time per iteration by phase (ms)", RIGHT, BOTTOM[1]),
    ]
    if not judged:
        annotations.append(note("no drafts judged", x=sum(LEFT) / 2, y=sum(TOP) / 2))
    layout = base_layout(
        f"Run summary: {stats.new_tokens} tokens, {stats.iterations} iterations, "
        f"{stats.seconds * 1000:.0f} ms", height=560, top=95, barmode="stack",
        annotations=annotations,
        xaxis={"domain": LEFT, "anchor": "y", "title": "candidate position", "dtick": 1},
        yaxis={"domain": TOP, "anchor": "x", "range": [0, 1.18], "tickformat": ".0%",
               "tickvals": [0, 0.5, 1]},
        xaxis2={"domain": RIGHT, "anchor": "y2", "title": "iteration"},
        yaxis2={"domain": TOP, "anchor": "x2", "title": "tokens"},
        xaxis3={"domain": LEFT, "anchor": "y3", "title": "target forward passes"},
        yaxis3={"domain": BOTTOM, "anchor": "x3", "title": "tokens"},
        xaxis4={"domain": RIGHT, "anchor": "y4", "title": "iteration"},
        yaxis4={"domain": BOTTOM, "anchor": "x4", "title": "ms"})
    return go.Figure(data=data, layout=layout)
