"""dtype="auto" on the CPU: a measurement decides between float32 and bf16, and is remembered.

The timings are faked here (``pass_seconds``), so each test knows which dtype must win; the real
measurement runs in the slow tests and the benchmark, which print it.
"""

import json

import pytest
import torch

import specviz as sv
from specviz.models import dtype_choice
from specviz.models.tiny import tiny_pair


def _fake_timings(monkeypatch, seconds: dict[str, dict[str, float]]) -> list:
    """Replace the measurement by fixed figures; returns the (dtype, positions) asked for."""
    asked = []

    def fake(hf_model, positions):
        name = str(hf_model.dtype).removeprefix("torch.")
        asked.append((name, positions))
        return {str(n): seconds[name][str(n)] for n in positions}

    monkeypatch.setattr(dtype_choice, "pass_seconds", fake)
    monkeypatch.setattr(dtype_choice, "native_bf16", lambda: True)
    return asked


def _load(tmp_path, role: str = "target"):
    (model, tokenizer), _ = tiny_pair("spm-vs-bpe")
    from specviz.models.pair import _measured_dtype

    return _measured_dtype(model, tokenizer, "tiny-target", role, tmp_path)


def test_the_faster_dtype_wins_and_its_figures_are_kept(tmp_path, monkeypatch):
    asked = _fake_timings(monkeypatch, {"float32": {"1": 0.30, "5": 0.90},
                                        "bfloat16": {"1": 0.25, "5": 0.27}})
    model = _load(tmp_path)
    assert model.dtype == torch.bfloat16 and model.dtype_choice.dtype == "bfloat16"
    assert asked == [("float32", (1, 5)), ("bfloat16", (1, 5))]  # a target: 1 and k+1 positions
    assert model.dtype_choice.seconds["float32"] == {"1": 0.30, "5": 0.90}
    assert "bf16 takes 0.43x float32's time" in model.dtype_choice.describe()
    assert model.largest_pass is not None  # the target runs invariant passes, timed as such


def test_a_drafter_is_weighed_on_one_position(tmp_path, monkeypatch):
    # bf16's verify pass is cheaper, but a drafter never runs one: float32 wins at 1 position
    asked = _fake_timings(monkeypatch, {"float32": {"1": 0.040, "5": 0.20},
                                        "bfloat16": {"1": 0.045, "5": 0.05}})
    model = _load(tmp_path, role="drafter")
    assert model.dtype == torch.float32 and asked == [("float32", (1,)), ("bfloat16", (1,))]
    assert model.largest_pass is None


def test_the_choice_is_cached_per_machine_and_rule(tmp_path, monkeypatch):
    asked = _fake_timings(monkeypatch, {"float32": {"1": 0.30, "5": 0.90},
                                        "bfloat16": {"1": 0.25, "5": 0.27}})
    _load(tmp_path)
    again = _load(tmp_path)
    assert len(asked) == 2 and again.dtype == torch.bfloat16  # read from the cache, not timed
    (key,) = json.loads((tmp_path / "dtype-choices.json").read_text())
    assert f"rule {dtype_choice.RULE}" in key and "tiny-target" in key and "threads" in key
    monkeypatch.setattr(dtype_choice, "RULE", dtype_choice.RULE + 1)
    _load(tmp_path)
    assert len(asked) == 4  # a new weighing rule measures again


def test_without_native_bf16_float32_is_taken_unmeasured(tmp_path, monkeypatch):
    monkeypatch.setattr(dtype_choice, "native_bf16", lambda: False)
    monkeypatch.setattr(dtype_choice, "pass_seconds", pytest.fail)
    model = _load(tmp_path)
    assert model.dtype == torch.float32 and "no native bf16" in model.dtype_choice.reason


def test_the_real_measurement_times_the_passes_asked_for():
    (model, tokenizer), _ = tiny_pair("spm-vs-bpe")
    timed = dtype_choice.pass_seconds(sv.HFModel(model, tokenizer), (1, 5))
    assert set(timed) == {"1", "5"} and all(s > 0 for s in timed.values())


def test_the_choice_goes_into_the_trace(tmp_path, monkeypatch):
    _fake_timings(monkeypatch, {"float32": {"1": 0.30, "5": 0.90},
                                "bfloat16": {"1": 0.25, "5": 0.27}})
    target = _load(tmp_path)
    _, (drafter, drafter_tok) = tiny_pair("spm-vs-bpe")
    pair = sv.load_pair(target, (drafter, drafter_tok))
    meta = sv.generate(pair, "The rain", "slem", max_new_tokens=4, temperature=0.0).trace.meta
    assert meta["target"]["dtype_choice"]["dtype"] == "bfloat16"
    assert meta["target"]["largest_invariant_pass"] == target.largest_pass
    assert "dtype_choice" not in meta["drafter"]  # a loaded drafter keeps its dtype, unmeasured
