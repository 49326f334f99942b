"""A Hugging Face tokenizer seen as bytes: ``vocabulary_from_hf`` reads a *fast* tokenizer's
``tokenizer.json`` (its vocabulary, decoder and pre-tokenizer) and builds ``specviz.vocab``'s
``Vocabulary``, which knows nothing of Hugging Face.

Two families of spelling are read: byte-level BPE (GPT-2, SmolLM: every byte renamed to a printable
stand-in character) and SentencePiece style (Gemma, Llama: '▁' for a space, '<0xNN>' for a byte).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable

from ..vocab import Vocabulary, VocabularyError

BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def byte_level_alphabet() -> dict[str, int]:
    """GPT-2's printable stand-ins for the 256 bytes, inverted: stand-in character -> byte.

    Byte-level BPE renames every byte that is not a printable, non-space Latin-1 character to an
    unused code point (256, 257, ...), so that token strings never contain raw spaces or control
    bytes: the space 0x20 becomes 'Ġ' (U+0120) and the newline 0x0A becomes 'Ċ' (U+010A).
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    mapping = {chr(b): b for b in printable}
    shifted = 0
    for b in range(256):
        if b not in printable:
            mapping[chr(256 + shifted)] = b
            shifted += 1
    return mapping


def _walk(node: object, visit: Callable[[dict], None]) -> None:
    """Call ``visit`` on every dict inside a tokenizer.json tree."""
    if isinstance(node, dict):
        visit(node)
        for value in node.values():
            _walk(value, visit)
    elif isinstance(node, list):
        for value in node:
            _walk(value, visit)


def _continuation_tokenizer(backend, spec: dict):
    """The ``tokenizers`` pipeline that encodes text as a continuation.

    SentencePiece-style tokenizers prepend a '▁' (a space) to the text they encode, and byte-level
    ones may add a prefix space: right for a whole prompt, wrong for text that continues a sentence.
    If the pipeline does either, a copy with both switched off is returned (copying a large
    vocabulary takes seconds, so only then). Callers never ask it to add BOS.
    """
    from tokenizers import Tokenizer

    pre_tokenizer = copy.deepcopy(spec.get("pre_tokenizer"))
    normalizer = copy.deepcopy(spec.get("normalizer"))

    def switch_off_prefix(node: dict) -> None:
        if node.get("type") == "Metaspace":
            node["prepend_scheme"] = "never"
            node["add_prefix_space"] = False
        if node.get("type") == "ByteLevel":
            node["add_prefix_space"] = False

    _walk(pre_tokenizer, switch_off_prefix)
    if normalizer and normalizer.get("type") == "Prepend":
        normalizer = None
    elif normalizer and normalizer.get("type") == "Sequence":
        normalizer["normalizers"] = [n for n in normalizer["normalizers"] if n.get("type") != "Prepend"]
    if (pre_tokenizer, normalizer) == (spec.get("pre_tokenizer"), spec.get("normalizer")):
        return backend
    changed = {**spec, "pre_tokenizer": pre_tokenizer, "normalizer": normalizer}
    return Tokenizer.from_str(json.dumps(changed))


def vocabulary_from_hf(tokenizer, name: str | None = None, size: int | None = None) -> Vocabulary:
    """Build the byte view of a Hugging Face *fast* tokenizer.

    ``size`` is the model's output size when it is larger than the tokenizer (padded embeddings):
    the extra ids spell nothing. The kind of tokenizer is read from its decoder: 'ByteLevel' means
    GPT-2 stand-in characters; otherwise '▁' is a space and '<0xNN>' a byte (SentencePiece style).
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise VocabularyError(
            f"{type(tokenizer).__name__} is a slow (pure Python) tokenizer. Load the fast one: "
            "AutoTokenizer.from_pretrained(..., use_fast=True)."
        )
    spec = json.loads(backend.to_str())
    kinds: set[str] = set()
    _walk(spec.get("decoder"), lambda node: kinds.add(node.get("type", "")))
    if "WordPiece" in kinds:
        raise VocabularyError("WordPiece ('##') tokenizers belong to encoders, not causal LMs; "
                              "specviz cannot map them to text.")
    byte_level = byte_level_alphabet() if "ByteLevel" in kinds else None
    added = {t["id"]: t for t in spec.get("added_tokens", [])}

    n = max(len(tokenizer), size or 0)
    token_bytes: list[bytes | None] = [None] * n
    special_texts: dict[int, str] = {}
    for token, i in backend.get_vocab(with_added_tokens=True).items():
        if i >= n:
            continue
        if i in added:
            if added[i].get("special", False):
                special_texts[i] = token
            else:
                token_bytes[i] = token.encode("utf-8")
        elif byte_level is not None and all(ch in byte_level for ch in token):
            token_bytes[i] = bytes(byte_level[ch] for ch in token)
        elif (m := BYTE_FALLBACK.match(token)) and byte_level is None:
            token_bytes[i] = bytes([int(m.group(1), 16)])
        else:
            token_bytes[i] = token.replace("\u2581", " ").encode("utf-8")
    for i in tokenizer.all_special_ids:  # specials the backend does not flag (e.g. GGUF imports)
        if i < n:
            special_texts[i] = tokenizer.convert_ids_to_tokens(i)
            token_bytes[i] = None

    encoder = _continuation_tokenizer(backend, spec)
    eos = getattr(tokenizer, "eos_token_id", None)
    vocab = Vocabulary(
        name=name or getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__,
        token_bytes=token_bytes,
        encode_text=lambda text: encoder.encode(text, add_special_tokens=False).ids,
        eos_ids=frozenset([eos] if isinstance(eos, int) else eos or []),
        special_texts=special_texts,
    )
    vocab.check_round_trip()
    return vocab
