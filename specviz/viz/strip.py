"""The token strip: the generated text token by token, coloured by what became of each token.

Tokens are laid out like text, wrapping into rows of ``width`` character cells; each token is a
horizontal bar as wide as its label, so a strip of a few hundred tokens stays one cheap figure with
one bar trace per fate. Thrown-away drafts stay in place, struck through, where they were rejected.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import plotly.graph_objects as go

from ..trace import Iteration, Trace
from .explain import fate_summary, quoted
from .fates import FATES, TokenFate, trace_fates
from .style import (FATE_COLOURS, FATE_LABELS, GREY, TOKEN_FONT, base_layout, plain_to_html, note,
                    proposal_symbol, show_token, text_colour_on, token_label)

ROW_HEIGHT = 30  # pixels
WIDTH = 64  # character cells per row
HIGHLIGHT = "current iteration"  # the name of the outline trace, which a stepper moves
ITERATION_GAP = 0.6  # character cells
BAR_HEIGHT = 0.8  # rows


@dataclass
class Cell:
    """Where one token sits: row, first cell and width (in character cells)."""

    fate: TokenFate
    row: int
    x0: float
    width: float


def layout_cells(fates: list[TokenFate], width: int) -> list[Cell]:
    """Place tokens left to right, wrapping like text, with a wider gap between iterations; a token
    wider than a row gets a row of its own."""
    cells, row, x = [], 0, 0.0
    for fate in fates:
        if cells and fate.iteration != cells[-1].fate.iteration:
            x += ITERATION_GAP
        w = len(show_token(fate.text)) + 1.0
        if x > 0 and x + w > width:
            row, x = row + 1, 0.0
        cells.append(Cell(fate, row, x, w))
        x += w
    return cells


def iteration_outline(cells: list[Cell], iteration: int | None) -> tuple[list, list]:
    """Outline the cells of one iteration: a rectangle per row they occupy (None separates them)."""
    cells = [c for c in cells if c.fate.iteration == iteration]
    xs, ys = [], []
    for row in sorted({c.row for c in cells}):
        on_row = [c for c in cells if c.row == row]
        x0, x1 = on_row[0].x0 - 0.05, on_row[-1].x0 + on_row[-1].width + 0.05
        xs += [x0, x1, x1, x0, x0, None]
        ys += [row - 0.48, row - 0.48, row + 0.48, row + 0.48, row - 0.48, None]
    return xs, ys


def token_strip_figure(trace: Trace, iteration: int | None = None, width: int = WIDTH,
                       iterations: list[Iteration] | None = None) -> go.Figure:
    """The output token by token, coloured by fate, with iteration boundaries.

    ``iteration`` is outlined (the stepper's current one). Hover a token for p, the proposal
    probability (q, q' for TLI, psi for SLRS), the acceptance probability and the draw.
    ``iterations`` replaces ``trace.iterations`` (a run still in progress draws what it has).
    """
    iterations = trace.iterations if iterations is None else iterations
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    cells = layout_cells(trace_fates(iterations), width)
    rows = (cells[-1].row + 1) if cells else 1

    data = []
    for fate in FATES:
        mine = [c for c in cells if c.fate.fate == fate]
        labels = [token_label(c.fate.text) for c in mine]
        if fate in ("rejected", "unchecked"):
            labels = [f"<s>{label}</s>" for label in labels]
        data.append(go.Bar(  # width: every token one row high (plotly would size each fate's bars
            # by the gaps between its own rows, so a fate seen every other row drew twice as tall)
            name=FATE_LABELS[fate], orientation="h", y=[c.row for c in mine], width=BAR_HEIGHT,
            x=[c.width - 0.2 for c in mine], base=[c.x0 + 0.1 for c in mine],
            text=labels, textposition="inside", insidetextanchor="middle", textangle=0,
            textfont={"family": TOKEN_FONT, "color": text_colour_on(FATE_COLOURS[fate])},
            marker={"color": FATE_COLOURS[fate]},
            hovertext=[plain_to_html(fate_summary(c.fate, symbol)) for c in mine],
            hovertemplate="%{hovertext}<extra></extra>", showlegend=bool(mine)))

    bx, by = [], []
    for before, cell in zip(cells, cells[1:]):
        if cell.fate.iteration != before.fate.iteration:
            x = cell.x0 - ITERATION_GAP / 2 if cell.x0 > 0 else cell.x0
            bx += [x, x, None]
            by += [cell.row - 0.5, cell.row + 0.5, None]
    data.append(go.Scatter(name="iteration boundary", x=bx, y=by, mode="lines",
                           line={"color": GREY, "width": 2}, hoverinfo="skip"))
    hx, hy = iteration_outline(cells, iteration)
    data.append(go.Scatter(name=HIGHLIGHT, x=hx, y=hy, mode="lines",
                           line={"color": GREY, "width": 3, "dash": "dot"}, hoverinfo="skip",
                           showlegend=False))

    kept = sum(c.fate.kept for c in cells)
    prompt = trace.prompt if len(trace.prompt) <= 40 else "…" + trace.prompt[-39:]
    title = (f"{kept} tokens in {len(iterations)} iterations "
             f"({trace.meta.get('algorithm', '?')}) after the prompt {html.escape(quoted(prompt))}")
    layout = base_layout(
        title, height=110 + ROW_HEIGHT * rows, barmode="overlay", bargap=0.15,
        uniformtext={"minsize": 11, "mode": "show"},
        xaxis={"range": [-0.5, width + 0.5], "visible": False, "fixedrange": True},
        yaxis={"range": [rows - 0.5, -0.5], "visible": False, "fixedrange": True},
        annotations=[] if cells else [note("no tokens yet")])
    return go.Figure(data=data, layout=layout)
