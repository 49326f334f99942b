"""What a GPU run depends on, checked on the CPU: dtype defaults, and benchmarks/gpu_check.py's
shapes, curves and arithmetic (so that the one call on a lent GPU works the first time)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import specviz as sv
from specviz import costmodel
from specviz.models.resolve import resolve_pair

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "benchmarks" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module
    spec.loader.exec_module(module)
    return module


def test_tiny_pairs_take_the_devices_dtype(monkeypatch):
    """'--dtype auto' means the device's dtype for every pair, the float32-built tiny ones too
    (on a GPU: bfloat16). Checked here by making bfloat16 this CPU's default."""
    assert resolve_pair("tiny:shared-vocab", device="cpu").target.dtype == torch.float32
    monkeypatch.setattr("specviz.models.pair.default_dtype", lambda device: torch.bfloat16)
    pair = resolve_pair("tiny:shared-vocab", device="cpu")
    assert pair.target.dtype == pair.drafter.dtype == torch.bfloat16
    pair = resolve_pair("tiny:shared-vocab", device="cpu", dtype="float32")
    assert pair.target.dtype == torch.float32


def test_every_catalogue_pair_has_a_shape_or_a_reason(gpu_check):
    pairs, missing = gpu_check.pairs_from_catalogue()
    covered = {(c["target"], c["drafter"]) for p in pairs for c in p["catalogue"]}
    skipped = {(m["target"], m["drafter"]) for m in missing}
    assert covered | skipped == {(p.target, p.drafter) for p in sv.KNOWN_PAIRS}
    assert all("Mixtral" in target for target, _ in skipped), skipped
    assert any(p["bundled"] for p in pairs)
    assert all(p["target"] in gpu_check.SHAPES and p["drafter"] in gpu_check.SHAPES for p in pairs)


def test_every_shape_builds_small_and_times_a_cached_pass(gpu_check):
    """Each catalogue shape's config is valid in this transformers, and the timing loop runs
    through specviz's KV cache for 1..9 positions."""
    tokenizer = gpu_check.bytelevel_bpe_tokenizer(500)
    for name, shape in gpu_check.SHAPES.items():
        model = gpu_check.build(shape, torch.device("cpu"), torch.float32, small=True)
        lm = gpu_check.HFModel(model, tokenizer, name=name)
        curve = gpu_check.pass_curve(lm, context=6, reps=1, warmup=0)
        assert len(curve["ms"]) == gpu_check.POSITIONS and min(curve["ms"]) > 0, name
        assert lm.counter.passes == 1 + gpu_check.POSITIONS, name  # prefill, then one per size


def test_pair_costs_give_c_v_and_labelled_predictions(gpu_check):
    shapes = {"t": {"ms": [10.0] * 8 + [12.0]}, "d": {"ms": [1.0] * 9}}
    [row] = gpu_check.pair_costs([{"target": "t", "drafter": "d"}], shapes)
    assert row["c"] == pytest.approx(0.1) and row["v"][-1] == pytest.approx(1.2)
    best = row["predictions"][-1]  # a = 0.9: flat verify costs reward long drafts
    assert best["a"] == 0.9 and best["best_lookahead"] >= 4
    assert best["predicted_speedup"] == pytest.approx(costmodel.predicted_speedup(
        0.9, best["best_lookahead"], 0.1, verify_cost=row["v"][best["best_lookahead"]]), abs=1e-3)
    assert "ASSUMED" in row["label"]
    [gap] = gpu_check.pair_costs([{"target": "t", "drafter": "x"}], shapes)
    assert "skipped" in gap
