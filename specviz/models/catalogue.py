"""Pairs worth trying on a GPU, with the speedups their authors published.

Names and numbers only: nothing here is downloaded by specviz or its tests. Load one on a GPU with
``sv.load_pair(p.target, p.drafter, device="cuda")`` and measure it with ``specviz bench``.
Sources: Timor et al., "Accelerating LLM Inference with Lossless Speculative Decoding Algorithms
for Heterogeneous Vocabularies", ICML 2025 (the authors' public benchmark tables), and the Hugging
Face blog post on Universal Assisted Generation (SLEM in transformers).
"""

from __future__ import annotations

from dataclasses import dataclass

PAPER = "Timor et al., ICML 2025 (authors' benchmark tables)"
HF_BLOG = "Hugging Face blog, Universal Assisted Generation (1x A6000)"


@dataclass(frozen=True)
class KnownPair:
    """A published target/drafter pair: hub ids, the setting and the speedup reported."""

    target: str
    drafter: str
    algorithm: str
    task: str
    speedup: float | None  # over autoregressive decoding, as published; None: none published
    hardware: str
    source: str


KNOWN_PAIRS: list[KnownPair] = [
    KnownPair("google/gemma-2-9b-it", "double7/vicuna-68m", "slem", "SCROLLS", 1.87, "1x H100", PAPER),
    KnownPair("google/gemma-2-9b-it", "double7/vicuna-68m", "slem", "HumanEval", 1.49, "1x H100", PAPER),
    KnownPair("google/gemma-2-9b-it", "double7/vicuna-68m", "slem", "CNN-DM", 1.39, "1x H100", PAPER),
    KnownPair("google/gemma-2-9b-it", "double7/vicuna-68m", "tli", "SCROLLS (sampling)", 2.04,
              "1x H100", PAPER),
    KnownPair("mistralai/Mixtral-8x22B-Instruct-v0.1", "double7/vicuna-68m", "slem", "CNN-DM", 2.10,
              "4x H100", PAPER),
    KnownPair("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "bigcode/tiny_starcoder_py", "slem",
              "HumanEval", 0.56, "1x H100", PAPER + ": a pair that slows down"),
    KnownPair("codellama/CodeLlama-13b-Instruct-hf", "bigcode/tiny_starcoder_py", "slem", "HumanEval",
              1.90, "1x A6000", HF_BLOG),
    KnownPair("microsoft/Phi-3-medium-128k-instruct", "Qwen/Qwen2-0.5B-Instruct", "slem", "SCROLLS",
              1.91, "1x A6000", HF_BLOG),
    KnownPair("google/gemma-2-9b", "double7/vicuna-68m", "slem", "", 1.76, "1x A6000", HF_BLOG),
    KnownPair("meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "slem", "", None,
              "", "cross-family pair often tried; no published figure collected here"),
]
