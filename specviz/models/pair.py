"""A target and a drafter, loaded from whatever the user has: a bundled name, a hub id, a folder, a
pair of loaded ``transformers`` objects, or any specviz ``LanguageModel``."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from ..sampling import is_whole_number
from ..vocab import Intersection, intersect
from .base import LanguageModel
from .bytelevel import ByteDrafter
from .dtype_choice import choose_cpu_dtype
from .hf import HFModel
from .invariant_passes import supports_row_attention
from .ngram import NGramDrafter
from .prompt_lookup import PromptLookup

# Drafters with no weights and no tokenizer, by the names load_model, the CLI and explore() accept.
FREE_DRAFTERS = {"prompt-lookup": PromptLookup, "ngram": NGramDrafter}


@dataclass
class ModelPair:
    """The model whose distribution we must reproduce (target) and the cheap one that guesses."""

    target: LanguageModel
    drafter: LanguageModel | None
    _intersections: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.drafter, ByteDrafter):  # no weights: it computes where the target does
            self.drafter.device = self.target.device
        if self.drafter is not None and self.drafter.device != self.target.device:
            raise ValueError(
                f"The target is on {self.target.device} and the drafter on {self.drafter.device}. "
                "Put both on one device: load_pair(..., device='cuda') or move them with .to()."
            )

    def with_drafter(self, drafter) -> ModelPair:
        """The same target with another drafter: a name ('prompt-lookup', 'ngram', a bundled name,
        a hub id), or a ``LanguageModel`` such as ``sv.PromptLookup()``."""
        return ModelPair(self.target, load_model(drafter, device=self.target.device,
                                                 role="drafter"))

    @cached_property
    def same_vocabulary(self) -> bool:
        """Do both models number the same tokens the same way? (Extra padding ids spell nothing.)"""
        t, d = self.target.vocab.token_bytes, self.drafter.vocab.token_bytes
        n = min(len(t), len(d))
        longer = t if len(t) > len(d) else d
        return t[:n] == d[:n] and not any(longer[n:])

    @property
    def intersection(self) -> Intersection:
        """TLI's shared tokens, matched by spelling (computed once per pair of tokenizers)."""
        return intersect(self.target.vocab, self.drafter.vocab)

    def intersection_on(self, device: torch.device) -> Intersection:
        key = str(device)
        if key not in self._intersections:
            self._intersections[key] = self.intersection.to(device)
        return self._intersections[key]

    def describe(self) -> str:
        lines = [f"target:  {self.target.name} ({self.target.vocab.size:,} tokens)"]
        if self.drafter is not None:
            lines.append(f"drafter: {self.drafter.name} ({self.drafter.vocab.size:,} tokens)")
            lines.append("vocabulary: shared" if self.same_vocabulary else
                         f"vocabulary: different; {self.intersection.size:,} tokens spelled alike")
        return "\n".join(lines)


def pick_device(device: str | torch.device | None = "auto") -> torch.device:
    """'auto' (or None): CUDA if present, then Apple's MPS, then the CPU."""
    if device is None or device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda', but torch finds no CUDA GPU here (torch "
                         f"{torch.__version__}, built {'with' if torch.version.cuda else 'without'} "
                         "CUDA). Use device='cpu', or 'auto' to take a GPU when there is one.")
    if device.type == "mps" and not (getattr(torch.backends, "mps", None)
                                     and torch.backends.mps.is_available()):
        raise ValueError("device='mps', but Apple's MPS is not available here. Use device='cpu', or "
                         "'auto' to take a GPU when there is one.")
    return device


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on GPUs that compute in it natively, fp16 on MPS, fp32 on the CPU. (Where a CPU model
    is loaded with ``dtype=None``, ``load_model`` measures which of fp32 and bf16 runs faster.)"""
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32


def set_threads(n: int) -> int:
    """Set torch's CPU thread count; returns the previous one.

    On small CPUs one thread can beat the default: on a 2-core machine here, small-batch fp32
    matmuls ran about 10x faster with 1 thread than with torch's default of 2. Measure yours
    (``specviz bench --threads 1`` and ``--threads 2``).
    """
    if not is_whole_number(n, 1):
        raise ValueError(f"threads must be a positive integer, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    return previous


def _load_hf(source: str, device: torch.device, dtype: torch.dtype | None, device_map):
    """Load a hub id or a local folder with transformers; say what to do when that cannot work."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline = os.environ.get("HF_HUB_OFFLINE") == "1"
    local = Path(source).expanduser().is_dir()
    kwargs = {"dtype": dtype or default_dtype(device)}
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=offline or None)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=offline or None, **kwargs)
    except OSError as err:
        where = "folder" if local else "Hugging Face hub id"
        raise ValueError(
            f"Could not load {source!r} as a {where}: {err}\n"
            "If you are offline, use a bundled pair (sv.load_pair() or names from "
            "sv.BUNDLED_MODELS), a local folder saved with save_pretrained, or already loaded "
            "(model, tokenizer) objects. Otherwise check the id and your network or HF token."
        ) from None
    if device_map is None:
        model = model.to(device)
    return model, tokenizer


def _wrap(model, tokenizer, name: str | None, role: str) -> HFModel:
    """A target on the CPU runs invariant passes (exact greedy in any dtype) where it can."""
    cpu = next(model.parameters()).device.type == "cpu"
    invariant = role == "target" and cpu and supports_row_attention(model) is None
    return HFModel(model, tokenizer, name=name, invariant=invariant)


def _measured_dtype(model, tokenizer, name: str, role: str, cache_dir) -> HFModel:
    """``dtype=None`` on the CPU: float32 or bf16, whichever this machine runs faster."""
    from .bundled import cache_root

    cache_file = cache_root(cache_dir) / "dtype-choices.json"
    return choose_cpu_dtype(model, tokenizer, name, role, cache_file,
                            lambda m, t: _wrap(m, t, name, role))


def load_model(source, device: str | torch.device | None = None, dtype: torch.dtype | None = None,
               device_map=None, cache_dir=None, verify: bool = False,
               role: str = "target") -> LanguageModel:
    """One model from a bundled name, hub id, folder, (model, tokenizer) tuple or LanguageModel,
    or a drafter without weights by name: 'prompt-lookup' (``PromptLookup()``) or 'ngram'
    (``NGramDrafter()``).

    ``device=None`` leaves already loaded models where they are and puts new ones on 'auto'.
    ``dtype=None`` on a GPU is its own (bf16 or fp16); on the CPU, a model loaded here runs in
    float32 or bf16, whichever a short measurement finds faster for its ``role`` ('target': a
    1-position and a verify pass; 'drafter': 1 position; see ``dtype_choice``), and a loaded
    (model, tokenizer) keeps its dtype. A CPU target runs invariant passes (``invariant_passes``).
    ``verify=True`` re-hashes a bundled model's cached files first (seconds; see ``load_bundled``).
    """
    if role not in ("target", "drafter"):
        raise ValueError(f"role must be 'target' or 'drafter', got {role!r}")
    if isinstance(source, LanguageModel):
        return source
    if isinstance(source, str) and source in FREE_DRAFTERS:
        return FREE_DRAFTERS[source]()
    if isinstance(source, tuple) and len(source) == 2:
        model, tokenizer = source
        if device is not None:
            model = model.to(pick_device(device), dtype=dtype)
        elif dtype is not None:
            model = model.to(dtype=dtype)
        return _wrap(model, tokenizer, None, role)
    if not isinstance(source, (str, Path)):
        raise TypeError(
            f"Cannot load a model from {type(source).__name__}. Pass a bundled name "
            "(e.g. 'gemma-3-270m'), a hub id, a local folder, a (model, tokenizer) tuple of "
            "transformers objects, or a specviz LanguageModel (e.g. from sv.toy_pair())."
        )
    from .bundled import BUNDLED_MODELS, load_bundled

    target_device = pick_device(device)
    name = str(source)
    if name in BUNDLED_MODELS:
        model, tokenizer = load_bundled(name, cache_dir=cache_dir, verify=verify)
        if dtype is None and target_device.type == "cpu":
            return _measured_dtype(model, tokenizer, name, role, cache_dir)
        model = model.to(target_device, dtype=dtype or default_dtype(target_device))
        return _wrap(model, tokenizer, name, role)
    if "/" not in name and not Path(name).expanduser().exists():
        raise ValueError(
            f"Unknown model {name!r}. Bundled models: {', '.join(BUNDLED_MODELS)}; drafters "
            f"without weights: {', '.join(FREE_DRAFTERS)}. Otherwise pass "
            "a Hugging Face hub id ('org/name'), a local folder, or (model, tokenizer) objects."
        )
    model, tokenizer = _load_hf(name, target_device, dtype, device_map)
    if dtype is None and target_device.type == "cpu" and device_map is None:
        return _measured_dtype(model, tokenizer, name, role, cache_dir)
    return _wrap(model, tokenizer, name, role)


def load_pair(target=None, drafter=None, device: str | torch.device | None = None,
              dtype: torch.dtype | None = None, device_map=None, cache_dir=None,
              verify: bool = False) -> ModelPair:
    """Load a target and a drafter. With no arguments: the bundled offline pair (Gemma 3 270M as
    target, SmolLM2-135M-Instruct as drafter), converted once into a local cache on first use.
    The drafter may also be one without weights: ``"prompt-lookup"``, ``"ngram"``,
    ``sv.PromptLookup(...)`` or ``sv.NGramDrafter(...)``.

    ``device_map='auto'`` is passed to transformers (accelerate) for a target that needs several GPUs.
    ``verify=True`` re-hashes bundled models' cached files against the hashes taken when they were
    converted, and rebuilds any that changed (damage that keeps a file's size loads silently).
    """
    from .bundled import DEFAULT_DRAFTER, DEFAULT_TARGET

    target = DEFAULT_TARGET if target is None else target
    drafter = DEFAULT_DRAFTER if drafter is None else drafter
    return ModelPair(
        load_model(target, device, dtype, device_map, cache_dir, verify, role="target"),
        load_model(drafter, device, dtype, None, cache_dir, verify, role="drafter"),
    )
