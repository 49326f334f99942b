"""Every figure builder in one place. Each is a pure function: a ``Trace`` (plus an iteration, a
position, ...) in, a ``plotly.graph_objects.Figure`` out, with no model needed, so a trace loaded
from JSON draws exactly like a live one. Each lives in a module named after what it shows.
"""

from __future__ import annotations

from pathlib import Path

import plotly.graph_objects as go

from .distribution import distribution_figure
from .speedup import speedup_figure
from .strip import token_strip_figure
from .summary import summary_figure
from .translation import translation_figure
from .vocabulary import vocabulary_figure

__all__ = ["distribution_figure", "save_html", "speedup_figure", "summary_figure",
           "token_strip_figure", "translation_figure", "vocabulary_figure"]


def save_html(fig: go.Figure, path: str | Path) -> Path:
    """Write ``fig`` as a self-contained HTML page: plotly.js is embedded (about 4.5 MB), so the
    page opens offline; no CDN is contacted."""
    path = Path(path)
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return path
