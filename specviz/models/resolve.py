"""A pair from the words a user types: 'bundled' ('small'), 'coder', 'tiny:<name>' or
'<target>,<drafter>', with a device and a dtype by name. ``specviz generate``, ``specviz bench`` and ``sv.bench`` all take these."""

from __future__ import annotations

import torch

from .pair import ModelPair, load_pair

DTYPES = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
          "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}


def resolve_pair(spec: str | ModelPair, device: str = "auto", dtype: str | None = None,
                 drafter=None) -> ModelPair:
    """A loaded pair from 'bundled' (or 'small'), 'coder' (``BUNDLED_PAIRS``), 'tiny:<name>' or
    '<target>,<drafter>' (bundled names, hub ids or folders).

    ``drafter`` (a name such as 'prompt-lookup' or 'ngram', or a ``LanguageModel`` such as
    ``sv.PromptLookup()``) replaces the pair's drafter; the pair's own drafter is then not loaded.
    """
    if isinstance(spec, ModelPair):
        return spec if drafter is None else spec.with_drafter(drafter)
    device = check_device(device)
    torch_dtype = dtype_named(dtype)
    from .bundled import BUNDLED_PAIRS

    if spec in ("bundled", *BUNDLED_PAIRS):
        target, own = BUNDLED_PAIRS["small" if spec == "bundled" else spec][:2]
        return load_pair(target, own if drafter is None else drafter, device=device,
                         dtype=torch_dtype)
    if spec.startswith("tiny:"):
        from .pair import default_dtype, pick_device  # looked up here: tests replace them
        from .tiny import TINY_PAIRS, tiny_pair

        name = spec.removeprefix("tiny:")
        if name not in TINY_PAIRS:
            raise ValueError(f"Unknown tiny pair {name!r}. Choose from: {', '.join(TINY_PAIRS)}.")
        target, own = tiny_pair(name)
        # They are built in float32; 'auto' still means the device's own dtype (bf16 on a GPU).
        return load_pair(target, own if drafter is None else drafter, device=device,
                         dtype=torch_dtype or default_dtype(pick_device(device)))
    parts = [p.strip() for p in spec.split(",")]
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"Cannot read the pair {spec!r}: use 'bundled', 'coder', 'tiny:<name>' or "
                         "'<target>,<drafter>' (two hub ids, folders or bundled names).")
    return load_pair(parts[0], parts[1] if drafter is None else drafter, device=device,
                     dtype=torch_dtype)


def check_device(device: str) -> str:
    """``device`` itself, once known to be auto, cpu or an available cuda device."""
    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise ValueError(f"Unknown device {device!r}: use auto, cpu or cuda.")
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = torch.version.cuda or "none"
        raise ValueError(f"--device {device} was asked for, but torch sees no CUDA GPU here "
                         f"(torch {torch.__version__}, CUDA build: {build}). "
                         "Use --device cpu, or run on a machine with a GPU.")
    return device


def dtype_named(name: str | None) -> torch.dtype | None:
    """None or 'auto': the device's own (bf16 or fp16 on GPUs; on CPUs measured, see
    ``dtype_choice``)."""
    if name in (None, "auto"):
        return None
    if name not in DTYPES:
        raise ValueError(f"Unknown dtype {name!r}: use auto, float32, bfloat16 or float16.")
    return DTYPES[name]
