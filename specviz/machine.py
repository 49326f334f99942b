"""Where a benchmark ran: the machine, its load, library versions, and each run's peak memory.

Figures mean little without it: a speedup on a busy 2-core laptop is not one on an idle GPU.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from .algorithms.loop import library_versions, precision_meta
from .models.base import dtype_name
from .models.dtype_choice import cpu_name
from .models.pair import ModelPair

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def memory_method(device: torch.device) -> str:
    """How ``peak_memory_mb`` is measured on this device (recorded with the results)."""
    if device.type == "cuda":
        return "torch.cuda.max_memory_allocated, reset before each run (tensors only)"
    if _CLEAR_REFS.exists() and _STATUS.exists():
        return "process peak RSS (Linux VmHWM), reset before each run via /proc/self/clear_refs"
    return "process peak RSS since start (resource.getrusage ru_maxrss), not reset between runs"


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    elif _CLEAR_REFS.exists():
        with contextlib.suppress(OSError):  # "5" resets the peak resident set (Linux >= 4.0)
            _CLEAR_REFS.write_text("5")


def peak_memory_mb(device: torch.device) -> float:
    """The peak since ``reset_peak_memory``, as ``memory_method`` says."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    if _STATUS.exists():
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, else KiB


def machine_info(pair: ModelPair, threads: Sequence[int], load_before: list[float] | None = None
                 ) -> dict:
    """Where the figures come from. The load average (1, 5 and 15 minutes; before and after) says
    how busy a shared machine was with other work."""
    device = pair.target.device
    info = {
        "platform": platform.platform(), "machine": platform.machine(), "cpu": cpu_name(),
        "cpu_count": os.cpu_count(), "torch_threads": list(threads),
        "load_average_before": load_before, "load_average_after": load_average(),
        "device": str(device), "gpu": torch.cuda.get_device_name(device) if device.type == "cuda"
        else None, "target": pair.target.name,
        "drafter": pair.drafter.name if pair.drafter is not None else None,
        "dtype": dtype_name(pair.target),
        "precision": {role: precision_meta(m) for role, m in
                      (("target", pair.target), ("drafter", pair.drafter)) if m is not None},
        "memory_method": memory_method(device), "versions": library_versions(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }
    try:
        import plotly

        info["versions"] = info["versions"] | {"plotly": plotly.__version__}
    except ImportError:
        pass
    return info


def load_average() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
