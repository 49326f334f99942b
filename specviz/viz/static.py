"""A Stepper as static HTML: every step's figures and words, with a slider, and no kernel.

``stepper_html(stepper)`` is what ``specviz course --html`` publishes in place of each stepper
(the kernel adds it to the stepper's output when ``STATIC_HTML_ENV`` is set). The page must load
plotly.js once, before it (``course.py`` inlines it in the page head). Figures are stored once
each: the strip with one outline per iteration, the translation per iteration, the distribution
per step, only where it differs from the one before.
"""

from __future__ import annotations

import html
import json
import uuid

from .distribution import distribution_figure
from .explain import explain
from .plot import figure_json
from .strip import HIGHLIGHT, iteration_outline
from .translation import translation_figure

STATIC_HTML_ENV = "SPECVIZ_STATIC_HTML"  # set (to 1) in a kernel: steppers also carry this HTML

_SCRIPT = """
(function () {
  var root = document.getElementById("%(id)s");
  var d = JSON.parse(document.getElementById("%(id)s-data").textContent);
  var slider = root.querySelector("input");
  function part(name) { return root.querySelector("[data-part=" + name + "]"); }
  function draw(name, fig, overrides) {
    var data = fig.data.map(function (t) {
      return overrides && overrides[t.name] ? Object.assign({}, t, overrides[t.name]) : t;
    });
    var layout = Object.assign({}, fig.layout, {template: d.template});
    Plotly.react(part(name), JSON.parse(JSON.stringify(data)), layout, {displaylogo: false,
                                                                       responsive: true});
  }
  function show(i) {
    var s = d.steps[i];
    slider.value = i;
    part("label").textContent = "step " + (i + 1) + " / " + d.steps.length + " · " + s.label;
    part("phases").innerHTML = s.phases;
    part("words").innerHTML = d.words[s.words];
    var outline = {}; outline[d.highlight] = {x: s.outline[0], y: s.outline[1]};
    draw("strip", d.figures[d.strip], outline);
    draw("translation", d.figures[s.translation]);
    draw("distribution", d.figures[s.distribution]);
  }
  slider.addEventListener("input", function () { show(+slider.value); });
  root.querySelectorAll("button").forEach(function (b) {
    b.addEventListener("click", function () {
      show(Math.min(Math.max(+slider.value + (+b.dataset.move), 0), d.steps.length - 1));
    });
  });
  draw("summary", d.figures[d.summary]);
  draw("vocabulary", d.figures[d.vocabulary]);
  show(d.start);
})();
"""


def stepper_html(stepper) -> str:
    """The stepper's every step as one HTML fragment: a slider and buttons, the phase pills, the
    words, and the five figures, drawn with plotly.js (which the page must already have loaded).
    Each position shown is the one the stepper would show by default at that step."""
    from .widgets import default_position, words_html

    if not stepper.steps:
        return f"<pre>{html.escape(repr(stepper))}</pre>"
    trace = stepper.trace
    figures: list[dict] = []
    index: dict[str, int] = {}

    def stored(fig) -> int:  # a figure's index, each distinct figure stored once
        spec = figure_json(fig)
        key = json.dumps(spec, sort_keys=True, default=str)
        if key not in index:
            index[key] = len(figures)
            figures.append(spec)
        return index[key]

    words: list[str] = []
    steps = []
    for iteration, phase in stepper.steps:
        it = trace.iteration(iteration)
        position = default_position(it, phase)
        text = words_html(explain(trace, iteration, phase))
        if text not in words:
            words.append(text)
        steps.append({
            "label": stepper.step_words(iteration, phase),
            "phases": stepper.phase_html(iteration, phase),
            "words": words.index(text),
            "outline": iteration_outline(stepper._cells, iteration),
            "translation": stored(translation_figure(trace, iteration)),
            "distribution": stored(distribution_figure(trace, iteration, position, phase)),
        })
    data = {"steps": steps, "words": words, "figures": figures, "highlight": HIGHLIGHT,
            "start": stepper.step, "template": stepper.strip.template,
            "strip": stored(stepper.strip.figure), "summary": stored(stepper.summary.figure),
            "vocabulary": stored(stepper.vocabulary.figure)}
    uid = f"specviz-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(data, default=str).replace("</", "<\\/")
    figure_divs = "".join(f"<div data-part='{name}' style='width:100%'></div>" for name in
                          ("strip", "translation", "distribution", "summary", "vocabulary"))
    return (f"<div id='{uid}' class='specviz-static-stepper' style='font-family:sans-serif'>"
            "<div><button data-move='-1' title='previous phase'>‹</button> "
            f"<input type='range' min='0' max='{len(steps) - 1}' style='width:40%;"
            "vertical-align:middle'> <button data-move='1' title='next phase'>›</button> "
            "<span data-part='label'></span></div>"
            "<div data-part='phases' style='margin:6px 0'></div><div data-part='words'></div>"
            f"{figure_divs}</div>"
            f"<script type='application/json' id='{uid}-data'>{payload}</script>"
            f"<script>{_SCRIPT % {'id': uid}}</script>")


def static_note(what: str) -> str:
    """What a published page shows for a widget that needs a running kernel."""
    return (f"<p style='color:#999999;font-family:sans-serif'><i>{html.escape(what)} runs live in "
            "a notebook: open this notebook in Jupyter to use it.</i></p>")

