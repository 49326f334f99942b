"""Tiny random language models with real, *different* tokenizers, built in code in milliseconds.

Speculative decoding across vocabularies has to be tested on real Hugging Face models whose
tokenizers disagree in every way that matters: byte-level BPE (GPT-2) against SentencePiece-style
BPE (Llama, with a '<s>' in front of every prompt and '<0xNN>' byte tokens for rare characters),
large vocabularies against small ones, whole words against single bytes. Nothing may be downloaded,
so the tokenizers are trained here, in milliseconds, on a small corpus shipped with the package
(``specviz/data/tiny_corpus.txt``), and the models are randomly initialised from a seed.

Random models say nothing sensible, but for a *lossless* algorithm that does not matter: the
output must equal plain decoding of the target token for token, whatever the models believe. What
matters is that their next-token distributions are peaked (so that greedy decoding never hinges on
a near-tie that float rounding could flip) and that everything is deterministic.

``tiny_pair(name)`` returns a ready ``(target, drafter)`` pair; ``TINY_PAIRS`` lists them.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from .hf_vocab import byte_level_alphabet

CORPUS_PATH = Path(__file__).resolve().parent.parent / "data" / "tiny_corpus.txt"

ENDOFTEXT = "<|endoftext|>"  # GPT-2's only special token: end of text, and also BOS, UNK and PAD
UNK, BOS, EOS = "<unk>", "<s>", "</s>"  # SentencePiece / Llama specials, ids 0, 1, 2
SPACE = "\u2581"  # '▁': how SentencePiece writes a space inside a token


# -- the corpus ------------------------------------------------------------------------------------

@lru_cache(maxsize=1)
def corpus_text() -> str:
    """The training text: English prose, Python code, numbers, a little French, Spanish, German
    and Chinese, and emoji."""
    return CORPUS_PATH.read_text(encoding="utf-8")


def corpus_paragraphs() -> list[str]:
    """The corpus cut at blank lines: prose paragraphs and code blocks (with their indentation)."""
    return [p for p in corpus_text().split("\n\n") if p.strip()]


def corpus_sentences() -> list[str]:
    """Whole sentences from the prose (single-line paragraphs; code is left out): handy prompts."""
    sentences = []
    for paragraph in corpus_paragraphs():
        if "\n" in paragraph:
            continue
        pieces = re.split(r"(?<=[.!?])\s+|(?<=[。！？])", paragraph)  # Chinese has no spaces
        sentences += [p for p in pieces if p and p[-1] in ".!?。！？"]
    return sentences


# -- tokenizers ------------------------------------------------------------------------------------

def _wrap(tokenizer: Tokenizer, *, bos: str, eos: str, unk: str,
          add_bos: bool) -> PreTrainedTokenizerFast:
    """A ``transformers`` tokenizer around a ``tokenizers`` pipeline; EOS doubles as padding.

    ``clean_up_tokenization_spaces=False`` keeps ``decode`` exact (clean-up turns " ." into ".").
    """
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=bos,
        eos_token=eos,
        unk_token=unk,
        pad_token=eos,
        add_bos_token=add_bos,
        clean_up_tokenization_spaces=False,
    )


def _check_size(tokenizer: Tokenizer, vocab_size: int) -> None:
    if tokenizer.get_vocab_size() != vocab_size:
        raise ValueError(f"the corpus only supports {tokenizer.get_vocab_size()} tokens, "
                         f"not {vocab_size}: ask for fewer")


@lru_cache(maxsize=None)
def bytelevel_bpe_tokenizer(vocab_size: int) -> PreTrainedTokenizerFast:
    """GPT-2-style byte-level BPE: id 0 '<|endoftext|>', then the 256 byte stand-ins, then merges.

    Text is split GPT-2's way (words keep their leading space: 'Ġthe'), then each piece is turned
    into bytes, so every string is encodable and nothing is ever unknown. No BOS is added.
    Cached: the same object comes back for the same arguments, so do not modify it.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[ENDOFTEXT],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    tokenizer.train_from_iterator([corpus_text()], trainer)
    _check_size(tokenizer, vocab_size)
    return _wrap(tokenizer, bos=ENDOFTEXT, eos=ENDOFTEXT, unk=ENDOFTEXT, add_bos=False)


def _covered_characters(lines: list[str], coverage: float) -> list[str]:
    """The most frequent characters that together make up ``coverage`` of the text (SentencePiece's
    ``character_coverage``); the rest are left to byte tokens. Ties break by code point."""
    counts = Counter(ch for line in lines for ch in line.replace(" ", SPACE))
    budget = coverage * sum(counts.values())
    kept, covered = [], 0
    for ch, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        if covered >= budget:
            break
        kept.append(ch)
        covered += n
    return kept


@lru_cache(maxsize=None)
def sentencepiece_tokenizer(vocab_size: int,
                            character_coverage: float = 0.995) -> PreTrainedTokenizerFast:
    """Llama-style SentencePiece BPE with byte fallback, built with the ``tokenizers`` library.

    Layout as in Llama: '<unk>' 0, '<s>' 1, '</s>' 2, the byte tokens '<0x00>'..'<0xFF>' 3..258,
    then characters and merges. Spaces become '▁' and one '▁' is put in front of the text ("Hi" ->
    '▁Hi'); characters outside the covered alphabet (here the Chinese, the emoji, a few rare
    letters, and as in Llama the newline) become their UTF-8 bytes. Encodings start with '<s>'.
    The decoder strips one leading space, so ``decode(encode(s)) == s`` holds for text that does
    not start with a space; text that does loses that one space, exactly as with Llama.
    Cached: the same object comes back for the same arguments, so do not modify it.
    """
    lines = [line for line in corpus_text().splitlines() if line.strip()]  # '\n' is never learned
    alphabet = _covered_characters(lines, character_coverage)
    # split=True: no piece spans two words (SentencePiece's default); the first word gets its '▁'.
    metaspace = pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="first", split=True)

    # 1. Learn characters and merges without byte tokens (the trainer would make them special).
    pieces = Tokenizer(models.BPE(unk_token=UNK))
    pieces.pre_tokenizer = metaspace
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size - 256,
        special_tokens=[UNK, BOS, EOS],
        initial_alphabet=alphabet,
        limit_alphabet=len(alphabet),  # other characters are left to byte fallback
        show_progress=False,
    )
    pieces.train_from_iterator(lines, trainer)
    learned = sorted(pieces.get_vocab().items(), key=lambda item: item[1])
    merges = [tuple(pair) for pair in json.loads(pieces.to_str())["model"]["merges"]]

    # 2. Insert the 256 byte tokens after the specials and rebuild the model around them.
    vocab = {UNK: 0, BOS: 1, EOS: 2} | {f"<0x{b:02X}>": 3 + b for b in range(256)}
    vocab |= {token: i + 256 for token, i in learned if i >= 3}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=UNK, byte_fallback=True))
    tokenizer.add_special_tokens([UNK, BOS, EOS])
    tokenizer.pre_tokenizer = metaspace
    tokenizer.decoder = decoders.Sequence([
        decoders.Replace(SPACE, " "),
        decoders.ByteFallback(),  # '<0xE4>' '<0xB8>' '<0xAD>' -> '中'
        decoders.Fuse(),
        decoders.Strip(content=" ", left=1, right=0),  # the space that encoding put in front
    ])
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, 1)]
    )
    _check_size(tokenizer, vocab_size)
    return _wrap(tokenizer, bos=BOS, eos=EOS, unk=UNK, add_bos=True)


@lru_cache(maxsize=1)
def char_tokenizer() -> PreTrainedTokenizerFast:
    """One token per byte: ids 0..255 are the bytes themselves, 256 is '<|endoftext|>'. No merges.

    ASCII characters are one token each; 'é' is two, '中' three and '🌈' four. The smallest
    possible vocabulary, and the most extreme mismatch against a BPE target.
    """
    vocab = {**byte_level_alphabet(), ENDOFTEXT: 256}  # id b is byte b
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.add_special_tokens([ENDOFTEXT])
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    return _wrap(tokenizer, bos=ENDOFTEXT, eos=ENDOFTEXT, unk=ENDOFTEXT, add_bos=False)


# -- models ----------------------------------------------------------------------------------------

def _special_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    return {
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
    }


def _seeded_build(model_class: type[PreTrainedModel], config, seed: int,
                  logit_std: float) -> PreTrainedModel:
    """``model_class(config)`` with weights drawn from ``seed``, leaving the caller's RNG untouched.

    The LM head is redrawn with standard deviation ``logit_std / sqrt(d_model)``: the final norm
    makes the last hidden state unit-sized, so the logits have standard deviation ``logit_std``.
    A large spread makes distributions peaked: a few tokens hold most of the probability, and two
    tokens essentially never tie for the argmax.
    """
    with torch.random.fork_rng(devices=[]):  # the global RNG state is restored on exit
        torch.manual_seed(seed)
        model = model_class(config)
        head = model.get_output_embeddings().weight
        with torch.no_grad():
            head.normal_(0.0, logit_std / math.sqrt(head.shape[1]))
    model = model.to(torch.float32).eval()
    model.generation_config.update(bos_token_id=config.bos_token_id,
                                   eos_token_id=config.eos_token_id,
                                   pad_token_id=config.pad_token_id)
    return model


@dataclass(frozen=True)
class TinySize:
    """How big a tiny model is, and how its random weights are drawn.

    ``logit_std``: the spread of the logits (peaked distributions, no ties for the argmax);
    ``init_std``: the spread of all other weights, larger than the usual 0.02, so that attention,
    and with it the context, visibly changes the prediction.
    """

    n_layer: int = 2
    d_model: int = 64
    n_head: int = 4
    logit_std: float = 6.0
    init_std: float = 0.1
    max_positions: int = 1024


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0, **size) -> LlamaForCausalLM:
    """A random Llama (RMSNorm, rotary positions, SwiGLU MLP) with ``len(tokenizer)`` outputs;
    ``size``: any of ``TinySize``'s fields."""
    z = TinySize(**size)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=z.d_model,
        intermediate_size=4 * z.d_model,
        num_hidden_layers=z.n_layer,
        num_attention_heads=z.n_head,
        num_key_value_heads=z.n_head,
        max_position_embeddings=z.max_positions,
        initializer_range=z.init_std,
        tie_word_embeddings=False,
        attn_implementation="eager",  # plain math, and output_attentions works for the charts
        **_special_ids(tokenizer),
    )
    return _seeded_build(LlamaForCausalLM, config, seed, z.logit_std)


def tiny_gpt2(tokenizer: PreTrainedTokenizerFast, seed: int = 0, **size) -> GPT2LMHeadModel:
    """A random GPT-2 (LayerNorm, learned positions, GELU MLP) with ``len(tokenizer)`` outputs;
    ``size``: any of ``TinySize``'s fields.

    The LM head is not tied to the input embedding, so that ``logit_std`` can scale it alone.
    Dropout is off, so even ``train()`` mode is deterministic.
    """
    z = TinySize(**size)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_embd=z.d_model,
        n_layer=z.n_layer,
        n_head=z.n_head,
        n_positions=z.max_positions,
        initializer_range=z.init_std,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=False,
        attn_implementation="eager",
        **_special_ids(tokenizer),
    )
    return _seeded_build(GPT2LMHeadModel, config, seed, z.logit_std)


# -- target/drafter pairs --------------------------------------------------------------------------

@dataclass(frozen=True)
class TinySpec:
    """One side of a pair: an architecture, a tokenizer, a seed and a size."""

    build: Callable[..., PreTrainedModel]  # tiny_llama or tiny_gpt2
    tokenizer: Callable[[], PreTrainedTokenizerFast]
    seed: int
    n_layer: int
    d_model: int

    def __call__(self) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
        tokenizer = self.tokenizer()
        model = self.build(tokenizer, self.seed, n_layer=self.n_layer, d_model=self.d_model)
        return model, tokenizer


@dataclass(frozen=True)
class TinyPair:
    """A target and a smaller drafter, with a one-line description of what the pair exercises."""

    description: str
    target: TinySpec
    drafter: TinySpec


TokenizerFactory = Callable[[], PreTrainedTokenizerFast]


def _target(build: Callable[..., PreTrainedModel], tokenizer: TokenizerFactory) -> TinySpec:
    return TinySpec(build, tokenizer, seed=1, n_layer=2, d_model=64)


def _drafter(build: Callable[..., PreTrainedModel], tokenizer: TokenizerFactory) -> TinySpec:
    return TinySpec(build, tokenizer, seed=2, n_layer=1, d_model=32)


# Sizes differ in every cross-tokenizer pair: transformers tells tokenizers apart by their size.
_BPE = partial(bytelevel_bpe_tokenizer, 500)
_SPM = partial(sentencepiece_tokenizer, 600)

TINY_PAIRS: dict[str, TinyPair] = {  # name: the target's (model, tokenizer), the drafter's, what
    name: TinyPair(about, _target(*target), _drafter(*drafter))  # the pair exercises
    for name, target, drafter, about in [
        ("spm-vs-bpe", (tiny_llama, _SPM), (tiny_gpt2, _BPE),
         "Llama target on SentencePiece-style 600 (<s>, byte fallback), GPT-2 drafter on BPE 500"),
        ("bpe-vs-spm", (tiny_gpt2, _BPE), (tiny_llama, _SPM),
         "GPT-2 target on byte-level BPE 500, Llama drafter on SentencePiece-style 600"),
        ("bpe-large-vs-bpe-small", (tiny_llama, partial(bytelevel_bpe_tokenizer, 1000)),
         (tiny_gpt2, partial(bytelevel_bpe_tokenizer, 400)),
         "Llama target on byte-level BPE 1000, GPT-2 drafter on BPE 400 (its first 400 tokens)"),
        ("bpe-vs-char", (tiny_llama, _BPE), (tiny_gpt2, char_tokenizer),
         "Llama target on byte-level BPE 500, GPT-2 drafter with one token per byte (257)"),
        ("shared-vocab", (tiny_llama, _BPE), (tiny_llama, _BPE),
         "Llama target and a smaller Llama drafter on the same BPE 500: plain speculative decoding"),
    ]
}


ModelAndTokenizer = tuple[PreTrainedModel, PreTrainedTokenizerFast]


def tiny_pair(name: str) -> tuple[ModelAndTokenizer, ModelAndTokenizer]:
    """``((target, target_tokenizer), (drafter, drafter_tokenizer))`` for a name in ``TINY_PAIRS``.

    Models are built afresh on every call (milliseconds), so callers may move or modify them;
    tokenizers are cached and shared.
    """
    if name not in TINY_PAIRS:
        raise KeyError(f"unknown pair {name!r}; choose from {sorted(TINY_PAIRS)}")
    pair = TINY_PAIRS[name]
    (target, target_tok), (drafter, drafter_tok) = pair.target(), pair.drafter()
    target.config._name_or_path = f"tiny:{name}/target"  # how traces and charts will name them
    drafter.config._name_or_path = f"tiny:{name}/drafter"
    return (target, target_tok), (drafter, drafter_tok)


def mimic_pair(name: str, smoothing: float = 0.1, sharpness: float = 2.0,
               own_share: float | None = None, device=None, dtype=None):
    """A ``ModelPair`` on the tokenizers of ``TINY_PAIRS[name]`` whose drafter agrees with its
    target often: a ``MimicDrafter`` (see mimic.py) that reads a private copy of the target through
    the drafter's tokenizer. Random pairs almost never agree, so tests that must see acceptance,
    rollback and the residual at work use these. ``own_share`` defaults to 0.35 on one shared
    vocabulary (there the mimic's argmax would always be the target's: greedy would never reject)
    and to 0 across vocabularies, where re-reading the text already makes them differ.
    ``device``/``dtype``: where and in what precision all three models run (default: as built)."""
    from .hf import HFModel
    from .mimic import MimicDrafter
    from .pair import ModelPair

    (target, target_tok), (drafter, drafter_tok) = tiny_pair(name)
    reader, _ = TINY_PAIRS[name].target()
    if own_share is None:
        own_share = 0.35 if target_tok is drafter_tok else 0.0
    def lm(model, tokenizer):
        return HFModel(model.to(device=device, dtype=dtype), tokenizer)

    mimic = MimicDrafter(lm(drafter, drafter_tok), lm(reader, target_tok), smoothing, sharpness,
                         own_share)
    mimic.name = f"tiny:{name}/mimic"
    return ModelPair(lm(target, target_tok), mimic)
