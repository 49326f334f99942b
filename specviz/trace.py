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
import functools
import json
import reprlib
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

PHASES = ("draft", "translate", "verify", "accept")
TRACE_FORMAT = 1


def plural(n: int, noun: str) -> str:
    """'1 token', '3 tokens'."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


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
    ``after[i]``: the index of the draw that ``tokens[i]`` was drawn right after (-1: the drafter's
    context alone); ``i - 1`` for a plain draft, but SLRS draws several tokens after one context.
    ``healed`` (SLEM): whitespace that ended the drafter's context, backed off so that the first
    drafted token spells it again (``algorithms.slem.healable_tail``); ``text`` then starts with it.
    ``copied_from[i]`` (prompt lookup): the offset, in bytes of the drafter context (prompt and
    output so far, UTF-8), of the byte that ``tokens[i]`` copied; stop reason "no-match" when the
    context's last n-gram had no earlier occurrence.
    """

    phase: ClassVar[str] = "draft"
    tokens: list[int] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    probs: list[float] = field(default_factory=list)
    draws: list[float | None] = field(default_factory=list)
    top: list[list[TokenProb]] = field(default_factory=list)
    used: list[bool] = field(default_factory=list)
    after: list[int] = field(default_factory=list)
    text: str = ""
    stop_reason: str = ""  # "lookahead", "budget", "eos", "no-mass", "not-a-target-token", ...
    healed: str = ""  # token healing: the context's trailing whitespace that the draft re-spells
    copied_from: list[int] = field(default_factory=list)  # prompt lookup: context byte offsets

    def add(self, token: int, text: str, prob: float, draw: float | None,
            top: list[TokenProb], after: int | None = None) -> None:
        """Record one drafted token (as used; SLRS may mark it unused afterwards), drawn right
        after draw ``after`` (default: the previous draw)."""
        self.after.append(len(self.tokens) - 1 if after is None else after)
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
    candidate j (q for SD, q' mapped for TLI, psi for SLRS); SLEM needs none. ``over_budget``:
    candidates the draft gave beyond what max_new_tokens leaves room for, cut before verify.
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
    over_budget: list[str] = field(default_factory=list)


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


class _Ratio:
    """A read-only attribute of ``Stats``: one of its numbers over another, 0 while the second is 0
    (a run that has not begun)."""

    def __init__(self, part: str, whole: str, doc: str) -> None:
        self.part, self.whole, self.__doc__ = part, whole, doc

    def __get__(self, stats: Stats | None, owner: type) -> float:
        if stats is None:
            return self
        whole = getattr(stats, self.whole)
        return getattr(stats, self.part) / whole if whole else 0.0


@dataclass
class Stats:
    """Counts and timings of one run. Cheap to collect, so they are kept even when tracing is off.

    ``proposed`` counts candidate target tokens put to the target; ``judged`` those it examined;
    ``accepted`` those it kept. Two ratios come from them, each with one name everywhere (stats,
    figures, benchmark columns, notebooks): ``acceptance`` (a) = accepted / judged, the chance that
    a judged candidate passes, which the cost model takes; ``kept_share`` = accepted / proposed,
    lower, because the candidates after a rejection are proposed but never judged.
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

    acceptance = _Ratio("accepted", "judged", "a: the per-position acceptance of the cost model.")
    kept_share = _Ratio("accepted", "proposed",
                        "The share of all proposed candidates that ended up in the output.")
    mean_accepted_per_iteration = _Ratio("accepted", "iterations", "Kept candidates per iteration.")
    tokens_per_iteration = _Ratio("new_tokens", "iterations", "New tokens per target forward pass "
                                  "of the loop: accepted drafts plus the target's own.")
    tokens_per_second = _Ratio("new_tokens", "seconds", "New tokens per second of the whole run.")
    overhead_share = _Ratio("overhead_seconds", "seconds", "The share of the run's time spent "
                            "outside the models' forward passes.")

    @property
    def overhead_seconds(self) -> float:
        return max(0.0, self.seconds - self.target_seconds - self.drafter_seconds)

    def __str__(self) -> str:
        return (
            f"{plural(self.new_tokens, 'token')} in {self.seconds:.3f} s "
            f"({self.tokens_per_second:.1f} tok/s), {plural(self.iterations, 'iteration')}, "
            f"{self.target_forward_passes} target / "
            f"{self.drafter_forward_passes} drafter passes, acceptance a {self.acceptance:.2f}, "
            f"kept {self.kept_share:.2f} of proposed, "
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
    def from_dict(cls, data: Any) -> Trace:
        """Rebuild a trace from ``to_dict`` output, checking every field's type as it goes.

        Raises ``TraceError`` naming the first field that is missing or of the wrong type. Fields
        this version does not know (from a later specviz) are ignored, with one warning.
        """
        if not isinstance(data, dict):
            raise TraceError(f"a trace is a JSON object, but this is {_kind(data)}.")
        if data.get("format") != TRACE_FORMAT:
            raise TraceError(
                f"This trace has format {data.get('format')!r}; this specviz reads format "
                f"{TRACE_FORMAT}. Re-record it with this version of specviz."
            )
        reader = _Reader()
        trace = reader.build(cls, {k: v for k, v in data.items() if k != "format"}, "trace")
        if reader.unknown:
            warnings.warn(f"This trace has fields this specviz does not know (probably saved by a "
                          f"later version); they are ignored: {', '.join(sorted(reader.unknown))}",
                          stacklevel=2)
        return trace

    @classmethod
    def from_json(cls, source: str | Path) -> Trace:
        """Load from a path (or from JSON text, if ``source`` starts with '{').

        Anything that is not a readable trace raises ``TraceError`` saying what is wrong.
        """
        if isinstance(source, str) and source.lstrip().startswith("{"):
            text, where = source, "the JSON text"
        else:
            text, where = _read_text(source), str(source)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise TraceError(f"{where} is not valid JSON ({err}); it may be cut short. "
                             "Save the trace again with Trace.to_json.") from None
        try:
            return cls.from_dict(data)
        except TraceError as err:
            raise TraceError(f"{where}: {err}") from None

    def iteration(self, index: int) -> Iteration | None:
        """The iteration numbered ``index`` (None if absent): an excerpt of a trace keeps the
        original numbers, so ``index`` is not always a position in ``iterations``."""
        return next((it for it in self.iterations if it.index == index), None)


class TraceError(ValueError):
    """A trace that cannot be read: a missing or unreadable file, bad JSON, or a field of the
    wrong type. The message names the file or field."""


def _read_text(path: str | Path) -> str:
    if not str(path):
        raise TraceError("the path to the trace is empty; give the path of a .json trace file.")
    path = Path(path)
    if path.is_dir():
        raise TraceError(f"{path} is a folder; give the path of a .json trace file inside it.")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise TraceError(f"{path} is not a text file, so not a trace saved by Trace.to_json.") \
            from None
    except OSError as err:
        raise TraceError(f"cannot read {path}: {err.strerror}.") from None


def _kind(value: Any) -> str:
    return "null" if value is None else f"a {type(value).__name__} ({reprlib.repr(value)})"


class _Reader:
    """Rebuilds dataclasses from JSON values, checking each value against the field's type hint
    and collecting the names of fields it does not know."""

    def __init__(self) -> None:
        self.unknown: set[str] = set()

    def build(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            raise TraceError(f"{where} should be an object, but is {_kind(data)}.")
        hints, fields = _fields(cls)
        self.unknown.update(f"{cls.__name__}.{k}" for k in data if k not in fields)
        missing = [name for name, f in fields.items() if name not in data
                   and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
        if missing:
            raise TraceError(f"{where} lacks {', '.join(missing)}.")
        return cls(**{k: self.value(hints[k], v, f"{where}.{k}")
                      for k, v in data.items() if k in fields})

    def value(self, hint: Any, value: Any, where: str) -> Any:
        origin, args = typing.get_origin(hint), typing.get_args(hint)
        if hint is Any:
            return value
        if hint is Event:  # the phase names the event's class
            phase = value.get("phase") if isinstance(value, dict) else None
            if phase not in EVENT_TYPES:
                raise TraceError(f"{where} should be an event with a phase out of "
                                 f"{', '.join(PHASES)}, but is {_kind(value)}.")
            return self.build(EVENT_TYPES[phase], {k: v for k, v in value.items() if k != "phase"},
                              f"{where}({phase})")
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, where)
        if origin in (typing.Union, types.UnionType):
            if value is None and type(None) in args:
                return None
            return self.value(next(a for a in args if a is not type(None)), value, where)
        if origin is list and isinstance(value, list):
            return [self.value(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
        if origin is tuple and isinstance(value, list) and len(value) == len(args):
            return tuple(self.value(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
        if origin is dict and isinstance(value, dict):
            return {k: self.value(args[1], v, f"{where}[{k!r}]") for k, v in value.items()}
        if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if hint in (int, str, bool) and type(value) is hint:
            return value
        raise TraceError(f"{where} should be {_describe(hint)}, but is {_kind(value)}.")


@functools.cache
def _fields(cls: type) -> tuple[dict[str, Any], dict[str, dataclasses.Field]]:
    """A dataclass's type hints and init fields (looked up once: a trace has many events)."""
    return typing.get_type_hints(cls), {f.name: f for f in dataclasses.fields(cls) if f.init}


def _describe(hint: Any) -> str:
    """A type hint in words: list[int] -> 'a list of int'."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}"
    if origin is dict:
        return "an object"
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    return f"a {getattr(hint, '__name__', hint)}"
