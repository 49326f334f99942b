"""See speculative decoding: figures built from a trace, and widgets to step through and run it.

    from specviz.viz import Stepper, explore, token_strip_figure
    Stepper(res.trace)        # step through iterations and phases
    explore(pair)             # choose prompt, algorithm, ... and run live
    Plot(fig)                 # any plotly figure as a widget that Python can redraw live

Everything draws from a ``Trace`` alone, so traces saved as JSON can be explored without models.
Figures render offline (plotly.js ships with the package; widgets use anywidget).
"""

from ..lazy import lazy_attributes

# Loaded on first use, so that importing one of viz's modules loads no other.
__getattr__, __dir__ = lazy_attributes(__name__, {
    **dict.fromkeys(["distribution_figure", "save_html", "speedup_figure", "summary_figure",
                     "token_strip_figure", "translation_figure", "vocabulary_figure"], "figures"),
    **dict.fromkeys(["Explorer", "Stepper", "explore"], "widgets"),
    "Plot": "plot",
})

__all__ = ["Explorer", "Plot", "Stepper", "distribution_figure", "explore", "save_html", "speedup_figure",
           "summary_figure", "token_strip_figure", "translation_figure", "vocabulary_figure"]
