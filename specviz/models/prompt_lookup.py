"""Prompt lookup: a drafter that copies. Text that repeats (code being edited, a quoted sentence, a
name from the question) is guessed by finding where the context's end occurred before and
proposing what followed it there. No weights, no tokenizer, no forward pass.

The rule, on bytes (the context is the prompt and the output so far, in UTF-8):

    find the longest suffix of the context, of ``min_ngram``..``max_ngram`` bytes, that also occurs
    earlier; at its earliest occurrence, the next byte is the guess.

That is a law over the next byte: a point mass (all probability on the guess), or all probability
on ``NO_MATCH`` when no suffix of ``min_ngram`` bytes occurred before. The earliest occurrence is
usually the source being copied (the text in the prompt), not a recent accidental echo of a few bytes.
Every algorithm can use it:

* SLEM copies a whole continuation at once (``draft_continuation``): the rule applied byte after
  byte, at most ``bytes_per_token x lookahead`` bytes; the target tokens it re-tokenizes into are
  cut to ``lookahead``. So under SLEM ``lookahead=k`` means k candidate target tokens per iteration,
  like Hugging Face's ``prompt_lookup_num_tokens=k``. No match: an empty draft (stop reason
  "no-match"), and the iteration is exactly one plain target step.
* TLI proposes bytes as the target's single-byte tokens: ``lookahead`` bytes, each a candidate.
* SLRS lets the rule spell target tokens byte by byte: ``lookahead`` target tokens, psi in {0, 1}.

Rejection sampling with a point mass q = delta_x is exact: x is kept with probability
min(1, p(x)/1) = p(x), and a rejection draws from norm(max(0, p - delta_x)), which is p without x.
"""

from __future__ import annotations

import torch

from ..sampling import is_whole_number
from ..trace import DraftEvent
from .bytelevel import NO_MATCH, ByteDrafter, as_bytes, point_mass


class PromptLookup(ByteDrafter):
    """Copy what followed the earliest occurrence of the context's last n bytes (n as large as
    possible).

    ``min_ngram``/``max_ngram``: suffix lengths tried, longest first (bytes; 3..16 by default).
    ``bytes_per_token``: SLEM copies at most ``bytes_per_token x lookahead`` bytes, enough for
    ``lookahead`` target tokens.
    Why these defaults: on the 5 copy prompts of ``specviz/data/prompts.json`` (SLEM, greedy, 48
    tokens, Gemma 3 270M, lookahead 2/3/5) they need 111/97/81 target passes, Hugging Face's prompt
    lookup 112/96/80. Shorter matches save a pass or two (1..16 bytes: 110/96/80) but a 1-byte match
    nearly always exists, so the target verifies 13-24% more positions, mostly candidates that
    fail: on a CPU, where a pass over 4 positions costs about 2 steps, that is slower. The latest
    occurrence instead of the earliest needed 113-117/100-104/84-88 passes.
    """

    def __init__(self, min_ngram: int = 3, max_ngram: int = 16, bytes_per_token: int = 16) -> None:
        for label, value in (("min_ngram", min_ngram), ("max_ngram", max_ngram),
                             ("bytes_per_token", bytes_per_token)):
            if not is_whole_number(value, 1):
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        if max_ngram < min_ngram:
            raise ValueError(f"max_ngram ({max_ngram}) must be at least min_ngram ({min_ngram})")
        super().__init__(f"prompt-lookup({min_ngram}-{max_ngram} bytes)")
        self.min_ngram, self.max_ngram, self.bytes_per_token = min_ngram, max_ngram, bytes_per_token

    def find(self, data: bytes | bytearray, longest: int | None = None) -> tuple[int, int] | None:
        """``(offset of the byte to copy, n)`` for the longest matching suffix of n bytes, or None.

        ``longest`` caps the suffixes tried: after copying one byte of a match of n bytes, a match
        of n + 1 bytes is certain and none can be longer, so a copy needs one search per byte.
        """
        top = min(self.max_ngram if longest is None else longest, len(data) - 1)
        for n in range(top, self.min_ngram - 1, -1):
            at = data.find(data[-n:], 0, len(data) - 1)  # the first one that ends before the end
            if at >= 0:
                return at + n, n
        return None

    def next_log_probs(self, data: bytes) -> torch.Tensor:
        found = self.find(data)
        return point_mass(NO_MATCH if found is None else data[found[0]])

    def draft_continuation(self, run, n: int, limit: str = "lookahead"):
        """The rule applied byte after byte to the drafter context, as one ``Draft`` (SLEM)."""
        from ..algorithms.base import Draft

        event = DraftEvent(iteration=run.iteration, stop_reason=limit)
        data = bytearray(as_bytes(run.drafter_ids))
        start, longest = len(data), None
        with self.timed_pass():
            while len(data) - start < self.bytes_per_token * n:
                found = self.find(data, longest)
                if found is None:
                    event.stop_reason = "no-match"
                    break
                at, matched = found
                data.append(data[at])
                event.copied_from.append(at)
                longest = min(matched + 1, self.max_ngram)
        tokens = list(data[start:])
        for token in tokens:
            event.add(token, self.vocab.describe(token), 1.0, None, [])
        event.text = self.vocab.text_of(tokens)
        return Draft(tokens, event, max_candidates=n)
