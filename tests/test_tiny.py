"""Tests for the tiny models and tokenizers that every other test builds on."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from transformers import DynamicCache

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conftest import HF_TWO_TOKENIZERS  # noqa: E402

from specviz.models import tiny  # noqa: E402

TRICKY = [
    "Hello world",
    "trailing spaces  ",
    "two  spaces and a tab\there",
    "a\n\nb\n",
    "\n\nstarts with newlines",
    "digits 0123456789 and 3.14159, 1,234.56 on 2024-03-15",
    "é 中文 🌈",
    "Wait... what?! -- yes.",
    "def f(x):\n    return x * 2\n",
    "rare or unseen: ß 🦜 Ω",
]
LEADING_SPACE = [" leading space", "   def indented():"]

TOKENIZERS = {
    "bpe-300": lambda: tiny.bytelevel_bpe_tokenizer(300),
    "bpe-500": lambda: tiny.bytelevel_bpe_tokenizer(500),
    "bpe-1000": lambda: tiny.bytelevel_bpe_tokenizer(1000),
    "spm-400": lambda: tiny.sentencepiece_tokenizer(400),
    "spm-600": lambda: tiny.sentencepiece_tokenizer(600),
    "spm-1000": lambda: tiny.sentencepiece_tokenizer(1000),
    "char": tiny.char_tokenizer,
}
SIZES = {"bpe-300": 300, "bpe-500": 500, "bpe-1000": 1000,
         "spm-400": 400, "spm-600": 600, "spm-1000": 1000, "char": 257}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Models this small run fastest on one thread; two threads slow down 10x on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text)["input_ids"]


def _round_trip(tokenizer, text: str) -> str:
    return tokenizer.decode(_encode(tokenizer, text), skip_special_tokens=True)


# -- corpus ----------------------------------------------------------------------------------------

def test_corpus_has_every_kind_of_text():
    text = tiny.corpus_text()
    assert 8_000 <= len(text.encode("utf-8")) <= 20_000
    for needle in ["rainbow", "def ", "\n    return", "2024-03-15", "...", "?!", "--",
                   "é", "ñ", "ü", "中文", "🌈", "🙂", "🚀"]:
        assert needle in text, needle
    sentences = tiny.corpus_sentences()
    assert len(sentences) > 50
    assert all("\n" not in s and s[-1] in ".!?。" for s in sentences)


# -- tokenizers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", TOKENIZERS)
def test_vocab_size_is_as_configured(name):
    tokenizer = TOKENIZERS[name]()
    assert len(tokenizer) == tokenizer.vocab_size == SIZES[name]
    assert sorted(tokenizer.get_vocab().values()) == list(range(SIZES[name]))


def test_tokenizers_are_cached_and_deterministic():
    """Retraining gives the very same vocabulary, merges and encodings."""
    before = {name: build() for name, build in TOKENIZERS.items()}
    assert tiny.bytelevel_bpe_tokenizer(500) is before["bpe-500"]
    for cached in (tiny.bytelevel_bpe_tokenizer, tiny.sentencepiece_tokenizer, tiny.char_tokenizer):
        cached.cache_clear()
    for name, build in TOKENIZERS.items():
        again = build()
        assert again is not before[name]
        assert again.backend_tokenizer.to_str() == before[name].backend_tokenizer.to_str(), name
        for text in TRICKY:
            assert _encode(again, text) == _encode(before[name], text), (name, text)


@pytest.mark.parametrize("name", TOKENIZERS)
def test_round_trip(name):
    """decode(encode(s)) == s, but SentencePiece-style drops one leading space (as Llama does)."""
    tokenizer = TOKENIZERS[name]()
    for text in TRICKY:
        assert _round_trip(tokenizer, text) == text, text
    for text in LEADING_SPACE:
        expected = text[1:] if name.startswith("spm") else text
        assert _round_trip(tokenizer, text) == expected, text


@pytest.mark.parametrize("name", ["bpe-500", "char"])
def test_byte_level_tokenizers(name):
    tokenizer = TOKENIZERS[name]()
    assert tokenizer.eos_token == tokenizer.bos_token == tokenizer.pad_token == "<|endoftext|>"
    ids = _encode(tokenizer, "The rain")
    assert tokenizer.bos_token_id not in ids  # no BOS, as GPT-2
    assert "Ġ" in "".join(tokenizer.convert_ids_to_tokens(ids))
    assert tokenizer.unk_token_id not in _encode(tokenizer, "🦜 ∮ \x00")  # nothing is ever unknown


def test_bytelevel_bpe_learns_words_and_indentation():
    tokens = tiny.bytelevel_bpe_tokenizer(1000).tokenize("the rain\n        return")
    assert "Ġrain" in tokens and "Ġreturn" in tokens  # 'Ġ': the space is part of the word
    assert any(t.startswith("Ċ") and t.endswith("ĠĠ") for t in tokens)  # newline + indentation


def test_char_tokenizer_ids_are_bytes():
    tokenizer = tiny.char_tokenizer()
    text = "Hi é 中文 🌈\n"
    assert _encode(tokenizer, text) == list(text.encode("utf-8"))
    assert tokenizer.eos_token_id == 256


def test_sentencepiece_layout_bos_and_byte_fallback():
    tokenizer = tiny.sentencepiece_tokenizer(600)
    assert tokenizer.convert_ids_to_tokens([0, 1, 2, 3, 258]) == \
        ["<unk>", "<s>", "</s>", "<0x00>", "<0xFF>"]
    assert (tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2)

    ids = _encode(tokenizer, "The rain")
    assert ids[0] == tokenizer.bos_token_id and ids.count(tokenizer.bos_token_id) == 1
    assert tokenizer.convert_ids_to_tokens(ids)[1].startswith("▁")

    for emoji in ["🌈", "🦜"]:  # rare in the corpus, absent from it: both spelled as 4 UTF-8 bytes
        tokens = tokenizer.convert_ids_to_tokens(_encode(tokenizer, "a" + emoji))
        expected = [f"<0x{b:02X}>" for b in emoji.encode("utf-8")]
        assert tokens[-4:] == expected
    assert "<0x0A>" in tokenizer.tokenize("a\nb")  # like Llama, a newline is a byte token
    assert tokenizer.unk_token_id not in _encode(tokenizer, "🦜 ∮ \x00 Ω")
    assert tokenizer.tokenize("é") == ["▁", "é"]  # covered characters stay whole


# -- models ----------------------------------------------------------------------------------------

BUILDERS = [tiny.tiny_llama, tiny.tiny_gpt2]


@pytest.mark.parametrize("build", BUILDERS)
def test_models_are_deterministic_and_leave_the_global_rng_alone(build):
    tokenizer = tiny.bytelevel_bpe_tokenizer(500)
    torch.manual_seed(123)
    expected_draw = torch.rand(3)
    torch.manual_seed(123)
    a, b = build(tokenizer, seed=7), build(tokenizer, seed=7)
    assert torch.equal(torch.rand(3), expected_draw)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), name
    other = build(tokenizer, seed=8)
    assert not torch.equal(a.get_output_embeddings().weight, other.get_output_embeddings().weight)


@pytest.mark.parametrize("build", BUILDERS)
@pytest.mark.parametrize("tokenizer_name", ["bpe-500", "spm-600", "char"])
def test_model_config_matches_tokenizer(build, tokenizer_name):
    tokenizer = TOKENIZERS[tokenizer_name]()
    model = build(tokenizer, seed=0)
    config = model.config
    assert config.vocab_size == len(tokenizer) == model.get_output_embeddings().weight.shape[0]
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == \
        (tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id)
    generation = model.generation_config
    assert (generation.eos_token_id, generation.pad_token_id) == \
        (tokenizer.eos_token_id, tokenizer.pad_token_id)
    assert config.get_text_config().max_position_embeddings >= 512
    assert not model.training
    assert all(p.dtype == torch.float32 for p in model.parameters())


@pytest.mark.parametrize("build", BUILDERS)
def test_distributions_are_peaked(build):
    """At temperature 1 the top 5 tokens hold most of the mass, and no argmax is a near-tie."""
    tokenizer = tiny.sentencepiece_tokenizer(600)
    ids = tokenizer(tiny.corpus_text()[:2000], return_tensors="pt").input_ids[:, :300]
    with torch.no_grad():
        logits = build(tokenizer, seed=3)(ids).logits[0]
    assert logits.softmax(-1).topk(5).values.sum(-1).mean() > 0.8
    top2 = logits.topk(2).values
    assert (top2[:, 0] - top2[:, 1]).min() > 1e-4


@pytest.mark.parametrize("build", BUILDERS)
def test_kv_cache_and_logits_to_keep(build):
    """Feeding a prompt in two pieces through ``cache=`` gives the logits of one full pass."""
    tokenizer = tiny.sentencepiece_tokenizer(600)
    model = build(tokenizer, seed=4)
    ids = tokenizer("The rain stopped in the late afternoon.", return_tensors="pt").input_ids
    with torch.no_grad():
        full = model(ids).logits
        cache = DynamicCache(config=model.config)
        first = model(ids[:, :5], cache=cache, use_cache=True)
        assert first.cache.get_seq_length() == 5
        rest = model(ids[:, 5:], cache=first.cache, use_cache=True, logits_to_keep=3)
    assert rest.logits.shape == (1, 3, len(tokenizer))
    assert rest.cache.get_seq_length() == ids.shape[1]
    torch.testing.assert_close(rest.logits, full[:, -3:], rtol=1e-4, atol=1e-4)


# -- pairs -----------------------------------------------------------------------------------------

def test_pairs_are_complete_and_drafters_are_smaller():
    names = {"bpe-vs-spm", "spm-vs-bpe", "bpe-large-vs-bpe-small", "bpe-vs-char", "shared-vocab"}
    assert names <= set(tiny.TINY_PAIRS)
    for name, pair in tiny.TINY_PAIRS.items():
        assert "\n" not in pair.description and pair.target.seed != pair.drafter.seed
        (target, target_tok), (drafter, drafter_tok) = tiny.tiny_pair(name)
        assert drafter.num_parameters() < target.num_parameters(), name
        same = name == "shared-vocab"
        assert (target_tok is drafter_tok) == same
        assert (len(target_tok) == len(drafter_tok)) == same  # how transformers tells them apart
    with pytest.raises(KeyError):
        tiny.tiny_pair("no-such-pair")


def test_pair_roles():
    (target, target_tok), (drafter, drafter_tok) = tiny.tiny_pair("spm-vs-bpe")
    assert target.config.model_type == "llama" and target_tok.bos_token == "<s>"
    assert drafter.config.model_type == "gpt2" and drafter_tok.eos_token == "<|endoftext|>"
    (_, large), (_, small) = tiny.tiny_pair("bpe-large-vs-bpe-small")
    assert (len(large), len(small)) == (1000, 400)
    assert small.get_vocab().items() <= large.get_vocab().items()  # BPE 400 = first 400 of BPE 1000


@pytest.mark.parametrize("name", tiny.TINY_PAIRS)
def test_greedy_generate_runs_for_both_models(name):
    for model, tokenizer in tiny.tiny_pair(name):
        inputs = tokenizer("The weather today is", return_tensors="pt")
        out = model.generate(**inputs, do_sample=False, max_new_tokens=8)
        n_new = out.shape[1] - inputs.input_ids.shape[1]
        assert 1 <= n_new <= 8 and (n_new == 8 or out[0, -1] == tokenizer.eos_token_id)


@pytest.mark.huggingface
@pytest.mark.parametrize("name", [pytest.param(name, marks=[] if name == "shared-vocab" else
                                               HF_TWO_TOKENIZERS) for name in tiny.TINY_PAIRS])
def test_hf_assisted_generation_equals_greedy(name):
    """transformers' own (universal) assisted generation must reproduce plain greedy decoding."""
    (target, target_tok), (drafter, drafter_tok) = tiny.tiny_pair(name)
    across = {} if target_tok is drafter_tok else \
        {"tokenizer": target_tok, "assistant_tokenizer": drafter_tok}
    for prompt in ["The weather today is", "Mañana vamos a la playa 🌈"]:
        inputs = target_tok(prompt, return_tensors="pt")
        greedy = target.generate(**inputs, do_sample=False, max_new_tokens=16)
        assisted = target.generate(**inputs, assistant_model=drafter, do_sample=False,
                                   max_new_tokens=16, **across)
        assert assisted.tolist() == greedy.tolist(), prompt


# -- pairs that agree --------------------------------------------------------------------------------

# Prompts after which each pair's first draft is often, but not always, kept. Random targets make
# acceptance vary from prompt to prompt (after 'The rain' bpe-vs-spm keeps 1%): tests use these.
AGREEING_PROMPTS = {
    "spm-vs-bpe": ("The rain", "It was", "In the morning"),
    "bpe-vs-spm": ("It was", "In the morning", "She said"),
    "bpe-large-vs-bpe-small": ("In the morning", "def f(x):", "On Monday"),
    "bpe-vs-char": ("In the morning", "On Monday"),
    "shared-vocab": ("The rain", "It was", "In the morning"),
}


@pytest.mark.parametrize("name", tiny.TINY_PAIRS)
def test_mimic_pairs_agree_often(name):
    """The drafter's exact first-position acceptance at temperature 1 (SD, or TLI across
    vocabularies) and greedy SLEM's share of kept drafts lie well inside (0, 1), so tests on these
    pairs see drafts kept, partly kept and rejected."""
    import specviz as sv
    from specviz.acceptance import expected_acceptance

    pair = tiny.mimic_pair(name)
    rule = "sd" if pair.same_vocabulary else "tli"
    rates = [expected_acceptance(pair, prompt, rule) for prompt in AGREEING_PROMPTS[name]]
    assert all(0.4 < r < 0.95 for r in rates), rates
    kept = judged = 0
    for prompt in AGREEING_PROMPTS[name]:
        stats = sv.generate(pair, prompt, "slem", max_new_tokens=16, lookahead=4).stats
        kept, judged = kept + stats.accepted, judged + stats.judged
    assert 0.3 < kept / judged < 0.98, (kept, judged)


def test_mimic_drafter_reads_only_its_own_context():
    """Its law after a context does not depend on what it was asked before (no hidden state)."""
    pair = tiny.mimic_pair("spm-vs-bpe")
    drafter = pair.drafter
    ids = drafter.prompt_ids("The rain fell")
    first = drafter.logits(ids, 1)
    drafter.logits(drafter.prompt_ids("Something else entirely"), 1)
    drafter.reset()
    drafter._memo.clear()  # computed afresh, not remembered
    torch.testing.assert_close(drafter.logits(ids, 1), first)
    assert drafter.vocab is pair.drafter.own.vocab and drafter.name.endswith("/mimic")
