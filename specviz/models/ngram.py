"""A byte-level n-gram language model, fitted while it runs: the smallest drafter with a real law.

It counts, for every history h of up to ``order - 1`` bytes, which bytes followed h: in the
optional ``corpus`` and in the context it is asked about (prompt, output so far, draft). Its law
after a context is Witten-Bell interpolation from the longest history down to a uniform law over
the 256 bytes and the end of text:

    P(b | h) = (c(h, b) + t(h) P(b | h minus its first byte)) / (c(h) + t(h)),

where c counts and t(h) is the number of different bytes seen after h. Every byte keeps some
probability, so q is a proper distribution over 257 symbols (``NO_MATCH`` gets none).

The counts include the context itself, so the law is a function of the byte sequence alone (as
SLRS needs: psi is computed from the laws along each path). Asking about a sequence that shares a
prefix with the last one only updates the counts of the bytes that differ.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from ..sampling import is_whole_number
from .bytelevel import BYTE_VOCAB_SIZE, NO_MATCH, ByteDrafter


class NGramDrafter(ByteDrafter):
    """A Witten-Bell smoothed byte n-gram model of ``order`` (history of ``order - 1`` bytes).

    ``corpus``: text (a ``str``) or a text file (a ``pathlib.Path``) counted once, before any
    prompt; ``None``: it learns from the context alone. ``order=5`` by default: four bytes of
    history, about one English word.
    """

    def __init__(self, order: int = 5, corpus: str | Path | None = None) -> None:
        if not is_whole_number(order, 1):
            raise ValueError(f"order must be a positive integer (1: byte frequencies only), got "
                             f"{order!r}")
        if isinstance(corpus, Path):
            corpus = corpus.read_text(encoding="utf-8")
        if corpus is not None and not isinstance(corpus, str):
            raise TypeError(f"corpus must be text (str), a pathlib.Path of a text file, or None; "
                            f"got {type(corpus).__name__}")
        super().__init__(f"ngram(order {order}{', corpus' if corpus else ''})")
        self.order = order
        # counts[h][b]: how often byte b followed history h; totals[h] = sum over b.
        self.counts: dict[bytes, dict[int, int]] = defaultdict(dict)
        self.totals: dict[bytes, int] = defaultdict(int)
        corpus_bytes = (corpus or "").encode("utf-8")
        for i in range(len(corpus_bytes)):
            self._count(corpus_bytes, i, +1)
        self._seen = b""  # the context whose bytes are counted on top of the corpus

    def _count(self, data: bytes, i: int, step: int) -> None:
        """Add (``step`` = 1) or remove (-1) byte ``data[i]`` after each of its histories."""
        b = data[i]
        for j in range(min(self.order, i + 1)):
            h = data[i - j:i]
            row = self.counts[h]
            row[b] = row.get(b, 0) + step
            if row[b] == 0:
                del row[b]
            self.totals[h] += step

    def _fit(self, data: bytes) -> None:
        """Make the counted context ``data``: uncount the old tail, count the new one."""
        seen = self._seen
        keep = len(seen) if data.startswith(seen) else _common_prefix(seen, data)
        for i in range(len(seen) - 1, keep - 1, -1):
            self._count(seen, i, -1)
        for i in range(keep, len(data)):
            self._count(data, i, +1)
        self._seen = data

    def probabilities_after(self, data: bytes) -> np.ndarray:
        """``[258]``: P(next symbol | data), with the counts of ``data`` itself included."""
        self._fit(data)
        q = np.full(BYTE_VOCAB_SIZE, 1.0 / 257)
        q[NO_MATCH] = 0.0  # NO_MATCH: an n-gram model always has a guess
        for j in range(min(self.order - 1, len(data)) + 1):
            h = data[len(data) - j:]
            row = self.counts.get(h)
            if not row:
                break  # a longer history containing h was not seen either
            types, total = len(row), self.totals[h]
            seen = np.zeros(BYTE_VOCAB_SIZE)
            seen[list(row)] = list(row.values())
            q = (seen + types * q) / (total + types)
        return q

    def next_log_probs(self, data: bytes) -> torch.Tensor:
        with np.errstate(divide="ignore"):
            return torch.from_numpy(np.log(self.probabilities_after(data))).float()

    def reset(self) -> None:
        """Forget the last context (the corpus counts stay)."""
        self._fit(b"")


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix, by bisection on slices (compared in C)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo

