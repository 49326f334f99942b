"""Measure it: every algorithm against plain decoding, Hugging Face and the cost model.

    res = sv.bench("tiny:bpe-vs-spm", algorithms=["slem", "tli"], lookahead=[2, 4])
    print(res.table()); res.save("bench-out")          # CSV, JSON and a self-contained HTML report

One benchmark is a grid: settings (algorithm, lookahead, temperature; specviz and Hugging Face) x
thread counts x prompts x repeats, always with plain autoregressive decoding in the grid, because a
speedup is only meaningful against plain decoding measured in the same process, on the same
prompts, minutes apart. Runs are interleaved (every thread count and setting on one prompt, then
the next prompt), so that a machine that slows down for a while hurts every setting alike. Timed
runs record no trace (``trace_top_k=None``).

Next to the measurements stands the cost model (``costmodel.py``): each model's forward time for
1..k+2 positions is measured on the benchmark's own contexts, and from it and the counted passes
(or the measured acceptance) the time per token is predicted. Where prediction and measurement
agree, the time went into the models and nowhere else. This file runs and collects; the prompts
live in ``prompts.py``, the summaries and tables in ``summaries.py``, the report in ``viz/report.py``.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import algorithms as registry
from .algorithms import algorithm_class
from .algorithms.loop import generate
from .costmodel import PassCosts, counted_seconds, measure_pass_costs
from .huggingface import count_passes, failure, hf_algorithm, hf_generate, hf_runs
from .machine import load_average, machine_info, peak_memory_mb, reset_peak_memory
from .models.base import LanguageModel, dtype_name
from .models.hf import HFModel
from .models.pair import ModelPair, set_threads
from .models.resolve import resolve_pair
from .outputs import folder_written_whole
from .prompts import PROMPT_SETS, Prompt, load_prompts
from .sampling import is_whole_number
from .summaries import (COST_TABLE, HF_TABLE, PASS_COST_TABLE, RATES_TABLE, SETS_TABLE,
                        SUMMARY_COLUMNS, SUMMARY_TABLE, add_comparisons, by_prompt_set,
                        by_thread_count, compare_with_hf, pass_cost_rows, summarise)
from .tables import format_table
from .trace import PHASES, Stats, Trace

ROW_COLUMNS = (
    "threads", "impl", "algorithm", "lookahead", "temperature", "prompt_set", "prompt_index",
    "repeat", "seed", "prompt_tokens", "new_tokens", "finish_reason", "seconds", "cpu_seconds",
    "time_to_first_token", "time_per_output_token", "seconds_per_token", "cpu_seconds_per_token",
    "tokens_per_second",
    "iterations", "tokens_per_iteration", "target_passes", "drafter_passes",
    "target_passes_per_token", "drafter_passes_per_token", "target_positions", "drafter_positions",
    "drafted", "proposed", "judged", "accepted", "acceptance", "kept_share",
    "mean_accepted_per_iteration",
    *(f"{phase}_seconds" for phase in PHASES), "target_seconds", "drafter_seconds",
    "overhead_seconds", "overhead_share", "peak_memory_mb", "speedup", "same_as_autoregressive",
    "predicted_seconds", "device", "dtype", "text",
)
"""Columns of ``rows.csv``. Each row in ``results.json`` adds ``token_ids``, the positions fed by
every forward pass, ``target_pass_sizes`` and ``drafter_pass_sizes``, and (specviz) the number of
candidates each iteration proposed, ``candidate_counts``."""
RESULT_FILES = ("rows.csv", "summary.csv", "results.json", "report.html", "traces")
"""What ``BenchResult.save`` writes; a folder holding only these may be written over."""


# -- the grid --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Setting:
    """One column of the grid: who decodes (specviz or Hugging Face), how, at what temperature."""

    impl: str  # "specviz" or "hf"
    algorithm: str
    lookahead: int  # 0 for autoregressive decoding
    temperature: float

    @property
    def label(self) -> str:
        k = f" k={self.lookahead}" if self.lookahead else ""
        return f"{self.impl} {self.algorithm}{k} T={self.temperature:g}"


def settings_grid(pair: ModelPair, algorithms: Sequence[str], lookaheads: Sequence[int],
                  temperatures: Sequence[float], hf: bool) -> list[Setting]:
    """Every setting to run: autoregressive first at each temperature, then the algorithms, then
    Hugging Face wherever it runs the same algorithm (its plain ``generate`` included)."""
    drafted = [a for a in algorithms if algorithm_class(a).needs_drafter]
    grid = []
    for t in temperatures:
        grid.append(Setting("specviz", "autoregressive", 0, t))
        grid += [Setting("specviz", a, k, t) for a in drafted for k in lookaheads]
        if hf:
            grid.append(Setting("hf", "autoregressive", 0, t))
            same = [a for a in drafted if hf_algorithm(pair, t) == a]
            grid += [Setting("hf", a, k, t) for a in same for k in lookaheads]
    return grid


def _check_grid(pair: ModelPair, algorithms, lookaheads, temperatures, prompts, repeats,
                max_new_tokens, warmup, threads, hf_confidence_threshold) -> None:
    """Refuse bad settings before any model runs, with a message that says what would work."""
    for a in algorithms:
        if a not in registry.ALGORITHMS:  # read now: ``register`` may have added one
            raise ValueError(f"Unknown algorithm {a!r}. Choose from: "
                             f"{', '.join(registry.ALGORITHMS)}.")
    if any(algorithm_class(a).needs_drafter for a in algorithms) and pair.drafter is None:
        raise ValueError("This pair has no drafter: only 'autoregressive' can run on it.")
    checks = [
        (lookaheads, lambda k: is_whole_number(k, 1),
         "lookahead values must be integers >= 1"),
        (temperatures, lambda t: isinstance(t, (int, float)) and t >= 0,
         "temperatures must be numbers >= 0 (0 is greedy)"),
        (threads, lambda n: n is None or is_whole_number(n, 1),
         "thread counts must be integers >= 1"),
    ]
    for values, ok, message in checks:
        if not values or not all(ok(v) for v in values):
            raise ValueError(f"{message}, got {list(values)!r}")
    if not prompts:
        raise ValueError("No prompts to run: name at least one prompt set.")
    for name, value, least in (("repeats", repeats, 1), ("max_new_tokens", max_new_tokens, 1),
                               ("warmup", warmup, 0)):
        if not is_whole_number(value, least):
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if not isinstance(hf_confidence_threshold, (int, float)) or \
            not 0 <= hf_confidence_threshold <= 1:
        raise ValueError("hf_confidence_threshold must be a probability between 0 (off) and 1, "
                         f"got {hf_confidence_threshold!r}")


# -- one run ---------------------------------------------------------------------------------------

def _run_specviz(pair: ModelPair, s: Setting, prompt: Prompt, max_new_tokens: int, seed: int
                 ) -> tuple[dict, list[int]]:
    """A specviz run; each forward pass's size is logged by the same hooks as Hugging Face's."""
    device = pair.target.device
    candidates: list[int] = []  # per iteration: the cost model needs their spread, not their mean
    with count_passes(_torch_module(pair.target), device) as t_log, \
            count_passes(_torch_module(pair.drafter), device) as d_log:
        res = generate(pair, prompt.text, s.algorithm, max_new_tokens=max_new_tokens,
                       lookahead=s.lookahead or None, temperature=s.temperature, seed=seed,
                       trace_top_k=None,
                       hooks=lambda e: e.phase == "accept" and candidates.append(e.candidates))
    hooked = isinstance(pair.target, HFModel)  # toy models have no torch module to hook
    # A drafter without weights (prompt lookup, n-gram) has no module either: its own clock counts.
    drafter_hooked = hooked and isinstance(pair.drafter, HFModel)
    row = _stats_row(res.stats) | {
        "target_positions": t_log.tokens if hooked else None,
        "drafter_positions": d_log.tokens if drafter_hooked else None,
        "target_pass_sizes": t_log.sizes if hooked else None,
        "drafter_pass_sizes": d_log.sizes if drafter_hooked else None,
        "candidate_counts": candidates}
    return row, res.token_ids


def _torch_module(model: LanguageModel | None):
    return model.model if isinstance(model, HFModel) else None


def _run_hf(pair: ModelPair, s: Setting, prompt: Prompt, max_new_tokens: int, seed: int,
            confidence_threshold: float) -> tuple[dict, list[int]]:
    run = hf_generate(pair, prompt.text, s.algorithm, max_new_tokens=max_new_tokens,
                      lookahead=max(s.lookahead, 1), temperature=s.temperature, seed=seed,
                      confidence_threshold=confidence_threshold)
    row = _stats_row(run.stats, loop_counts=False) | {
        "target_positions": run.target.tokens, "drafter_positions": run.drafter.tokens,
        "target_pass_sizes": run.target.sizes, "drafter_pass_sizes": run.drafter.sizes}
    return row, run.token_ids


_STATS_COLUMNS = ("new_tokens", "finish_reason", "seconds", "time_to_first_token", "iterations",
                  "target_seconds", "drafter_seconds", "overhead_seconds")
_LOOP_COLUMNS = ("drafted", "proposed", "judged", "accepted", "mean_accepted_per_iteration")


def _stats_row(stats: Stats, loop_counts: bool = True) -> dict:
    """A row's columns read from ``Stats``, under its names (but ``target_passes`` and
    ``drafter_passes``, the CSV's names for its ``*_forward_passes``). ``loop_counts``: False for
    Hugging Face, whose drafts, acceptance and phases stay inside ``generate`` (empty columns)."""
    row = {name: getattr(stats, name) for name in _STATS_COLUMNS} | {
        "target_passes": stats.target_forward_passes,
        "drafter_passes": stats.drafter_forward_passes,
        "tokens_per_iteration": stats.tokens_per_iteration if stats.iterations else None,
        "tokens_per_second": stats.tokens_per_second if stats.seconds else None,
        "overhead_share": stats.overhead_share if stats.seconds else None}
    if loop_counts:
        row |= {name: getattr(stats, name) for name in _LOOP_COLUMNS} | {
            "acceptance": stats.acceptance if stats.judged else None,
            "kept_share": stats.kept_share if stats.proposed else None,
            **{f"{p}_seconds": stats.phase_seconds[p] for p in PHASES}}
    return row


def _per_token(row: dict) -> dict:
    """Per-token figures, the same for both implementations."""
    n, seconds = row["new_tokens"], row["seconds"]
    per = (lambda x: x / n) if n else (lambda x: None)
    return {
        "seconds_per_token": per(seconds), "cpu_seconds_per_token": per(row["cpu_seconds"]),
        "time_per_output_token": (seconds - row["time_to_first_token"]) / (n - 1) if n > 1
        else None,
        "target_passes_per_token": per(row["target_passes"]),
        "drafter_passes_per_token": per(row["drafter_passes"]),
    }


# -- the benchmark ---------------------------------------------------------------------------------

@dataclass
class BenchResult:
    """Everything one benchmark measured: per-run rows, per-setting summary, pass costs, machine."""

    rows: list[dict]
    config: dict
    machine: dict
    costs: dict[int, PassCosts]
    traces: dict[str, Trace] = field(default_factory=dict)
    rates: list[dict] = field(default_factory=list)  # one_position_rates, with SLRS under sampling
    failures: list[dict] = field(default_factory=list)  # Hugging Face runs that raised (no row)

    @cached_property
    def summary(self) -> list[dict]:
        return summarise(self.rows, self.costs)

    def table(self) -> str:
        """The per-setting summary as text: what ``specviz bench`` prints first."""
        return format_table(self.summary, SUMMARY_TABLE)

    def hf_table(self) -> str:
        """specviz against Hugging Face, setting by setting."""
        return format_table(compare_with_hf(self.rows, self.summary), HF_TABLE)

    def sets_table(self) -> str:
        """The summary again, prompt set by prompt set (speedups differ most between sets)."""
        return format_table(by_prompt_set(self.rows, self.costs), SETS_TABLE)

    def rates_table(self) -> str:
        """Exact one-position acceptance rates next to the measured acceptance (``rates``)."""
        return format_table(self.rates, RATES_TABLE)

    def cost_table(self) -> str:
        """Measured time per token against the cost model's predictions."""
        return format_table(self.summary, COST_TABLE)

    def costs_table(self) -> str:
        """The measured per-pass costs behind the cost model."""
        return format_table(pass_cost_rows(self.costs), PASS_COST_TABLE)

    def threads_table(self) -> str:
        """Each setting's time per token at every thread count measured, against the first."""
        return format_table(*by_thread_count(self.summary))

    def failures_table(self) -> str:
        """The Hugging Face runs that raised instead of finishing (a result, not an abort), then
        each known cause once."""
        lines = [f"{f['setting']} on {f['prompt']} (repeat {f['repeat']}): {f['error']}"
                 for f in self.failures]
        causes = dict.fromkeys(f["known"] for f in self.failures if f["known"])
        return "\n".join(lines + [f"known cause: {cause}" for cause in causes])

    def to_dict(self) -> dict:
        return {"config": self.config, "machine": self.machine, "rows": self.rows,
                "hf_failures": self.failures,
                "summary": self.summary, "hf_comparison": compare_with_hf(self.rows, self.summary),
                "pass_costs": {str(t): asdict(pc) for t, pc in self.costs.items()},
                "one_position_rates": self.rates}

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write rows.csv, summary.csv, results.json, report.html (and traces/, if recorded).

        The folder is written whole (``outputs.folder_written_whole``): it holds this run's files
        only, and an interruption leaves the previous run's.
        """
        from .viz.report import write_report  # plotly loads here, not with specviz

        out = Path(out)
        with folder_written_whole(out, RESULT_FILES) as staging:
            _write_csv(staging / "rows.csv", self.rows, ROW_COLUMNS)
            _write_csv(staging / "summary.csv", self.summary, SUMMARY_COLUMNS)
            (staging / "results.json").write_text(
                json.dumps(self.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
            write_report(self, staging / "report.html")
            if self.traces:
                (staging / "traces").mkdir()
                for name, trace in self.traces.items():
                    trace.to_json(staging / "traces" / f"{name}.json")
        paths = {"rows": out / "rows.csv", "summary": out / "summary.csv",
                 "json": out / "results.json", "html": out / "report.html"}
        if self.traces:
            paths["traces"] = out / "traces"
        return paths


def bench(pair: str | ModelPair = "bundled", *,
          algorithms: Sequence[str] = ("autoregressive", "slem", "tli"),
          lookahead: Sequence[int] = (3,), temperature: Sequence[float] = (0.0, 1.0),
          prompts: Sequence[str] = PROMPT_SETS, prompts_per_set: int | None = 1, repeats: int = 1,
          max_new_tokens: int = 32, warmup: int = 1, seed: int = 0,
          threads: Sequence[int | None] = (None,), hf: bool = True,
          hf_confidence_threshold: float = 0.0, record: bool = False, device: str = "auto",
          dtype: str | None = None, drafter=None, progress: bool = True) -> BenchResult:
    """Benchmark ``pair`` (a loaded pair or 'bundled', 'tiny:<name>', '<target>,<drafter>'), or its
    target with ``drafter`` instead of its own ('prompt-lookup', 'ngram', ``sv.PromptLookup()``...).

    Runs every algorithm at every lookahead and temperature on ``prompts_per_set`` prompts of each
    named set, ``repeats`` times, at each thread count (``None``: leave torch's setting), after
    ``warmup`` untimed runs of every setting. Plain autoregressive decoding is always included.
    Repeat r samples with seed ``seed + r`` (both implementations), so that under sampling repeats
    average over different continuations instead of timing the same one again.
    ``hf``: also time Hugging Face's ``generate`` wherever it runs the same algorithm (SLEM at
    temperature 0, TLI above it, SD with a shared vocabulary, prompt lookup (as SLEM, at any
    temperature: both keep candidates by exact match) and plain decoding), with its draft
    confidence threshold at ``hf_confidence_threshold`` (0: off, fixed lookahead like specviz).
    ``record``: also keep one traced, untimed run per setting and prompt (``BenchResult.traces``).
    """
    lookahead, threads = list(lookahead), list(threads)
    previous = torch.get_num_threads()
    if len(threads) == 1:  # load at the thread count the runs use: dtype="auto" times the models
        _use_threads(threads[0])
    try:
        pair = resolve_pair(pair, device, dtype, drafter)
    finally:
        set_threads(previous)
    load_before = load_average()
    algorithms = list(dict.fromkeys(["autoregressive", *algorithms]))
    prompt_list = load_prompts(prompts, prompts_per_set)
    temperature = [float(t) for t in temperature]
    _check_grid(pair, algorithms, lookahead, temperature, prompt_list, repeats, max_new_tokens,
                warmup, threads, hf_confidence_threshold)
    hf = hf and hf_runs(pair)
    grid = settings_grid(pair, algorithms, lookahead, temperature, hf)
    config = {"algorithms": algorithms, "lookahead": lookahead, "temperature": temperature,
              "prompt_sets": list(prompts), "prompts_per_set": prompts_per_set,
              "repeats": repeats, "max_new_tokens": max_new_tokens, "warmup": warmup, "seed": seed,
              "threads": threads, "hf": hf, "hf_confidence_threshold": hf_confidence_threshold,
              "settings": [s.label for s in grid]}
    runner = _Runner(pair, max_new_tokens, seed, hf_confidence_threshold,
                     max_positions=max(lookahead) + 2)
    try:
        runner.warm_up(grid, threads, prompt_list[0], warmup, progress)
        rows = runner.grid(grid, threads, prompt_list, repeats, progress)
    finally:
        set_threads(previous)
    add_comparisons(rows)
    costs = {n: PassCosts.mean(parts) for n, parts in runner.costs.items()}
    result = BenchResult(rows, config, machine_info(pair, sorted(costs), load_before), costs,
                         failures=runner.failures)
    if "slrs" in algorithms and any(t > 0 for t in temperature):
        result.rates = [one_position_rates(pair, p, t, rows) for t in temperature if t > 0
                        for p in prompt_list]
    if record:
        result.traces = record_traces(pair, grid, prompt_list, max_new_tokens, seed)
    return result


def one_position_rates(pair: ModelPair, prompt: Prompt, temperature: float,
                       rows: Sequence[dict] = (), max_tokens: int = 2000) -> dict:
    """The exact chance that the first candidate after ``prompt`` is kept, rule by rule
    (``acceptance.first_position_rates``), next to the acceptance the runs in ``rows`` measured
    (accepted / judged, over all their positions)."""
    from .acceptance import first_position_rates

    out = {"temperature": temperature, "prompt_set": prompt.set, "prompt_index": prompt.index,
           **first_position_rates(pair, prompt.text, temperature, max_tokens)}
    for algorithm in ("slem", "tli", "slrs"):
        mine = [r for r in rows if r["impl"] == "specviz" and r["algorithm"] == algorithm
                and r["temperature"] == temperature and r["prompt_set"] == prompt.set
                and r["prompt_index"] == prompt.index]
        judged = sum(r["judged"] or 0 for r in mine)
        out[f"measured_{algorithm}"] = sum(r["accepted"] or 0 for r in mine) / judged if judged \
            else None
    return out


class _Runner:
    """Runs settings on prompts and turns each run into one row; measures pass costs on the way."""

    def __init__(self, pair: ModelPair, max_new_tokens: int, seed: int, threshold: float,
                 max_positions: int) -> None:
        self.pair, self.max_new_tokens, self.seed = pair, max_new_tokens, seed
        self.threshold, self.max_positions = threshold, max_positions
        self.device = pair.target.device
        self.costs: dict[int, list[PassCosts]] = {}  # thread count -> measurements
        self.failures: list[dict] = []  # Hugging Face runs that raised

    def run(self, s: Setting, prompt: Prompt, max_new_tokens: int | None = None,
            repeat: int = 0) -> dict | None:
        """One run's row; None where Hugging Face's ``generate`` raised (noted in ``failures``:
        its bugs are results to report, not reasons to lose the benchmark)."""
        n, seed = max_new_tokens or self.max_new_tokens, self.seed + repeat
        reset_peak_memory(self.device)
        cpu = time.process_time()  # CPU time of this process: immune to waiting for a busy core
        if s.impl == "hf":
            try:
                row, ids = _run_hf(self.pair, s, prompt, n, seed, self.threshold)
            except Exception as error:  # noqa: BLE001 - any failure inside transformers
                self.failures.append({"setting": s.label, "prompt": prompt.key, "repeat": repeat,
                                      **failure(self.pair, s.algorithm, error)})
                return None
        else:
            row, ids = _run_specviz(self.pair, s, prompt, n, seed)
        row["cpu_seconds"] = time.process_time() - cpu
        row = dict.fromkeys(ROW_COLUMNS) | row | _per_token(row)  # HF leaves some columns empty
        row |= {"threads": torch.get_num_threads(), "impl": s.impl, "algorithm": s.algorithm,
                "lookahead": s.lookahead, "temperature": s.temperature, "prompt_set": prompt.set,
                "prompt_index": prompt.index, "repeat": repeat, "seed": seed,
                "prompt_tokens": len(self.pair.target.prompt_ids(prompt.text)),
                "peak_memory_mb": peak_memory_mb(self.device), "device": str(self.device),
                "dtype": dtype_name(self.pair.target),
                "text": self.pair.target.vocab.text_of(ids), "token_ids": ids}
        return row

    def warm_up(self, grid: list[Setting], threads: list[int | None], prompt: Prompt,
                times: int, progress: bool) -> None:
        """Untimed short runs of every setting: first calls allocate, compile and fill caches."""
        todo = [(n, s) for n in threads for s in grid for _ in range(times)]
        for n, s in tqdm(todo, desc="warm-up", disable=not progress or not todo, leave=False):
            _use_threads(n)
            self.run(s, prompt, min(8, self.max_new_tokens))
        self.failures.clear()  # the timed runs report their own

    def grid(self, grid: list[Setting], threads: list[int | None], prompts: list[Prompt],
             repeats: int, progress: bool) -> list[dict]:
        """Timed runs, interleaved: every thread count and setting on one prompt, then the next
        prompt, so that a machine that slows down for a while hurts all of them alike. Before and
        after each block the pass costs are measured on its prompt, and their mean prices the
        block's runs: the cost model's prices come from the same minutes as the runs they explain,
        and a machine that speeds up or slows down during the block biases neither side."""
        rows = []
        blocks = [(r, p, n) for r in range(repeats) for p in prompts for n in threads]
        with tqdm(total=len(blocks) * len(grid), desc="bench", disable=not progress) as bar:
            for repeat, prompt, n in blocks:
                _use_threads(n)
                bar.set_postfix_str(f"pass costs {prompt.key}")
                before, block = self.pass_costs(prompt), []
                for s in grid:
                    bar.set_postfix_str(f"{s.label} {prompt.key} {torch.get_num_threads()} thr")
                    row = self.run(s, prompt, repeat=repeat)
                    block += [row] if row else []
                    bar.update()
                bar.set_postfix_str(f"pass costs {prompt.key}")
                costs = PassCosts.mean([before, self.pass_costs(prompt)])
                self.costs.setdefault(torch.get_num_threads(), []).append(costs)
                rows += [row | {"predicted_seconds": counted_seconds(row, costs)} for row in block]
        return rows

    def pass_costs(self, prompt: Prompt) -> PassCosts:
        return measure_pass_costs(self.pair, prompt, self.max_positions, self.max_new_tokens // 2)


def _use_threads(n: int | None) -> None:
    """Set torch's thread count; ``None`` leaves it as it is."""
    if n is not None:
        set_threads(n)


def record_traces(pair: ModelPair, grid: list[Setting], prompts: list[Prompt],
                  max_new_tokens: int, seed: int) -> dict[str, Trace]:
    """One traced (untimed) specviz run per setting and prompt, for notebooks to replay anywhere."""
    traces = {}
    for s in (s for s in grid if s.impl == "specviz"):
        for p in prompts:
            res = generate(pair, p.text, s.algorithm, max_new_tokens=max_new_tokens,
                           lookahead=s.lookahead or None, temperature=s.temperature, seed=seed)
            name = f"{s.algorithm}-k{s.lookahead}-T{s.temperature:g}-{p.set}-{p.index}"
            traces[name] = res.trace
    return traces


def _write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})


