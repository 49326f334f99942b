"""Plain decoding: the target alone, one forward pass per token. The reference for every other
algorithm: their output must have exactly this distribution (at temperature 0: exactly this text)."""

from __future__ import annotations

from ..trace import DraftEvent, TranslateEvent
from .base import Algorithm, Candidates, Decoding, Draft


class Autoregressive(Algorithm):
    """No drafter: every iteration verifies zero candidates, so the target's pick is the only token."""

    name = "autoregressive"
    needs_drafter = False

    def __init__(self) -> None:
        super().__init__(lookahead=1, lookbehind=0)

    def params(self) -> dict:
        return {}

    def draft(self, run: Decoding) -> Draft:
        return Draft([], DraftEvent(iteration=run.iteration, stop_reason="no drafter"))

    def translate(self, run: Decoding, draft: Draft) -> Candidates:
        return Candidates([], TranslateEvent(iteration=run.iteration))
