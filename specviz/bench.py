"""Measure it: every algorithm against plain decoding, Hugging Face and the cost model.

    res = sv.bench("tiny:bpe-vs-spm", algorithms=["slem", "tli"], lookahead=[2, 4])
    print(res.table()); res.save("bench-out")          # CSV, JSON and a self-contained HTML report

One benchmark is a grid: settings (algorithm, lookahead, temperature; specviz and Hugging Face) x
thread counts x prompts x repeats, always with plain autoregressive decoding in the grid, because a
speedup is only meaningful against plain decoding measured in the same process, on the same
prompts, minutes apart. Runs are interleaved (every thread count and setting on one prompt, then
the next prompt), so that a machine that slows down for a while hurts every setting alike. Timed
runs record no trace (``trace_top_k=None``).

Next to the measurements stands the cost model: each model's forward time for 1..k+2 positions is
measured on the benchmark's own contexts, and from it and the counted passes (or the measured
acceptance) the time per token is predicted. Where prediction and measurement agree, the time went
into the models and nowhere else.
"""

from __future__ import annotations

import contextlib
import csv
import html
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import costmodel
from .algorithms import ALGORITHMS
from .algorithms.loop import generate, library_versions
from .huggingface import count_passes, hf_algorithm, hf_generate, hf_runs
from .models.base import LanguageModel
from .models.hf import HFModel
from .models.pair import ModelPair, load_pair, set_threads
from .outputs import folder_written_whole
from .trace import PHASES, Stats, Trace

PROMPTS_FILE = Path(__file__).resolve().parent / "data" / "prompts.json"
PROMPT_SETS = ("summarise", "code", "chat", "copy")

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


# -- prompts ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Prompt:
    """One benchmark prompt: which set it belongs to, its place there, and its text."""

    set: str
    index: int
    text: str

    @property
    def key(self) -> str:
        return f"{self.set}/{self.index}"


def prompt_sets() -> dict[str, dict]:
    """The bundled prompt sets: name -> {"description", "prompts"}."""
    return json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))["sets"]


def load_prompts(sets: Iterable[str] = PROMPT_SETS, per_set: int | None = None) -> list[Prompt]:
    """The first ``per_set`` prompts (all if ``None``) of each named set, set by set."""
    available = prompt_sets()
    prompts = []
    for name in sets:
        if name not in available:
            raise ValueError(f"Unknown prompt set {name!r}. Choose from: {', '.join(available)}.")
        texts = available[name]["prompts"][:per_set]
        prompts += [Prompt(name, i, text) for i, text in enumerate(texts)]
    return prompts


# -- pairs -----------------------------------------------------------------------------------------

def resolve_pair(spec: str | ModelPair, device: str = "auto", dtype: str | None = None,
                 drafter=None) -> ModelPair:
    """A loaded pair from 'bundled', 'tiny:<name>' or '<target>,<drafter>' (hub ids or folders).

    ``drafter`` (a name such as 'prompt-lookup' or 'ngram', or a ``LanguageModel`` such as
    ``sv.PromptLookup()``) replaces the pair's drafter; the pair's own drafter is then not loaded.
    """
    if isinstance(spec, ModelPair):
        return spec if drafter is None else spec.with_drafter(drafter)
    device = _check_device(device)
    torch_dtype = _dtype(dtype)
    if spec == "bundled":
        return load_pair(drafter=drafter, device=device, dtype=torch_dtype)
    if spec.startswith("tiny:"):
        from .models.pair import default_dtype, pick_device
        from .models.tiny import TINY_PAIRS, tiny_pair

        name = spec.removeprefix("tiny:")
        if name not in TINY_PAIRS:
            raise ValueError(f"Unknown tiny pair {name!r}. Choose from: {', '.join(TINY_PAIRS)}.")
        target, own = tiny_pair(name)
        # They are built in float32; 'auto' still means the device's own dtype (bf16 on a GPU).
        return load_pair(target, own if drafter is None else drafter, device=device,
                         dtype=torch_dtype or default_dtype(pick_device(device)))
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"Cannot read the pair {spec!r}: use 'bundled', 'tiny:<name>' or "
                         "'<target>,<drafter>' (two hub ids, folders or bundled names).")
    return load_pair(parts[0], parts[1] if drafter is None else drafter, device=device,
                     dtype=torch_dtype)


def _check_device(device: str) -> str:
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"Unknown device {device!r}: use auto, cpu or cuda.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = torch.version.cuda or "none"
        raise ValueError(f"--device {device} was asked for, but torch sees no CUDA GPU here "
                         f"(torch {torch.__version__}, CUDA build: {build}). "
                         "Use --device cpu, or run on a machine with a GPU.")
    return device


_DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
           "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def _dtype(name: str | None) -> torch.dtype | None:
    """None or 'auto': the device's default (fp32 on CPUs, bf16 or fp16 on GPUs)."""
    if name in (None, "auto"):
        return None
    if name not in _DTYPES:
        raise ValueError(f"Unknown dtype {name!r}: use auto, float32, bfloat16 or float16.")
    return _DTYPES[name]


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
    grid = []
    for t in temperatures:
        grid.append(Setting("specviz", "autoregressive", 0, t))
        grid += [Setting("specviz", a, k, t) for a in algorithms if a != "autoregressive"
                 for k in lookaheads]
        if hf:
            grid.append(Setting("hf", "autoregressive", 0, t))
            same = [a for a in algorithms if a != "autoregressive" and hf_algorithm(pair, t) == a]
            grid += [Setting("hf", a, k, t) for a in same for k in lookaheads]
    return grid


def _check_grid(pair: ModelPair, algorithms, lookaheads, temperatures, prompts, repeats,
                max_new_tokens, warmup, threads, hf_confidence_threshold) -> None:
    """Refuse bad settings before any model runs, with a message that says what would work."""
    for a in algorithms:
        if a not in ALGORITHMS:
            raise ValueError(f"Unknown algorithm {a!r}. Choose from: {', '.join(ALGORITHMS)}.")
    if any(a != "autoregressive" for a in algorithms) and pair.drafter is None:
        raise ValueError("This pair has no drafter: only 'autoregressive' can run on it.")
    checks = [
        (lookaheads, lambda k: isinstance(k, int) and k >= 1,
         "lookahead values must be integers >= 1"),
        (temperatures, lambda t: isinstance(t, (int, float)) and t >= 0,
         "temperatures must be numbers >= 0 (0 is greedy)"),
        (threads, lambda n: n is None or (isinstance(n, int) and n >= 1),
         "thread counts must be integers >= 1"),
    ]
    for values, ok, message in checks:
        if not values or not all(ok(v) for v in values):
            raise ValueError(f"{message}, got {list(values)!r}")
    if not prompts:
        raise ValueError("No prompts to run: name at least one prompt set.")
    for name, value, least in (("repeats", repeats, 1), ("max_new_tokens", max_new_tokens, 1),
                               ("warmup", warmup, 0)):
        if not isinstance(value, int) or value < least:
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


def _stats_row(stats: Stats) -> dict:
    return {
        "new_tokens": stats.new_tokens, "finish_reason": stats.finish_reason,
        "seconds": stats.seconds, "time_to_first_token": stats.time_to_first_token,
        "iterations": stats.iterations, "target_passes": stats.target_forward_passes,
        "drafter_passes": stats.drafter_forward_passes, "drafted": stats.drafted,
        "proposed": stats.proposed, "judged": stats.judged, "accepted": stats.accepted,
        "acceptance": stats.acceptance if stats.judged else None,
        "kept_share": stats.kept_share if stats.proposed else None,
        "mean_accepted_per_iteration": stats.mean_accepted_per_iteration,
        **{f"{p}_seconds": stats.phase_seconds[p] for p in PHASES},
        "target_seconds": stats.target_seconds, "drafter_seconds": stats.drafter_seconds,
    }


def _run_hf(pair: ModelPair, s: Setting, prompt: Prompt, max_new_tokens: int, seed: int,
            confidence_threshold: float) -> tuple[dict, list[int]]:
    run = hf_generate(pair, prompt.text, s.algorithm, max_new_tokens=max_new_tokens,
                      lookahead=max(s.lookahead, 1), temperature=s.temperature, seed=seed,
                      confidence_threshold=confidence_threshold)
    row = {
        "new_tokens": len(run.token_ids), "finish_reason": run.finish_reason,
        "seconds": run.seconds, "time_to_first_token": run.time_to_first_token,
        "iterations": run.target.passes, "target_passes": run.target.passes,
        "drafter_passes": run.drafter.passes, "target_positions": run.target.tokens,
        "drafter_positions": run.drafter.tokens, "target_seconds": run.target.seconds,
        "drafter_seconds": run.drafter.seconds, "target_pass_sizes": run.target.sizes,
        "drafter_pass_sizes": run.drafter.sizes,
    }
    return row, run.token_ids


def _derived(row: dict) -> dict:
    """Per-token figures, the same for both implementations."""
    n, seconds = row["new_tokens"], row["seconds"]
    model_seconds = row["target_seconds"] + row["drafter_seconds"]
    per = (lambda x: x / n) if n else (lambda x: None)
    return {
        "seconds_per_token": per(seconds), "cpu_seconds_per_token": per(row["cpu_seconds"]),
        "tokens_per_second": n / seconds if seconds else None,
        "time_per_output_token": (seconds - row["time_to_first_token"]) / (n - 1) if n > 1
        else None,
        "tokens_per_iteration": n / row["iterations"] if row["iterations"] else None,
        "target_passes_per_token": per(row["target_passes"]),
        "drafter_passes_per_token": per(row["drafter_passes"]),
        "overhead_seconds": max(0.0, seconds - model_seconds),
        "overhead_share": max(0.0, seconds - model_seconds) / seconds if seconds else None,
    }


# -- memory ----------------------------------------------------------------------------------------

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def memory_method(device: torch.device) -> str:
    """How ``peak_memory_mb`` is measured on this device (recorded with the results)."""
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated, reset before each run (tensors only)"
    if _CLEAR_REFS.exists() and _STATUS.exists():
        return "process peak RSS (Linux VmHWM), reset before each run via /proc/self/clear_refs"
    return "process peak RSS since start (resource.getrusage ru_maxrss), not reset between runs"


def _reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif _CLEAR_REFS.exists():
        with contextlib.suppress(OSError):  # "5" resets the peak resident set (Linux >= 4.0)
            _CLEAR_REFS.write_text("5")


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


# -- the cost model's inputs: per-pass costs -------------------------------------------------------

@dataclass
class PassCosts:
    """Seconds per forward pass, measured on the benchmark's own prompts at one thread count.

    ``target[n-1]`` and ``drafter[n-1]``: a pass over ``n`` new positions after a real context (the
    prompt plus half the output length). ``prefill[key]``: each prompt's own first pass (seconds)
    and its length (tokens), for each model.
    """

    threads: int
    target: list[float]
    drafter: list[float]
    prefill: dict[str, dict[str, float]] = field(default_factory=dict)

    def target_pass(self, n: float) -> float:
        return costmodel.pass_cost(self.target, n)

    def drafter_pass(self, n: float) -> float:
        return costmodel.pass_cost(self.drafter, n)

    @property
    def c(self) -> float | None:
        """Drafter step over target step, one position each: the paper's cost coefficient."""
        return self.drafter[0] / self.target[0] if self.drafter else None

    def verify_cost(self, n: float) -> float:
        """A target pass over ``n`` positions, in target steps (about 1 on a GPU, more on a CPU)."""
        return self.target_pass(n) / self.target[0]

    @classmethod
    def mean(cls, parts: Sequence[PassCosts]) -> PassCosts:
        """Several measurements averaged: curves point by point, prefills prompt by prompt."""
        curve = lambda name: [statistics.fmean(col) for col in  # noqa: E731
                              zip(*(getattr(p, name) for p in parts), strict=True)]
        keys = dict.fromkeys(k for p in parts for k in p.prefill)
        prefill = {k: {f: statistics.fmean(p.prefill[k][f] for p in parts if k in p.prefill)
                       for f in next(p.prefill[k] for p in parts if k in p.prefill)} for k in keys}
        return cls(parts[0].threads, curve("target"), curve("drafter"), prefill)


def measure_pass_costs(pair: ModelPair, prompt: Prompt, max_positions: int, context_tokens: int,
                       repeats: int = 5) -> PassCosts:
    """Time each model's prefill of ``prompt``, then its forward pass over 1..``max_positions`` new
    positions after the prompt plus ``context_tokens`` more (the middle of a run): median of
    ``repeats``, because the first pass after a change of shape is often slow."""
    curves: dict[str, list[float]] = {"target": [], "drafter": []}
    prefill: dict[str, float] = {}
    for role, model in (("target", pair.target), ("drafter", pair.drafter)):
        if model is None:
            continue
        ids = model.prompt_ids(prompt.text)
        prefill |= {f"{role}_tokens": len(ids),
                    f"{role}_seconds": _pass_seconds(model, ids, len(ids), fresh=True)}
        context, extra = ids + _filler(ids, context_tokens), _filler(ids, max_positions)
        curves[role] = [statistics.median(_pass_seconds(model, context + extra[:n], n)
                                          for _ in range(repeats))
                        for n in range(1, max_positions + 1)]
    return PassCosts(torch.get_num_threads(), curves["target"], curves["drafter"],
                     {prompt.key: prefill})


def _filler(ids: list[int], n: int) -> list[int]:
    """``n`` ordinary tokens to stand for generated text (the prompt's own, cycled; BOS skipped)."""
    body = ids[1:] or ids
    return (body * (n // len(body) + 1))[:n]


def _pass_seconds(model: LanguageModel, ids: list[int], n: int, fresh: bool = False) -> float:
    """One forward pass over exactly the last ``n`` of ``ids``, timed by the model's own counter."""
    if fresh:
        model.reset()
    before = model.counter.seconds
    model.logits(ids, n)
    return model.counter.seconds - before


# -- the benchmark ---------------------------------------------------------------------------------

RESULT_FILES = ("rows.csv", "summary.csv", "results.json", "report.html", "traces")
"""What ``BenchResult.save`` writes; a folder holding only these may be written over."""


@dataclass
class BenchResult:
    """Everything one benchmark measured: per-run rows, per-setting summary, pass costs, machine."""

    rows: list[dict]
    config: dict
    machine: dict
    costs: dict[int, PassCosts]
    traces: dict[str, Trace] = field(default_factory=dict)
    rates: list[dict] = field(default_factory=list)  # one_position_rates, with SLRS under sampling

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
        rows = []
        for name in dict.fromkeys(r["prompt_set"] for r in self.rows):
            runs = [r for r in self.rows if r["prompt_set"] == name]
            rows += [s | {"prompt_set": name} for s in summarise(runs, self.costs)]
        return format_table(rows, SETS_TABLE)

    def rates_table(self) -> str:
        """Exact one-position acceptance rates next to the measured acceptance (``rates``)."""
        return format_table(self.rates, RATES_TABLE)

    def cost_table(self) -> str:
        """Measured time per token against the cost model's predictions."""
        return format_table(self.summary, COST_TABLE)

    def costs_table(self) -> str:
        """The measured per-pass costs behind the cost model."""
        rows = []
        for threads, pc in self.costs.items():
            for n in range(1, len(pc.target) + 1):
                rows.append({"threads": threads, "positions": n,
                             "target_ms": 1000 * pc.target[n - 1], "verify_cost": pc.verify_cost(n),
                             "drafter_ms": 1000 * pc.drafter[n - 1] if pc.drafter else None,
                             "c": pc.drafter[n - 1] / pc.target[0] if pc.drafter else None})
        return format_table(rows, PASS_COST_TABLE)

    def threads_table(self) -> str:
        """Each setting's time per token at every thread count measured, against the first."""
        counts = sorted({s["threads"] for s in self.summary})
        rows: dict[tuple, dict] = {}
        for s in self.summary:
            row = rows.setdefault(_group_key(s, *SETTING_FIELDS[1:]), {
                f: s[f] for f in SETTING_FIELDS[1:]})
            row[f"s/tok {s['threads']}"] = s["seconds_per_token"]
        columns: list[Column] = [("impl", "impl", "s"), ("algorithm", "algorithm", "s"),
                                 ("lookahead", "k", "d"), ("temperature", "T", "g")]
        columns += [(f"s/tok {n}", f"s/tok, {n} thr", ".3f") for n in counts]
        for n in counts[1:]:
            for row in rows.values():
                first, this = row.get(f"s/tok {counts[0]}"), row.get(f"s/tok {n}")
                row[f"ratio {n}"] = this / first if first and this else None
            columns.append((f"ratio {n}", f"{n} thr / {counts[0]} thr", ".2f"))
        return format_table(list(rows.values()), columns)

    def to_dict(self) -> dict:
        return {"config": self.config, "machine": self.machine, "rows": self.rows,
                "summary": self.summary, "hf_comparison": compare_with_hf(self.rows, self.summary),
                "pass_costs": {str(t): asdict(pc) for t, pc in self.costs.items()},
                "one_position_rates": self.rates}

    def save(self, out: str | os.PathLike) -> dict[str, Path]:
        """Write rows.csv, summary.csv, results.json, report.html (and traces/, if recorded).

        The folder is written whole (``outputs.folder_written_whole``): it holds this run's files
        only, and an interruption leaves the previous run's.
        """
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
    pair = resolve_pair(pair, device, dtype, drafter)
    load_before = _load_average()
    algorithms = list(dict.fromkeys(["autoregressive", *algorithms]))
    prompt_list = load_prompts(prompts, prompts_per_set)
    lookahead, threads = list(lookahead), list(threads)
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
    previous = torch.get_num_threads()
    try:
        runner.warm_up(grid, threads, prompt_list[0], warmup, progress)
        rows = runner.grid(grid, threads, prompt_list, repeats, progress)
    finally:
        set_threads(previous)
    _add_comparisons(rows)
    costs = {n: PassCosts.mean(parts) for n, parts in runner.costs.items()}
    result = BenchResult(rows, config, machine_info(pair, sorted(costs), load_before), costs)
    if "slrs" in algorithms and any(t > 0 for t in temperature):
        result.rates = [one_position_rates(pair, p, t, rows) for t in temperature if t > 0
                        for p in prompt_list]
    if record:
        result.traces = record_traces(pair, grid, prompt_list, max_new_tokens, seed)
    return result


def one_position_rates(pair: ModelPair, prompt: Prompt, temperature: float,
                       rows: Sequence[dict] = (), max_tokens: int = 2000) -> dict:
    """The exact chance that the first candidate after ``prompt`` is kept, rule by rule, next to
    the acceptance the runs in ``rows`` measured (accepted / judged, over all their positions).

    * ``tli``: sum min(p, q') with q' the drafter's law restricted to the shared tokens;
    * ``slrs``: sum min(p, psi), rejection sampling from psi (SLRS);
    * ``exact_match``: sum p psi, the same proposal kept only when it equals the target's own draw
      (SLEM's rule; SLEM's own first candidate is the first target token of its re-tokenized
      draft, which is psi's token when the draft is long enough to spell it).

    psi is computed for the ``max_tokens`` most probable target tokens (all 262k would take
    minutes); the rest of p, ``unresolved``, bounds the error: the true sums lie in
    [value, value + unresolved].
    """
    from .acceptance import expected_acceptance
    from .algorithms.slrs import psi_lattices
    from .sampling import probabilities

    target = pair.target
    p = probabilities(target.logits(target.prompt_ids(prompt.text), 1)[0], temperature).cpu()
    top = torch.argsort(p, descending=True)[:max_tokens]
    lattices = psi_lattices(pair, prompt.text, top.tolist(), temperature=temperature)
    psi = torch.tensor([lattices[t].psi for t in top.tolist()], dtype=p.dtype)
    p_top = p[top]
    out = {"temperature": temperature, "prompt_set": prompt.set, "prompt_index": prompt.index,
           "tli": expected_acceptance(pair, prompt.text, "tli", temperature),
           "slrs": float(torch.minimum(p_top, psi).sum()),
           "exact_match": float((p_top * psi).sum()),
           "psi_mass": float(psi.sum()), "unresolved": max(0.0, 1.0 - float(p_top.sum()))}
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

    def run(self, s: Setting, prompt: Prompt, max_new_tokens: int | None = None,
            repeat: int = 0) -> dict:
        n, seed = max_new_tokens or self.max_new_tokens, self.seed + repeat
        _reset_peak_memory(self.device)
        cpu = time.process_time()  # CPU time of this process: immune to waiting for a busy core
        if s.impl == "hf":
            row, ids = _run_hf(self.pair, s, prompt, n, seed, self.threshold)
        else:
            row, ids = _run_specviz(self.pair, s, prompt, n, seed)
        row["cpu_seconds"] = time.process_time() - cpu
        row = dict.fromkeys(ROW_COLUMNS) | row | _derived(row)  # HF leaves some columns empty
        row |= {"threads": torch.get_num_threads(), "impl": s.impl, "algorithm": s.algorithm,
                "lookahead": s.lookahead, "temperature": s.temperature, "prompt_set": prompt.set,
                "prompt_index": prompt.index, "repeat": repeat, "seed": seed,
                "prompt_tokens": len(self.pair.target.prompt_ids(prompt.text)),
                "peak_memory_mb": _peak_memory_mb(self.device), "device": str(self.device),
                "dtype": str(getattr(self.pair.target, "dtype", "")).replace("torch.", ""),
                "text": self.pair.target.vocab.text_of(ids), "token_ids": ids}
        return row

    def warm_up(self, grid: list[Setting], threads: list[int | None], prompt: Prompt,
                times: int, progress: bool) -> None:
        """Untimed short runs of every setting: first calls allocate, compile and fill caches."""
        todo = [(n, s) for n in threads for s in grid for _ in range(times)]
        for n, s in tqdm(todo, desc="warm-up", disable=not progress or not todo, leave=False):
            _use_threads(n)
            self.run(s, prompt, min(8, self.max_new_tokens))

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
                    block.append(self.run(s, prompt, repeat=repeat))
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


# -- comparisons inside one benchmark --------------------------------------------------------------

def _group_key(row: dict, *fields: str) -> tuple:
    return tuple(row[f] for f in fields)


def _add_comparisons(rows: list[dict]) -> None:
    """Speedup over the same implementation's plain decoding of the same prompt, temperature,
    repeat and thread count; under greedy decoding, whether the output equals specviz's plain
    decoding token for token (it must, for every lossless algorithm)."""
    where = ("threads", "temperature", "prompt_set", "prompt_index", "repeat")
    plain = {_group_key(r, "impl", *where): r for r in rows if r["algorithm"] == "autoregressive"}
    for r in rows:
        base = plain.get(_group_key(r, "impl", *where))
        ok = base and base["seconds_per_token"] and r["seconds_per_token"]
        r["speedup"] = base["seconds_per_token"] / r["seconds_per_token"] if ok else None
        reference = plain.get(_group_key(r | {"impl": "specviz"}, "impl", *where))
        r["same_as_autoregressive"] = (r["token_ids"] == reference["token_ids"]
                                       if r["temperature"] == 0 and reference else None)


def counted_seconds(row: dict, pc: PassCosts) -> float | None:
    """Seconds a run should take if it were nothing but its forward passes, each priced at the
    measured cost of its own number of positions (a mean would not do: on a CPU the cost jumps
    between sizes). Each model's first pass is the prompt's prefill, measured for that prompt.
    A drafter without a forward pass to price (prompt lookup, n-gram) adds its own measured time."""
    pre = pc.prefill.get(f"{row['prompt_set']}/{row['prompt_index']}")
    if pre is None or row.get("target_pass_sizes") is None:
        return None
    total = 0.0
    for role, price in (("target", pc.target_pass), ("drafter", pc.drafter_pass)):
        sizes = row[f"{role}_pass_sizes"]
        if sizes:
            total += pre[f"{role}_seconds"] + sum(price(n) for n in sizes[1:])
        elif sizes is None:
            total += row.get(f"{role}_seconds") or 0.0
    return total


# -- summaries -------------------------------------------------------------------------------------

SETTING_FIELDS = ("threads", "impl", "algorithm", "lookahead", "temperature")
SUMMARY_COLUMNS = (
    *SETTING_FIELDS, "runs", "new_tokens", "seconds", "seconds_per_token",
    "cpu_seconds_per_token", "tokens_per_second", "time_to_first_token", "time_per_output_token",
    "tokens_per_iteration", "acceptance", "kept_share",
    "mean_accepted_per_iteration", "candidates_per_iteration", "target_passes_per_token",
    "drafter_passes_per_token", "drafter_passes_per_iteration", "target_positions_per_token",
    "drafter_positions_per_token", *(f"{phase}_share" for phase in PHASES), "overhead_share",
    "peak_memory_mb", "speedup", "cpu_speedup",
    "same_as_autoregressive", "predicted_counted", "counted_gap", "predicted_tokens_per_iteration",
    "predicted_seconds_per_token", "predicted_gap", "predicted_speedup", "ideal_speedup",
)


def summarise(rows: list[dict], costs: dict[int, PassCosts]) -> list[dict]:
    """One row per setting: totals over its runs (ratios of sums, so long runs weigh more)."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(_group_key(r, *SETTING_FIELDS), []).append(r)
    out = [_summary(dict(zip(SETTING_FIELDS, key, strict=True)), runs)
           for key, runs in groups.items()]
    plain = {_group_key(s, "threads", "impl", "temperature"): s for s in out
             if s["algorithm"] == "autoregressive"}
    for s in out:
        base = plain.get(_group_key(s, "threads", "impl", "temperature"))
        for name, key in (("speedup", "seconds_per_token"),
                          ("cpu_speedup", "cpu_seconds_per_token")):
            s[name] = base[key] / s[key] if base else None
        s |= _analytic_prediction(s, groups[_group_key(s, *SETTING_FIELDS)], costs[s["threads"]])
    for s in out:
        base = plain.get(_group_key(s, "threads", "impl", "temperature"))
        key = "predicted_seconds_per_token"
        ok = base and base.get(key) and s.get(key)
        s["predicted_speedup"] = base[key] / s[key] if ok else None
    return out


def _summary(key: dict, runs: list[dict]) -> dict:
    total = lambda name: sum(r.get(name) or 0 for r in runs)  # noqa: E731
    tokens, seconds, iterations = total("new_tokens"), total("seconds"), total("iterations")
    ratio = lambda a, b: a / b if b else None  # noqa: E731
    predicted = [r["predicted_seconds"] for r in runs]
    same = [r["same_as_autoregressive"] for r in runs if r["same_as_autoregressive"] is not None]
    ours = key["impl"] == "specviz"  # Hugging Face exposes no phases, drafts or acceptance
    return key | {
        "runs": len(runs), "new_tokens": tokens, "seconds": seconds,
        "seconds_per_token": ratio(seconds, tokens), "tokens_per_second": ratio(tokens, seconds),
        "cpu_seconds_per_token": ratio(total("cpu_seconds"), tokens),
        "time_to_first_token": statistics.fmean(r["time_to_first_token"] for r in runs),
        "time_per_output_token": ratio(seconds - total("time_to_first_token"),
                                       tokens - sum(1 for r in runs if r["new_tokens"])),
        "tokens_per_iteration": ratio(tokens, iterations),
        "acceptance": ratio(total("accepted"), total("judged")) if ours else None,
        "kept_share": ratio(total("accepted"), total("proposed")) if ours else None,
        "mean_accepted_per_iteration": ratio(total("accepted"), iterations) if ours else None,
        "candidates_per_iteration": ratio(total("proposed"), iterations) if ours else None,
        "target_passes_per_token": ratio(total("target_passes"), tokens),
        "drafter_passes_per_token": ratio(total("drafter_passes"), tokens),
        "drafter_passes_per_iteration": ratio(total("drafter_passes"), iterations),
        "target_positions_per_token": ratio(total("target_positions"), tokens),
        "drafter_positions_per_token": ratio(total("drafter_positions"), tokens),
        **{f"{p}_share": ratio(total(f"{p}_seconds"), seconds) if ours else None for p in PHASES},
        "overhead_share": ratio(total("overhead_seconds"), seconds),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in runs),
        "same_as_autoregressive": all(same) if same else None,
        "predicted_counted": ratio(sum(predicted), tokens) if None not in predicted else None,
        "counted_gap": seconds / sum(predicted) - 1 if None not in predicted and sum(predicted)
        else None,
    }


def _analytic_prediction(s: dict, runs: list[dict], pc: PassCosts) -> dict:
    """Time per token predicted from the measured acceptance ``a`` alone: the paper's cost model,
    with the verify pass priced as measured on this machine rather than as one target step.

    An iteration drafts (d drafter passes), verifies m candidates (one target pass over m + 1
    positions) and yields E(a, m) tokens; a run adds each model's prefill. m varies from one
    iteration to the next (prompt lookup proposes 0 or a full copy), so tokens per iteration and
    the verify pass's price are averaged over the measured counts m_i, not taken at their mean.
    """
    keys = [f"{r['prompt_set']}/{r['prompt_index']}" for r in runs]
    if (s["impl"] != "specviz" or not s["new_tokens"] or any(k not in pc.prefill for k in keys)
            or any(r.get("candidate_counts") is None for r in runs)):
        return dict.fromkeys(("predicted_tokens_per_iteration", "predicted_seconds_per_token",
                              "predicted_gap", "ideal_speedup"))
    n = s["new_tokens"] / s["runs"]
    seconds = statistics.fmean(pc.prefill[k]["target_seconds"] for k in keys)
    if s["algorithm"] == "autoregressive":
        expected, ideal = 1.0, None
        seconds += (n - 1) * pc.target_pass(1)
    else:
        a = s["acceptance"] or 0.0
        counts = [c for r in runs for c in r["candidate_counts"]]
        drafting = s["drafter_passes_per_iteration"] * pc.drafter_pass(1)
        expected = costmodel.expected_tokens_over_iterations(a, counts)
        iterations = n / expected
        verify = statistics.fmean(pc.target_pass(c + 1) for c in counts)
        seconds += statistics.fmean(pc.prefill[k]["drafter_seconds"] for k in keys)
        seconds += (iterations - 1) * verify + iterations * drafting
        ideal = expected * pc.target_pass(1) / (drafting + verify)  # tokens per target step
    return {"predicted_tokens_per_iteration": expected,
            "predicted_seconds_per_token": seconds / n,
            "predicted_gap": s["seconds_per_token"] / (seconds / n) - 1,
            "ideal_speedup": ideal}


def compare_with_hf(rows: list[dict], summary: list[dict]) -> list[dict]:
    """Pair each Hugging Face setting with specviz's same setting; ratios > 1: specviz is faster.

    ``total_ratio`` is HF's time per token over specviz's, each over all its runs (the two s/tok
    columns). ``wall_ratio`` is the median, over prompts and repeats, of the same ratio within one
    prompt and repeat (minutes apart); ``ratio_min``/``ratio_max`` show its spread, which on a
    shared machine is mostly noise. Under greedy decoding both runs of a pair produce the same
    tokens, so the median pairs like with like; under sampling they draw different continuations
    (one may accept more by luck), and ``total_ratio`` is the one to read. ``cpu_ratio`` compares
    the CPU time both spent (totals): it ignores time spent waiting for a busy core, so it shows
    the work done.
    ``same_output``: under greedy decoding, both produced exactly plain decoding's tokens.
    """
    setting = ("threads", "algorithm", "lookahead", "temperature")
    run = (*setting, "prompt_set", "prompt_index", "repeat")
    ours = {_group_key(s, *setting): s for s in summary if s["impl"] == "specviz"}
    our_runs = {_group_key(r, *run): r for r in rows if r["impl"] == "specviz"}
    out = []
    for h in (s for s in summary if s["impl"] == "hf"):
        o = ours.get(_group_key(h, *setting))
        if o is None:
            continue
        row = {f: h[f] for f in setting}
        for name in ("seconds_per_token", "tokens_per_iteration", "target_positions_per_token",
                     "drafter_positions_per_token", "overhead_share"):
            row[f"specviz_{name}"], row[f"hf_{name}"] = o[name], h[name]
        theirs = [r for r in rows if r["impl"] == "hf"
                  and _group_key(r, *setting) == _group_key(h, *setting)]
        paired = [r["seconds_per_token"] / our_runs[_group_key(r, *run)]["seconds_per_token"]
                  for r in theirs if _group_key(r, *run) in our_runs]
        row |= {"total_ratio": h["seconds_per_token"] / o["seconds_per_token"],
                "wall_ratio": statistics.median(paired), "ratio_min": min(paired),
                "ratio_max": max(paired),
                "cpu_ratio": h["cpu_seconds_per_token"] / o["cpu_seconds_per_token"]}
        same = (o["same_as_autoregressive"], h["same_as_autoregressive"])
        row["same_output"] = None if None in same else all(same)
        out.append(row)
    return out


# -- machine ---------------------------------------------------------------------------------------

def machine_info(pair: ModelPair, threads: Sequence[int], load_before: list[float] | None = None
                 ) -> dict:
    """Where the figures come from: they mean little without it. The load average (1, 5 and 15
    minutes; before and after) says how busy a shared machine was with other work."""
    device = pair.target.device
    info = {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(), "torch_threads": list(threads),
        "load_average_before": load_before, "load_average_after": _load_average(),
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda"
        else None, "target": pair.target.name,
        "drafter": pair.drafter.name if pair.drafter is not None else None,
        "dtype": str(getattr(pair.target, "dtype", "")).replace("torch.", ""),
        "memory_method": memory_method(device), "versions": library_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    try:
        import plotly

        info["versions"] = info["versions"] | {"plotly": plotly.__version__}
    except ImportError:
        pass
    return info


def _load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# -- text output -----------------------------------------------------------------------------------

Column = tuple[str, str, str]  # (key, header, format)

SUMMARY_TABLE: tuple[Column, ...] = (
    ("threads", "thr", "d"), ("impl", "impl", "s"), ("algorithm", "algorithm", "s"),
    ("lookahead", "k", "d"), ("temperature", "T", "g"), ("runs", "runs", "d"),
    ("seconds_per_token", "s/tok", ".3f"), ("cpu_seconds_per_token", "CPU s/tok", ".3f"),
    ("time_to_first_token", "TTFT s", ".2f"),
    ("time_per_output_token", "TPOT s", ".3f"),
    ("acceptance", "a", ".2f"), ("kept_share", "kept", ".2f"),
    ("tokens_per_iteration", "tok/it", ".2f"),
    ("target_passes_per_token", "T pass/tok", ".2f"),
    ("drafter_passes_per_token", "D pass/tok", ".2f"),
    ("draft_share", "draft", ".0%"), ("translate_share", "transl", ".0%"),
    ("verify_share", "verify", ".0%"), ("accept_share", "accept", ".0%"),
    ("overhead_share", "overhead", ".1%"), ("peak_memory_mb", "peak MB", ".0f"),
    ("speedup", "speedup", ".2f"), ("cpu_speedup", "CPU speedup", ".2f"),
    ("same_as_autoregressive", "=AR", "b"),
)
HF_TABLE: tuple[Column, ...] = (
    ("threads", "thr", "d"), ("algorithm", "algorithm", "s"), ("lookahead", "k", "d"),
    ("temperature", "T", "g"), ("specviz_seconds_per_token", "specviz s/tok", ".3f"),
    ("hf_seconds_per_token", "HF s/tok", ".3f"), ("total_ratio", "HF/sv total", ".2f"),
    ("wall_ratio", "HF/sv median", ".2f"),
    ("ratio_min", "min", ".2f"), ("ratio_max", "max", ".2f"), ("cpu_ratio", "HF/sv CPU", ".2f"),
    ("specviz_tokens_per_iteration", "tok/it sv", ".2f"),
    ("hf_tokens_per_iteration", "tok/it HF", ".2f"),
    ("specviz_target_positions_per_token", "T pos/tok sv", ".2f"),
    ("hf_target_positions_per_token", "T pos/tok HF", ".2f"),
    ("specviz_drafter_positions_per_token", "D pos/tok sv", ".2f"),
    ("hf_drafter_positions_per_token", "D pos/tok HF", ".2f"),
    ("specviz_overhead_share", "overhead sv", ".1%"), ("hf_overhead_share", "overhead HF", ".1%"),
    ("same_output", "same text", "b"),
)
SETS_TABLE: tuple[Column, ...] = (
    ("prompt_set", "set", "s"), ("impl", "impl", "s"), ("algorithm", "algorithm", "s"),
    ("lookahead", "k", "d"), ("temperature", "T", "g"), ("runs", "runs", "d"),
    ("seconds_per_token", "s/tok", ".3f"), ("tokens_per_iteration", "tok/it", ".2f"),
    ("acceptance", "a", ".2f"), ("speedup", "speedup", ".2f"),
    ("same_as_autoregressive", "=AR", "b"),
)
RATES_TABLE: tuple[Column, ...] = (
    ("temperature", "T", "g"), ("prompt_set", "set", "s"), ("prompt_index", "#", "d"),
    ("tli", "TLI sum min(p,q')", ".3f"), ("exact_match", "sum p*psi", ".3f"),
    ("slrs", "SLRS sum min(p,psi)", ".3f"), ("unresolved", "unresolved p", ".4f"),
    ("measured_tli", "a TLI", ".3f"), ("measured_slem", "a SLEM", ".3f"),
    ("measured_slrs", "a SLRS", ".3f"),
)
COST_TABLE: tuple[Column, ...] = (
    ("threads", "thr", "d"), ("impl", "impl", "s"), ("algorithm", "algorithm", "s"),
    ("lookahead", "k", "d"), ("temperature", "T", "g"),
    ("acceptance", "a", ".2f"), ("candidates_per_iteration", "cand/it", ".2f"),
    ("tokens_per_iteration", "tok/it", ".2f"),
    ("predicted_tokens_per_iteration", "tok/it pred", ".2f"),
    ("seconds_per_token", "s/tok", ".3f"), ("predicted_counted", "counted s/tok", ".3f"),
    ("counted_gap", "gap", "+.1%"), ("predicted_seconds_per_token", "model s/tok", ".3f"),
    ("predicted_gap", "gap ", "+.1%"), ("speedup", "speedup", ".2f"),
    ("predicted_speedup", "pred speedup", ".2f"), ("ideal_speedup", "ideal (no prefill)", ".2f"),
)
PASS_COST_TABLE: tuple[Column, ...] = (
    ("threads", "thr", "d"), ("positions", "positions", "d"), ("target_ms", "target ms", ".1f"),
    ("verify_cost", "target / 1 pos", ".2f"), ("drafter_ms", "drafter ms", ".1f"),
    ("c", "drafter / target 1 pos", ".2f"),
)


def _cell(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if fmt == "b":
        return "yes" if value else "NO"
    return format(value, fmt)


def format_table(rows: list[dict], columns: Sequence[Column]) -> str:
    """A plain fixed-width table; '-' for missing values."""
    grid = [[header for _, header, _ in columns]]
    grid += [[_cell(r.get(key), fmt) for key, _, fmt in columns] for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in grid]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def _write_csv(path: Path, rows: list[dict], columns: Sequence[str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r[k] for k in columns})


# -- the HTML report -------------------------------------------------------------------------------

def write_report(result: BenchResult, path: str | os.PathLike) -> Path:
    """One self-contained HTML file (plotly.js inlined, no CDN): opens offline, can be mailed."""
    import plotly.io as pio

    figures = [_time_figure(result), _speedup_figure(result), _phase_figure(result),
               _pass_cost_figure(result)]
    charts = [pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0))
              for i, fig in enumerate(figures)]
    summary = result.summary
    sections = [
        ("Summary", _html_table(summary, SUMMARY_TABLE)),
        ("specviz against Hugging Face", _html_table(compare_with_hf(result.rows, summary),
                                                     HF_TABLE)),
        ("Cost model", _html_table(summary, COST_TABLE)),
        ("Measured pass costs", "<pre>" + html.escape(result.costs_table()) + "</pre>"),
    ]
    info = json.dumps({"machine": result.machine, "config": result.config}, indent=1)
    m = {k: html.escape(str(v)) for k, v in result.machine.items()}
    body = "\n".join([
        "<h1>specviz benchmark</h1>",
        f"<p>{m['target']} (target) with {m['drafter']} (drafter) on {m['device']} ({m['cpu']}, "
        f"{m['cpu_count']} CPUs), {m['dtype']}, {m['date']}.</p>",
        *charts,
        *(f"<h2>{title}</h2>{content}" for title, content in sections),
        "<h2>Machine and settings</h2><pre>" + html.escape(info) + "</pre>",
    ])
    page = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>specviz benchmark</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
            "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>"
            f"</head><body>{body}</body></html>")
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _html_table(rows: list[dict], columns: Sequence[Column]) -> str:
    if not rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r.get(k), f))}</td>"
                                    for k, _, f in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _label(s: dict) -> str:
    k = f" k={s['lookahead']}" if s["lookahead"] else ""
    threads = f" ({s['threads']} thr)" if s.get("multi_threads") else ""
    return f"{s['algorithm']}{k} T={s['temperature']:g}{threads}"


def _labelled(result: BenchResult) -> list[dict]:
    summary = result.summary
    multi = len({s["threads"] for s in summary}) > 1
    return [s | {"multi_threads": multi, "label": _label(s | {"multi_threads": multi})}
            for s in summary]


def _time_figure(result: BenchResult):
    import plotly.graph_objects as go

    summary = _labelled(result)
    fig = go.Figure()
    for impl in ("specviz", "hf"):
        rows = [s for s in summary if s["impl"] == impl]
        if rows:
            fig.add_bar(name=impl, x=[s["label"] for s in rows],
                        y=[1000 * s["seconds_per_token"] for s in rows])
    predicted = [s for s in summary if s.get("predicted_counted")]
    fig.add_scatter(name="specviz: counted passes x measured pass cost", mode="markers",
                    x=[s["label"] for s in predicted if s["impl"] == "specviz"],
                    y=[1000 * s["predicted_counted"] for s in predicted if s["impl"] == "specviz"],
                    marker={"symbol": "diamond", "size": 10, "color": "black"})
    fig.update_layout(title="Time per output token (lower is better)", yaxis_title="ms per token",
                      barmode="group")
    return fig


def _speedup_figure(result: BenchResult):
    import plotly.graph_objects as go

    summary = [s for s in _labelled(result) if s["algorithm"] != "autoregressive"]
    fig = go.Figure()
    for impl in ("specviz", "hf"):
        rows = [s for s in summary if s["impl"] == impl]
        if rows:
            fig.add_bar(name=f"{impl} measured", x=[s["label"] for s in rows],
                        y=[s["speedup"] for s in rows])
    ours = [s for s in summary if s["impl"] == "specviz"]
    fig.add_bar(name="cost model (from a, measured pass costs)", x=[s["label"] for s in ours],
                y=[s["predicted_speedup"] for s in ours])
    fig.add_hline(y=1.0, line_dash="dash", annotation_text="plain decoding")
    fig.update_layout(title="Speedup over plain decoding, measured in the same benchmark",
                      yaxis_title="speedup (x)", barmode="group")
    return fig


def _phase_figure(result: BenchResult):
    import plotly.graph_objects as go

    rows = [s for s in _labelled(result) if s["impl"] == "specviz"]
    fig = go.Figure()
    for phase in PHASES:
        fig.add_bar(name=phase, x=[s["label"] for s in rows],
                    y=[1000 * (s[f"{phase}_share"] or 0) * s["seconds_per_token"] for s in rows])
    fig.update_layout(title="specviz: where the time per token goes, phase by phase",
                      yaxis_title="ms per token", barmode="stack")
    return fig


def _pass_cost_figure(result: BenchResult):
    import plotly.graph_objects as go

    fig = go.Figure()
    for threads, pc in result.costs.items():
        for role, curve in (("target", pc.target), ("drafter", pc.drafter)):
            if curve:
                fig.add_scatter(name=f"{role}, {threads} thread(s)", mode="lines+markers",
                                x=list(range(1, len(curve) + 1)), y=[1000 * t for t in curve])
    fig.update_layout(title="One forward pass against the positions it processes (the verify cost)",
                      xaxis_title="positions in the pass", yaxis_title="ms per pass")
    return fig
