"""A benchmark's HTML report: its tables and four Plotly figures in one self-contained file.

    write_report(result, "bench-out/report.html")   # what BenchResult.save writes

plotly.js is inlined (no CDN), so the report opens offline and can be mailed.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import plotly.io as pio

from ..summaries import COST_TABLE, HF_TABLE, SUMMARY_TABLE, compare_with_hf, is_plain
from ..tables import Column, cell
from ..trace import PHASES

if TYPE_CHECKING:
    from ..bench import BenchResult

_STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
          "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}")


def write_report(result: BenchResult, path: str | os.PathLike) -> Path:
    """The figures, then the summary, HF and cost-model tables, then machine and settings."""
    figures = [time_figure(result), speedup_figure(result), phase_figure(result),
               pass_cost_figure(result)]
    charts = [pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0))
              for i, fig in enumerate(figures)]
    summary = result.summary
    sections = [
        ("Summary", _html_table(summary, SUMMARY_TABLE)),
        ("specviz against Hugging Face", _html_table(compare_with_hf(result.rows, summary),
                                                     HF_TABLE)),
        ("Cost model", _html_table(summary, COST_TABLE)),
        *([("Hugging Face runs that raised", "<pre>" + html.escape(result.failures_table())
            + "</pre>")] if result.failures else []),
        ("Measured pass costs", "<pre>" + html.escape(result.costs_table()) + "</pre>"),
    ]
    info = json.dumps({"machine": result.machine, "config": result.config}, indent=1)
    m = {k: html.escape(str(v)) for k, v in result.machine.items()}
    body = "\n".join([
        "<h1>specviz benchmark</h1>",
        f"<p>{m['target']} (target) with {m['drafter']} (drafter) on {m['device']} ({m['cpu']}, "
        f"{m['cpu_count']} CPUs), {m['dtype']}, {m['date']}.</p>",
        *charts,
        *(f"<h2>{title}</h2>{content}" for title, content in sections),
        "<h2>Machine and settings</h2><pre>" + html.escape(info) + "</pre>",
    ])
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>specviz benchmark</title>"
            f"<style>{_STYLE}</style></head><body>{body}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _html_table(rows: list[dict], columns: Sequence[Column]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell(r.get(k), f))}</td>"
                                    for k, _, f in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _labelled(result: BenchResult) -> list[dict]:
    """The summary, each setting with its axis label (thread counts named when several ran)."""
    multi = len({s["threads"] for s in result.summary}) > 1
    out = []
    for s in result.summary:
        k = f" k={s['lookahead']}" if s["lookahead"] else ""
        threads = f" ({s['threads']} thr)" if multi else ""
        out.append(s | {"label": f"{s['algorithm']}{k} T={s['temperature']:g}{threads}"})
    return out


def time_figure(result: BenchResult) -> go.Figure:
    """ms per token, bar per setting and implementation; diamonds: counted passes x pass cost."""
    summary = _labelled(result)
    fig = go.Figure()
    for impl in ("specviz", "hf"):
        rows = [s for s in summary if s["impl"] == impl]
        if rows:
            fig.add_bar(name=impl, x=[s["label"] for s in rows],
                        y=[1000 * s["seconds_per_token"] for s in rows])
    predicted = [s for s in summary if s.get("predicted_counted")]
    fig.add_scatter(name="specviz: counted passes x measured pass cost", mode="markers",
                    x=[s["label"] for s in predicted if s["impl"] == "specviz"],
                    y=[1000 * s["predicted_counted"] for s in predicted if s["impl"] == "specviz"],
                    marker={"symbol": "diamond", "size": 10, "color": "black"})
    fig.update_layout(title="Time per output token (lower is better)", yaxis_title="ms per token",
                      barmode="group")
    return fig


def speedup_figure(result: BenchResult) -> go.Figure:
    """Measured speedups of every speculative setting next to the cost model's."""
    summary = [s for s in _labelled(result) if not is_plain(s)]
    fig = go.Figure()
    for impl in ("specviz", "hf"):
        rows = [s for s in summary if s["impl"] == impl]
        if rows:
            fig.add_bar(name=f"{impl} measured", x=[s["label"] for s in rows],
                        y=[s["speedup"] for s in rows])
    ours = [s for s in summary if s["impl"] == "specviz"]
    fig.add_bar(name="cost model (from a, measured pass costs)", x=[s["label"] for s in ours],
                y=[s["predicted_speedup"] for s in ours])
    fig.add_hline(y=1.0, line_dash="dash", annotation_text="plain decoding")
    fig.update_layout(title="Speedup over plain decoding, measured in the same benchmark",
                      yaxis_title="speedup (x)", barmode="group")
    return fig


def phase_figure(result: BenchResult) -> go.Figure:
    """specviz's time per token stacked phase by phase."""
    rows = [s for s in _labelled(result) if s["impl"] == "specviz"]
    fig = go.Figure()
    for phase in PHASES:
        fig.add_bar(name=phase, x=[s["label"] for s in rows],
                    y=[1000 * (s[f"{phase}_share"] or 0) * s["seconds_per_token"] for s in rows])
    fig.update_layout(title="specviz: where the time per token goes, phase by phase",
                      yaxis_title="ms per token", barmode="stack")
    return fig


def pass_cost_figure(result: BenchResult) -> go.Figure:
    """Each model's measured forward-pass time against the positions in the pass."""
    fig = go.Figure()
    for threads, pc in result.costs.items():
        for role, curve in (("target", pc.target), ("drafter", pc.drafter)):
            if curve:
                fig.add_scatter(name=f"{role}, {threads} thread(s)", mode="lines+markers",
                                x=list(range(1, len(curve) + 1)), y=[1000 * t for t in curve])
    fig.update_layout(title="One forward pass against the positions it processes (the verify cost)",
                      xaxis_title="positions in the pass", yaxis_title="ms per pass")
    return fig
