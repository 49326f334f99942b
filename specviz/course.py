"""Run the course headless: every notebook in ``notebooks/``, each in a fresh kernel, in order.

    python -m specviz.cli course --out build/notebooks      # what ./run.sh --execute does
    from specviz.course import run_course; run_course("build/notebooks")

The executed copies (with every output, figures and widget state included) are written to the
output folder; the notebooks themselves are not touched. ``html_dir`` (``specviz course --html
DIR``) also publishes each as one self-contained HTML page that reads offline: plotly.js inlined
once per page, each stepper a static figure with a slider over its steps, maths as MathML, and no
request to any other server.
Each notebook's kernel runs *this* Python (the one running specviz), with the notebook's folder as
its working directory, exactly as Jupyter would start it.
"""

from __future__ import annotations

import copy
import json
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .trace import plural

PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def find_notebooks_dir(notebooks_dir: str | Path | None = None) -> Path:
    """``notebooks_dir``, else ./notebooks, else the notebooks/ folder beside the package source."""
    candidates = [Path(notebooks_dir)] if notebooks_dir is not None else \
        [Path.cwd() / "notebooks", PACKAGE_ROOT / "notebooks"]
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return folder
    raise FileNotFoundError(
        "No notebooks found in " + " or ".join(str(c) for c in candidates) +
        ". Run from the specviz repository (its notebooks/ folder holds the course), or pass "
        "notebooks_dir.")


def course_notebooks(notebooks_dir: str | Path | None = None) -> list[Path]:
    """The course notebooks in order (their names start with a number: 00_, 01_, ...)."""
    return sorted(find_notebooks_dir(notebooks_dir).glob("[0-9][0-9]_*.ipynb"))


def _this_python_kernel():
    """A kernel manager that starts ipykernel in the running interpreter, whatever kernelspecs are
    installed elsewhere (a stray global 'python3' spec could point at another environment)."""
    import ipykernel.kernelspec
    from jupyter_client import KernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return self.kernel_spec_class(resource_dir=ipykernel.kernelspec.RESOURCES,
                                          **ipykernel.kernelspec.get_kernel_dict())

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisPython())


def execute_notebook(path: str | Path, timeout: int = 1200, plotly_renderer: str | None = None,
                     static_html: bool = False):
    """Execute one notebook from a fresh kernel in its own folder.

    ``plotly_renderer`` sets the kernel's ``PLOTLY_RENDERER`` (e.g. "plotly_mimetype+notebook",
    so that figures also show in an HTML export, offline); ``static_html`` has every stepper's
    output also carry a static HTML copy of all its steps (for ``publish_html``). Returns
    ``(notebook, seconds, error)``: the executed notebook (outputs so far, if a cell failed), the
    wall time, and the error message or ``None``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    km = _this_python_kernel()
    client = NotebookClient(nb, km=km, timeout=timeout,
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    began = time.perf_counter()
    error = None
    env = dict(os.environ)
    if plotly_renderer:
        env["PLOTLY_RENDERER"] = plotly_renderer
    if static_html:
        from .viz.static import STATIC_HTML_ENV

        env[STATIC_HTML_ENV] = "1"
    try:
        client.execute(env=env)
    except CellExecutionError as err:
        error = str(err)
    except Exception as err:  # a kernel that died or timed out: report it, go on with the others
        error = f"{type(err).__name__}: {err}"
    finally:
        if km.has_kernel:  # a kernel manager passed in is ours to stop: nbclient leaves it running
            km.shutdown_kernel(now=True)
    return nb, time.perf_counter() - began, error


@dataclass
class NotebookRun:
    """One notebook's run: its name, wall time, and the error if it failed."""

    name: str
    seconds: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


HTML_FRIENDLY_PLOTLY = "plotly_mimetype+notebook"  # JupyterLab's renderer, plus plotly.js inline


def run_course(out_dir: str | Path = "build/notebooks", notebooks_dir: str | Path | None = None,
               names: list[str] | None = None, timeout: int = 1200,
               html_dir: str | Path | None = None) -> list[NotebookRun]:
    """Execute every course notebook (or those whose names start with one of ``names``) headless,
    write the executed copies to ``out_dir``, and print each notebook's time and the total.

    Figures are rendered so that ``jupyter nbconvert --to html`` shows them offline (plotly.js is
    embedded once per notebook); widget state is kept, as Jupyter would save it. With
    ``html_dir``, each executed notebook is also published there as HTML (see ``publish_html``).
    """
    import nbformat

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = course_notebooks(notebooks_dir)
    if names:
        paths = [p for p in paths if any(p.name.startswith(n) for n in names)]
        if not paths:
            raise ValueError(f"No course notebook starts with {', '.join(names)}")
    runs: list[NotebookRun] = []
    print(f"Running {plural(len(paths), 'notebook')} from {paths[0].parent} into {out}", flush=True)
    for path in paths:
        # publishing draws figures from their JSON with the page's one plotly.js: no copy in outputs
        renderer = HTML_FRIENDLY_PLOTLY if html_dir is None else "plotly_mimetype"
        nb, seconds, error = execute_notebook(path, timeout, renderer,
                                              static_html=html_dir is not None)
        nbformat.write(nb, out / path.name)
        if html_dir is not None:
            publish_html(nb, Path(html_dir) / path.with_suffix(".html").name)
        runs.append(NotebookRun(path.name, seconds, error))
        print(f"  {path.name:<38}{seconds:7.1f} s  {'ok' if error is None else 'FAILED'}",
              flush=True)
    total = sum(r.seconds for r in runs)
    print(f"  {'total':<38}{total:7.1f} s  ({total / 60:.1f} min)")
    for run in runs:
        if not run.ok:
            print(f"\n{run.name} failed:\n{run.error}", file=sys.stderr)
    return runs


# -- publishing as HTML -----------------------------------------------------------------------

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
PLOTLY_JSON = "application/vnd.plotly.v1+json"
# nbconvert's JupyterLab page, less everything it would fetch: require.js, MathJax, mermaid and
# the widget manager (from CDNs); plotly.js inlined once instead
_PAGE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}<script>{{ resources.plotly_js }}</script>{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?=\S)([^$\n]+?)(?<=\S)\$(?!\d)", re.S)


def _math_as_mathml(markdown: str) -> str:
    """LaTeX between $...$ (inline) or $$...$$ (display) as MathML, which browsers draw
    natively: no MathJax, no CDN. Code is left alone."""
    from latex2mathml.converter import convert

    def mathml(match: re.Match) -> str:
        display, inline = match.groups()
        return convert(display or inline, display="block" if display else "inline")

    return "".join(part if i % 2 else _MATH.sub(mathml, part)
                   for i, part in enumerate(_CODE.split(markdown)))


def _plotly_html(figure: dict) -> str:
    """A plotly figure drawn by the page's one plotly.js (no copy of it, no CDN)."""
    uid = f"specviz-figure-{uuid.uuid4().hex[:12]}"
    payload = json.dumps(figure).replace("</", "<\\/")
    return (f"<div id='{uid}' style='width:100%'></div>"
            f"<script type='application/json' id='{uid}-data'>{payload}</script>"
            f"<script>(function () {{ var f = JSON.parse(document.getElementById('{uid}-data')"
            f".textContent); Plotly.newPlot('{uid}', f.data, f.layout, {{displaylogo: false, "
            "responsive: true}); })();</script>")


def _plot_figures(nb) -> dict[str, dict]:
    """The last figure each ``viz.plot.Plot`` widget showed, by widget id, from the widget state
    that nbclient saves with the executed notebook (a Plot's state *is* its figure)."""
    saved = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    figures = {}
    for model_id, model in saved.items():
        state = model.get("state", {})
        if "spec" not in state:
            continue
        figure = copy.deepcopy(state["spec"])
        for trace in figure.get("data", []):
            trace.update(state.get("overrides", {}).get(trace.get("name"), {}))
        figure.setdefault("layout", {})["template"] = state.get("template", {})
        figures[model_id] = figure
    return figures


def _static_outputs(nb):
    """A copy of ``nb`` that needs no kernel and no CDN: plotly figures drawn from their JSON
    (``Plot`` widgets from their saved state), other widgets replaced by the static HTML the kernel
    gave them (steppers) or their text, maths as MathML, the saved widget state dropped."""
    nb = copy.deepcopy(nb)
    plots = _plot_figures(nb)
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _math_as_mathml(cell.source)
        for output in cell.get("outputs", []):
            data = output.get("data")
            if not data:
                continue
            if PLOTLY_JSON in data:
                output["data"] = {"text/html": _plotly_html(data[PLOTLY_JSON])}
            elif WIDGET_VIEW in data and data[WIDGET_VIEW].get("model_id") in plots:
                output["data"] = {"text/html": _plotly_html(plots[data[WIDGET_VIEW]["model_id"]])}
            elif WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
    return nb


def publish_html(nb, path: str | Path) -> Path:
    """Write the executed notebook ``nb`` as one self-contained HTML page at ``path``."""
    import jinja2
    import plotly
    from nbconvert import HTMLExporter

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(template_name="lab", template_file="specviz-page.html.j2",
                            extra_loaders=[jinja2.DictLoader({"specviz-page.html.j2":
                                                              _PAGE_TEMPLATE})])
    plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    body, _ = exporter.from_notebook_node(
        _static_outputs(nb), resources={"plotly_js": plotly_js.read_text(encoding="utf-8")})
    path.write_text(body, encoding="utf-8")
    return path
