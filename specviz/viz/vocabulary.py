"""The two vocabularies, what they share, and how much of the drafter's q falls on the shared part.

Top: a one-dimensional Venn diagram. The target's vocabulary and the drafter's are bars, shifted so
that they overlap by the size of their intersection (tokens spelled identically, TLI's proposal
space). Bottom: per drafted token, the share of q on the intersection (TLI records it): TLI throws
the rest away, so a low share means TLI proposes from a distorted q'.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ..trace import Trace
from .style import GREEN, ROLE_COLOURS, base_layout, note, panel_title

TOP, BOTTOM = (0.62, 0.92), (0.0, 0.36)


def vocabulary_figure(trace: Trace) -> go.Figure:
    """Vocabulary sizes and their intersection (from ``trace.meta``), and TLI's share of q on the
    intersection per step."""
    target = (trace.meta.get("target") or {}).get("vocab_size")
    drafter = (trace.meta.get("drafter") or {}).get("vocab_size")
    shared = trace.meta.get("intersection_size")
    bars = []  # (row, start, width, text): the drafter's bar overlaps the target's by `shared`
    if target:
        bars.append(("target", 0, target, f"target: {target:,} tokens"))
    if drafter:
        start = target - shared if target and shared is not None else 0
        bars.append(("drafter", start, drafter, f"drafter: {drafter:,} tokens"))
    if target and drafter and shared is not None:
        bars.append(("shared", target - shared, shared, f"shared: {shared:,}"))
    rows, bases, widths, texts = (list(column) for column in zip(*bars)) if bars \
        else ([], [], [], [])
    colours = [ROLE_COLOURS[r] for r in rows]

    steps, masses = [], []
    for it in trace.iterations:
        translate = it.get("translate")
        for j, mass in enumerate(translate.intersection_mass if translate else []):
            steps.append(f"{it.index}.{j}")
            masses.append(mass)
    mean = sum(masses) / len(masses) if masses else None

    data = [
        go.Bar(name="vocabularies", orientation="h", y=rows, base=bases, x=widths, text=texts,
               textposition="inside", insidetextanchor="middle", textangle=0,
               marker={"color": colours, "opacity": 0.85}, showlegend=False,
               hovertemplate="%{text}<extra></extra>"),
        go.Bar(name="share of q on shared tokens", x=steps, y=masses, xaxis="x2", yaxis="y2",
               marker={"color": GREEN}, showlegend=False,
               hovertemplate="iteration.step %{x}: %{y:.1%} of q on shared tokens<extra></extra>"),
    ]
    heading = "vocabulary sizes and their intersection (tokens spelled alike)"
    if target and drafter and shared is not None:
        heading += (f": {shared / target:.0%} of the target's, {shared / drafter:.0%} of the "
                    "drafter's")
    if target and drafter and shared is None:
        heading = "vocabulary sizes (their intersection is not recorded in this trace)"
    annotations = [panel_title(heading, (0, 1), TOP[1]),
                   panel_title("share of q on the shared tokens, per drafted token (TLI)"
                               + (f": mean {mean:.1%}" if mean is not None else ""),
                               (0, 1), BOTTOM[1])]
    if not target or not drafter:
        annotations.append(note("no drafter in this run", y=sum(TOP) / 2))
    if not masses:
        annotations.append(note("recorded by TLI only" if drafter else "", y=sum(BOTTOM) / 2))
    layout = base_layout(
        "Vocabularies", height=400, top=50, barmode="overlay", annotations=annotations,
        uniformtext={"minsize": 12, "mode": "show"},  # a narrow bar's label stays readable
        xaxis={"domain": [0, 1], "anchor": "y", "title": "tokens", "rangemode": "tozero"},
        yaxis={"domain": TOP, "anchor": "x", "autorange": "reversed", "type": "category"},
        xaxis2={"domain": [0, 1], "anchor": "y2", "type": "category", "showticklabels": False,
                "title": "drafted tokens (iteration.step)"},
        yaxis2={"domain": BOTTOM, "anchor": "x2", "range": [0, 1.02], "tickformat": ".0%"})
    return go.Figure(data=data, layout=layout)
