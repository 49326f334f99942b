"""One palette and one way of writing tokens and numbers, shared by every figure and widget.

Colours are the Okabe-Ito palette, which stays distinguishable under the common colour-vision
deficiencies. Fixed colours are mid-tone, so they read on white and on dark backgrounds alike;
everything else (text, axes, grid) is left to the plotly template, and backgrounds are transparent.
Try ``plotly.io.templates.default = "plotly_dark"`` for a dark notebook.
"""

from __future__ import annotations

import html

from ..trace import PHASES

ORANGE, SKY_BLUE, GREEN, YELLOW = "#E69F00", "#56B4E9", "#009E73", "#F0E442"
BLUE, VERMILLION, PURPLE, GREY = "#0072B2", "#D55E00", "#CC79A7", "#999999"
LIGHT_GREY = "#BBBBBB"  # boxes of things set aside; black text reads on it in either theme

# The drafter is orange and the target blue, everywhere.
ROLE_COLOURS: dict[str, str] = {"target": BLUE, "drafter": ORANGE, "shared": GREEN}
PHASE_COLOURS: dict[str, str] = dict(zip(PHASES, (ORANGE, PURPLE, BLUE, GREEN)))
PHASE_DESCRIPTIONS: dict[str, str] = {
    "draft": "the drafter proposes tokens in its own vocabulary",
    "translate": "the draft becomes candidate target tokens",
    "verify": "one target forward pass judges every candidate",
    "accept": "keep the passing prefix plus one token of the target's own",
}

# What became of a token (see ``fates.py``).
FATE_COLOURS: dict[str, str] = {
    "accepted": GREEN,
    "rejected": VERMILLION,
    "unchecked": LIGHT_GREY,
    "replacement": BLUE,
    "bonus": SKY_BLUE,
    "target": BLUE,
}
FATE_LABELS: dict[str, str] = {
    "accepted": "accepted draft",
    "rejected": "rejected draft",
    "unchecked": "discarded draft (after a rejection)",
    "replacement": "target's replacement",
    "bonus": "bonus token",
    "target": "target's own token",
}

# Algorithms in registry order (autoregressive, sd, slem, tli, slrs, then any added later).
ALGORITHM_PALETTE = (GREY, SKY_BLUE, ORANGE, PURPLE, GREEN, YELLOW, VERMILLION, BLUE)

# Distributions: target p, the proposal law, their overlap and the residual.
P_COLOUR, PROPOSAL_COLOUR, OVERLAP_COLOUR, RESIDUAL_COLOUR = BLUE, ORANGE, GREEN, VERMILLION

TOKEN_FONT = "Menlo, Consolas, 'DejaVu Sans Mono', monospace"

_VISIBLE_WHITESPACE = str.maketrans({" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍", "\x7f": "␡"})


def show_token(text: str) -> str:
    """A token as it should read on screen: spaces as '␣', newlines as '↵', other control
    characters as their Unicode control pictures ('␘'), so that no token looks empty."""
    text = text.translate(_VISIBLE_WHITESPACE)
    return "".join(chr(0x2400 + ord(c)) if ord(c) < 0x20 else c for c in text) or "∅"


def token_label(text: str) -> str:
    """``show_token`` escaped for plotly, whose labels are HTML-like ('<eos>' would vanish)."""
    return html.escape(show_token(text), quote=False)


def plain_to_html(text: str) -> str:
    """Plain text as HTML, escaped, newlines as <br>: for plotly labels (HTML-like) and widgets."""
    return html.escape(text, quote=False).replace("\n", "<br>")


def show_prob(x: float | None) -> str:
    """A probability with three decimals, or in scientific notation when it is tiny but not 0."""
    if x is None:
        return "n/a"
    return f"{x:.1e}" if 0 < abs(x) < 0.001 else f"{x:.3f}"


def algorithm_colour(algorithm: str) -> str:
    """The colour of a registered algorithm, by its place in the registry, so that one added later
    gets the next colour of ``ALGORITHM_PALETTE`` unasked; grey for a name this version does not
    know (e.g. from a trace saved by another version)."""
    from .. import algorithms

    names = list(algorithms.ALGORITHMS)  # read now: the registry may have grown since import
    if algorithm not in names:
        return GREY
    return ALGORITHM_PALETTE[names.index(algorithm) % len(ALGORITHM_PALETTE)]


def proposal_symbol(algorithm: str) -> str:
    """The name of the law candidates are proposed from, as the algorithm declares it: q (SD),
    q' (TLI's renormalised q on the shared tokens) or psi (SLRS's generalised drafter)."""
    from ..algorithms import algorithm_class

    return algorithm_class(algorithm).proposal_symbol


def text_colour_on(fill: str) -> str:
    """Black or white, whichever reads better on the hex colour ``fill`` (WCAG luminance)."""
    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(fill[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#FFFFFF"


def base_layout(title: str, height: int, top: int = 80, **extra) -> dict:
    """Layout settings every figure shares: transparent backgrounds, so the notebook's theme shows
    through, the title at the very top and below it ``top`` pixels for a horizontal legend."""
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left", "y": 1, "yref": "container",
                  "yanchor": "top", "pad": {"t": 12}, "font": {"size": 15}},
        "height": height,
        "margin": {"l": 10, "r": 10, "t": top, "b": 30},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom",
                   "traceorder": "normal", "bgcolor": "rgba(0,0,0,0)", "font": {"size": 11}},
        "hoverlabel": {"font": {"family": TOKEN_FONT}},
        **extra,
    }


def panel_title(text: str, x_domain: tuple[float, float], top: float) -> dict:
    """An annotation placed above a panel: figures lay out panels by axis domains (cheaper to build
    than ``make_subplots``, which matters when a stepper redraws on every click)."""
    return {"text": text, "x": x_domain[0], "y": top, "xref": "paper", "yref": "paper",
            "xanchor": "left", "yanchor": "bottom", "showarrow": False, "font": {"size": 13}}


def note(text: str, x: float = 0.5, y: float = 0.5) -> dict:
    """A grey remark in the middle of an empty panel (e.g. 'autoregressive: nothing drafted')."""
    return {"text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "showarrow": False,
            "font": {"color": GREY, "size": 13}}
