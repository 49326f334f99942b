"""The one decoding loop every algorithm shares, with live hooks and a recorded trace.

    while not finished:
        draft      algorithm.draft: the drafter proposes tokens in its own vocabulary
        translate  algorithm.translate: they become candidate target tokens
        verify     one target forward pass over all of them; algorithm.verify judges each position
        accept     keep the passing prefix plus one token of the target's own;
                   algorithm.catch_up brings the drafter's context up to date

The loop itself only times the phases, records their events and calls the algorithm.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib.metadata
import math
import platform
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from ..models.base import dtype_name
from ..sampling import TargetSettings, is_whole_number, seeded_streams
from ..trace import AcceptEvent, Event, Iteration, Stats, Trace
from .base import Algorithm, BudgetError, Decoding
from .rules import settle

Hook = Callable[[Event], None]
MIN_TEMPERATURE = 1.2e-38  # ~ the smallest normal float32: below it logits / T is not finite
LARGE_TOP_K = 1000  # a trace_top_k above this earns a warning about the trace's size


@dataclass
class Result:
    """What ``generate`` returns: the continuation (text and target ids), its trace and stats."""

    text: str
    token_ids: list[int]
    trace: Trace
    stats: Stats

    def __repr__(self) -> str:
        return f"Result(text={self.text!r}, stats=<{self.stats}>)"


def _hook_list(hooks) -> list[Hook]:
    """Accept a callable, an object with on_draft/on_translate/on_verify/on_accept, or a list."""
    if hooks is None:
        return []
    if isinstance(hooks, (list, tuple)):
        return [h for item in hooks for h in _hook_list(item)]
    if callable(hooks):
        return [hooks]
    methods = {phase: getattr(hooks, f"on_{phase}", None)
               for phase in ("draft", "translate", "verify", "accept")}
    for phase, method in methods.items():
        if method is not None and not callable(method):
            raise TypeError(f"hooks: {type(hooks).__name__}.on_{phase} must be a method taking an "
                            f"event, got {type(method).__name__}")
    if not any(methods.values()):
        raise TypeError("hooks must be a callable taking an event, or an object with one or more of "
                        "on_draft, on_translate, on_verify, on_accept")
    return [lambda event: methods[event.phase] and methods[event.phase](event)]


@functools.cache
def library_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("specviz", "torch", "transformers", "tokenizers"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


class _Recorder:
    """Holds one run's clock, trace and hooks, so that the loop below reads like the algorithm."""

    def __init__(self, run: Decoding, hooks: list[Hook], record: bool):
        self.run, self.hooks, self.record = run, hooks, record
        self.stats = Stats()
        self.iterations: list[Iteration] = []
        self.current: Iteration | None = None
        self.began = time.perf_counter()

    @contextmanager
    def phase(self, name: str):
        began = time.perf_counter()
        box: list[Event] = []
        yield box
        seconds = time.perf_counter() - began
        self.stats.phase_seconds[name] += seconds
        event = box[0]
        event.seconds = seconds
        if self.record:
            self.current.events.append(event)
        for hook in self.hooks:  # each gets its own copy: editing it cannot change the trace
            hook(copy.deepcopy(event))

    def iteration(self) -> None:
        """Start the next iteration; the events made in it record its index."""
        self.current = Iteration(index=self.stats.iterations)
        self.run.iteration = self.current.index
        if self.record:
            self.iterations.append(self.current)
        self.stats.iterations += 1


def generate(pair, prompt: str, algorithm: str | Algorithm = "slem", *, max_new_tokens: int = 64,
             lookahead: int | None = None, temperature: float = 0.0, seed: int = 0, hooks=None,
             trace_top_k: int | None = 5, top_k: int | None = None, top_p: float | None = None,
             repetition_penalty: float | None = None) -> Result:
    """Continue ``prompt`` with the target's distribution, using ``algorithm`` to go faster.

    ``algorithm``: a name from ``sv.ALGORITHMS`` or an instance such as ``sv.SLEM(lookahead=5)``;
    ``lookahead`` (if given) overrides the instance's. ``temperature`` 0 is greedy; above 0 the output
    is distributed exactly as the target sampling at that temperature. ``seed`` makes the run
    reproducible. ``hooks`` are called live with each phase event. ``trace_top_k`` sets how many
    top tokens each event keeps (0 keeps events without top-k lists; ``None`` records no trace,
    for benchmarks: stats are still kept). ``top_k``, ``top_p`` and ``repetition_penalty`` shape the
    *target's* distribution as in Hugging Face's ``generate`` (``sampling.TargetSettings``); the
    output is lossless against that processed distribution. ``top_k`` is not ``trace_top_k``.
    """
    from . import make_algorithm

    algo = make_algorithm(algorithm, lookahead)
    _check_inputs(pair, prompt, algo, max_new_tokens, temperature, seed, trace_top_k)
    algo.check(pair)
    settings = TargetSettings(top_k, top_p, repetition_penalty)
    draft_draws, target_draws = seeded_streams(seed)
    run = Decoding(pair, prompt, max_new_tokens=max_new_tokens, temperature=float(temperature),
                   seed=seed, top_k=trace_top_k or 0, lookbehind=algo.lookbehind,
                   draft_draws=draft_draws, target_draws=target_draws, settings=settings)
    _check_context(run)

    recorder = _Recorder(run, _hook_list(hooks), record=trace_top_k is not None)
    models = [m for m in (pair.target, pair.drafter) if m is not None]
    before = [(m.counter.passes, m.counter.seconds) for m in models]
    for m in models:
        m.reset()
    finished = None if run.remaining > 0 else "max_new_tokens"
    try:
        while finished is None:
            recorder.iteration()
            if algo.needs_drafter:
                with recorder.phase("draft") as box:
                    draft = algo.draft(run)
                    box.append(draft.event)
                with recorder.phase("translate") as box:
                    cand = algo.translate(run, draft)
                    box.append(cand.event)
                recorder.stats.drafted += len(draft.tokens)
                recorder.stats.proposed += len(cand.tokens)
            else:
                draft = algo.draft(run)
                cand = algo.translate(run, draft)
            with recorder.phase("verify") as box:
                ids = run.target_ids + cand.tokens
                scores = run.target_scores(run.target.logits(ids, len(cand.tokens) + 1), ids)
                p = run.target_probs(scores)
                verdict = algo.verify(run, cand, p, scores)
                box.append(verdict.event)
            with recorder.phase("accept") as box:
                recorder.stats.judged += len(verdict.event.positions)
                event = settle(run, cand, verdict)
                finished = _commit(run, event)
                if finished is None and algo.needs_drafter:
                    algo.catch_up(run, draft, cand, event.committed)
                recorder.stats.accepted += event.accepted
                box.append(event)
            if recorder.stats.iterations == 1:
                recorder.stats.time_to_first_token = time.perf_counter() - recorder.began
    except BudgetError as err:  # say how far the run got, whichever algorithm hit its budget
        raise type(err)(f"{err} The run stopped {run.progress()}.") from None

    stats = recorder.stats
    stats.seconds = time.perf_counter() - recorder.began
    stats.new_tokens = len(run.generated)
    stats.finish_reason = finished
    target_work, *drafter_work = [(m.counter.passes - n, m.counter.seconds - s)
                                  for m, (n, s) in zip(models, before)]
    stats.target_forward_passes, stats.target_seconds = target_work
    if drafter_work:
        stats.drafter_forward_passes, stats.drafter_seconds = drafter_work[0]
    vocab = pair.target.vocab
    tokens = run.generated
    trace = Trace(meta=_meta(pair, algo, run, prompt), prompt=prompt,
                  iterations=recorder.iterations, token_ids=tokens,
                  token_texts=[vocab.describe(t) for t in tokens], text=vocab.text_of(tokens),
                  stats=stats)
    return Result(trace.text, tokens, trace, stats)


def _commit(run: Decoding, event: AcceptEvent) -> str | None:
    """Append the accepted tokens to the output; return why the run ends, if it does."""
    finished = None
    tokens = event.committed[:run.remaining]
    if len(tokens) < len(event.committed):
        finished = "max_new_tokens"
    for i, token in enumerate(tokens):
        if token in run.target.vocab.eos_ids:
            tokens, finished = tokens[:i + 1], "eos"
            break
    run.target_ids.extend(tokens)
    if finished is None and run.remaining == 0:
        finished = "max_new_tokens"
    if finished is None and run.target.max_length is not None \
            and len(run.target_ids) >= run.target.max_length:
        finished = "context"
    event.committed, event.committed_texts = tokens, event.committed_texts[:len(tokens)]
    event.finished = finished
    return finished


def _check_inputs(pair, prompt, algo, max_new_tokens, temperature, seed, trace_top_k) -> None:
    from ..models.pair import ModelPair

    if not isinstance(pair, ModelPair):
        raise TypeError(f"generate() needs a ModelPair (from sv.load_pair(...) or sv.toy_pair()), "
                        f"got {type(pair).__name__}")
    if not isinstance(prompt, str) or not prompt:
        raise ValueError("prompt must be a non-empty string: the models need some text to continue.")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as err:
        raise ValueError(f"the prompt has a character that is not text ({prompt[err.start]!r}, a lone "
                         f"surrogate, at position {err.start}); remove it.") from None
    if not is_whole_number(max_new_tokens, 0):
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not isinstance(temperature, (int, float)) or not 0 <= temperature < math.inf \
            or 0 < temperature < MIN_TEMPERATURE:
        raise ValueError(f"temperature must be 0 (greedy) or a finite number >= {MIN_TEMPERATURE:g} "
                         f"(the smallest float32 that logits can be divided by), got {temperature!r}")
    if not is_whole_number(seed, 0):
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if trace_top_k is not None and not is_whole_number(trace_top_k, 0):
        raise ValueError(f"trace_top_k must be None (no trace) or an integer >= 0, got {trace_top_k!r}")
    if trace_top_k is not None and trace_top_k > LARGE_TOP_K:
        warnings.warn(f"trace_top_k={trace_top_k} keeps that many tokens (up to the whole vocabulary) "
                      "at every drafted and judged position: the trace can take gigabytes. The "
                      f"figures show at most 10; trace_top_k <= {LARGE_TOP_K} is plenty.", stacklevel=3)
    if algo.needs_drafter and getattr(pair, "drafter", None) is None:
        raise ValueError(f"{algo.name} needs a drafter, but this pair has none.")


def _check_context(run: Decoding) -> None:
    for role, model, ids in (("target", run.target, run.target_ids),
                             ("drafter", run.drafter, run.drafter_ids)):
        if model is not None and model.max_length is not None and len(ids) >= model.max_length:
            raise ValueError(
                f"The prompt is {len(ids)} tokens for the {role} ({model.name}), whose context holds "
                f"{model.max_length}. Shorten the prompt (keep the end, which matters most).")


def precision_meta(model) -> dict:
    """How a model's dtype was chosen (``dtype="auto"`` measured it) and, for an invariant target,
    the most positions one of its passes feeds; empty for models with neither."""
    out = {}
    if getattr(model, "dtype_choice", None) is not None:
        out["dtype_choice"] = dataclasses.asdict(model.dtype_choice)
    if getattr(model, "largest_pass", None) is not None:
        out["largest_invariant_pass"] = model.largest_pass
    return out


def _meta(pair, algo: Algorithm, run: Decoding, prompt: str) -> dict:
    def model_meta(m):
        if m is None:
            return None
        return {"name": m.name, "tokenizer": getattr(m, "tokenizer_name", m.vocab.name),
                "vocab_size": m.vocab.size,
                "device": str(m.device), "dtype": dtype_name(m), **precision_meta(m)}

    return {
        "algorithm": algo.name, "params": algo.params(), "temperature": run.temperature,
        "seed": run.seed, "max_new_tokens": run.max_new_tokens, "top_k": run.top_k,
        **({"target_settings": dataclasses.asdict(run.settings)} if run.settings.active else {}),
        "target": model_meta(pair.target), "drafter": model_meta(pair.drafter),
        "intersection_size": pair.intersection.size if pair.drafter is not None else None,
        "prompt_ids": run.target_ids[:run.prompt_len], "threads": torch.get_num_threads(),
        "versions": library_versions(),
    }
