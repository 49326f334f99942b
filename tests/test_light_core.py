"""``import specviz`` is light: the figures' and widgets' libraries load only when one is used."""

import subprocess
import sys

HEAVY = ("plotly", "ipywidgets", "anywidget", "transformers")


def loaded_after(*steps: str) -> list[set[str]]:
    """Which of HEAVY a fresh interpreter has imported after each step of code, in turn."""
    show = f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules) or '-')"
    probe = "\n".join(["import sys", *(f"{step}\n{show}" for step in steps)])
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [set(line.split()) - {"-"} for line in out.stdout.splitlines()]


def test_import_specviz_loads_no_viz_or_transformers():
    assert loaded_after("import specviz as sv; sv.load_pair, sv.generate, sv.bench",
                        "import specviz.viz.style") == [set(), set()]


def test_figures_widgets_and_bundled_models_load_when_asked_for():
    models, strip, stepper = loaded_after("import specviz as sv; sv.BUNDLED_MODELS",
                                          "from specviz.viz import token_strip_figure",
                                          "sv.Stepper")
    assert "transformers" in models and "plotly" not in models
    assert "plotly" in strip and "ipywidgets" not in strip
    assert "ipywidgets" in stepper


def test_readme_submodules_resolve_in_a_fresh_interpreter():
    """``sv.viz.Stepper`` as the README writes it: a submodule reached through the light import
    (it raised AttributeError: module 'specviz' has no attribute 'viz')."""
    code = ("import specviz as sv; assert callable(sv.viz.Stepper); "
            "assert sv.exercises.check and sv.lossless and 'viz' in dir(sv)")
    subprocess.run([sys.executable, "-c", code], check=True)
