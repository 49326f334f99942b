"""What happened in a run, phase by phase, as plain data that survives a trip through JSON.

Every iteration of a speculative decoder has four phases:

* **draft**: the drafter proposes tokens in *its own* vocabulary;
* **translate**: the draft becomes candidate tokens in the *target* vocabulary;
* **verify**: one target forward pass scores every candidate position;
* **accept**: the rule of the algorithm keeps a prefix of the candidates and adds one token of the
  target's own (a replacement after a rejection, or a bonus token when all were kept).

Each phase is recorded as one event. Events hold only numbers and strings, so a trace recorded on a
GPU with real models can be saved, copied to a laptop and replayed or drawn there without the models.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

PHASES = ("draft", "translate", "verify", "accept")
TRACE_FORMAT = 1


@dataclass
class TokenProb:
    """One entry of a top-k list: a token, how it reads, and its probability."""

    id: int
    text: str
    prob: float


@dataclass
class Event:
    """Base of the four phase events: which iteration, and how long the phase took."""

    phase: ClassVar[str] = ""
    iteration: int
    seconds: float = 0.0


@dataclass
class DraftEvent(Event):
    """The drafter's proposal, in the drafter's vocabulary.

    ``probs[i]`` is the probability of ``tokens[i]`` under the law it was drawn from (TLI: the
    renormalised q' on the intersection); ``draws[i]`` is the uniform number that picked it by
    inverse CDF (``None`` under greedy decoding); ``top[i]`` is the top-k of that law.
    ``used[i]`` says whether the token became part of the proposal: SLRS draws tokens it then
    drops (the one that ends a proposal, and the tokens of a proposal that spells no target token).
    ``healed`` (SLEM): whitespace that ended the drafter's context, backed off so that the first
    drafted token spells it again (``algorithms.base.healable_tail``); ``text`` then starts with it.
    """

    phase: ClassVar[str] = "draft"
    tokens: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    draws: list[float | None] = field(default_factory=list)
    top: list[list[TokenProb]] = field(default_factory=list)
    used: list[bool] = field(default_factory=list)
    text: str = ""
    stop_reason: str = ""  # "lookahead", "eos", "no-mass", "not-a-target-token", ...
    healed: str = ""  # token healing: the context's trailing whitespace that the draft re-spells

    def add(self, token: int, text: str, prob: float, draw: float | None,
            top: list[TokenProb]) -> None:
        """Record one drafted token (as used; SLRS may mark it unused afterwards)."""
        self.tokens.append(token)
        self.texts.append(text)
        self.probs.append(prob)
        self.draws.append(draw)
        self.top.append(top)
        self.used.append(True)


@dataclass
class PsiPath:
    """One way the drafter can spell a target token: its tokens and their joint probability."""

    tokens: list[int]
    texts: list[str]
    probs: list[float]  # conditional probability of each token along the path
    prob: float  # product of ``probs`` (times the stop factor of the last node, see SLRS)


@dataclass
class Lattice:
    """SLRS: every drafter path that spells one target token; their probabilities sum to ``psi``."""

    target_id: int
    target_text: str
    paths: list[PsiPath]
    stop_factor: list[float]  # per path: probability that drafting stops right after it
    psi: float
    drafter_passes: int  # drafter forward passes this lattice cost (after reuse)


@dataclass
class TranslateEvent(Event):
    """How the draft became target tokens.

    ``window_*`` is the look-behind context that was re-tokenized together with the draft;
    ``dropped`` is draft text that could not become whole target tokens. TLI fills ``mapping``
    (drafter id -> target id) and ``intersection_mass`` (share of q on the shared vocabulary);
    SLRS fills ``lattices``. ``proposal_probs[j]`` is the probability that the proposal law gives
    candidate j (q for SD, q' mapped for TLI, psi for SLRS); SLEM needs none.
    """

    phase: ClassVar[str] = "translate"
    text: str = ""
    window_ids: list[int] = field(default_factory=list)
    window_text: str = ""
    target_tokens: list[int] = field(default_factory=list)
    target_texts: list[str] = field(default_factory=list)
    dropped: str = ""
    mapping: list[tuple[int, int]] = field(default_factory=list)
    intersection_mass: list[float] = field(default_factory=list)
    proposal_probs: list[float] = field(default_factory=list)
    lattices: list[Lattice] = field(default_factory=list)


@dataclass
class PositionCheck:
    """The target's judgement of one candidate position.

    ``p`` is the target probability of the candidate. Exact-match rules (SLEM, and every algorithm
    at temperature 0) fill ``choice``: the token the target itself picked there (with ``draw`` the
    uniform number that picked it, ``None`` for argmax). Rejection sampling (SD, TLI, SLRS) fills
    ``q`` and ``accept_prob`` = min(1, p/q), and ``draw`` is the uniform number compared with it.
    """

    position: int
    candidate: int
    candidate_text: str
    p: float
    top: list[TokenProb] = field(default_factory=list)
    q: float | None = None
    accept_prob: float | None = None
    choice: int | None = None
    choice_text: str | None = None
    draw: float | None = None
    accepted: bool = False


@dataclass
class VerifyEvent(Event):
    """One target forward pass over all candidates, and each examined position's verdict."""

    phase: ClassVar[str] = "verify"
    rule: str = ""  # "exact-match" or "rejection-sampling"
    positions: list[PositionCheck] = field(default_factory=list)
    bonus_top: list[TokenProb] = field(default_factory=list)  # p after the last candidate


@dataclass
class ResidualDraw:
    """SLRS: one try of sampling the residual by rejection from p (see ``algorithms/slrs.py``)."""

    token: int
    text: str
    p: float
    psi: float
    keep_prob: float
    draw: float
    kept: bool


@dataclass
class AcceptEvent(Event):
    """The outcome: what the target committed this iteration.

    ``accepted`` candidates were kept; ``first_rejected`` is the index of the first rejected
    candidate (``None`` if all passed). ``replacement`` is the target's token at that position,
    drawn from the residual whose top-k is ``residual_top`` (exact match: from p itself; SLRS, which
    never forms the whole residual: ``residual_top`` is p's top-k, and ``residual_draws`` lists
    the tries of sampling the residual by rejection from p). ``bonus`` is the extra token sampled
    from p when every candidate passed. ``committed`` lists every token added to the output.
    """

    phase: ClassVar[str] = "accept"
    accepted: int = 0
    candidates: int = 0
    first_rejected: int | None = None
    replacement: int | None = None
    replacement_text: str | None = None
    replacement_draw: float | None = None
    residual_top: list[TokenProb] = field(default_factory=list)
    residual_draws: list[ResidualDraw] = field(default_factory=list)
    bonus: int | None = None
    bonus_text: str | None = None
    bonus_draw: float | None = None
    committed: list[int] = field(default_factory=list)
    committed_texts: list[str] = field(default_factory=list)
    finished: str | None = None  # "eos", "max_new_tokens" or "context" when the run ended here


EVENT_TYPES: dict[str, type[Event]] = {
    cls.phase: cls for cls in (DraftEvent, TranslateEvent, VerifyEvent, AcceptEvent)
}


@dataclass
class Iteration:
    """The events of one draft-translate-verify-accept round (autoregressive runs have no draft)."""

    index: int
    events: list[Event] = field(default_factory=list)

    def get(self, phase: str) -> Event | None:
        return next((e for e in self.events if e.phase == phase), None)


@dataclass
class Stats:
    """Counts and timings of one run. Cheap to collect, so they are kept even when tracing is off.

    ``proposed`` counts candidate target tokens put to the target; ``accepted`` those it kept;
    accepted / judged is the per-position acceptance of the cost model.
    ``overhead_seconds`` is everything outside the two models' forward passes (tokenization,
    alignment, sampling, bookkeeping, recording).
    """

    new_tokens: int = 0
    iterations: int = 0
    target_forward_passes: int = 0
    drafter_forward_passes: int = 0
    drafted: int = 0  # drafter tokens drafted
    proposed: int = 0
    judged: int = 0  # candidates the target examined (those after a rejection never are)
    accepted: int = 0
    seconds: float = 0.0
    time_to_first_token: float = 0.0
    phase_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    target_seconds: float = 0.0
    drafter_seconds: float = 0.0
    finish_reason: str = ""

    @property
    def acceptance_rate(self) -> float:
        """Share of proposed candidate tokens that the target kept."""
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def mean_accepted_per_iteration(self) -> float:
        return self.accepted / self.iterations if self.iterations else 0.0

    @property
    def tokens_per_iteration(self) -> float:
        """New tokens per target forward pass of the loop: accepted drafts plus the target's own."""
        return self.new_tokens / self.iterations if self.iterations else 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.new_tokens / self.seconds if self.seconds else 0.0

    @property
    def overhead_seconds(self) -> float:
        return max(0.0, self.seconds - self.target_seconds - self.drafter_seconds)

    @property
    def overhead_share(self) -> float:
        return self.overhead_seconds / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Fields and derived figures, flat, for tables and JSON."""
        out = dataclasses.asdict(self)
        for name in ("acceptance_rate", "mean_accepted_per_iteration", "tokens_per_iteration",
                     "tokens_per_second", "overhead_seconds", "overhead_share"):
            out[name] = getattr(self, name)
        return out

    def __str__(self) -> str:
        return (
            f"{self.new_tokens} tokens in {self.seconds:.3f} s ({self.tokens_per_second:.1f} tok/s), "
            f"{self.iterations} iterations, {self.target_forward_passes} target / "
            f"{self.drafter_forward_passes} drafter passes, acceptance {self.acceptance_rate:.2f}, "
            f"{self.tokens_per_iteration:.2f} tokens per iteration, overhead {self.overhead_share:.0%}"
        )


@dataclass
class Trace:
    """A whole run: its settings (``meta``), the prompt, every iteration's events, the output, stats."""

    meta: dict[str, Any] = field(default_factory=dict)
    prompt: str = ""
    iterations: list[Iteration] = field(default_factory=list)
    token_ids: list[int] = field(default_factory=list)
    token_texts: list[str] = field(default_factory=list)
    text: str = ""
    stats: Stats = field(default_factory=Stats)

    @property
    def events(self) -> list[Event]:
        """All events in the order they happened."""
        return [e for it in self.iterations for e in it.events]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": TRACE_FORMAT,
            "meta": self.meta,
            "prompt": self.prompt,
            "iterations": [
                {"index": it.index,
                 "events": [{"phase": e.phase, **dataclasses.asdict(e)} for e in it.events]}
                for it in self.iterations
            ],
            "token_ids": self.token_ids,
            "token_texts": self.token_texts,
            "text": self.text,
            "stats": dataclasses.asdict(self.stats),
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """Serialise; also write to ``path`` when given. Returns the JSON text."""
        text = json.dumps(self.to_dict(), ensure_ascii=False)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trace:
        if data.get("format") != TRACE_FORMAT:
            raise ValueError(
                f"This trace has format {data.get('format')!r}; this specviz reads format "
                f"{TRACE_FORMAT}. Re-record it with this version of specviz."
            )
        iterations = [
            Iteration(it["index"], [_event_from_dict(e) for e in it["events"]])
            for it in data["iterations"]
        ]
        return cls(meta=data["meta"], prompt=data["prompt"], iterations=iterations,
                   token_ids=data["token_ids"], token_texts=data["token_texts"],
                   text=data["text"], stats=Stats(**data["stats"]))

    @classmethod
    def from_json(cls, source: str | Path) -> Trace:
        """Load from a path (or from JSON text, if ``source`` starts with '{')."""
        text = source if isinstance(source, str) and source.lstrip().startswith("{") \
            else Path(source).read_text(encoding="utf-8")
        return cls.from_dict(json.loads(text))


def _event_from_dict(data: dict[str, Any]) -> Event:
    """Rebuild a typed event, including its nested dataclasses, from ``dataclasses.asdict`` output."""
    data = dict(data)
    cls = EVENT_TYPES[data.pop("phase")]
    return _build(cls, data)


def _build(cls: type, data: dict[str, Any]) -> Any:
    nested = {
        "top": lambda v: [[TokenProb(**t) for t in row] for row in v] if cls is DraftEvent
        else [TokenProb(**t) for t in v],
        "bonus_top": lambda v: [TokenProb(**t) for t in v],
        "residual_top": lambda v: [TokenProb(**t) for t in v],
        "positions": lambda v: [_build(PositionCheck, p) for p in v],
        "residual_draws": lambda v: [ResidualDraw(**r) for r in v],
        "lattices": lambda v: [_build(Lattice, lat) for lat in v],
        "paths": lambda v: [PsiPath(**p) for p in v],
        "mapping": lambda v: [tuple(pair) for pair in v],
    }
    kwargs = {k: nested[k](v) if k in nested else v for k, v in data.items()}
    return cls(**kwargs)
