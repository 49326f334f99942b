"""How long a Stepper over a 256-token trace takes to build and to step, and the bytes it sends.

    python benchmarks/stepper_speed.py [--algorithm slrs] [--pair bpe-vs-spm] [--threads 1]

Builds a 256-token trace with a tiny Hugging Face pair (random models, so nearly every draft is
rejected: about one iteration per token, the most steps a 256-token trace can have), builds two
Steppers over it, then walks one through every step with ``next()``. Prints the time to build, the
bytes each Stepper sends to the browser (the first includes plotly.js, sent once per kernel), and
the mean and maximum time and bytes per step. Goals (issue 16): a Stepper built in under 2 s and
under 2 MB after the first; a step under 100 ms, so that stepping feels immediate.
Outside a notebook no browser draws anything: this measures the Python side (building figures,
updating the widgets' state) and counts the widget messages' payload bytes (JSON as the kernel
sends it, without the message headers of a few hundred bytes each).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time

import comm
import torch
from comm.base_comm import BaseComm

import specviz as sv
from specviz.models.tiny import TINY_PAIRS, tiny_pair
from specviz.viz import Stepper


class CountingComm(BaseComm):
    """A comm that sends nothing, only counts the payload bytes a kernel would send."""

    sent = 0

    def publish_msg(self, msg_type, data=None, metadata=None, buffers=None, **keys) -> None:
        CountingComm.sent += len(json.dumps(data, default=str, ensure_ascii=False).encode())
        CountingComm.sent += sum(len(memoryview(b).cast("B")) for b in buffers or ())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algorithm", default="slrs", choices=sv.ALGORITHMS)
    parser.add_argument("--pair", default="spm-vs-bpe", choices=sorted(TINY_PAIRS))
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    comm.create_comm = CountingComm  # ipywidgets opens its comms through this

    pair = sv.load_pair(*tiny_pair(args.pair))
    trace = sv.generate(pair, "The morning began grey and quiet.", args.algorithm,
                        max_new_tokens=args.tokens, temperature=args.temperature, seed=0).trace
    built, sent = [], []
    for _ in range(2):  # the first Stepper also sends plotly.js; the second shows the usual cost
        CountingComm.sent = 0
        began = time.perf_counter()
        stepper = Stepper(trace)
        built.append(time.perf_counter() - began)
        sent.append(CountingComm.sent)

    full_collections = []  # Python's occasional full garbage collection pauses everything
    gc.callbacks.append(lambda phase, info: full_collections.append(time.perf_counter())
                        if phase == "stop" and info["generation"] == 2 else None)
    ms, cpu_ms, ms_without_full_gc, step_bytes = [], [], [], []
    for _ in range(len(stepper.steps) - 1):
        collections = len(full_collections)
        CountingComm.sent = 0
        began, cpu_began = time.perf_counter(), time.process_time()
        stepper.next()
        ms.append(1000 * (time.perf_counter() - began))
        step_bytes.append(CountingComm.sent)
        cpu_ms.append(1000 * (time.process_time() - cpu_began))
        if len(full_collections) == collections:
            ms_without_full_gc.append(ms[-1])
    print(f"{args.algorithm} on {args.pair}, temperature {args.temperature}: "
          f"{trace.stats.new_tokens} tokens, {len(trace.iterations)} iterations, "
          f"{len(stepper.steps)} steps; torch threads {torch.get_num_threads()}")
    print(f"Stepper built in {1000 * built[0]:.0f} ms, sending {sent[0] / 1e6:.2f} MB (the first, "
          f"with plotly.js); the second in {1000 * built[1]:.0f} ms, sending "
          f"{sent[1] / 1e6:.2f} MB (goal: < 2 s, < 2 MB after the first)")
    print(f"per step: mean {statistics.mean(ms):.1f} ms, median {statistics.median(ms):.1f} ms, "
          f"95th percentile {statistics.quantiles(ms, n=20)[-1]:.1f} ms, max {max(ms):.1f} ms "
          "(goal: < 100 ms)")
    print(f"bytes sent per step: mean {statistics.mean(step_bytes) / 1e3:.1f} kB, "
          f"max {max(step_bytes) / 1e3:.1f} kB")
    print(f"CPU time per step (excludes waiting for a busy CPU): mean {statistics.mean(cpu_ms):.1f}"
          f" ms, max {max(cpu_ms):.1f} ms")
    print(f"{len(ms) - len(ms_without_full_gc)} steps included a full garbage collection of the "
          f"{len(gc.get_objects()):,} objects in this process; max without those: "
          f"{max(ms_without_full_gc):.1f} ms")


if __name__ == "__main__":
    main()
