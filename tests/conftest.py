"""Shared pytest configuration and fixtures.

Torch runs on one CPU thread in the tests: on small machines its default of one thread per core
made the tiny models' small matrix products about ten times slower.
"""

from functools import cache

import pytest
import torch

import specviz as sv

torch.set_num_threads(1)

CROSS_PAIRS = ["spm-vs-bpe", "bpe-vs-spm", "bpe-large-vs-bpe-small", "bpe-vs-char"]
REPORTS: list[str] = []  # findings tests report without asserting them, printed at the end


def pytest_terminal_summary(terminalreporter):
    for line in REPORTS:
        terminalreporter.write_line(f"REPORT: {line}")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: needs downloads or real model conversion; run with -m slow"
    )


@cache
def tiny(name: str) -> sv.ModelPair:
    """A tiny random Hugging Face pair (built once per test session)."""
    from specviz.models.tiny import tiny_pair

    return sv.load_pair(*tiny_pair(name))


@pytest.fixture
def toy() -> sv.ModelPair:
    return sv.toy_pair()
