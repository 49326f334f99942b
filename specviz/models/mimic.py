"""A drafter that mimics its target: it reads the target's law through its own tokenizer.

Tests of a lossless algorithm prove little when the drafter never agrees with the target: every
draft is rejected, the residual is p itself, and a wrong proposal law or residual goes unseen. Two
random tiny models agree about once in a thousand tokens. ``MimicDrafter`` agrees often (40-90% of
drafts per position), on the target's real tokenizer against the drafter's real tokenizer.

It is a legitimate drafter: its law is a function of its *own* context only (drafter token ids),
never of the target's committed tokens or of the run. Given its context it

1. spells its text and encodes it with the target's tokenizer, ``C + [r]``;
2. backs off the last target token r (the text may stop inside a target token: a character drafter
   has spelled only 'r' of ' rain'), and asks a *private copy* of the target for its law after C
   and after C + [r];
3. turns that into a law over continuing strings w: a target token t = r + w (w non-empty) weighs
   p(t | C), and "r is complete, then t2" weighs p(r | C) p(t2 | C + r) with w = t2;
4. gives each string's weight to the longest drafter token that starts it, sharpens the law
   (``sharpness``) and mixes in a little of the uniform law (``smoothing``), so every drafter
   token stays possible.

With one shared vocabulary its context already is a target context: steps 1-4 reduce to the
target's law after it, sharpened and smoothed the same way.

Costs two target-sized evaluations per drafter step: fine for tiny models in tests, useless for speed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..sampling import probabilities
from ..vocab import Vocabulary
from .base import LanguageModel


MEMO_SIZE = 50_000  # contexts; a few hundred megabytes at most for tiny vocabularies


class MimicDrafter(LanguageModel):
    """Drafter ``own`` (its vocabulary, prompt encoding and name) speaking with ``reader``'s law.

    ``reader``: a copy of the target (its own KV cache, so the target's pass count stays honest).
    ``smoothing``: the share of the uniform law over the drafter's tokens, in [0, 1).
    ``sharpness``: the mimicked law is raised to this power before smoothing. Above 1 the drafter
    is surer than the target of the target's favourites, so drafts are often kept but q differs
    from p where it matters: the residual norm(max(0, p - q)) is then far from p itself.
    ``own_share``: the share of ``own``'s own law (a random drafter's opinion) mixed in, so that
    even a drafter on the target's own vocabulary sometimes argmaxes differently (greedy rejects).
    """

    def __init__(self, own: LanguageModel, reader: LanguageModel, smoothing: float = 0.1,
                 sharpness: float = 2.0, own_share: float = 0.0) -> None:
        super().__init__()
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {smoothing!r}")
        if not sharpness > 0:
            raise ValueError(f"sharpness must be > 0, got {sharpness!r}")
        if not 0 <= own_share <= 1:
            raise ValueError(f"own_share must be in [0, 1], got {own_share!r}")
        self.own, self.reader = own, reader
        self.smoothing, self.sharpness, self.own_share = smoothing, sharpness, own_share
        self.name, self.vocab, self.device = f"{own.name} (mimic)", own.vocab, own.device
        self.max_length = own.max_length
        target, drafter = reader.vocab, own.vocab
        self._spellable = torch.tensor([bool(b) or i in drafter.eos_ids
                                        for i, b in enumerate(drafter.token_bytes)])
        self._drafter_eos = min(drafter.eos_ids) if drafter.eos_ids else -1
        # drafter token that starts each target token's spelling (-1: none; EOS -> EOS)
        self._start_of = torch.tensor([self._first_piece(target, drafter, i)
                                       for i in range(target.size)], dtype=torch.long)
        self._extensions: dict[bytes, tuple[torch.Tensor, torch.Tensor]] = {}
        # SentencePiece puts a space in front of the prompt: it is no part of the text
        self._dummy_space = drafter.bytes_of(own.prompt_ids("a")) == b" a"
        self._same_vocabulary = target.fingerprint == drafter.fingerprint
        self._memo: dict[tuple[int, ...], torch.Tensor] = {}

    def _first_piece(self, target: Vocabulary, drafter: Vocabulary, t: int) -> int:
        if t in target.eos_ids:
            return self._drafter_eos
        return _longest_start(drafter, target.token_bytes[t] or b"")

    def prompt_ids(self, text: str) -> list[int]:
        return self.own.prompt_ids(text)

    def _reset(self) -> None:
        self.reader.reset()
        self.own.reset()

    def _crop(self, length: int) -> bool:
        return True  # no cache of its own: every law is computed from the context's text

    def _run(self, new_ids: list[int], n_logits: int) -> torch.Tensor:
        ids = self._cached + new_ids
        return torch.stack([self._logits_after(ids[:len(ids) - i])
                            for i in reversed(range(n_logits))]).to(self.device)  # laws: on the CPU

    def _logits_after(self, ids: Sequence[int]) -> torch.Tensor:
        """log of the mimicked law over drafter tokens after the drafter context ``ids``: ``[V]``.
        Remembered (up to ``MEMO_SIZE`` contexts): tests sample the same contexts thousands of times."""
        key = tuple(ids)
        if key not in self._memo:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = self._mimic(ids)
        return self._memo[key]

    def _mimic(self, ids: Sequence[int]) -> torch.Tensor:
        if self._same_vocabulary:  # one vocabulary: its own context is a target context
            law = probabilities(self.reader.logits(ids, 1), 1.0)[0].cpu()
        else:
            law = self._continuation_law(self.vocab.bytes_of(ids))
        law = law ** self.sharpness
        if law.sum() <= 0:
            law = self._spellable.float()  # nothing to read the target with
        law = law / law.sum()
        if self.own_share > 0:
            own = probabilities(self.own.logits(ids, 1), 1.0)[0].cpu()
            law = (1 - self.own_share) * law + self.own_share * own
        uniform = self._spellable / self._spellable.sum()
        return torch.log((1 - self.smoothing) * law + self.smoothing * uniform)

    def _continuation_law(self, text: bytes) -> torch.Tensor:
        """Unnormalised weights of the drafter tokens that continue ``text`` (steps 1-4 above)."""
        target = self.reader.vocab
        if self._dummy_space and text.startswith(b" "):
            text = text[1:]
        ids = self._target_ids(text)
        law = torch.zeros(self.vocab.size)
        if not ids:
            return law  # nothing to read the target with: the uniform law
        last = target.token_bytes[ids[-1]]
        if len(ids) == 1 or not last:  # nothing to back off: the target's next token
            _add(law, self._start_of, probabilities(self.reader.logits(ids, 1), 1.0)[0].cpu())
            return law
        after = probabilities(self.reader.logits(ids, 2), 1.0).cpu()  # after C, after C + r
        _add(law, self._start_of, after[1] * after[0, ids[-1]])  # r complete, then a new token
        tokens, pieces = self._extending(last)  # or the text goes on inside a longer token
        law.index_add_(0, pieces, after[0][tokens])
        return law

    def _target_ids(self, text: bytes) -> list[int]:
        """``text`` as the target would read it as a prompt; bytes that are not whole UTF-8
        characters (half a character, or a random drafter's stray byte) become byte tokens."""
        try:
            return self.reader.prompt_ids(text.decode("utf-8")) if text else []
        except UnicodeDecodeError as err:
            head = self.reader.prompt_ids(text[:err.start].decode("utf-8")) if err.start else []
            return head + self.reader.vocab.encode_continuation(text[err.start:])

    def _extending(self, stem: bytes) -> tuple[torch.Tensor, torch.Tensor]:
        """Target tokens that spell ``stem`` + something, and the drafter token starting that rest."""
        if stem not in self._extensions:
            target = self.reader.vocab
            tokens, pieces = [], []
            for t in target.ids_starting_with(stem).tolist():
                rest = target.token_bytes[t][len(stem):]
                piece = _longest_start(self.vocab, rest) if rest else -1
                if piece >= 0:
                    tokens.append(t)
                    pieces.append(piece)
            self._extensions[stem] = (torch.tensor(tokens, dtype=torch.long),
                                      torch.tensor(pieces, dtype=torch.long))
        return self._extensions[stem]


def _add(law: torch.Tensor, pieces: torch.Tensor, weights: torch.Tensor) -> None:
    keep = pieces >= 0
    law.index_add_(0, pieces[keep], weights[keep])


def _longest_start(vocab: Vocabulary, s: bytes) -> int:
    """The drafter token spelling the longest prefix of ``s`` (-1 if none)."""
    for end in range(min(len(s), 64), 0, -1):
        if s[:end] in vocab.id_by_bytes:
            return vocab.id_by_bytes[s[:end]]
    return -1
