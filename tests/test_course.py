"""Publishing the course offline: what a page keeps of each kind of output (no kernel needed)."""

import json

import nbformat

from specviz.course import WIDGET_STATE, WIDGET_VIEW, _static_outputs


def _notebook_with_widget(model_id: str, state: dict) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("chart")
    cell.outputs = [nbformat.v4.new_output(
        "display_data", data={WIDGET_VIEW: {"model_id": model_id, "version_major": 2,
                                            "version_minor": 0}, "text/plain": "Plot(...)"})]
    nb.cells = [cell]
    nb.metadata["widgets"] = {WIDGET_STATE: {"state": {model_id: {"model_name": "AnyModel",
                                                                  "state": state}}}}
    return nb


def _figure_in(html: str) -> dict:
    payload = html.split("type='application/json'", 1)[1].split(">", 1)[1].split("</script>")[0]
    return json.loads(payload.replace("<\\/", "</"))


def test_a_plot_widget_becomes_its_last_figure_with_overrides_applied():
    state = {"spec": {"data": [{"type": "scatter", "name": "plain", "x": [0], "y": [0]}],
                      "layout": {"title": {"text": "race"}}},
             "overrides": {"plain": {"x": [0, 1.5], "y": [0, 7]}},
             "template": {"layout": {"font": {"size": 13}}}}
    page = _static_outputs(_notebook_with_widget("m1", state))
    data = page.cells[0].outputs[0]["data"]
    assert list(data) == ["text/html"]
    figure = _figure_in(data["text/html"])
    assert figure["data"][0]["x"] == [0, 1.5] and figure["data"][0]["y"] == [0, 7]
    assert figure["layout"]["title"]["text"] == "race"
    assert figure["layout"]["template"] == state["template"]
    assert "widgets" not in page.metadata


def test_other_widgets_fall_back_to_their_text():
    page = _static_outputs(_notebook_with_widget("m2", {"value": 3}))
    assert page.cells[0].outputs[0]["data"] == {"text/plain": "Plot(...)"}


def test_course_cli_refuses_bad_folders_before_any_notebook_runs(tmp_path, capsys):
    """A missing notebooks folder or an output that cannot be written: one line saying what to
    pass, exit status 2, no traceback (both printed raw tracebacks)."""
    import pytest

    from specviz.cli import main

    for argv, said in [(["--notebooks", str(tmp_path / "missing")], "--notebooks FOLDER"),
                       (["--out", "/proc/specviz-course"], "choose a folder you may write to")]:
        with pytest.raises(SystemExit) as exit_:
            main(["course", *argv])
        assert exit_.value.code == 2 and said in capsys.readouterr().err
