"""Shared pytest configuration and fixtures.

Torch runs on one CPU thread in the tests: on small machines its default of one thread per core
made the tiny models' small matrix products about ten times slower.
"""

from functools import cache

import pytest
import torch

import specviz as sv
from specviz.huggingface import known_break
from specviz.models.base import LanguageModel

torch.set_num_threads(1)

HF_TWO_TOKENIZERS = pytest.mark.xfail(
    known_break() is not None, reason=f"known bug of this transformers: {known_break()}",
    raises=(RuntimeError, IndexError), strict=True)
"""For tests that run Hugging Face's assisted generation with two tokenizers: an expected failure
(with its reason, never a skip) on the transformers releases listed in
``specviz.huggingface.KNOWN_BREAKS``; strict, so a release that works again shows up."""

CROSS_PAIRS = ["spm-vs-bpe", "bpe-vs-spm", "bpe-large-vs-bpe-small", "bpe-vs-char"]


def pytest_terminal_summary(terminalreporter):
    """Print the findings tests report without asserting them (``record_property("report", ...)``);
    properties travel with test reports, so this also works across pytest-xdist workers."""
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for key, value in getattr(report, "user_properties", ()):
                if key == "report":
                    terminalreporter.write_line(f"REPORT: {value}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: needs downloads or real model conversion; run with -m slow"
    )
    config.addinivalue_line(
        "markers", "huggingface: compares with Hugging Face's own generate (./run.sh "
        "--test-newest runs these against the newest transformers)")


@cache
def tiny(name: str) -> sv.ModelPair:
    """A tiny random Hugging Face pair (built once per test session)."""
    from specviz.models.tiny import tiny_pair

    return sv.load_pair(*tiny_pair(name))


@cache
def mimic(name: str) -> sv.ModelPair:
    """A tiny pair on the tokenizers of ``tiny(name)`` whose drafter agrees with its target often
    (``specviz.models.mimic``): what tests that must see drafts kept and rejected use."""
    from specviz.models.tiny import mimic_pair

    return mimic_pair(name)


class Wrapped(LanguageModel):
    """A model that passes everything to ``inner``: subclass it and override what a test changes."""

    def __init__(self, inner: LanguageModel) -> None:
        super().__init__()
        self.inner = inner
        self.name, self.vocab, self.device = inner.name, inner.vocab, inner.device
        self.counter, self.max_length = inner.counter, inner.max_length

    def prompt_ids(self, text):
        return self.inner.prompt_ids(text)

    def logits(self, ids, n=1):
        return self.inner.logits(ids, n)

    def branch_logits(self, ids, branches):
        return self.inner.branch_logits(ids, branches)

    def reset(self):
        self.inner.reset()


@pytest.fixture
def toy() -> sv.ModelPair:
    return sv.toy_pair()
