"""The model layer: the toy world by hand, devices, dtypes, threads, the catalogue."""

import pytest
import torch

import specviz as sv
from specviz.models.toy import DRAFTER_TABLE, TARGET_TABLE


def test_toy_world_reads_like_its_tables(toy):
    target, drafter = toy.target, toy.drafter
    assert target.tokens[:3] == ["<eos>", "the", " sky"]
    assert target.prompt_ids("the rainbow") == [1, target.tokens.index(" rainbow")]
    assert [drafter.tokens[i] for i in drafter.prompt_ids("the rainbow")] == ["the", " rain", "bow"]
    p = torch.softmax(target.logits(target.prompt_ids("the"), 1)[0], -1)
    for token, prob in TARGET_TABLE["the"].items():
        assert float(p[target.tokens.index(token)]) == pytest.approx(prob)
    assert target.probability("the", " rainbow") == 0.40
    assert drafter.probability(" r", "ain") == DRAFTER_TABLE[" r"]["ain"]
    # temperature 0.5 squares the probabilities before renormalising
    p_half = sv.sampling.probabilities(target.logits([1], 1)[0], 0.5)
    squares = {t: q * q for t, q in TARGET_TABLE["the"].items()}
    assert float(p_half[target.tokens.index(" sky")]) == pytest.approx(
        squares[" sky"] / sum(squares.values()))
    assert toy.intersection.size == 8


def test_toy_tables_are_checked():
    with pytest.raises(ValueError, match="sums to"):
        sv.ToyLM("bad", {"a": {"a": 0.5}})
    with pytest.raises(ValueError, match="needs a row"):
        sv.ToyLM("bad", {"a": {"b": 1.0}})


def test_every_algorithm_runs_on_the_toy_world(toy):
    for algorithm in ("autoregressive", "slem", "tli", "slrs"):
        for temperature in (0.0, 1.0):
            res = sv.generate(toy, "the", algorithm, max_new_tokens=30, temperature=temperature)
            assert res.text and res.stats.finish_reason in ("eos", "max_new_tokens")


def test_device_and_dtype_choices(monkeypatch):
    assert sv.pick_device("cpu") == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert sv.pick_device("auto").type in ("cpu", "mps")
    assert sv.pick_device(None) == sv.pick_device("auto")
    from specviz.models.pair import default_dtype
    assert default_dtype(torch.device("cpu")) == torch.float32


def test_set_threads_returns_previous_and_checks_input():
    before = torch.get_num_threads()
    assert sv.set_threads(1) == before and torch.get_num_threads() == 1
    sv.set_threads(before)
    with pytest.raises(ValueError, match="positive integer"):
        sv.set_threads(0)


def test_known_pairs_catalogue():
    assert any(p.target == "google/gemma-2-9b-it" and p.drafter == "double7/vicuna-68m"
               for p in sv.KNOWN_PAIRS)
    for p in sv.KNOWN_PAIRS:
        assert "/" in p.target and "/" in p.drafter and p.algorithm in sv.ALGORITHMS and p.source
        assert p.speedup is None or 0 < p.speedup < 10


def test_loaded_objects_keep_their_device():
    from specviz.models.tiny import tiny_pair

    pair = sv.load_pair(*tiny_pair("bpe-vs-char"))
    assert pair.target.device == pair.drafter.device == torch.device("cpu")
    assert "257 tokens" in pair.describe()
