"""Hugging Face's own speculative decoding on the same pair, timed the way specviz times itself.

transformers 5.x ships two of the paper's algorithms behind ``model.generate(assistant_model=...)``:
with two tokenizers, ``do_sample=False`` runs SLEM ("universal assisted generation") and
``do_sample=True`` runs TLI ("universal speculative decoding"); with one tokenizer it runs standard
speculative decoding. ``generate(prompt_lookup_num_tokens=k)`` runs prompt lookup: the drafter
copies target token ids from the context, and the target keeps candidates by exact match (HF's
candidates carry no probabilities), so it is what specviz's SLEM does with ``sv.PromptLookup()`` as
drafter, at any temperature. This module calls exactly that, with settings matched to specviz's:

* the lookahead goes on the *drafter's* ``generation_config`` (``num_assistant_tokens``, constant
  schedule): passed to ``generate`` as keyword arguments it is silently ignored;
* the confidence threshold, which stops HF's drafts early, is off by default (specviz drafts a fixed
  number of tokens); pass HF's own default, 0.4, to see what it buys;
* sampling turns off HF's default top-k of 50 and any top-p, so both sample the full distribution;
* TLI runs with the drafter's LM head unpruned: HF's pruned head (its default) puts the drafter's
  probabilities on the wrong tokens, so that path is not lossless (see the reference notes).

Timing: wall time per ``generate`` call, the first new token's time through a streamer, and each
model's forward passes and their time through module hooks. Hugging Face runs with sdpa attention, as
it ships; specviz's CPU target runs its invariant passes (``models.invariant_passes``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version

import torch

from .models.hf import HFModel
from .models.invariant_passes import ROW_ATTENTION
from .models.pair import ModelPair
from .models.prompt_lookup import PromptLookup
from .trace import Stats


KNOWN_BREAKS: dict[tuple[str, str | None], str] = {
    ("5.25.0", None): (
        "transformers 5.25 crops the drafter's KV cache by a count of *target* tokens "
        "(AssistedCandidateGeneratorDifferentTokenizers._last_ids_length), so with two tokenizers "
        "the cache outgrows the drafter's ids and the drafter is fed zero tokens (RuntimeError: "
        "cannot reshape tensor of 0 elements, or IndexError in warn_if_padding_and_no_attention_"
        "mask); tests/reproducers/hf_two_tokenizers_crash.py reproduces it with transformers alone"),
}
"""Releases of transformers whose speculative decoding with two tokenizers (SLEM greedy, TLI
sampling) is known to crash: (first broken, first fixed or None) -> what breaks. With one
tokenizer (SD) and prompt lookup they run."""


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def known_break(two_tokenizers: bool = True, installed: str | None = None) -> str | None:
    """Why Hugging Face's assisted generation is known to fail with the installed transformers
    (``installed``: another version, to ask about it), or None where no failure is known."""
    if not two_tokenizers:
        return None
    here = _release(installed or version("transformers"))
    for (first, fixed), why in KNOWN_BREAKS.items():
        if _release(first) <= here and (fixed is None or here < _release(fixed)):
            return why
    return None


def failure(pair: ModelPair, algorithm: str, error: BaseException) -> dict[str, str | None]:
    """A Hugging Face run on ``pair`` that raised, as a result: ``error`` says which release and
    what it raised, in one line; ``known`` is the known cause (``known_break``), or None."""
    first_line = str(error).splitlines()[0] if str(error) else ""
    two_tokenizers = isinstance(pair.target, HFModel) and isinstance(pair.drafter, HFModel) \
        and _different_tokenizers(pair.target.model, pair.drafter.model)
    return {"error": f"Hugging Face transformers {version('transformers')} {algorithm} raised "
                     f"{type(error).__name__}: {first_line}",
            "known": known_break(two_tokenizers)}


@dataclass
class PassLog:
    """One model's forward passes during one call: the positions each pass fed, and their time."""

    sizes: list[int] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passes(self) -> int:
        return len(self.sizes)

    @property
    def tokens(self) -> int:
        return sum(self.sizes)


@dataclass
class HFRun:
    """One ``generate`` call: the continuation and how long it took, in specviz's terms."""

    algorithm: str  # "autoregressive", "slem", "tli" or "sd"
    token_ids: list[int]
    text: str
    seconds: float
    time_to_first_token: float
    target: PassLog
    drafter: PassLog
    finish_reason: str

    @property
    def stats(self) -> Stats:
        """The counts specviz's own runs report, as far as HF shows them: each target pass is one
        iteration; drafts, acceptance and phases stay hidden inside ``generate`` (zero here)."""
        return Stats(new_tokens=len(self.token_ids), iterations=self.target.passes,
                     target_forward_passes=self.target.passes,
                     drafter_forward_passes=self.drafter.passes, seconds=self.seconds,
                     time_to_first_token=self.time_to_first_token,
                     target_seconds=self.target.seconds, drafter_seconds=self.drafter.seconds,
                     finish_reason=self.finish_reason)


def hf_runs(pair: ModelPair) -> bool:
    """Can Hugging Face run ``pair``'s speculative decoding? A transformers target with a
    transformers drafter (SLEM, TLI, SD) or with prompt lookup (HF's own, on the target's ids)."""
    return isinstance(pair.target, HFModel) and (isinstance(pair.drafter, HFModel)
                                                 or isinstance(pair.drafter, PromptLookup))


def hf_algorithm(pair: ModelPair, temperature: float, assisted: bool = True) -> str:
    """The algorithm HF runs on ``pair`` at ``temperature`` (``assisted=False``: plain decoding).

    Prompt lookup verifies by exact match at every temperature: that is SLEM's rule."""
    if not assisted:
        return "autoregressive"
    if isinstance(pair.drafter, PromptLookup):
        _hf_models(pair, needs_drafter=False)
        return "slem"
    target, drafter = _hf_models(pair)
    if not _different_tokenizers(target.model, drafter.model):
        return "sd"
    return "tli" if temperature > 0 else "slem"


def hf_generate(pair: ModelPair, prompt: str, algorithm: str = "slem", *, max_new_tokens: int = 64,
                lookahead: int = 4, temperature: float = 0.0, seed: int = 0,
                confidence_threshold: float = 0.0, prune_lm_head: bool = False) -> HFRun:
    """Run Hugging Face's ``generate`` for ``algorithm`` on the models of ``pair``.

    ``algorithm`` must be what HF runs at this temperature (see ``hf_algorithm``): HF has no SLEM
    with sampling and no TLI with greedy decoding. ``seed`` seeds torch's global generator, which
    HF samples from (so HF's samples differ from specviz's, but each is reproducible).
    ``prune_lm_head=True`` runs TLI as HF ships it (pruned drafter head; not lossless in 5.24,
    and it rewrites the drafter in place: use models and tokenizers loaded for that run only).
    With ``sv.PromptLookup()`` as drafter, HF's prompt lookup runs with ``lookahead`` as
    ``prompt_lookup_num_tokens`` and HF's own matching (up to 2 target tokens,
    ``max_matching_ngram_size``'s default): the same k, HF's own way of finding the match.
    """
    assisted = algorithm != "autoregressive"
    lookup = assisted and isinstance(pair.drafter, PromptLookup)
    target, drafter = _hf_models(pair, needs_drafter=assisted and not lookup)
    expected = hf_algorithm(pair, temperature, assisted)
    if algorithm != expected:
        raise ValueError(f"Hugging Face runs {expected!r} on this pair at temperature "
                         f"{temperature}, not {algorithm!r}: it picks SLEM or TLI from do_sample "
                         "alone.")
    inputs = target.tokenizer(prompt, return_tensors="pt").to(target.device)
    kwargs = dict(inputs, max_new_tokens=max_new_tokens, **_sampling_kwargs(temperature))
    if lookup:
        kwargs["prompt_lookup_num_tokens"] = lookahead
    elif assisted:
        kwargs["assistant_model"] = drafter.model
    if drafter is not None and algorithm in ("slem", "tli"):
        kwargs |= {"tokenizer": target.tokenizer, "assistant_tokenizer": drafter.tokenizer}
    if algorithm == "tli" and not prune_lm_head:
        _unpruned_translator(target, drafter)
    clock = _FirstTokenClock()
    torch.manual_seed(seed)
    with _draft_settings(drafter, lookahead, confidence_threshold), \
            _shipped_attention(target.model, drafter.model if drafter else None), \
            count_passes(target.model, target.device) as t_log, \
            count_passes(drafter.model if drafter else None, target.device) as d_log, \
            torch.inference_mode():
        began = time.perf_counter()
        out = target.model.generate(**kwargs, streamer=clock)
        _synchronize(target.device)
        seconds = time.perf_counter() - began
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    finish = "eos" if new and new[-1] in target.vocab.eos_ids else "max_new_tokens"
    first = (clock.first - began) if clock.first is not None else seconds
    text = target.vocab.text_of(new)
    return HFRun(algorithm, new, text, seconds, first, t_log, d_log, finish)


# -- helpers ---------------------------------------------------------------------------------------

def _hf_models(pair: ModelPair, needs_drafter: bool = True) -> tuple[HFModel, HFModel | None]:
    """The pair's transformers models; the drafter only when it is needed."""
    if not isinstance(pair.target, HFModel) or (
            needs_drafter and not isinstance(pair.drafter, HFModel)):
        raise TypeError("The Hugging Face comparison needs transformers models (sv.load_pair "
                        "with bundled names, hub ids, folders or (model, tokenizer) objects), not "
                        "toy models; of the drafters without weights, only prompt lookup "
                        "(sv.PromptLookup()) has a Hugging Face counterpart.")
    return pair.target, pair.drafter if needs_drafter else None


def _different_tokenizers(target, drafter) -> bool:
    """HF's own test: two tokenizers exactly when the configured vocabulary sizes differ."""
    return target.config.get_text_config().vocab_size != drafter.config.get_text_config().vocab_size


def _sampling_kwargs(temperature: float) -> dict:
    """Greedy, or plain sampling at ``temperature`` from the whole distribution (HF defaults to
    top-k 50; a checkpoint's generation_config may add top-p or min-p: all are switched off)."""
    if temperature == 0:
        return {"do_sample": False}
    return {"do_sample": True, "temperature": float(temperature), "top_k": 0, "top_p": 1.0,
            "min_p": None, "typical_p": 1.0, "repetition_penalty": 1.0}


def _unpruned_translator(target: HFModel, drafter: HFModel) -> None:
    """Register HF's TLI vocabulary translator with the drafter's LM head left whole.

    ``generate`` asks a per-tokenizer cache for the translator (with pruning on); creating it first,
    with pruning off, makes ``generate`` reuse ours. A pruned one created earlier has already
    replaced the drafter's LM head, so that cannot be undone here.
    """
    from transformers.generation.candidate_generator import AssistantVocabTranslatorCache

    translator = AssistantVocabTranslatorCache.get_translator(
        target.tokenizer, drafter.tokenizer, target.model.config.get_text_config().vocab_size,
        assistant_model=drafter.model, assistant_prune_lm_head=False)
    if translator.assistant_prune_lm_head:
        raise RuntimeError("Hugging Face's TLI already pruned this drafter's LM head (an earlier "
                           "generate(do_sample=True) call); its pruned path is not lossless. "
                           "Reload the drafter and compare again.")


@contextmanager
def _draft_settings(drafter: HFModel | None, lookahead: int, threshold: float) -> Iterator[None]:
    """Put HF's draft settings on the drafter's generation_config (where HF reads them), then
    restore it."""
    if drafter is None:
        yield
        return
    config = drafter.model.generation_config
    wanted = {"num_assistant_tokens": lookahead, "num_assistant_tokens_schedule": "constant",
              "assistant_confidence_threshold": threshold}
    saved = {name: getattr(config, name, None) for name in wanted}
    for name, value in wanted.items():
        setattr(config, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(config, name, value)


@contextmanager
def _shipped_attention(*models: torch.nn.Module | None) -> Iterator[None]:
    """Hugging Face runs as it ships, with sdpa attention, not specviz's invariant passes."""
    swapped = [m for m in models if m is not None and m.config._attn_implementation == ROW_ATTENTION]
    for model in swapped:
        model.set_attn_implementation("sdpa")
    try:
        yield
    finally:
        for model in swapped:
            model.set_attn_implementation(ROW_ATTENTION)


@contextmanager
def count_passes(model: torch.nn.Module | None, device: torch.device) -> Iterator[PassLog]:
    """Log a transformers model's forward calls (positions fed, wall time) with module hooks.

    Works the same whoever calls the model, so specviz and Hugging Face are measured alike.
    ``model=None`` logs nothing.
    """
    log = PassLog()
    if model is None:
        yield log
        return
    began: list[float] = []

    def before(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        size = int(ids.shape[-1]) if ids is not None else 0
        if getattr(module, "specviz_piece", False):  # a later piece of one invariant pass
            log.sizes[-1] += size
        else:
            log.sizes.append(size)
        began.append(time.perf_counter())

    def after(module, args, output):
        _synchronize(device)
        log.seconds += time.perf_counter() - began.pop()

    handles = [model.register_forward_pre_hook(before, with_kwargs=True),
               model.register_forward_hook(after)]
    try:
        yield log
    finally:
        for handle in handles:
            handle.remove()


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _FirstTokenClock:
    """A streamer that notes when ``generate`` hands out its first new tokens.

    ``generate`` calls ``put`` once with the prompt, then once per step (per verification round
    when assisted), so the second call marks the first token.
    """

    def __init__(self) -> None:
        self.calls = 0
        self.first: float | None = None

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self) -> None:
        pass
