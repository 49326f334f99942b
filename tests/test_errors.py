"""Bad input gets a clear error that says what to do."""

import importlib

import pytest
import torch
from conftest import tiny

import specviz as sv
from specviz.models.tiny import tiny_llama, bytelevel_bpe_tokenizer


def test_empty_prompt(toy):
    with pytest.raises(ValueError, match="non-empty"):
        sv.generate(toy, "", "slem")


def test_unknown_algorithm_lists_the_valid_names(toy):
    with pytest.raises(ValueError, match="autoregressive, sd, slem, tli, slrs"):
        sv.generate(toy, "the", "medusa")


def test_sd_on_different_vocabularies_points_to_slem_and_tli():
    with pytest.raises(ValueError, match="algorithm='slem'.*algorithm='tli'"):
        sv.generate(tiny("spm-vs-bpe"), "Hello", "sd")


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_lookahead_must_be_a_positive_integer(toy, bad):
    with pytest.raises(ValueError, match="lookahead"):
        sv.generate(toy, "the", "slem", lookahead=bad)
    with pytest.raises(ValueError, match="lookahead"):
        sv.SLEM(lookahead=bad)


def test_negative_max_new_tokens_and_temperature(toy):
    with pytest.raises(ValueError, match="max_new_tokens"):
        sv.generate(toy, "the", "slem", max_new_tokens=-1)
    with pytest.raises(ValueError, match="temperature"):
        sv.generate(toy, "the", "slem", temperature=-0.5)
    with pytest.raises(ValueError, match="temperature"):
        sv.generate(toy, "the", "slem", temperature=float("nan"))


def test_prompt_longer_than_the_context():
    tokenizer = bytelevel_bpe_tokenizer(500)
    short = tiny_llama(tokenizer, seed=0, max_positions=32)
    pair = sv.load_pair((short, tokenizer), tiny("bpe-vs-char").drafter)
    with pytest.raises(ValueError, match="context holds 32.*Shorten the prompt"):
        sv.generate(pair, "word " * 40, "slem")
    res = sv.generate(pair, "word " * 10, "slem", max_new_tokens=100)  # fits: stops at the edge
    assert res.stats.finish_reason in ("context", "eos")
    assert len(pair.target.prompt_ids("word " * 10)) + len(res.token_ids) <= 32


def test_models_on_different_devices():
    target = sv.toy_pair().target
    drafter = sv.toy_pair().drafter
    drafter.device = torch.device("meta")
    with pytest.raises(ValueError, match="Put both on one device"):
        sv.ModelPair(target, drafter)


def test_unknown_model_name_lists_bundled_models():
    with pytest.raises(ValueError, match="gemma-3-270m"):
        sv.load_pair("gemma-9000", "smollm2-135m")


def test_hub_id_while_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="offline.*bundled pair"):
        sv.load_model("some-org/some-model-that-is-not-cached")


def test_not_a_pair(toy):
    with pytest.raises(TypeError, match="ModelPair"):
        sv.generate("gpt2", "the")
    with pytest.raises(TypeError, match="tuple of transformers objects"):
        sv.load_model(42)


def test_toy_prompt_outside_the_vocabulary(toy):
    with pytest.raises(ValueError, match="cannot tokenize 'zebra'"):
        sv.generate(toy, "zebra", "slem")


def test_tli_without_shared_tokens():
    target = sv.ToyLM("letters", {"a": {"b": 1.0}, "b": {"a": 1.0}})
    drafter = sv.ToyLM("pairs", {"ab": {"ba": 1.0}, "ba": {"ab": 1.0}})
    with pytest.raises(ValueError, match="share no tokens.*slem"):
        sv.generate(sv.ModelPair(target, drafter), "ab", "tli")


# --- issue 14: the rough edges a fault hunt found -------------------------------------------------


@pytest.mark.parametrize("temperature", [float("inf"), 1e-39, 0.0 + 5e-324])
def test_temperatures_that_cannot_be_computed_are_rejected(toy, temperature):
    with pytest.raises(ValueError, match="temperature must be 0 .greedy. or a finite number"):
        sv.generate(toy, "the", "slem", temperature=temperature)


def test_the_smallest_temperature_samples_the_argmax_on_a_real_model():
    """logits / 1.2e-38 overflows float32: without shifting by the max first, softmax gave nan."""
    pair = tiny("spm-vs-bpe")
    greedy = sv.generate(pair, "Hello", "autoregressive", max_new_tokens=8)
    for algorithm in ("autoregressive", "slem", "tli"):
        cold = sv.generate(pair, "Hello", algorithm, max_new_tokens=8, temperature=1.2e-38)
        assert cold.token_ids == greedy.token_ids, algorithm


def test_seed_errors_name_the_seed(toy, capsys):
    for seed in (-1, True):
        with pytest.raises(ValueError, match="seed must be an integer >= 0"):
            sv.generate(toy, "the", "slem", seed=seed)
    from specviz.cli import main

    with pytest.raises(SystemExit):
        main(["generate", "--prompt", "the", "--seed", "-1"])
    assert "the seed must be an integer >= 0" in capsys.readouterr().err


def test_explore_shows_what_is_wrong_with_seed_and_temperature(toy):
    from specviz.viz.widgets import explore

    explorer = explore(toy, "the", max_new_tokens=4)
    explorer.seed.value = -1
    assert explorer.run() is None
    assert "seed must be an integer &gt;= 0" in explorer.message.value
    explorer.seed.value = 0
    explorer.temperature.value = float("inf")
    assert explorer.run() is None
    assert "temperature must be 0 (greedy) or a finite number" in explorer.message.value
    explorer.temperature.value = 1.0
    assert explorer.run() is not None


def test_lone_surrogate_in_the_prompt(toy):
    with pytest.raises(ValueError, match="lone surrogate, at position 3"):
        sv.generate(toy, "the\ud800", "slem")
    with pytest.raises(ValueError, match="lone surrogate"):
        sv.generate(tiny("spm-vs-bpe"), "Hello \udcff", "slem")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_says_so():
    from specviz.models.tiny import tiny_pair

    target, drafter = tiny_pair("spm-vs-bpe")
    with pytest.raises(ValueError, match="device='cuda', but torch finds no CUDA GPU.*device='cpu'"):
        sv.load_pair(target, drafter, device="cuda")


def test_trace_top_k_must_be_a_number_and_a_huge_one_warns(toy):
    with pytest.raises(ValueError, match="trace_top_k must be None .no trace. or an integer"):
        sv.generate(toy, "the", "slem", trace_top_k=True)
    with pytest.warns(UserWarning, match="trace_top_k=1000000 keeps that many tokens"):
        sv.generate(toy, "the", "slem", max_new_tokens=2, trace_top_k=10**6)


def test_hook_whose_method_is_not_callable_fails_before_the_run(toy):
    calls = []

    class Hooks:
        on_draft = 5

        def on_accept(self, event):
            calls.append(event)

    with pytest.raises(TypeError, match="Hooks.on_draft must be a method taking an event, got int"):
        sv.generate(toy, "the", "slem", hooks=Hooks())
    assert calls == []  # nothing ran


def test_hooks_get_copies_so_editing_one_leaves_the_trace_alone(toy):
    plain = sv.generate(toy, "the", "slem", max_new_tokens=12)

    def vandal(event):
        if event.phase == "draft":
            event.tokens.append(999)
            event.text = "edited"
        if event.phase == "accept":
            event.committed.clear()

    res = sv.generate(toy, "the", "slem", max_new_tokens=12, hooks=vandal)
    assert res.token_ids == plain.token_ids
    for edited, untouched in zip(res.trace.events, plain.trace.events, strict=True):
        edited.seconds = untouched.seconds = 0.0  # the only field that differs between two runs
        assert edited == untouched


def test_toy_tokenize_error_does_not_repeat_a_long_prompt(toy):
    with pytest.raises(ValueError, match="cannot tokenize 'zebra zebra") as error:
        sv.generate(toy, "zebra " * 2000, "slem")
    assert len(str(error.value)) < 300 and "'the'" in str(error.value)  # the vocabulary is listed


def test_wrong_kinds_of_options_are_rejected(toy, capsys):
    with pytest.raises(ValueError, match="heal must be True"):
        sv.SLEM(heal="no")
    with pytest.raises(ValueError, match="lookahead must be an integer >= 1"):
        sv.SLEM(lookahead=True)
    with pytest.raises(ValueError, match="lookahead must be an integer >= 1"):
        sv.generate(toy, "the", "slem", lookahead=True)
    from specviz.cli import main

    for bad in ("5", "-0.1", "high"):
        with pytest.raises(SystemExit) as exit_info:
            main(["bench", "--hf-confidence", bad])
        assert exit_info.value.code == 2
        assert "--hf-confidence: must be a probability between 0 and 1" in capsys.readouterr().err


# --- output paths are checked before the work ------------------------------------------------------


def _no_work(*args, **kwargs):
    raise AssertionError("the output path should have been checked before any work")


def test_cli_checks_output_paths_first(tmp_path, monkeypatch, capsys):
    from specviz.cli import main

    bench_module = importlib.import_module("specviz.bench")  # sv.bench is the function
    monkeypatch.setattr(bench_module, "bench", _no_work)
    monkeypatch.setattr(bench_module, "resolve_pair", _no_work)
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "lecture.md").write_text("mine")
    cases = [
        (["bench", "--out", str(a_file)], f"{a_file} is a file"),
        (["bench", "--out", str(a_file / "out")], f"{a_file} is a file"),
        (["bench", "--out", str(tmp_path / "notes")], "holds other files (lecture.md)"),
        (["generate", "--prompt", "hi", "--record", "/nonexistent/t.json"],
         "the folder /nonexistent does not exist"),
        (["generate", "--prompt", "hi", "--record", str(tmp_path)], "is a folder; give a file name"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2, argv
        assert message in capsys.readouterr().err, argv
    assert main(["prepare", "--cache-dir", str(a_file)]) == 1
    assert f"{a_file} is a file, not a folder" in capsys.readouterr().err


def test_bench_results_folder_never_mixes_two_runs(tmp_path, monkeypatch):
    import json

    bench_module = importlib.import_module("specviz.bench")  # sv.bench is the function
    result = bench_module.bench(tiny("bpe-vs-spm"), algorithms=["slem"], lookahead=[2], temperature=[0.0],
                      prompts=["chat"], max_new_tokens=3, warmup=0, hf=False, progress=False)
    out = tmp_path / "out"
    result.save(out)
    first = (out / "results.json").read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C while the report is being written

    monkeypatch.setattr(importlib.import_module("specviz.viz.report"), "write_report", interrupted)
    result.config["seed"] = 99  # a different run
    with pytest.raises(KeyboardInterrupt):
        result.save(out)
    assert (out / "results.json").read_text() == first  # the first run, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no half-written folder left
    monkeypatch.undo()
    result.save(out)
    assert json.loads((out / "results.json").read_text())["config"]["seed"] == 99
    assert sorted(p.name for p in out.iterdir()) == ["report.html", "results.json", "rows.csv",
                                                     "summary.csv"]


# --- traces that cannot be read -------------------------------------------------------------------


@pytest.fixture(scope="module")
def saved_trace() -> dict:
    import json

    return json.loads(sv.generate(sv.toy_pair(), "the", "slem", max_new_tokens=6).trace.to_json())


def test_unreadable_trace_files_raise_one_clear_trace_error(saved_trace, tmp_path):
    import json

    text = json.dumps(saved_trace)
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    (tmp_path / "binary.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    cases = [
        (tmp_path / "cut.json", "is not valid JSON .*cut short"),
        (tmp_path / "binary.json", "is not a text file"),
        (tmp_path, "is a folder"),
        ("", "the path to the trace is empty"),
        (tmp_path / "missing.json", "cannot read .*No such file"),
        ('{"format": 1, "meta": {}, "iterations": [1, 2]}', r"iterations\[0\] should be an object"),
        ('{"format": 1, "meta": {}, "iterations": [{"index": 0, "events": [{"phase": "dream"}]}]}',
         "should be an event with a phase"),
    ]
    for source, message in cases:
        with pytest.raises(sv.TraceError, match=message):
            sv.Trace.from_json(source)
    with pytest.raises(sv.TraceError, match="a trace is a JSON object, but this is a list"):
        sv.Trace.from_dict([1, 2])


@pytest.mark.parametrize("change, message", [
    (lambda d: d.update(meta=None), "trace.meta should be an object, but is null"),
    (lambda d: d["iterations"][0]["events"][0].update(tokens="xyz"),
     r"events\[0\]\(draft\).tokens should be a list of int, but is a str"),
    (lambda d: d["iterations"][0]["events"][2]["positions"][0].update(p="high"),
     r"positions\[0\].p should be a float, but is a str"),
    (lambda d: d["stats"].update(new_tokens=None), "stats.new_tokens should be a int, but is null"),
    (lambda d: d["iterations"][0].pop("index"), r"iterations\[0\] lacks index"),
])
def test_mis_shaped_trace_is_rejected_at_load(saved_trace, change, message):
    import copy

    data = copy.deepcopy(saved_trace)
    change(data)
    with pytest.raises(sv.TraceError, match=message):
        sv.Trace.from_dict(data)


def test_fields_from_a_later_version_are_ignored_with_a_warning(saved_trace):
    import copy

    data = copy.deepcopy(saved_trace)
    data["hardware"] = "a later version's field"
    data["iterations"][0]["events"][0]["confidence"] = [0.5]
    with pytest.warns(UserWarning, match="ignored: DraftEvent.confidence, Trace.hardware"):
        trace = sv.Trace.from_dict(data)
    assert trace.to_dict() == sv.Trace.from_dict(saved_trace).to_dict()


def test_stepper_on_an_excerpt_of_a_trace_shows_each_iteration_under_its_own_number():
    from specviz.viz.explain import explain
    from specviz.viz.widgets import Stepper

    full = sv.generate(sv.toy_pair(), "the", "slem", lookahead=1, max_new_tokens=20).trace
    assert len(full.iterations) >= 3
    excerpt = sv.Trace(meta=full.meta, prompt=full.prompt, iterations=full.iterations[1:3],
                       token_ids=full.token_ids, token_texts=full.token_texts, text=full.text,
                       stats=full.stats)
    stepper = Stepper(excerpt)
    assert stepper.iteration == 1
    assert repr(stepper).endswith(explain(full, 1, "draft"))
    assert "Iteration 1, draft: " in stepper.explanation.value
    stepper.last()
    assert (stepper.iteration, stepper.phase) == (2, "accept")
    assert repr(stepper).endswith(explain(full, 2, "accept"))
    assert "Iteration 2, accept: " in stepper.explanation.value
    assert stepper.step_label.value.startswith("iteration 2 / 2")
    stepper.goto(1, "verify")
    assert repr(stepper).endswith(explain(full, 1, "verify"))
