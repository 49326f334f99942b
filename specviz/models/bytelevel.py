"""Drafters with no weights and no tokenizer of their own: they read and write plain bytes.

A drafter for SLEM only has to produce *text*; a drafter for SLRS only has to give a law over its
next token. A model over the 256 byte values does both, and costs microseconds instead of a
forward pass. Its vocabulary (``byte_vocabulary``) is:

* ids 0..255: the byte with that value (a drafter context is the UTF-8 of the text, byte by byte);
* id 256 (``BYTE_EOS``): the end of the text;
* id 257 (``NO_MATCH``): "I have nothing to propose" (prompt lookup puts all its mass here when the
  context's last n-gram never occurred before). It spells nothing, so drafting stops at it: SLEM and
  TLI draft nothing more, SLRS proposes nothing (⊥) and the target draws its own token.

Every target token is spelled by exactly one path of byte tokens, so SLRS's psi is a single product
of byte probabilities, never a sum over 2^(L-1) segmentations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch

from ..vocab import Vocabulary
from .base import LanguageModel

BYTE_EOS = 256
NO_MATCH = 257
BYTE_VOCAB_SIZE = 258


@lru_cache(maxsize=1)
def byte_vocabulary() -> Vocabulary:
    """The 256 bytes, an end-of-text token and a no-match token (see the module docstring)."""
    return Vocabulary(
        name="bytes", token_bytes=[bytes([b]) for b in range(256)] + [None, None],
        encode_text=lambda text: list(text.encode("utf-8")),
        eos_ids=frozenset([BYTE_EOS]),
        special_texts={BYTE_EOS: "<|endoftext|>", NO_MATCH: "<no match>"})


class ByteDrafter(LanguageModel):
    """A drafter over ``byte_vocabulary()`` whose next-byte law is a function of the bytes so far.

    Subclasses implement ``next_log_probs(data) -> [258]`` (log-probabilities; ``-inf`` for
    impossible symbols). It runs where the target runs (``ModelPair`` moves it there) and counts
    each call as one drafter "pass", with its wall time, so that the cost model sees c close to 0.
    """

    max_length = None
    no_match_id = NO_MATCH

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.vocab = byte_vocabulary()

    def prompt_ids(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def next_log_probs(self, data: bytes) -> torch.Tensor:
        raise NotImplementedError

    def logits(self, ids: Sequence[int], n: int = 1) -> torch.Tensor:
        """``[n, 258]``: the log-law after each of the last ``n`` prefixes of ``ids``."""
        if not 1 <= n <= len(ids):
            raise ValueError(f"asked for logits of {n} positions of a {len(ids)}-token sequence")
        data = as_bytes(ids)
        with self.timed_pass():
            rows = [self.next_log_probs(data[:len(data) - n + 1 + i]) for i in range(n)]
        return torch.stack(rows).to(self.device)

    def reset(self) -> None:
        """Nothing is cached between runs (subclasses that keep state override this)."""


def as_bytes(ids: Sequence[int]) -> bytes:
    """Byte-token ids as the bytes they spell; a clear error for the special ids."""
    try:
        return bytes(ids)
    except ValueError:
        raise ValueError("a byte drafter's context holds only byte ids 0..255; the end-of-text "
                         "and no-match ids end a draft and are never fed back") from None


def point_mass(symbol: int) -> torch.Tensor:
    """Log-probabilities ``[258]`` of a law that puts everything on ``symbol``."""
    out = torch.full((BYTE_VOCAB_SIZE,), -math.inf)
    out[symbol] = 0.0
    return out
