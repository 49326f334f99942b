"""Invariant passes: a position's logits are the same bits whatever the pass that computed it.

Without them a bf16 verify pass of k positions and a plain 1-position pass disagree in the last
bits (up to 0.5 on Gemma 3 270M here; the slow test in test_coder_pair.py shows it), and greedy
speculative decoding can part from plain greedy decoding at a near-tie. These tests compare bit for
bit, in float32 and bf16, on tiny models.
"""

import pytest
import torch
from conftest import mimic

import specviz as sv
from specviz import lossless
from specviz.huggingface import _shipped_attention, count_passes
from specviz.models import invariant_passes
from specviz.models.hf import HFModel
from specviz.models.invariant_passes import (
    ROW_ATTENTION,
    _visible_keys,
    invariant_pieces,
    largest_invariant_pass,
)
from specviz.models.tiny import mimic_pair, tiny_pair

IDS = list(range(5, 45))


def _invariant(name: str, dtype: torch.dtype) -> HFModel:
    (model, tokenizer), _ = tiny_pair(name)
    return HFModel(model.to(dtype), tokenizer, invariant=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", ["spm-vs-bpe", "bpe-vs-spm"])  # Llama, and GPT-2 (Conv1D)
def test_a_long_pass_gives_the_bits_of_one_position_passes(name, dtype):
    model = _invariant(name, dtype)
    at_once = model.logits(IDS, 6)
    model.reset()
    one_by_one = torch.stack([model.logits(IDS[:len(IDS) - 5 + i], 1)[0] for i in range(6)])
    assert torch.equal(at_once, one_by_one)
    assert model.largest_pass >= 2


def test_pieces_of_a_long_prompt_and_a_lone_position_with_its_spare():
    model = _invariant("spm-vs-bpe", torch.float32)
    whole = model.logits(IDS, 3)
    model.largest_pass = 2  # pieces of 2 and a lone position: 40 = 2 * 20; 41 = 2 * 20 + 1
    model.reset()
    assert torch.equal(model.logits(IDS, 3), whole)
    model.reset()
    with count_passes(model.model, model.device) as log:
        model.logits(IDS[:-1], 1)
        model.logits(IDS, 1)
    assert log.sizes == [40, 2]  # the pieces count as one pass; the lone position fed a spare
    assert len(model._cache.layers[0].keys[0, 0]) == len(IDS)  # the spare's entry was dropped
    assert invariant_pieces(5, 32) == [5] and invariant_pieces(70, 32) == [32, 32, 6]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("algorithm", ["slem", "tli", "sd"])
def test_greedy_in_bf16_equals_plain_greedy(algorithm, dtype):
    name = "shared-vocab" if algorithm == "sd" else "spm-vs-bpe"
    (target, target_tok), _ = tiny_pair(name)
    pair = sv.load_pair((target, target_tok), mimic(name).drafter, dtype=dtype)
    assert pair.target.largest_pass is not None and pair.target.dtype == dtype
    prompt = "The rain in the valley"
    plain = sv.generate(pair, prompt, "autoregressive", max_new_tokens=48, temperature=0.0)
    spec = sv.generate(pair, prompt, algorithm, max_new_tokens=48, lookahead=4, temperature=0.0)
    assert spec.token_ids == plain.token_ids
    assert spec.stats.judged > spec.stats.accepted > 0  # drafts kept and rejected


def test_sampling_in_bf16_is_the_target_distribution():
    pair = mimic_pair("spm-vs-bpe", dtype=torch.bfloat16)
    assert pair.target.dtype == torch.bfloat16
    result = lossless.check_lossless(pair, "The rain", "tli", n_tokens=3, temperature=1.0,
                                     runs=3000, max_bins=7, lookahead=4)
    assert result.p_value > 1e-3, str(result)


def test_the_probe_finds_where_rows_stop_agreeing(monkeypatch):
    (model, _), _ = tiny_pair("spm-vs-bpe")
    model = model.to(torch.bfloat16)  # agrees up to 64 rows here; the fake kernel stops it at 5
    true_linear = invariant_passes.F.linear

    def drifting(x, weight, bias=None):  # a kernel whose rows change beyond 5 rows
        out = true_linear(x, weight, bias)
        return out + 1e-3 if x.shape[0] > 5 else out

    monkeypatch.setattr(invariant_passes.F, "linear", drifting)
    assert largest_invariant_pass(model) == 5


def test_a_row_sees_exactly_its_keys():
    mask = torch.ones(1, 1, 3, 6, dtype=torch.bool).tril(diagonal=3)
    mask[..., 0] = False  # a sliding window has left the first key behind
    assert _visible_keys(mask, 0, 4) == (1, None)  # keys 1..3, all visible: no mask needed
    assert _visible_keys(None, 2, 6) == (0, None)


def test_hugging_face_runs_with_its_own_attention():
    model = _invariant("spm-vs-bpe", torch.float32).model
    with _shipped_attention(model, None):
        assert model.config._attn_implementation == "sdpa"
    assert model.config._attn_implementation == ROW_ATTENTION
