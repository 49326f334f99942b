"""The toy world: two tiny bigram models with different, readable vocabularies.

Every number they produce can be checked by hand. The target has the whole word ' rainbow'; the
drafter must spell it from pieces (' r' + 'ain' + 'bo' + 'w', or ' rain' + 'bow', ...), which is
exactly the situation SLEM, TLI and SLRS were invented for.

A bigram model's next-token probabilities depend only on the previous token, so a model is just a
table: row = previous token, columns = next-token probabilities. (Prompts are never empty, so no
row is needed for "the start of the text".)
Logits are log-probabilities, so at temperature 1 the model *is* its table, and at temperature T
it gives P(x)^(1/T), renormalised.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Mapping, Sequence

import torch

from ..vocab import Vocabulary
from .base import LanguageModel

EOS = "<eos>"

TARGET_TABLE: dict[str, dict[str, float]] = {
    "the": {" sky": 0.25, " rain": 0.35, " rainbow": 0.40},
    " the": {" sky": 0.25, " rain": 0.35, " rainbow": 0.40},
    " sky": {" is": 1.0},
    " rain": {" is": 0.8, " bow": 0.2},
    " bow": {" is": 1.0},
    " rainbow": {" is": 1.0},
    " is": {" wet": 0.3, " bright": 0.7},
    " wet": {".": 1.0},
    " bright": {".": 1.0},
    ".": {EOS: 0.6, " the": 0.4},
}

DRAFTER_TABLE: dict[str, dict[str, float]] = {
    "the": {" sky": 0.2, " r": 0.3, " rain": 0.5},
    " the": {" sky": 0.2, " r": 0.3, " rain": 0.5},
    " sky": {" is": 1.0},
    " r": {"ain": 0.9, " is": 0.1},
    "ain": {"bow": 0.5, "bo": 0.2, " is": 0.3},
    " rain": {"bow": 0.4, "bo": 0.1, " is": 0.5},
    "bo": {"w": 1.0},
    "w": {" is": 1.0},
    "bow": {" is": 1.0},
    " is": {" wet": 0.2, " bri": 0.8},
    " bri": {"ght": 1.0},
    "ght": {".": 1.0},
    " wet": {".": 1.0},
    ".": {EOS: 0.5, " the": 0.5},
}

# The same rows and the same tokens, in the same order, as the toy target's table (so both models
# number their tokens alike and standard speculative decoding applies); only the numbers differ.
SHARED_DRAFTER_TABLE: dict[str, dict[str, float]] = {
    context: dict(zip(row, probabilities, strict=True))
    for (context, row), probabilities in zip(TARGET_TABLE.items(), [
        (0.5, 0.2, 0.3), (0.5, 0.2, 0.3), (1.0,), (0.5, 0.5), (1.0,), (1.0,), (0.6, 0.4), (1.0,),
        (1.0,), (0.5, 0.5)], strict=True)
}


def longest_match_encoder(tokens: Sequence[str]):
    """A tokenizer you can run in your head: left to right, always take the longest token that fits.
    It stops at the first character no token starts with."""
    by_length = sorted((t for t in tokens if t != EOS), key=len, reverse=True)

    def encode(text: str) -> list[int]:
        ids, at = [], 0
        while at < len(text):
            match = next((t for t in by_length if text.startswith(t, at)), None)
            if match is None:
                break
            ids.append(tokens.index(match))
            at += len(match)
        return ids

    return encode


class ToyLM(LanguageModel):
    """A bigram model from a table ``{previous token: {next token: probability}}``.

    Its vocabulary is the table's tokens in order of first appearance, EOS first. Each row must sum
    to 1, and every token except EOS needs a row of its own (nothing follows EOS).
    """

    def __init__(self, name: str, table: Mapping[str, Mapping[str, float]]) -> None:
        super().__init__()
        self.name = name
        tokens = [EOS]
        for row, nexts in table.items():
            for token in (row, *nexts):
                if token not in tokens:
                    tokens.append(token)
        for row, nexts in table.items():
            if abs(sum(nexts.values()) - 1) > 1e-9:
                raise ValueError(f"{name}: row {row!r} sums to {sum(nexts.values())}, not 1")
        missing = [t for t in tokens if t != EOS and t not in table]
        if missing:
            raise ValueError(f"{name}: every token except {EOS} needs a row; missing: {missing}")
        self.tokens = tokens
        self.table = {row: dict(nexts) for row, nexts in table.items()}
        self.vocab = Vocabulary(name=name,
                                token_bytes=[None if t == EOS else t.encode() for t in tokens],
                                encode_text=longest_match_encoder(tokens),
                                eos_ids=frozenset([0]), special_texts={0: EOS})
        log = torch.full((len(tokens), len(tokens)), -math.inf)
        log[0] = 0.0  # nothing follows EOS; a flat row keeps the maths defined if asked anyway
        for row, nexts in self.table.items():
            for token, prob in nexts.items():
                log[tokens.index(row), tokens.index(token)] = math.log(prob) if prob > 0 else -math.inf
        self.log_probs = log  # [V, V]: row = previous token, column = next token

    def prompt_ids(self, text: str) -> list[int]:
        ids = self.vocab.encode_text(text)
        if self.vocab.bytes_of(ids) != text.encode():
            words = ", ".join(repr(t) for t in self.tokens[1:])
            raise ValueError(f"{self.name} cannot tokenize {reprlib.repr(text)}: its vocabulary is "
                             f"{words}.")
        return ids

    def probability(self, previous: str, token: str) -> float:
        """Read the table: P(token | previous)."""
        return self.table.get(previous, {}).get(token, 0.0)

    def _run(self, new_ids: list[int], n_logits: int) -> torch.Tensor:
        history = self._cached + new_ids
        previous = [history[i] for i in range(len(history) - n_logits, len(history))]
        return self.log_probs[previous]

    def _crop(self, length: int) -> bool:
        return True  # a bigram model keeps no cache

    def _reset(self) -> None:
        pass


def toy_pair(target_table: Mapping | None = None, drafter_table: Mapping | None = None):
    """The toy world's target and drafter as a ``ModelPair`` (instant, nothing to download)."""
    from .pair import ModelPair

    return ModelPair(ToyLM("toy-target", target_table or TARGET_TABLE),
                     ToyLM("toy-drafter", drafter_table or DRAFTER_TABLE))


def shared_toy_pair():
    """The toy target with a drafter over the *same* vocabulary (standard SD works on it)."""
    return toy_pair(TARGET_TABLE, SHARED_DRAFTER_TABLE)
