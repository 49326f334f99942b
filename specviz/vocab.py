"""Tokens as bytes: the common ground between two tokenizers.

Two tokenizers agree on nothing but the text. So every token here is reduced to the exact bytes it
adds to the text: GPT-2's byte-level 'Ġhello' and SentencePiece's '▁hello' are both b' hello', the
byte-fallback token '<0xF0>' is b'\\xf0', and an emoji split into four byte tokens by one tokenizer
and kept whole by the other spells the same four bytes in both. Working in bytes (not ``str``) means
that a draft which ends in the middle of a UTF-8 character is still exact.

This module holds the three operations every cross-vocabulary algorithm needs:

* ``Vocabulary``: each token's bytes, the special tokens, and an encoder for *continuing* text;
* ``Vocabulary.continue_ids``: look-behind re-tokenization, turning new text into tokens that
  follow an existing token sequence (used in both directions, drafter -> target and back);
* ``intersect``: the vocabulary intersection for TLI, matched by bytes and cached per pair.

Reading a Hugging Face tokenizer into a ``Vocabulary`` is ``models/hf_vocab.py``'s business.
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import torch

# ASCII probes a usable tokenizer must spell back exactly (non-ASCII may map to <unk>).
ASCII_PROBES = ("Hello world", " leading space", "two  spaces", "a\nb\n\n  c", "x = f(12, 345)!?")


class VocabularyError(ValueError):
    """A tokenizer that specviz cannot map to bytes, or that does not spell text back."""


@dataclass
class Continuation:
    """New tokens that continue ``context[:keep]`` with some text.

    ``keep < len(context)`` only when rewriting was allowed (drafter side): the look-behind tail after
    ``keep`` is then replaced by ``ids``. ``dropped`` is text that could not become whole tokens.
    """

    keep: int
    ids: list[int]
    window: list[int]
    dropped: bytes = b""


@dataclass(eq=False)
class Vocabulary:
    """Every token's bytes, the special tokens, and an encoder for continuing text.

    ``token_bytes[i]`` is ``None`` for tokens that spell no text (BOS, EOS, padding, chat markers);
    ``encode_text`` encodes text as a *continuation*: no BOS and no SentencePiece dummy space.
    """

    name: str
    token_bytes: list[bytes | None]
    encode_text: Callable[[str], list[int]]
    eos_ids: frozenset[int] = frozenset()
    special_texts: dict[int, str] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len(self.token_bytes)

    @cached_property
    def fingerprint(self) -> str:
        """A hash of the token spellings and specials: equal fingerprints, interchangeable vocabularies."""
        h = hashlib.sha256()
        for b in self.token_bytes:
            h.update(b"\x00" if b is None else b"\x01" + len(b).to_bytes(4, "little") + b)
        h.update(repr(sorted(self.eos_ids)).encode())
        return h.hexdigest()

    @cached_property
    def ids_by_bytes(self) -> dict[bytes, list[int]]:
        """Every spelling -> all tokens that spell it (byte fallback can spell one character twice)."""
        out: dict[bytes, list[int]] = {}
        for i, b in enumerate(self.token_bytes):
            if b:
                out.setdefault(b, []).append(i)
        return out

    @cached_property
    def id_by_bytes(self) -> dict[bytes, int]:
        """Spelling -> the one token the tokenizer itself would choose for it."""
        out = {}
        for b, ids in self.ids_by_bytes.items():
            natural = _natural_single_token(self, b) if len(ids) > 1 else None
            out[b] = natural if natural in ids else min(ids)
        return out

    @cached_property
    def byte_ids(self) -> dict[int, int]:
        """Byte value -> a token spelling exactly that byte (all 256 for byte-level vocabularies)."""
        return {b[0]: i for b, i in self.id_by_bytes.items() if len(b) == 1}

    @cached_property
    def _sorted_spellings(self) -> tuple[list[bytes], torch.Tensor]:
        """Every spelling in byte order, with its token ids: tokens sharing a prefix are adjacent."""
        pairs = sorted((b, i) for i, b in enumerate(self.token_bytes) if b)
        return [b for b, _ in pairs], torch.tensor([i for _, i in pairs], dtype=torch.long)

    def ids_starting_with(self, prefix: bytes) -> torch.Tensor:
        """Ids of every token whose spelling starts with ``prefix``: ``[n]``.

        In byte order those spellings lie between ``prefix`` and the first string past all of its
        extensions (its last byte below 0xFF increased by one), so two binary searches find them.
        """
        spellings, ids = self._sorted_spellings
        lo = bisect.bisect_left(spellings, prefix)
        stem = prefix.rstrip(b"\xff")
        hi = (bisect.bisect_left(spellings, stem[:-1] + bytes([stem[-1] + 1])) if stem
              else len(spellings))
        return ids[lo:hi]

    def bytes_of(self, ids: Sequence[int]) -> bytes:
        return b"".join(self.token_bytes[i] or b"" for i in ids)

    def text_of(self, ids: Sequence[int]) -> str:
        """The text of ``ids``; special tokens add nothing, broken UTF-8 shows as U+FFFD."""
        return self.bytes_of(ids).decode("utf-8", errors="replace")

    def describe(self, token_id: int) -> str:
        """How one token reads on screen: its text, its special name, or its raw bytes as <0xNN>."""
        if token_id in self.special_texts:
            return self.special_texts[token_id]
        b = self.token_bytes[token_id] if 0 <= token_id < self.size else None
        if b is None:
            return f"<id {token_id}>"
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            return "".join(f"<0x{x:02X}>" for x in b)

    # -- encoding --------------------------------------------------------------------------------

    def _encode_faithfully(self, data: bytes) -> tuple[list[int], int]:
        """Encode ``data``; return the tokens that spell a prefix of it, and that prefix's length.

        Valid UTF-8 goes through the tokenizer; stray bytes (half a character) become byte tokens.
        Stops at the first token that does not spell the data (an <unk>, a normalised character).
        """
        ids: list[int] = []
        covered = 0
        for piece in re.split(r"([\udc80-\udcff])", data.decode("utf-8", errors="surrogateescape")):
            if not piece:
                continue
            if "\udc80" <= piece <= "\udcff":
                byte = ord(piece) - 0xDC00
                if byte not in self.byte_ids:
                    return ids, covered
                ids.append(self.byte_ids[byte])
                covered += 1
                continue
            expected = piece.encode("utf-8")
            done = 0
            for token in self.encode_text(piece):
                b = self.token_bytes[token] if 0 <= token < self.size else None
                if not b or expected[done:done + len(b)] != b:
                    return ids, covered + done
                ids.append(token)
                done += len(b)
            covered += done
            if done < len(expected):
                return ids, covered
        return ids, covered

    def encode_continuation(self, data: bytes) -> list[int]:
        """Tokens spelling ``data`` exactly, as a continuation; raises if the data cannot be spelled."""
        ids, covered = self._encode_faithfully(data)
        if covered < len(data):
            raise VocabularyError(
                f"{self.name} cannot spell {data[covered:covered + 20]!r}: it has no byte tokens "
                "for it. Use a tokenizer with byte-level BPE or byte fallback."
            )
        return ids

    def _window_start(self, context: Sequence[int], lookbehind: int) -> int:
        """Where the look-behind window begins: at most ``lookbehind`` tokens back, after the last
        special token, and at a UTF-8 character boundary (never inside a split character)."""
        start = max(0, len(context) - lookbehind)
        for i in range(len(context) - 1, start - 1, -1):
            if not self.token_bytes[context[i]]:
                start = i + 1
                break
        while start < len(context) and 0x80 <= self.token_bytes[context[start]][0] < 0xC0:
            start += 1
        return start

    def continue_ids(self, context: Sequence[int], new: bytes, lookbehind: int = 10,
                     rewrite: bool = False) -> Continuation:
        """Tokens that continue ``context`` with the text ``new``: look-behind re-tokenization.

        Encoding ``new`` on its own gets the boundary wrong (a leading space, a merge with the text
        before it), so the last ``lookbehind`` tokens of context are decoded, the new text appended,
        and the whole re-encoded. The tokens after the old text are the answer. If one token now
        straddles the old boundary, the two ways out differ by side:

        * ``rewrite=False`` (the target's committed tokens, which must never change): the straddled
          part of the new text is encoded on its own and the rest follows as re-encoded;
        * ``rewrite=True`` (the drafter's own context, free to change): the context is cut back to
          the last boundary both segmentations share and continues with the re-encoded tokens.
        """
        start = self._window_start(context, lookbehind)
        window = list(context[start:])
        old = self.bytes_of(window)
        text = old + new
        ids, covered = self._encode_faithfully(text)
        if covered < len(old):  # the window itself does not re-encode: continue without it
            ids, covered = self._encode_faithfully(new)
            return Continuation(len(context), ids, [], new[covered:])
        dropped = text[covered:]
        bounds = [0, *_cumulative_ends(self, ids)]  # bounds[i]: bytes spelled by ids[:i]
        if len(old) in bounds:
            return Continuation(len(context), ids[bounds.index(len(old)):], window, dropped)
        if rewrite:
            window_bounds = [0, *_cumulative_ends(self, window)]
            shared = max(b for b in bounds if b <= len(old) and b in window_bounds)
            return Continuation(start + window_bounds.index(shared), ids[bounds.index(shared):],
                                window, dropped)
        straddler = next(i for i, b in enumerate(bounds) if b > len(old)) - 1
        head_text = text[len(old):bounds[straddler + 1]]
        head, head_covered = self._encode_faithfully(head_text)
        if head_covered < len(head_text):
            return Continuation(len(context), head, window, text[len(old) + head_covered:])
        return Continuation(len(context), head + ids[straddler + 1:], window, dropped)

    def check_round_trip(self) -> None:
        """Refuse tokenizers that do not spell plain ASCII back exactly: translation would be wrong."""
        for probe in ASCII_PROBES:
            ids, covered = self._encode_faithfully(probe.encode())
            if covered < len(probe):
                spelled = self.bytes_of(self.encode_text(probe))
                raise VocabularyError(
                    f"Tokenizer {self.name!r} does not spell text back: {probe!r} encodes to tokens "
                    f"that spell {spelled!r}. specviz needs a tokenizer whose tokens map to exact "
                    "text (byte-level BPE, SentencePiece with byte fallback, or a plain character "
                    "vocabulary); lower-casing or other normalising tokenizers cannot be used."
                )


def _natural_single_token(vocab: Vocabulary, spelling: bytes) -> int | None:
    """The token the tokenizer picks for ``spelling`` on its own, if it picks exactly one."""
    try:
        ids = vocab.encode_text(spelling.decode("utf-8"))
    except UnicodeDecodeError:
        return None
    return ids[0] if len(ids) == 1 else None


def _cumulative_ends(vocab: Vocabulary, ids: Sequence[int]) -> list[int]:
    ends, total = [], 0
    for i in ids:
        total += len(vocab.token_bytes[i] or b"")
        ends.append(total)
    return ends


# -- TLI: the shared vocabulary ----------------------------------------------------------------------

@dataclass
class Intersection:
    """Tokens both vocabularies have, matched by the bytes they spell (plus EOS matched by role).

    ``target_of[d]`` is the target id for drafter id d (-1 if none); several drafter ids may share
    one target id (a character and its byte-fallback twin), so probabilities are *added* on mapping.
    """

    target_of: torch.Tensor  # [V_drafter] long
    size: int  # number of distinct target tokens reachable from the drafter

    def to(self, device: torch.device | str) -> Intersection:
        return Intersection(self.target_of.to(device), self.size)


_INTERSECTIONS: dict[tuple[str, str], Intersection] = {}


def intersect(target: Vocabulary, drafter: Vocabulary) -> Intersection:
    """The TLI intersection of two vocabularies, computed once per pair of tokenizers."""
    key = (target.fingerprint, drafter.fingerprint)
    if key not in _INTERSECTIONS:
        target_of = torch.full((drafter.size,), -1, dtype=torch.long)
        for spelling, t in target.id_by_bytes.items():
            for d in drafter.ids_by_bytes.get(spelling, ()):
                target_of[d] = t
        if target.eos_ids and drafter.eos_ids:
            t_eos = min(target.eos_ids)
            for d in drafter.eos_ids:
                target_of[d] = t_eos
        size = int(torch.unique(target_of[target_of >= 0]).numel())
        _INTERSECTIONS[key] = Intersection(target_of, size)
    return _INTERSECTIONS[key]
