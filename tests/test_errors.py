"""Bad input gets a clear error that says what to do."""

import pytest
import torch
from conftest import tiny

import specviz as sv
from specviz.models.tiny import tiny_llama, bytelevel_bpe_tokenizer


def test_empty_prompt(toy):
    with pytest.raises(ValueError, match="non-empty"):
        sv.generate(toy, "", "slem")


def test_unknown_algorithm_lists_the_valid_names(toy):
    with pytest.raises(ValueError, match="autoregressive, sd, slem, tli, slrs"):
        sv.generate(toy, "the", "medusa")


def test_sd_on_different_vocabularies_points_to_slem_and_tli():
    with pytest.raises(ValueError, match="algorithm='slem'.*algorithm='tli'"):
        sv.generate(tiny("spm-vs-bpe"), "Hello", "sd")


@pytest.mark.parametrize("bad", [0, -2, 1.5])
def test_lookahead_must_be_a_positive_integer(toy, bad):
    with pytest.raises(ValueError, match="lookahead"):
        sv.generate(toy, "the", "slem", lookahead=bad)
    with pytest.raises(ValueError, match="lookahead"):
        sv.SLEM(lookahead=bad)


def test_negative_max_new_tokens_and_temperature(toy):
    with pytest.raises(ValueError, match="max_new_tokens"):
        sv.generate(toy, "the", "slem", max_new_tokens=-1)
    with pytest.raises(ValueError, match="temperature"):
        sv.generate(toy, "the", "slem", temperature=-0.5)
    with pytest.raises(ValueError, match="temperature"):
        sv.generate(toy, "the", "slem", temperature=float("nan"))


def test_prompt_longer_than_the_context():
    tokenizer = bytelevel_bpe_tokenizer(500)
    short = tiny_llama(tokenizer, seed=0, max_positions=32)
    pair = sv.load_pair((short, tokenizer), tiny("bpe-vs-char").drafter)
    with pytest.raises(ValueError, match="context holds 32.*Shorten the prompt"):
        sv.generate(pair, "word " * 40, "slem")
    res = sv.generate(pair, "word " * 10, "slem", max_new_tokens=100)  # fits: stops at the edge
    assert res.stats.finish_reason in ("context", "eos")
    assert len(pair.target.prompt_ids("word " * 10)) + len(res.token_ids) <= 32


def test_models_on_different_devices():
    target = sv.toy_pair().target
    drafter = sv.toy_pair().drafter
    drafter.device = torch.device("meta")
    with pytest.raises(ValueError, match="Put both on one device"):
        sv.ModelPair(target, drafter)


def test_unknown_model_name_lists_bundled_models():
    with pytest.raises(ValueError, match="gemma-3-270m"):
        sv.load_pair("gemma-9000", "smollm2-135m")


def test_hub_id_while_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ValueError, match="offline.*bundled pair"):
        sv.load_model("some-org/some-model-that-is-not-cached")


def test_not_a_pair(toy):
    with pytest.raises(TypeError, match="ModelPair"):
        sv.generate("gpt2", "the")
    with pytest.raises(TypeError, match="tuple of transformers objects"):
        sv.load_model(42)


def test_toy_prompt_outside_the_vocabulary(toy):
    with pytest.raises(ValueError, match="cannot tokenize 'zebra'"):
        sv.generate(toy, "zebra", "slem")


def test_tli_without_shared_tokens():
    target = sv.ToyLM("letters", {"a": {"b": 1.0}, "b": {"a": 1.0}})
    drafter = sv.ToyLM("pairs", {"ab": {"ba": 1.0}, "ba": {"ab": 1.0}})
    with pytest.raises(ValueError, match="share no tokens.*slem"):
        sv.generate(sv.ModelPair(target, drafter), "ab", "tli")
