"""What every algorithm plugs into: the state of one decoding run, and the ``Algorithm`` interface.

An algorithm owns its whole iteration; the loop in ``loop.py`` only times, records and calls:

* ``draft(run)``: ask the drafter for tokens, in the drafter's vocabulary;
* ``translate(run, draft)``: turn them into candidate *target* tokens, with the probability the
  proposal law gave each (rejection-sampling algorithms need it; SLEM does not);
* ``verify(run, cand, p, scores)``: judge them with one of the rules of ``rules.py`` (exact match
  at temperature 0, rejection sampling otherwise; SLEM always matches exactly);
* ``catch_up(run, draft, cand, committed)``: after acceptance, make the drafter's context spell the
  committed text again (Hugging Face's ``update_candidate_strategy``).

Each algorithm may carry what it needs from one phase to the next in its own ``Draft`` and
``Candidates`` subclasses (TLI's intersection masses, SLRS's drafter tree, SLEM's healed text).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..sampling import (
    Draws,
    TargetSettings,
    is_whole_number,
    probabilities,
    residual,
    restricted,
    sample,
    top_k,
)
from ..trace import DraftEvent, TokenProb, TranslateEvent
from .rules import Verdict, exact_match, rejection_sampling

if TYPE_CHECKING:
    from ..models.pair import ModelPair


class BudgetError(RuntimeError):
    """A step of an algorithm would need more work than a budget it was given allows. Raised
    mid-run, it reaches the caller with where the run stopped (``Decoding.progress``) appended."""


@dataclass
class Draft:
    """The drafter's tokens, the law each was drawn from (``[V_drafter]`` each), and the event.

    ``max_candidates``: a drafter that copied more text than it proposes (prompt lookup, see
    ``LanguageModel.draft_continuation``) caps the candidate target tokens made from it.
    Algorithms that carry more to later phases subclass it (``SLEMDraft``, ``TLIDraft``,
    ``SLRSDraft``).
    """

    tokens: list[int]
    event: DraftEvent
    laws: list[torch.Tensor] = field(default_factory=list)
    max_candidates: int | None = None

    @property
    def ended_with_eos(self) -> bool:
        return self.event.stop_reason == "eos"


@dataclass
class Candidates:
    """Target tokens to verify, and what the rejection rule needs to judge them.

    ``proposal_probs[j]``: probability the proposal law gave ``tokens[j]``. ``proposal``: the whole
    law per position, ``[m, V_target]``, from which a rejection's residual is computed (``None`` when
    the algorithm computes residuals another way, as SLRS does, or needs none, as SLEM).
    ``law_after_last``: SLRS stopped on a draft that is no target token; the position after the last
    candidate then takes a residual draw instead of a plain bonus sample.
    ``drafter_path``: the drafter tokens behind the candidates, reused when the drafter catches up.
    Algorithms that carry more to their verify phase subclass it (``SLRSCandidates``).
    """

    tokens: list[int]
    event: TranslateEvent
    drafter_path: list[int] = field(default_factory=list)
    proposal_probs: list[float] = field(default_factory=list)
    proposal: torch.Tensor | None = None
    law_after_last: bool = False


class Decoding:
    """Everything one ``generate`` call knows: the pair, settings, random streams and both contexts.

    ``target_ids`` is the committed sequence (prompt + output, in target tokens; never rewritten).
    ``drafter_ids`` spells the same text in drafter tokens; it may be rewritten at its tail.
    ``iteration``: the index of the iteration under way (set by the loop), which every event
    made in it records.
    """

    def __init__(self, pair: ModelPair, prompt: str, *, max_new_tokens: int, temperature: float,
                 seed: int, top_k: int, lookbehind: int, draft_draws: Draws,
                 target_draws: Draws, settings: TargetSettings | None = None) -> None:
        self.pair = pair
        self.target = pair.target
        self.drafter = pair.drafter
        self.temperature = temperature
        self.greedy = temperature == 0
        self.settings = settings or TargetSettings()
        self.seed = seed
        self.top_k = top_k
        self.lookbehind = lookbehind
        self.max_new_tokens = max_new_tokens
        self.draft_draws = draft_draws
        self.target_draws = target_draws
        self.target_ids = self.target.prompt_ids(prompt)
        self.prompt_len = len(self.target_ids)
        self.drafter_ids = self.drafter.prompt_ids(prompt) if self.drafter is not None else []
        self.iteration = 0

    @property
    def generated(self) -> list[int]:
        return self.target_ids[self.prompt_len:]

    @property
    def remaining(self) -> int:
        """Tokens still allowed by ``max_new_tokens``."""
        return self.max_new_tokens - len(self.generated)

    def progress(self) -> str:
        """Where the run stands, for errors that stop it halfway: 'after 12 of 64 new tokens (...)'."""
        text = self.target.vocab.text_of(self.generated)
        shown = text if len(text) <= 40 else "..." + text[-37:]
        return (f"after {len(self.generated)} of {self.max_new_tokens} new tokens "
                f"(seed {self.seed}; output so far {shown!r})")

    def candidate_budget(self) -> int:
        """How many candidates are worth verifying: one verify pass also yields one token of the
        target's own, and neither the output budget nor the target's context may be overrun."""
        room = self.remaining - 1
        if self.target.max_length is not None:
            room = min(room, self.target.max_length - len(self.target_ids) - 1)
        return max(0, room)

    def drafter_room(self) -> int:
        """Tokens the drafter may still append before its own context is full."""
        if self.drafter.max_length is None:
            return 1 << 30
        return max(0, self.drafter.max_length - len(self.drafter_ids) - 1)

    # -- decisions ------------------------------------------------------------------------------

    def choose(self, probs: torch.Tensor, draws: Draws) -> tuple[int, float | None]:
        """Pick one token: argmax when greedy, else inverse-CDF sampling with one recorded draw."""
        if self.greedy:
            return int(torch.argmax(probs).item()), None
        u = draws.uniform()
        return sample(probs, u), u

    def target_scores(self, logits: torch.Tensor, ids: list[int]) -> torch.Tensor:
        """The target's logits for the last ``len(logits)`` positions of ``ids``, processed by the
        run's ``TargetSettings`` (repetition penalty; top-k and top-p leave the argmax alone)."""
        return self.settings.scores(logits, ids)

    def target_probs(self, scores: torch.Tensor) -> torch.Tensor:
        """p, the law specviz reproduces: temperature, top-k and top-p applied to ``scores``."""
        return self.settings.probabilities(scores, self.temperature)

    def target_choice(self, probs: torch.Tensor, scores: torch.Tensor) -> tuple[int, float | None]:
        """The target's own pick, as plain decoding makes it: greedy is the argmax of the logits
        (the first index on an exact tie: softmax could round two different logits to one
        probability), sampling one draw from p."""
        if self.greedy:
            return int(torch.argmax(scores).item()), None
        return self.choose(probs, self.target_draws)

    # -- recording ------------------------------------------------------------------------------

    def top_target(self, probs: torch.Tensor) -> list[TokenProb]:
        return top_k(probs, self.top_k, self.target.vocab.describe)

    def top_drafter(self, probs: torch.Tensor) -> list[TokenProb]:
        return top_k(probs, self.top_k, self.drafter.vocab.describe)


class Algorithm:
    """Base of all decoding algorithms. Subclasses set ``name`` and implement draft and translate;
    they may override how candidates are verified and how the drafter catches up.

    ``lookahead`` is how many tokens the drafter proposes per iteration (SLRS: target tokens).
    """

    name = ""
    needs_drafter = True
    # What figures and explanations say about an algorithm; they read these, never its name.
    draft_law = "q"  # the law each drafted token is drawn from
    proposal_symbol = "q"  # the law a candidate is proposed from, as in min(1, p/q)
    drafts_are_candidates = False  # each drafted token is itself a candidate (SD, TLI)
    translation = "retokenize"  # "retokenize", "same-vocabulary", "intersection" or "lattice"

    def __init__(self, lookahead: int = 4, lookbehind: int = 10) -> None:
        if not is_whole_number(lookahead, 1):
            raise ValueError(f"lookahead must be an integer >= 1 (drafted tokens per iteration), "
                             f"got {lookahead!r}")
        if not is_whole_number(lookbehind, 0):
            raise ValueError(f"lookbehind must be an integer >= 0 (tokens re-encoded with each "
                             f"draft), got {lookbehind!r}")
        self.lookahead = lookahead
        self.lookbehind = lookbehind

    def check(self, pair: ModelPair) -> None:
        """Raise a clear error if this algorithm cannot run on ``pair``."""

    def params(self) -> dict:
        """Settings recorded in a trace."""
        return {"lookahead": self.lookahead, "lookbehind": self.lookbehind}

    def draft_limit(self, run: Decoding) -> tuple[int, str]:
        """How many tokens to draft now, and why no more (the draft's stop reason if it draws them
        all): the lookahead, or the output budget when fewer candidates fit (``candidate_budget``)."""
        budget = run.candidate_budget()
        return (self.lookahead, "lookahead") if budget >= self.lookahead else (budget, "budget")

    def draft(self, run: Decoding) -> Draft:
        raise NotImplementedError

    def translate(self, run: Decoding, draft: Draft) -> Candidates:
        raise NotImplementedError

    def verify(self, run: Decoding, cand: Candidates, p: torch.Tensor,
               scores: torch.Tensor) -> Verdict:
        """Judge the candidates with the target's ``p`` and processed logits ``scores`` (both
        ``[m + 1, V_target]``): exact match when greedy (the argmax decides), rejection sampling
        with the proposal law otherwise."""
        if run.greedy:
            return exact_match(run, cand, p, scores)
        return rejection_sampling(run, self, cand, p)

    def residual_token(self, run: Decoding, cand: Candidates, position: int,
                       p: torch.Tensor) -> tuple[int, float | None, list]:
        """After a rejection at ``position``: a token from norm(max(0, p - proposal)).
        Returns (token, draw, extra records). SLRS overrides this (it has no full proposal)."""
        law = residual(p, cand.proposal[position]) if position < len(cand.tokens) else p
        token, u = run.choose(law, run.target_draws)
        return token, u, []

    def catch_up(self, run: Decoding, draft: Draft, cand: Candidates, committed: list[int]) -> None:
        """After acceptance: make the drafter's context spell the committed text again.

        With one shared vocabulary the drafter simply takes the target's tokens. Otherwise it keeps
        the drafted tokens the target confirmed and re-encodes the rest of the new text
        (``respell``). SLEM extends this to take back what token healing backed off.
        """
        if run.pair.same_vocabulary:
            run.drafter_ids = list(run.target_ids)
        else:
            run.drafter_ids = respell(run, run.drafter_ids, cand.drafter_path,
                                      run.target.vocab.bytes_of(committed))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def respell(run: Decoding, context: list[int], path: list[int], new: bytes) -> list[int]:
    """``context`` followed by the text ``new``, in drafter tokens.

    It keeps the longest run of ``path`` (the drafter tokens drafted after ``context``) that spells
    the start of ``new`` (their cache is already filled) and re-encodes the rest of ``new``, with a
    look-behind, in the drafter's vocabulary.
    """
    kept, used = 0, 0
    for token in path:
        spelled = run.drafter.vocab.token_bytes[token]
        if not spelled or new[used:used + len(spelled)] != spelled:
            break
        kept, used = kept + 1, used + len(spelled)
    context = context + path[:kept]
    cont = run.drafter.vocab.continue_ids(context, new[used:], run.lookbehind, rewrite=True)
    return context[:cont.keep] + cont.ids


def draft_tokens(run: Decoding, n: int, restrict=None, limit: str = "lookahead",
                 context: list[int] | None = None, first: torch.Tensor | None = None) -> Draft:
    """Let the drafter propose up to ``n`` tokens, one forward pass each; ``limit`` says why ``n``
    (``Algorithm.draft_limit``), the stop reason when all ``n`` are drawn.

    ``restrict(q) -> q'`` may change the law before drawing (TLI keeps only shared tokens); it
    returns ``None`` when no token may be drawn, which ends the draft. Drafting also ends at the
    drafter's EOS. ``context`` replaces the drafter's context (default ``run.drafter_ids``);
    ``first`` (ids ``[k]``) restricts the first token to those ids, with q renormalised over them
    (SLEM's token healing uses both).
    """
    vocab = run.drafter.vocab
    room = run.drafter_room()
    event = DraftEvent(iteration=run.iteration,
                       stop_reason=limit if n <= room else "drafter-context")
    context = run.drafter_ids if context is None else context
    tokens: list[int] = []
    laws: list[torch.Tensor] = []
    for step in range(min(n, room)):
        q = probabilities(run.drafter.logits(context + tokens, 1)[0], run.temperature)
        if run.drafter.no_match_id is not None and float(q[run.drafter.no_match_id]) == 1.0:
            event.stop_reason = "no-match"  # prompt lookup found nothing to copy
            break
        if first is not None and step == 0:
            q, _ = restricted(q, first)
        if q is not None and restrict is not None:
            q = restrict(q)
        if q is None:
            event.stop_reason = "no-mass"
            break
        token, u = run.choose(q, run.draft_draws)
        tokens.append(token)
        laws.append(q)
        event.add(token, vocab.describe(token), float(q[token]), u, run.top_drafter(q))
        if token in vocab.eos_ids:
            event.stop_reason = "eos"
            break
    event.text = vocab.text_of(tokens)
    return Draft(tokens, event, laws)
