"""Any Hugging Face causal LM, behind specviz's ``LanguageModel`` interface, with a KV cache."""

from __future__ import annotations

import copy
import inspect
import weakref
from collections.abc import Sequence

import torch

from ..vocab import Vocabulary
from .base import LanguageModel
from .hf_vocab import vocabulary_from_hf
from .invariant_passes import (
    ROW_ATTENTION,
    invariant_pieces,
    largest_invariant_pass,
    register_row_attention,
    supports_row_attention,
)

_VOCABULARIES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def hf_vocabulary(tokenizer, size: int | None = None, eos_ids: Sequence[int] = ()) -> Vocabulary:
    """The byte view of a tokenizer, built once per tokenizer object (262k tokens take a second)."""
    per_tokenizer = _VOCABULARIES.setdefault(tokenizer, {})
    key = (size, tuple(sorted(eos_ids)))
    if key not in per_tokenizer:
        vocab = vocabulary_from_hf(tokenizer, size=size)
        vocab.eos_ids = vocab.eos_ids | frozenset(eos_ids)
        per_tokenizer[key] = vocab
    return per_tokenizer[key]


def _eos_ids(model) -> list[int]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if eos is None:
        eos = getattr(model.config, "eos_token_id", None)
    return [eos] if isinstance(eos, int) else list(eos or [])


class HFModel(LanguageModel):
    """A ``transformers`` causal LM and its tokenizer.

    The cache is a ``DynamicCache``: cropped in place when drafts are rejected, and copied across a
    batch for SLRS's tree of drafter paths. Logits stay on the model's device.

    ``invariant=True`` runs invariant passes (see ``invariant_passes``): a position's logits are
    then the same bits whatever the pass length, so greedy verification reproduces plain greedy
    decoding exactly, in bf16 too. ``largest_pass`` is then the most positions one pass feeds.
    ``dtype_choice`` says how the dtype was chosen, when it was measured (``dtype="auto"``).
    """

    def __init__(self, model, tokenizer, name: str | None = None, invariant: bool = False) -> None:
        super().__init__()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.name = (name or getattr(model, "name_or_path", "") or model.config._name_or_path
                     or type(model).__name__)
        self.tokenizer_name = name or getattr(tokenizer, "name_or_path", "") or \
            type(tokenizer).__name__  # bundled models: their name, not the cache folder
        self.device = next(model.parameters()).device
        self.dtype = next(model.parameters()).dtype
        out_size = model.get_output_embeddings().weight.shape[0]
        self.vocab = hf_vocabulary(tokenizer, size=out_size, eos_ids=_eos_ids(model))
        self.max_length = getattr(model.config.get_text_config(), "max_position_embeddings", None)
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self._cache = None
        self.largest_pass: int | None = None
        self.dtype_choice = None  # a DtypeChoice where dtype="auto" measured it
        if invariant:
            self.make_invariant()

    def make_invariant(self) -> None:
        """Run invariant passes from now on (attention row by row, passes of 2..largest_pass)."""
        why = supports_row_attention(self.model)
        if why is not None:
            raise ValueError(f"{self.name} cannot run invariant passes: {why}. Load it with "
                             "invariant=False (greedy may then differ from plain decoding at "
                             "near-ties in bf16).")
        register_row_attention()
        self.model.set_attn_implementation(ROW_ATTENTION)
        self.largest_pass = largest_invariant_pass(self.model)
        self.reset()

    def prompt_ids(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=True)["input_ids"])

    def _new_cache(self):
        from transformers import DynamicCache

        cache = DynamicCache(config=self.model.config)
        if hasattr(cache, "activate_past_recording"):  # sliding-window layers: keep what we may crop
            cache.activate_past_recording()
        return cache

    def _forward(self, input_ids: torch.Tensor, cache, n_logits: int) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=input_ids, use_cache=True, logits_to_keep=n_logits,
                             **{self._cache_arg: cache})
        return out.logits[:, -n_logits:]

    def _run(self, new_ids: list[int], n_logits: int) -> torch.Tensor:
        if self._cache is None:
            self._cache = self._new_cache()
        if self.largest_pass is None:
            return self._forward(self._tensor(new_ids), self._cache, n_logits)[0]
        return self._run_in_pieces(new_ids, n_logits)

    def _tensor(self, ids: list[int]) -> torch.Tensor:
        return torch.tensor([ids], dtype=torch.long, device=self.device)

    def _run_in_pieces(self, new_ids: list[int], n_logits: int) -> torch.Tensor:
        """Invariant passes: pieces of 2..largest_pass positions; a lone position gets a spare.

        Every forward then multiplies at least 2 rows (lm_head included, wherever logits are
        kept), the range where this CPU gives each row the same bits.
        """
        first_wanted = len(new_ids) - n_logits
        wanted, done = [], 0
        for index, size in enumerate(invariant_pieces(len(new_ids), self.largest_pass)):
            piece = new_ids[done:done + size]
            fed = piece * 2 if size == 1 else piece  # the spare: any token; its cache is dropped
            n_wanted = done + size - max(first_wanted, done) if done + size > first_wanted else 0
            keep = min(len(fed), max(2, n_wanted + len(fed) - size)) if n_wanted else 1
            self.model.specviz_piece = index > 0  # count_passes: a piece is part of one pass
            try:
                logits = self._forward(self._tensor(fed), self._cache, keep)[0]
            finally:
                self.model.specviz_piece = False
            if len(fed) > size:
                self._cache.crop(-1)
                logits = logits[:-1]
            if n_wanted:
                wanted.append(logits[len(logits) - n_wanted:])
            done += size
        return torch.cat(wanted)

    def _crop(self, length: int) -> bool:
        try:
            self._cache.crop(length - len(self._cached))
        except (RuntimeError, ValueError):
            return False
        return True

    def _reset(self) -> None:
        self._cache = None

    def branch_logits(self, ids: Sequence[int], branches: Sequence[Sequence[int]]) -> torch.Tensor:
        """One batched pass for all branches: the cache of ``ids`` is copied once per branch."""
        if len({len(b) for b in branches}) != 1 or self.largest_pass is not None:
            return super().branch_logits(ids, branches)  # a batch of rows is not invariant
        if self._cached != list(ids):
            self.logits(ids, 1)
        cache = copy.deepcopy(self._cache)
        cache.batch_repeat_interleave(len(branches))
        batch = torch.tensor([list(b) for b in branches], dtype=torch.long, device=self.device)
        with self.timed_pass():
            return self._forward(batch, cache, 1)[:, -1]
