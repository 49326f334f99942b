"""One iteration's translation: drafter tokens -> text -> target tokens.

The three rows share one horizontal axis in *bytes of text*, so a drafter token sits exactly above
the target tokens that spell the same bytes: merges and splits show as boxes that do not line up.
To the left, in grey, is the look-behind window (committed text re-tokenized with the draft); on the
right, in red, the text the alignment dropped. TLI adds its id mapping and the share of q on the
shared vocabulary; SLRS adds a second panel with every drafter path behind each candidate's psi.
"""

from __future__ import annotations

import html
import re

import plotly.graph_objects as go

from ..algorithms import algorithm_class
from ..trace import DraftEvent, Lattice, Trace, TranslateEvent, VerifyEvent
from .explain import draw_words, quoted
from .style import (LIGHT_GREY, PHASE_COLOURS, PURPLE, SKY_BLUE, TOKEN_FONT, VERMILLION,
                    base_layout, plain_to_html, note, panel_title, show_prob, show_token,
                    text_colour_on, token_label)

WINDOW_CELLS = 16  # the look-behind is drawn at most this wide, so the draft keeps the room
MIN_CELLS = 12  # a short draft is not stretched across the whole width
ROWS = {"drafter": 0, "text": 1, "target": 2, "unused": -1}
_BYTE_TOKEN = re.compile(r"(<0x[0-9A-F]{2}>)+")
_SPECIAL = re.compile(r"<[^<>\s]+>")


def label_bytes(label: str) -> bytes:
    """The bytes a token spells, from its on-screen label: byte tokens ('<0xA6>') one byte each,
    special tokens ('<eos>') none, other tokens their UTF-8 text."""
    if _BYTE_TOKEN.fullmatch(label):
        return bytes(int(h, 16) for h in re.findall(r"<0x([0-9A-F]{2})>", label))
    if _SPECIAL.fullmatch(label):
        return b""
    return label.encode("utf-8")


def spelled_bytes(label: str) -> int:
    """How many bytes of text a token spells (see ``label_bytes``)."""
    return len(label_bytes(label))


def _boxes(name: str, row: str, spans: list[tuple[float, float]], labels: list[str],
           hovers: list[str], colour: str) -> go.Bar:
    """Token boxes on one row, spanning ``spans`` (start, end) on the byte axis."""
    return go.Bar(
        name=name, orientation="h", y=[ROWS[row]] * len(spans), width=0.8,  # rows
        base=[a + 0.05 for a, _ in spans],
        x=[max(b - a - 0.1, 0.3) for a, b in spans], text=[token_label(t) for t in labels],
        textposition="inside", insidetextanchor="middle", textangle=0,
        textfont={"family": TOKEN_FONT, "color": text_colour_on(colour)},
        marker={"color": colour}, hovertext=[plain_to_html(h) for h in hovers],
        hovertemplate="%{hovertext}<extra></extra>", showlegend=False)


def _spans(labels: list[str], start: float = 0.0) -> list[tuple[float, float]]:
    """Consecutive spans on the byte axis; a token spelling no bytes still gets one cell."""
    spans, at = [], start
    for label in labels:
        width = spelled_bytes(label) or 1
        spans.append((at, at + width))
        at += width
    return spans


def translation_figure(trace: Trace, iteration: int) -> go.Figure:
    """Drafter tokens -> text -> target tokens for one iteration (see the module docstring).
    What differs between algorithms is read from the algorithm's class (the laws' names; a
    "lattice" translation gets the psi panel) or from the trace (TLI's masses on shared tokens)."""
    algo = algorithm_class(trace.meta.get("algorithm", ""))
    it = trace.iteration(iteration)
    draft = it.get("draft") if it else None
    translate = it.get("translate") if it else None
    verify = it.get("verify") if it else None

    rows = _rows(draft, translate, algo.draft_law, algo.proposal_symbol) if draft and translate \
        else _empty_rows()
    edges = [edge for bar in rows for base, width in zip(bar.base or (), bar.x or ())
             for edge in (base, base + width)]
    left, right = min(edges, default=0), max(edges, default=0)
    lattice = algo.translation == "lattice"
    data = rows + (_lattice_traces(translate, verify) if lattice else [])

    top = 1.0
    bottom = 0.5 if lattice else 0.0
    annotations = [panel_title("drafter tokens → text → target tokens (axis: bytes of text)",
                               (0, 1), top)]
    if draft is None:
        annotations.append(note("no drafter in this run: nothing to translate" if it
                                else "no iteration to show"))
    if lattice:
        annotations.append(panel_title("ψ of each candidate: every drafter path that spells it "
                                       "(segments sum to ψ; ◆ = target p)", (0, 1), 0.40))
    n = len(translate.lattices) if lattice and translate else 0
    mass = ""
    if translate is not None and translate.intersection_mass:
        mass = "; share of q on shared tokens: " + ", ".join(
            f"{m:.0%}" for m in translate.intersection_mass)
    layout = base_layout(
        f"Iteration {iteration}: translation{mass}", height=300 + (120 + 34 * n if lattice else 0),
        barmode="overlay", showlegend=False, annotations=annotations,
        xaxis={"visible": False, "fixedrange": True, "domain": [0.12, 1],
               "range": [left - 0.5, max(right, left + MIN_CELLS) + 0.5]},
        yaxis={"domain": [bottom + (0.08 if lattice else 0), top],
               "range": [2.6, -1.6 if lattice else -0.6],
               "tickvals": list(ROWS.values()),
               "ticktext": ["drafter", "text", "target", "drawn, unused"], "fixedrange": True},
    )
    if lattice:
        layout.update(
            xaxis2={"domain": [0.12, 1], "anchor": "y2", "range": [0, 1.08], "title": "probability",
                    "fixedrange": True},
            yaxis2={"domain": [0, 0.38], "anchor": "x2", "autorange": "reversed",
                    "type": "category", "fixedrange": True})
    return go.Figure(data=data, layout=layout)


_ROW_STYLES = {  # name: (row, colour), in drawing order
    "drafted tokens": ("drafter", PHASE_COLOURS["draft"]),
    "drawn but unused": ("unused", LIGHT_GREY),
    "look-behind text": ("text", LIGHT_GREY),
    "draft text": ("text", SKY_BLUE),
    "look-behind tokens": ("target", LIGHT_GREY),
    "candidate target tokens": ("target", PHASE_COLOURS["translate"]),
    "dropped text": ("target", VERMILLION),
    "not proposed": ("target", LIGHT_GREY),
}


def _empty_rows() -> list[go.Bar]:
    return [_boxes(name, row, [], [], [], colour) for name, (row, colour) in _ROW_STYLES.items()]


def _rows(draft: DraftEvent, translate: TranslateEvent, law: str, symbol: str) -> list[go.Bar]:
    """The boxes of every row, in the order of ``_ROW_STYLES``; ``law`` names the law the drafted
    tokens were drawn from, ``symbol`` the one the candidates are proposed from."""
    boxes: dict[str, list[tuple[tuple[float, float], str, str]]] = {n: [] for n in _ROW_STYLES}
    candidates_bytes = sum(spelled_bytes(t) for t in translate.target_texts)
    used = draft.used or [True] * len(draft.texts)  # only SLRS draws tokens it does not use

    healed = len(draft.healed.encode("utf-8"))  # token healing: the first token re-spells these
    at = unused_at = -healed  # unused drafts sit where they were drawn, without overlapping others
    for j, (label, ok) in enumerate(zip(draft.texts, used)):
        hover = (f"drafter token {draft.tokens[j]} {quoted(label)}\n{law} = "
                 f"{show_prob(draft.probs[j])} ({draw_words(draft.draws[j])})")
        if j == 0 and healed:
            hover += (f"\ntoken healing: the drafter's context ended in {quoted(draft.healed)}, "
                      "which it backed off; this token spells it again, then the new text")
        width = spelled_bytes(label) or 1
        if ok:
            boxes["drafted tokens"].append(((at, at + width), label, hover))
            at += width
        else:
            unused_at = max(at, unused_at)
            hover += "\ndrawn, then dropped: it continues no target token"
            boxes["drawn but unused"].append(((unused_at, unused_at + width), label, hover))
            unused_at += width
    text_bytes = sum(spelled_bytes(t) for t, ok in zip(draft.texts, used) if ok) - healed

    if translate.window_text:
        width = min(len(translate.window_text.encode("utf-8")), WINDOW_CELLS)
        shown = show_token(translate.window_text)
        shown = shown if len(shown) <= width else "…" + shown[-(width - 1):]
        hover = (f"look-behind: {quoted(translate.window_text)}\ncommitted text, re-tokenized "
                 "with the draft so that the boundary comes out right")
        boxes["look-behind text"].append(((-width, 0), shown, hover))
        boxes["look-behind tokens"].append(((-width, 0), "look-behind", hover))
    if text_bytes:
        boxes["draft text"].append(((0, text_bytes), translate.text,
                                    f"draft text: {quoted(translate.text)}"))

    for j, ((token, label), span) in enumerate(zip(zip(translate.target_tokens,
                                                       translate.target_texts),
                                                   _spans(translate.target_texts))):
        hover = f"target token {token} {quoted(label)}"
        if j < len(translate.proposal_probs):
            hover += f"\n{symbol} = {show_prob(translate.proposal_probs[j])}"
        if j < len(translate.mapping):
            drafter_id, target_id = translate.mapping[j]
            hover += f"\ndrafter id {drafter_id} → target id {target_id}"
        if j < len(translate.intersection_mass):
            hover += f"\nq on shared tokens at this step: {translate.intersection_mass[j]:.3f}"
        boxes["candidate target tokens"].append((span, label, hover))
    dropped_bytes = len(translate.dropped.encode("utf-8"))
    end = candidates_bytes + dropped_bytes
    if dropped_bytes:
        boxes["dropped text"].append(((candidates_bytes, end), translate.dropped,
                                      f"dropped: {quoted(translate.dropped)}\nnot whole target "
                                      "tokens yet; a later iteration will spell it"))
    if text_bytes > end:
        boxes["not proposed"].append(((end, text_bytes), "not proposed",
                                      "text past the output budget (max_new_tokens): not proposed"))

    return [_boxes(name, row, [b[0] for b in boxes[name]], [b[1] for b in boxes[name]],
                   [b[2] for b in boxes[name]], colour)
            for name, (row, colour) in _ROW_STYLES.items()]


PIXELS_PER_PROBABILITY = 600  # the lattice axis (0 to 1.08) on a figure at least 750 px wide
CHARACTER_PIXELS = 8  # a label character at the 12 px that stays readable


def _segment_label(spelled: str, prob: float) -> str:
    """A path segment's label: its tokens and probability, just the probability, or nothing (the
    hover still says it) when even that would not fit the segment at a readable size."""
    room = prob * PIXELS_PER_PROBABILITY / CHARACTER_PIXELS - 1  # characters
    for label in (f"{spelled} {show_prob(prob)}", show_prob(prob)):
        if len(label) <= room:
            return html.escape(label, quote=False)
    return ""


def _lattice_traces(translate: TranslateEvent | None, verify: VerifyEvent | None) -> list:
    """SLRS: per candidate, its drafter paths as segments of one bar that sums to psi."""
    lattices: list[Lattice] = translate.lattices if translate else []
    checks = verify.positions if verify else []
    rows = [f"{j}: {token_label(lat.target_text)}" for j, lat in enumerate(lattices)]
    segments = []  # (row, start, width, label, hover, colour): one per path, laid end to end
    for row, lat in zip(rows, lattices):
        if not lat.paths and lat.psi > 0:  # greedy: the drafter's choice is certain
            segments.append((row, 0.0, lat.psi, "greedy: certain", "greedy drafter: ψ = 1", PURPLE))
        at = 0.0
        for k, path in enumerate(lat.paths):
            spelled = "·".join(show_token(t) for t in path.texts)
            factors = " × ".join(show_prob(p) for p in path.probs)
            stop = lat.stop_factor[k] if k < len(lat.stop_factor) else 1.0
            segments.append((row, at, path.prob, _segment_label(spelled, path.prob),
                             plain_to_html(f"path {spelled}\nq along it: {factors}\nstop factor "
                                           f"{show_prob(stop)}\n= {show_prob(path.prob)}"),
                             PURPLE if k % 2 == 0 else "#A3507F"))
            at += path.prob
    ys, bases, widths, labels, hovers, colours = (list(c) for c in zip(*segments)) if segments \
        else ([], [], [], [], [], [])
    return [
        go.Bar(name="paths", orientation="h", y=ys, base=bases, x=widths, text=labels,
               textposition="inside", insidetextanchor="middle", textangle=0,
               textfont={"family": TOKEN_FONT, "color": "#FFFFFF", "size": 12},
               marker={"color": colours, "line": {"color": "#FFFFFF", "width": 1}},
               hovertext=hovers, hovertemplate="%{hovertext}<extra></extra>",
               xaxis="x2", yaxis="y2"),
        go.Scatter(name="ψ", x=[max(lat.psi, checks[j].p if j < len(checks) else 0.0) + 0.01
                                for j, lat in enumerate(lattices)], y=rows, mode="text",
                   text=[f"  ψ = {show_prob(lat.psi)}" for lat in lattices],
                   textposition="middle right", hoverinfo="skip", xaxis="x2", yaxis="y2"),
        go.Scatter(name="target p", x=[c.p for c in checks[:len(rows)]], y=rows[:len(checks)],
                   mode="markers", marker={"symbol": "diamond", "size": 11,
                                           "color": PHASE_COLOURS["verify"],
                                           "line": {"color": "#FFFFFF", "width": 1}},
                   hovertemplate="target p = %{x:.3f}<extra></extra>", xaxis="x2", yaxis="y2"),
    ]
