"""The benchmark harness, the Hugging Face side-by-side and the CLI, on tiny random models."""

from __future__ import annotations

import csv
import json
import re

import pytest
import torch
from conftest import HF_TWO_TOKENIZERS

import specviz as sv
from specviz.bench import ROW_COLUMNS, bench
from specviz.cli import main
from specviz.huggingface import hf_algorithm, hf_generate
from specviz.models.tiny import tiny_pair
from specviz.prompts import PROMPT_SETS, load_prompts, prompt_sets
from specviz.summaries import SUMMARY_COLUMNS, compare_with_hf
from specviz.tables import columns, format_table
from specviz.trace import Trace

MAX_NEW = 10


@pytest.fixture(scope="module")
def pair():
    return sv.load_pair(*tiny_pair("bpe-vs-spm"))


@pytest.fixture(scope="module")
def result(pair):
    return bench(pair, algorithms=["slem", "tli"], lookahead=[2], temperature=[0.0, 1.0],
                   prompts=["code", "chat"], prompts_per_set=1, max_new_tokens=MAX_NEW, warmup=1,
                   threads=[1], progress=False)


def test_prompt_sets_load():
    sets = prompt_sets()
    assert set(PROMPT_SETS) <= set(sets)
    assert all(len(s["prompts"]) >= 3 for s in sets.values())
    assert "Article:" in load_prompts(["summarise"], 1)[0].text  # the source is in the prompt
    assert [p.key for p in load_prompts(["code", "chat"], 2)] == ["code/0", "code/1", "chat/0",
                                                                     "chat/1"]
    with pytest.raises(ValueError, match="Unknown prompt set"):
        load_prompts(["poetry"])
    for bad in (-1, 0, True, 1.5):  # -1 silently dropped each set's last prompt
        with pytest.raises(ValueError, match="prompts per set must be a whole number"):
            load_prompts(["code"], bad)


def test_copy_set_asks_to_repeat_text_from_the_prompt():
    prompts = load_prompts(["copy"])
    assert "copy" in PROMPT_SETS and len(prompts) >= 4
    for p in prompts:  # each ends where copying starts: its last line's text occurs earlier
        tail = p.text.rstrip().splitlines()[-1][-12:]
        assert p.text.count(tail) >= 2, p.key


def test_prompt_lookup_runs_next_to_hugging_face_prompt_lookup(pair):
    lookup = pair.with_drafter("prompt-lookup")
    res = bench(lookup, algorithms=["slem"], lookahead=[2, 3], temperature=[0.0, 1.0],
                prompts=["copy"], max_new_tokens=MAX_NEW, warmup=0, threads=[1], progress=False)
    hf_rows = [r for r in res.rows if r["impl"] == "hf" and r["algorithm"] == "slem"]
    # HF's prompt lookup keeps candidates by exact match at any temperature: it is SLEM's row
    assert sorted((r["lookahead"], r["temperature"]) for r in hf_rows) == [
        (2, 0.0), (2, 1.0), (3, 0.0), (3, 1.0)]
    assert all(r["drafter_passes"] == 0 and r["target_passes"] >= 1 for r in hf_rows)
    compared = compare_with_hf(res.rows, res.summary)
    assert {(h["algorithm"], h["lookahead"], h["temperature"]) for h in compared} >= {
        ("slem", 2, 0.0), ("slem", 3, 0.0), ("slem", 2, 1.0), ("slem", 3, 1.0)}
    assert all(h["same_output"] for h in compared if h["temperature"] == 0)
    ours = [r for r in res.rows if r["impl"] == "specviz" and r["algorithm"] == "slem"]
    # no forward pass to hook: the drafter's own clock is counted, and its pass sizes are not
    assert all(r["drafter_pass_sizes"] is None and r["drafter_seconds"] >= 0 for r in ours)
    assert all(r["predicted_seconds"] > 0 for r in ours)


def test_hf_prompt_lookup_reproduces_greedy_decoding(pair):
    lookup = pair.with_drafter(sv.PromptLookup())
    prompt = load_prompts(["copy"], 1)[0].text
    plain = sv.generate(lookup, prompt, "autoregressive", max_new_tokens=MAX_NEW, trace_top_k=None)
    theirs = hf_generate(lookup, prompt, hf_algorithm(lookup, 0.0), max_new_tokens=MAX_NEW,
                         lookahead=3)
    assert theirs.token_ids == plain.token_ids
    assert theirs.drafter.passes == 0 and theirs.target.passes >= 1


def test_ngram_drafter_has_no_hugging_face_counterpart(pair):
    res = bench(pair, drafter="ngram", algorithms=["slem", "tli", "slrs"], lookahead=[2],
                temperature=[0.0], prompts=["copy"], max_new_tokens=6, warmup=0, threads=[1],
                progress=False)
    assert res.config["hf"] is False and {r["impl"] for r in res.rows} == {"specviz"}
    assert res.machine["drafter"].startswith("ngram")
    assert {r["algorithm"] for r in res.rows} == {"autoregressive", "slem", "tli", "slrs"}
    assert all(r["same_as_autoregressive"] for r in res.rows)
    with pytest.raises(TypeError, match="only prompt lookup"):
        hf_generate(pair.with_drafter("ngram"), "The rain", "slem", max_new_tokens=2)


def test_every_metric_present_and_consistent(result):
    # 2 prompts x (per temperature: specviz AR, SLEM, TLI + HF AR and HF's one algorithm)
    assert len(result.rows) == 2 * 2 * 5
    for r in result.rows:
        assert set(ROW_COLUMNS) <= set(r), set(ROW_COLUMNS) - set(r)
        assert r["threads"] == 1
        assert r["new_tokens"] == MAX_NEW or r["finish_reason"] == "eos"
        assert 0 < r["time_to_first_token"] <= r["seconds"]
        assert r["seconds_per_token"] == pytest.approx(r["seconds"] / r["new_tokens"])
        assert r["target_passes_per_token"] > 0
        assert r["peak_memory_mb"] > 0 and r["cpu_seconds"] > 0
        assert len(r["target_pass_sizes"]) == r["target_passes"]
        assert sum(r["drafter_pass_sizes"]) == r["drafter_positions"]
        assert 0 <= r["overhead_share"] < 1
        if r["impl"] == "specviz":
            assert 0 <= r["accepted"] <= r["judged"] <= r["proposed"]
            assert r["drafted"] >= 0
            assert sum(r[f"{p}_seconds"] for p in sv.PHASES) <= r["seconds"] + 1e-6
            assert r["predicted_seconds"] > 0
        else:  # Hugging Face shows no drafts, acceptance or phases: empty, not zero
            assert all(r[c] is None for c in ("drafted", "judged", "acceptance", "kept_share",
                                              "draft_seconds", "verify_seconds"))
        assert r["tokens_per_iteration"] == pytest.approx(r["new_tokens"] / r["iterations"])
        if r["algorithm"] == "autoregressive":
            assert r["speedup"] == pytest.approx(1.0)
            assert r["drafter_passes"] == 0
        else:
            assert r["drafter_passes_per_token"] > 0


def test_tables_are_written_compactly_and_print_aligned():
    spec = columns("lookahead=k:d; acceptance=a, judged:.2f;\n same=same text:b; gap=gap :+.1%")
    assert spec == (("lookahead", "k", "d"), ("acceptance", "a, judged", ".2f"),
                    ("same", "same text", "b"), ("gap", "gap ", "+.1%"))
    rows = [{"lookahead": 3, "acceptance": 0.5, "same": False, "gap": 0.25}, {"lookahead": 12}]
    assert format_table(rows, spec).splitlines() == [
        " k  a, judged  same text    gap ",
        "--  ---------  ---------  ------",
        " 3       0.50         NO  +25.0%",
        "12          -          -       -"]


def test_greedy_runs_reproduce_plain_decoding(result):
    greedy = [r for r in result.rows if r["temperature"] == 0]
    assert greedy and all(r["same_as_autoregressive"] for r in greedy)
    assert all(r["same_as_autoregressive"] is None for r in result.rows if r["temperature"] > 0)


def test_summary_hf_comparison_and_cost_model(result):
    summary = result.summary
    assert {s["impl"] for s in summary} == {"specviz", "hf"}
    hf = compare_with_hf(result.rows, summary)
    assert {(h["algorithm"], h["temperature"]) for h in hf} == {
        ("autoregressive", 0.0), ("slem", 0.0), ("autoregressive", 1.0), ("tli", 1.0)}
    assert all(h["same_output"] for h in hf if h["temperature"] == 0)
    assert all(h["ratio_min"] <= h["wall_ratio"] <= h["ratio_max"] and h["cpu_ratio"] > 0
               for h in hf)
    by_setting = {(s["impl"], s["algorithm"], s["temperature"]): s for s in summary}
    for h in hf:
        ours, theirs = (by_setting[(impl, h["algorithm"], h["temperature"])]
                        for impl in ("specviz", "hf"))
        assert h["total_ratio"] == pytest.approx(theirs["seconds_per_token"]
                                                 / ours["seconds_per_token"])
    for s in (s for s in summary if s["impl"] == "specviz"):
        assert s["predicted_seconds_per_token"] > 0 and s["predicted_counted"] > 0
        assert s["predicted_speedup"] > 0
    for text in (result.table(), result.hf_table(), result.cost_table(), result.costs_table()):
        assert len(text.splitlines()) > 2


def test_csv_json_and_self_contained_html(result, tmp_path):
    paths = result.save(tmp_path)
    with paths["rows"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == ROW_COLUMNS and len(rows) == len(result.rows)
    with paths["summary"].open(newline="") as f:
        assert tuple(next(csv.reader(f))) == SUMMARY_COLUMNS
    data = json.loads(paths["json"].read_text())
    assert set(data) == {"config", "machine", "rows", "summary", "hf_comparison", "hf_failures",
                         "pass_costs", "one_position_rates"}
    for key in ("platform", "cpu_count", "torch_threads", "device", "dtype", "versions",
                "memory_method"):
        assert key in data["machine"]
    assert "torch" in data["machine"]["versions"] and "transformers" in data["machine"]["versions"]
    page = paths["html"].read_text()
    assert "Plotly.newPlot" in page and len(page) > 1_000_000  # plotly.js itself is inlined
    assert not re.search(r"<script[^>]+src=[\"']?https?:", page)


def test_thread_counts_are_compared_in_one_benchmark(pair):
    before = torch.get_num_threads()
    res = bench(pair, algorithms=["slem"], lookahead=[2], temperature=[0.0], prompts=["chat"],
                  max_new_tokens=4, warmup=0, threads=[1, 2], hf=False, progress=False)
    assert {r["threads"] for r in res.rows} == {1, 2} and set(res.costs) == {1, 2}
    assert "2 thr / 1 thr" in res.threads_table()
    assert torch.get_num_threads() == before  # the caller's setting is restored


def test_repeats_sample_with_their_own_seeds(pair):
    res = bench(pair, algorithms=["tli"], lookahead=[2], temperature=[1.0], prompts=["chat"],
                max_new_tokens=12, warmup=0, repeats=3, seed=5, threads=[1], progress=False)
    for impl in ("specviz", "hf"):
        runs = sorted((r["repeat"], r["seed"], tuple(r["token_ids"])) for r in res.rows
                      if r["impl"] == impl and r["algorithm"] == "tli")
        assert [(repeat, seed) for repeat, seed, _ in runs] == [(0, 5), (1, 6), (2, 7)]
        assert len({ids for _, _, ids in runs}) > 1  # different continuations, not one timed thrice


@pytest.mark.huggingface
@HF_TWO_TOKENIZERS
def test_hf_side_by_side_agrees_under_greedy(pair):
    assert hf_algorithm(pair, 0.0) == "slem" and hf_algorithm(pair, 1.0) == "tli"
    ours = sv.generate(pair, "The rain", "slem", max_new_tokens=MAX_NEW, lookahead=3,
                       temperature=0, trace_top_k=None)
    theirs = hf_generate(pair, "The rain", "slem", max_new_tokens=MAX_NEW, lookahead=3)
    assert theirs.token_ids == ours.token_ids
    assert theirs.target.passes > 0 and theirs.drafter.passes > 0
    assert 0 < theirs.time_to_first_token <= theirs.seconds
    drafter_config = pair.drafter.model.generation_config
    assert drafter_config.num_assistant_tokens != 3  # restored after the call
    with pytest.raises(ValueError, match="picks SLEM or TLI"):
        hf_generate(pair, "The rain", "tli", temperature=0.0)


def test_cli_bench_end_to_end(tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["bench", "--pair", "tiny:bpe-vs-spm", "--algorithms", "slem", "--lookahead", "2",
                 "--temperature", "0", "--prompts", "code", "--max-new-tokens", "6",
                 "--warmup", "0", "--threads", "1", "--out", str(out), "--record", "--quiet"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "speedup" in printed and "HF/sv total" in printed and "HF/sv median" in printed
    assert {p.name for p in out.iterdir()} >= {"rows.csv", "summary.csv", "results.json",
                                               "report.html", "traces"}
    traces = list((out / "traces").glob("*.json"))
    assert traces and Trace.from_json(traces[0]).iterations


def test_cli_drafter_flag(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["bench", "--pair", "tiny:bpe-vs-spm", "--drafter", "prompt-lookup",
                 "--algorithms", "slem", "--lookahead", "2", "--temperature", "0", "--prompts",
                 "copy", "--max-new-tokens", "4", "--warmup", "0", "--threads", "1", "--out",
                 str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "+ prompt-lookup" in printed and "HF/sv total" in printed
    data = json.loads((out / "results.json").read_text())
    assert data["machine"]["drafter"].startswith("prompt-lookup")
    assert main(["generate", "--pair", "tiny:bpe-vs-spm", "--drafter", "ngram", "--prompt",
                 "The rain", "--algorithm", "slrs", "--max-new-tokens", "3"]) == 0
    assert "drafter: ngram" in capsys.readouterr().out


def test_cli_races_several_drafters_in_front_of_one_target(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["bench", "--pair", "tiny:bpe-vs-spm", "--drafter", "prompt-lookup=slem",
                 "ngram=slem,tli", "--lookahead", "2", "--temperature", "0", "--prompts", "copy",
                 "--max-new-tokens", "4", "--warmup", "0", "--threads", "1", "--no-hf",
                 "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "===== drafter prompt-lookup: slem" in printed and "===== drafter ngram: slem, tli" \
        in printed
    table = printed.split("All drafters in front of")[1]
    assert table.count("prompt-lookup") == 2 and table.count("ngram") == 3  # with plain decoding
    ngram = json.loads((out / "ngram" / "results.json").read_text())
    assert {r["algorithm"] for r in ngram["rows"]} == {"autoregressive", "slem", "tli"}
    assert json.loads((out / "prompt-lookup" / "results.json").read_text())["machine"][
        "drafter"].startswith("prompt-lookup")
    with pytest.raises(SystemExit):
        main(["bench", "--drafter", "ngram=slem,fast"])  # an unknown algorithm: said at once


def test_cli_generate(capsys):
    assert main(["generate", "--pair", "tiny:bpe-vs-spm", "--prompt", "The rain", "--algorithm",
                 "slem", "--max-new-tokens", "5", "--threads", "1"]) == 0
    assert "tokens in" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["bench", "--algorithms", "fast"], "'fast' is not one of"),
    (["bench", "--lookahead", "0"], "--lookahead"),
    (["bench", "--pair", "tiny:nope"], "Unknown tiny pair"),
    (["bench", "--pair", "tiny:bpe-vs-spm", "--prompts", "poetry"], "Unknown prompt set"),
    (["bench", "--pair", "just-one-model"], "Cannot read the pair"),
    (["bench", "--dtype", "int3"], "invalid choice"),
    (["bench", "--pair", "tiny:bpe-vs-spm", "--drafter", "telepathy"], "drafters without weights"),
])
def test_bad_options_give_clear_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_confidence_threshold_must_be_a_probability_in_the_api_too():
    with pytest.raises(ValueError, match="hf_confidence_threshold must be a probability"):
        bench("tiny:bpe-vs-spm", hf_confidence_threshold=5, progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--pair", "tiny:bpe-vs-spm", "--device", "cuda"])
    assert "no CUDA GPU" in capsys.readouterr().err


def test_one_position_rates_are_exact_and_ordered(pair):
    from specviz.acceptance import expected_acceptance
    from specviz.bench import one_position_rates

    byte_pair = pair.with_drafter("ngram")
    prompt = load_prompts(["copy"], 1)[0]
    rates = one_position_rates(byte_pair, prompt, 1.0, max_tokens=10**6)  # the whole vocabulary
    assert rates["unresolved"] == pytest.approx(0.0, abs=1e-6)
    assert rates["slrs"] == pytest.approx(expected_acceptance(byte_pair, prompt.text, "slrs"))
    assert rates["slrs"] >= rates["exact_match"] > 0  # sum min(p, psi) >= sum p psi
    few = one_position_rates(byte_pair, prompt, 1.0, max_tokens=5)
    assert few["slrs"] <= rates["slrs"] <= few["slrs"] + few["unresolved"] + 1e-6
    res = bench(byte_pair, algorithms=["slrs"], lookahead=[2], temperature=[1.0],
                prompts=["copy"], max_new_tokens=4, warmup=0, threads=[1], progress=False)
    assert [(r["prompt_set"], r["measured_slrs"] is not None) for r in res.rates] == [
        ("copy", True)]
    assert "sum p*psi" in res.rates_table() and "copy" in res.sets_table()
