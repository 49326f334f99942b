"""Which dtype a CPU runs a model fastest in, measured on this machine rather than guessed.

On a GPU, bf16 (or fp16) is always the answer. On a CPU it depends on the chip: with native bf16
instructions (x86 ``avx512_bf16`` or ``amx_bf16``, Arm ``bf16``) a bf16 matmul reads half the
bytes and can feed k positions for about the price of one, which is what speculative decoding
lives on; without them bf16 is emulated and slower than float32. And float32's small-batch
kernels may cost a row each (seen on an AMD EPYC: 2 rows cost 2x one row). So ``dtype="auto"``
times a few forward passes in each dtype and keeps the faster:

* a **target** is timed at 1 position (plain decoding's step) and at k+1 positions (a verify
  pass), and the two are added: speculation pays only if both are cheap;
* a **drafter** is timed at 1 position, the only pass it runs.

The result is cached per machine, torch version, thread count and model in
``<cache>/dtype-choices.json``, so later loads only read it.
"""

from __future__ import annotations

import copy
import json
import platform
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

RULE = 1  # bump when the measurement or the weighing changes: older cached choices are ignored
CANDIDATES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
CONTEXT = 64  # tokens of context before the timed passes, about a short prompt's worth
REPEATS = 3  # timed passes per size (the median counts), after one untimed
VERIFY_POSITIONS = 5  # k + 1 for the default lookahead of 4


@dataclass(frozen=True)
class DtypeChoice:
    """The dtype chosen for one model on this machine, and the measurements behind it."""

    dtype: str  # "float32" or "bfloat16"
    role: str  # "target" or "drafter": what was weighed
    seconds: dict[str, dict[str, float]]  # dtype -> positions -> median seconds of one pass
    reason: str
    cpu: str
    threads: int

    def describe(self) -> str:
        timed = "; ".join(
            f"{name}: " + ", ".join(f"{n} pos {s * 1000:.0f} ms" for n, s in sizes.items())
            for name, sizes in self.seconds.items())
        return f"{self.dtype} ({self.reason}){': ' + timed if timed else ''}"


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def native_bf16() -> bool:
    """Does this CPU compute bf16 natively? Read from the kernel's CPU flags (Linux only)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        return False
    flags = set(cpuinfo.read_text(errors="replace").split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def pass_seconds(hf_model, positions: tuple[int, ...]) -> dict[str, float]:
    """Median seconds of one forward pass of each size after ``CONTEXT`` random tokens, as the
    model runs it (invariant passes included); ``hf_model`` is an ``HFModel``."""
    from ..costmodel import pass_seconds as one_pass  # costmodel imports the models package

    generator = torch.Generator().manual_seed(0)

    def draw(n: int) -> list[int]:
        return torch.randint(0, hf_model.vocab.size, (n,), generator=generator).tolist()

    context = draw(CONTEXT)
    one_pass(hf_model, context, 1, fresh=True)
    out = {}
    for n in positions:
        # the first pass of a new size is often slow: untimed; the cache goes back to the context
        times = [one_pass(hf_model, context + draw(n), n) for _ in range(REPEATS + 1)][1:]
        out[str(n)] = statistics.median(times)
    hf_model.reset()
    return out


def _key(name: str, role: str, threads: int) -> str:
    return f"rule {RULE} | {cpu_name()} | torch {torch.__version__} | {threads} threads | {name} " \
           f"| {role}"


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _write(path: Path, key: str, choice: DtypeChoice) -> None:
    """Best effort: a read-only shared cache just means measuring again next time."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        choices = _read(path) | {key: asdict(choice)}
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps(choices, indent=2), encoding="utf-8")
        partial.replace(path)
    except OSError:
        pass


def choose_cpu_dtype(model, tokenizer, name: str, role: str, cache_file: Path, make_hf):
    """An ``HFModel`` of ``model`` in the dtype this CPU runs it fastest, with ``dtype_choice`` set.

    ``make_hf(model, tokenizer)`` builds the ``HFModel`` as it will be used (a target with
    invariant passes), so the timing is of the passes that will run.
    """
    threads = torch.get_num_threads()
    key = _key(name, role, threads)
    cached = _read(cache_file).get(key)
    if cached is not None:
        choice = DtypeChoice(**cached)
        hf = make_hf(model.to(CANDIDATES[choice.dtype]), tokenizer)
    elif not native_bf16():
        choice = DtypeChoice("float32", role, {}, "this CPU has no native bf16, so float32 is "
                             "faster and exact; nothing to measure", cpu_name(), threads)
        hf = make_hf(model.to(torch.float32), tokenizer)
    else:
        positions = (1, VERIFY_POSITIONS) if role == "target" else (1,)
        seconds, built = {}, {}
        for dtype_name, dtype in CANDIDATES.items():
            # keep the loaded weights: bf16 -> float32 is exact, float32 -> bf16 is not
            candidate = model if model.dtype == dtype else copy.deepcopy(model).to(dtype)
            built[dtype_name] = make_hf(candidate, tokenizer)
            seconds[dtype_name] = pass_seconds(built[dtype_name], positions)
        cost = {d: sum(s.values()) for d, s in seconds.items()}
        best = min(cost, key=cost.get)
        weighed = "1 and k+1 positions added" if role == "target" else "1 position"
        ratio = cost["bfloat16"] / cost["float32"]
        choice = DtypeChoice(best, role, seconds, f"faster here ({weighed}): bf16 takes "
                             f"{ratio:.2f}x float32's time", cpu_name(), threads)
        hf = built[best]
        _write(cache_file, key, choice)
    hf.dtype_choice = choice
    hf.counter = type(hf.counter)()  # the timing passes are not the user's
    return hf
