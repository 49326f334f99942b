"""The bundled prompt sets: what the benchmark and the notebooks run on.

    load_prompts(["chat", "code"], per_set=1)   # -> [Prompt("chat", 0, "..."), Prompt("code", 0, ...)]

Four sets (``PROMPT_SETS``) in ``data/prompts.json``, because speedups differ most between kinds of
text: a drafter agrees often where the answer copies the prompt (summaries, copies), less in chat.
A fifth, ``task`` (renames and functions written from a description), is for a code model such as
the coder pair's target; it is not among the defaults, since the small pair's base model is not one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from .sampling import is_whole_number

PROMPTS_FILE = Path(__file__).resolve().parent / "data" / "prompts.json"
PROMPT_SETS = ("summarise", "code", "chat", "copy")


@dataclass(frozen=True)
class Prompt:
    """One benchmark prompt: which set it belongs to, its place there, and its text."""

    set: str
    index: int
    text: str

    @property
    def key(self) -> str:
        return f"{self.set}/{self.index}"


def prompt_sets() -> dict[str, dict]:
    """The bundled prompt sets: name -> {"description", "prompts"}."""
    return json.loads(PROMPTS_FILE.read_text(encoding="utf-8"))["sets"]


def load_prompts(sets: Iterable[str] = PROMPT_SETS, per_set: int | None = None) -> list[Prompt]:
    """The first ``per_set`` prompts (all if ``None``) of each named set, set by set."""
    if per_set is not None and not is_whole_number(per_set, 1):
        raise ValueError(f"prompts per set must be a whole number >= 1, or None for all of them; "
                         f"got {per_set!r}")
    available = prompt_sets()
    prompts = []
    for name in sets:
        if name not in available:
            raise ValueError(f"Unknown prompt set {name!r}. Choose from: {', '.join(available)}.")
        texts = available[name]["prompts"][:per_set]
        prompts += [Prompt(name, i, text) for i, text in enumerate(texts)]
    return prompts
