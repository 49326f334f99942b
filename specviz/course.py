"""Run the course headless: every notebook in ``notebooks/``, each in a fresh kernel, in order.

    python -m specviz.cli course --out build/notebooks      # what ./run.sh --execute does
    from specviz.course import run_course; run_course("build/notebooks")

The executed copies (with every output, figures and widget state included) are written to the
output folder, ready for ``jupyter nbconvert --to html``; the notebooks themselves are not touched.
Each notebook's kernel runs *this* Python (the one running specviz), with the notebook's folder as
its working directory, exactly as Jupyter would start it.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

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


def execute_notebook(path: str | Path, timeout: int = 1200, plotly_renderer: str | None = None):
    """Execute one notebook from a fresh kernel in its own folder.

    ``plotly_renderer`` sets the kernel's ``PLOTLY_RENDERER`` (e.g. "plotly_mimetype+notebook",
    so that figures also show in an HTML export, offline). Returns ``(notebook, seconds, error)``:
    the executed notebook (outputs so far, if a cell failed), the wall time, and the error message
    or ``None``.
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
               names: list[str] | None = None, timeout: int = 1200) -> list[NotebookRun]:
    """Execute every course notebook (or those whose names start with one of ``names``) headless,
    write the executed copies to ``out_dir``, and print each notebook's time and the total.

    Figures are rendered so that ``jupyter nbconvert --to html`` shows them offline (plotly.js is
    embedded once per notebook); widget state is kept, as Jupyter would save it.
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
    plural = "s" if len(paths) != 1 else ""
    print(f"Running {len(paths)} notebook{plural} from {paths[0].parent} into {out}", flush=True)
    for path in paths:
        nb, seconds, error = execute_notebook(path, timeout, HTML_FRIENDLY_PLOTLY)
        nbformat.write(nb, out / path.name)
        runs.append(NotebookRun(path.name, seconds, error))
        print(f"  {path.name:<38}{seconds:7.1f} s  {'ok' if error is None else 'FAILED'}",
              flush=True)
    total = sum(r.seconds for r in runs)
    print(f"  {'total':<38}{total:7.1f} s  ({total / 60:.1f} min)")
    for run in runs:
        if not run.ok:
            print(f"\n{run.name} failed:\n{run.error}", file=sys.stderr)
    return runs
