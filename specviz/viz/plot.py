"""``Plot``: a plotly figure as a light widget whose state is the whole figure.

Why not ``go.FigureWidget``? Two reasons, both seen in a real browser. Its edits travel as
one-off messages (restyle, relayout), not as state: edits made before the browser has a view
(``stepper.goto(...)`` before the stepper is displayed) or while its 5 MB script is still loading
are lost, so the browser shows a mixture of old and new figures. And every FigureWidget ships the
whole plotly.js (about 5 MB), so one stepper cost 25 MB.

Here the synced state *is* the figure (``spec``: data and layout as JSON, the theme sent once in
``template``), so whatever the browser draws, and whenever it draws it, equals the Python figure.
plotly.js travels once per kernel, in one shared ``PlotlyLibrary`` widget that every Plot refers to.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import anywidget
import ipywidgets as widgets
import plotly
import plotly.graph_objects as go
import plotly.io as pio
import traitlets

PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


class PlotlyLibrary(widgets.Widget):
    """plotly.js itself (``source``), sent to the browser once and shared by every ``Plot``.
    A plain widget model: it has no view, only state that the plots' script reads."""

    source = traitlets.Unicode().tag(sync=True)


_library: PlotlyLibrary | None = None


def plotly_library() -> PlotlyLibrary:
    """The kernel's one ``PlotlyLibrary``, created on first use (again if it was closed)."""
    global _library
    if _library is None or _library.comm is None:
        _library = PlotlyLibrary(source=PLOTLY_JS.read_text(encoding="utf-8"))
    return _library


@cache
def _template(name: str | None) -> dict:
    """The plotly template ``name`` as JSON: the notebook's theme, built once, not per step."""
    return pio.templates[name].to_plotly_json() if name else {}


def figure_json(fig: go.Figure) -> dict:
    """``fig`` as the JSON plotly.js draws, without its template (sent once, in ``template``).
    Reads plotly's validated properties in place: ``to_plotly_json`` would deep-copy the
    template too, most of a step's time."""
    return {"data": [trace.to_plotly_json() for trace in fig.data],
            "layout": {key: value for key, value in fig.layout._props.items()
                       if key != "template"}}


class Plot(anywidget.AnyWidget):
    """One plotly figure, drawn in the browser from its full JSON.

    ``show(fig)`` replaces the figure; ``restyle(name, **props)`` changes one trace (the stepper
    moves the token strip's outline this way without resending the strip). ``figure`` is the
    ``go.Figure`` on screen, data and overrides included; ``data`` its traces.
    """

    _esm = Path(__file__).with_name("plot.js")
    library = traitlets.Instance(PlotlyLibrary).tag(sync=True, **widgets.widget_serialization)
    spec = traitlets.Dict().tag(sync=True)  # {"data": [...], "layout": {...}}, template aside
    template = traitlets.Dict().tag(sync=True)
    overrides = traitlets.Dict().tag(sync=True)  # trace name -> properties that replace its own

    def __init__(self, fig: go.Figure) -> None:
        super().__init__(library=plotly_library(), layout=widgets.Layout(width="100%"))
        self.figure = fig
        self.show(fig)

    def show(self, fig: go.Figure) -> None:
        """Draw ``fig`` instead; sends nothing when it equals the figure on screen."""
        self.figure = fig
        with self.hold_sync():
            self.template = _template(pio.templates.default)
            self.overrides = {}
            self.spec = figure_json(fig)

    def restyle(self, name: str, **props) -> None:
        """Give the trace called ``name`` the properties ``props`` (e.g. x=..., y=...)."""
        self.figure.update_traces(props, selector={"name": name})
        self.overrides = {**self.overrides, name: props}

    @property
    def data(self) -> tuple:
        return self.figure.data
