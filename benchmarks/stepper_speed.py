"""How long one Stepper step takes (all figures updated) on a 256-token trace.

    python benchmarks/stepper_speed.py [--algorithm slrs] [--pair bpe-vs-spm] [--threads 1]

Builds a 256-token trace with a tiny Hugging Face pair (random models, so nearly every draft is
rejected: about one iteration per token, the most steps a 256-token trace can have), then walks a
Stepper through every step with ``next()`` and prints the mean and maximum time per step. The goal
is under 100 ms, so that stepping feels immediate. Outside a notebook no browser draws anything:
this measures the Python side (building figures and updating the widgets' state).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch

import specviz as sv
from specviz.models.tiny import TINY_PAIRS, tiny_pair
from specviz.viz import Stepper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="slrs", choices=sv.ALGORITHMS)
    parser.add_argument("--pair", default="spm-vs-bpe", choices=sorted(TINY_PAIRS))
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    pair = sv.load_pair(*tiny_pair(args.pair))
    trace = sv.generate(pair, "The morning began grey and quiet.", args.algorithm,
                        max_new_tokens=args.tokens, temperature=args.temperature, seed=0).trace
    began = time.perf_counter()
    stepper = Stepper(trace)
    built = time.perf_counter() - began

    full_collections = []  # Python's occasional full garbage collection pauses everything
    gc.callbacks.append(lambda phase, info: full_collections.append(time.perf_counter())
                        if phase == "stop" and info["generation"] == 2 else None)
    ms, cpu_ms, ms_without_full_gc = [], [], []
    for _ in range(len(stepper.steps) - 1):
        collections = len(full_collections)
        began, cpu_began = time.perf_counter(), time.process_time()
        stepper.next()
        ms.append(1000 * (time.perf_counter() - began))
        cpu_ms.append(1000 * (time.process_time() - cpu_began))
        if len(full_collections) == collections:
            ms_without_full_gc.append(ms[-1])
    print(f"{args.algorithm} on {args.pair}, temperature {args.temperature}: "
          f"{trace.stats.new_tokens} tokens, {len(trace.iterations)} iterations, "
          f"{len(stepper.steps)} steps; torch threads {torch.get_num_threads()}")
    print(f"Stepper built in {1000 * built:.0f} ms (the first FigureWidget also loads anywidget)")
    print(f"per step: mean {statistics.mean(ms):.1f} ms, median {statistics.median(ms):.1f} ms, "
          f"95th percentile {statistics.quantiles(ms, n=20)[-1]:.1f} ms, max {max(ms):.1f} ms "
          "(goal: < 100 ms)")
    print(f"CPU time per step (excludes waiting for a busy CPU): mean {statistics.mean(cpu_ms):.1f}"
          f" ms, max {max(cpu_ms):.1f} ms")
    print(f"{len(ms) - len(ms_without_full_gc)} steps included a full garbage collection of the "
          f"{len(gc.get_objects()):,} objects in this process; max without those: "
          f"{max(ms_without_full_gc):.1f} ms")


if __name__ == "__main__":
    main()
