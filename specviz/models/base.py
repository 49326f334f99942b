"""The one interface every model in specviz offers, and the KV-cache bookkeeping they share.

A decoder needs exactly one thing from a model: *next-token logits after a token sequence*. Callers
always pass the whole sequence; the model keeps a cache of the longest prefix it has already seen
and only runs the new tokens. Rejected drafts are dropped by cutting the cache back to the longest
common prefix of the old and new sequence, so nothing is ever recomputed from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..vocab import Vocabulary


@dataclass
class PassCounter:
    """Forward passes a model ran and the wall time they took (device work included)."""

    passes: int = 0
    seconds: float = 0.0


class LanguageModel:
    """A causal LM seen through token ids: subclasses implement ``_run``, ``_crop`` and ``_reset``.

    * ``name``, ``vocab`` (a ``Vocabulary``), ``device``, ``max_length`` (``None``: unbounded);
    * ``prompt_ids(text)``: the prompt encoded the way this model was trained (BOS etc.);
    * ``logits(ids, n)``: ``[n, V]`` next-token logits after each of the last ``n`` positions;
    * ``branch_logits(ids, branches)``: ``[B, V]`` logits after ``ids + branch`` for equally long
      branches, in one batched pass where the model supports it (SLRS's tokenization tree).
    """

    name: str
    vocab: Vocabulary
    device: torch.device = torch.device("cpu")
    max_length: int | None = None
    no_match_id: int | None = None  # a drafter's "nothing to propose" token (prompt lookup)

    def __init__(self) -> None:
        self.counter = PassCounter()
        self._cached: list[int] = []  # token ids whose keys and values the cache holds

    # -- what subclasses provide ------------------------------------------------------------------

    def prompt_ids(self, text: str) -> list[int]:
        raise NotImplementedError

    def _run(self, new_ids: list[int], n_logits: int) -> torch.Tensor:
        """Feed ``new_ids`` after the cached tokens, extend the cache; return the last ``n_logits``
        positions' logits, ``[n_logits, V]``."""
        raise NotImplementedError

    def _crop(self, length: int) -> bool:
        """Drop cached positions from ``length`` on; return False if this cache cannot go back that
        far (a sliding-window cache), in which case the caller starts the cache over."""
        raise NotImplementedError

    def _reset(self) -> None:
        """Forget the whole cache."""
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------------

    def reset(self) -> None:
        self._reset()
        self._cached = []

    def logits(self, ids: Sequence[int], n: int = 1) -> torch.Tensor:
        """Next-token logits after each of the last ``n`` positions of ``ids``: ``[n, V]``."""
        if not 1 <= n <= len(ids):
            raise ValueError(f"asked for logits of {n} positions of a {len(ids)}-token sequence")
        start = min(_common_prefix(self._cached, ids), len(ids) - n)
        if start < len(self._cached):
            if not self._crop(start):
                self.reset()
                start = 0
            del self._cached[start:]
        new = list(ids[start:])
        with self.timed_pass():
            out = self._run(new, n)
        self._cached.extend(new)
        return out

    def branch_logits(self, ids: Sequence[int], branches: Sequence[Sequence[int]]) -> torch.Tensor:
        """``[B, V]`` logits after ``ids + branch`` for each branch. This default runs one branch at a
        time through the cache; models that can batch override it."""
        return torch.stack([self.logits([*ids, *branch], 1)[0] for branch in branches])

    def draft_continuation(self, run, n: int, limit: str = "lookahead"):
        """A drafter that proposes a whole continuation at once (prompt lookup copies it) returns
        it here as an ``algorithms.base.Draft`` meant to give at most ``n`` target tokens
        (``limit``: why ``n``, the stop reason of a full draft). ``None``, the default: the
        algorithm drafts token by token through ``logits``."""
        return None

    @contextmanager
    def timed_pass(self) -> Iterator[None]:
        """Count one forward pass and its wall time (waiting for the GPU)."""
        began = time.perf_counter()
        yield
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.counter.passes += 1
        self.counter.seconds += time.perf_counter() - began

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, vocabulary {self.vocab.size}, {self.device})"


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    if list(a[:n]) == list(b[:n]):
        return n
    i = 0
    while a[i] == b[i]:
        i += 1
    return i


def dtype_name(model) -> str:
    """'float32', 'bfloat16'...; '' for a model without one (a toy)."""
    return str(getattr(model, "dtype", "")).replace("torch.", "")
