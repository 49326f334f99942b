"""Sampling: each algorithm's output distribution must equal the target's exact distribution.

The target's law over the first tokens is computed exactly (a tree of target passes); each
algorithm is sampled with fixed seeds and compared by chi-square. Seeds are fixed, so results are
reproducible; the threshold p > 0.001 leaves room for honest chance. The broken variants at the end
show that the same test, with the same number of runs, does catch a non-lossless algorithm.
"""

import pytest
from conftest import tiny

import specviz as sv
from specviz.lossless import BareSumSLRS, ResidualFromTarget, check_lossless

THRESHOLD = 1e-3


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("algorithm", ["autoregressive", "slem", "tli", "slrs"])
def test_toy_world_first_three_tokens(algorithm, temperature):
    result = check_lossless(sv.toy_pair(), "the", algorithm, n_tokens=3,
                            temperature=temperature, runs=2000)
    assert result.p_value > THRESHOLD, str(result)


CASES = [
    ("spm-vs-bpe", "slem"), ("spm-vs-bpe", "tli"), ("spm-vs-bpe", "slrs"),
    ("bpe-vs-char", "slem"), ("bpe-vs-char", "tli"), ("bpe-vs-char", "slrs"),
    ("bpe-large-vs-bpe-small", "tli"),
    ("shared-vocab", "sd"),
]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("name,algorithm", CASES)
def test_tiny_pairs_first_two_tokens(name, algorithm, temperature):
    result = check_lossless(tiny(name), "The rain", algorithm, n_tokens=2,
                            temperature=temperature, runs=1000, lookahead=3)
    assert result.p_value > THRESHOLD, str(result)


@pytest.mark.parametrize("broken", [ResidualFromTarget(), BareSumSLRS()], ids=lambda a: a.name)
def test_the_check_catches_a_broken_algorithm(broken):
    result = check_lossless(sv.toy_pair(), "the", broken, n_tokens=3, temperature=1.0, runs=2000)
    assert result.p_value < 1e-6, str(result)
