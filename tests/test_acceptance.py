"""Exact one-position acceptance rates against what the algorithms actually do."""

import pytest
from conftest import mimic, tiny

import specviz as sv
from specviz.acceptance import expected_acceptance, proposal_law
from specviz.lossless import Memoized


def measured_first_acceptance(pair, prompt, algorithm, runs):
    pair = sv.ModelPair(Memoized(pair.target), Memoized(pair.drafter))  # same laws, computed once
    kept = sum(sv.generate(pair, prompt, algorithm, max_new_tokens=2, lookahead=1,
                           temperature=1.0, seed=s).trace.iterations[0].get("accept").accepted
               for s in range(runs))
    return kept / runs


@pytest.mark.parametrize("name,algorithm,rule", [
    ("spm-vs-bpe", "tli", "tli"), ("shared-vocab", "sd", "sd"), ("bpe-vs-char", "slrs", "slrs"),
    ("toy", "tli", "tli"), ("toy", "slrs", "slrs"),
])
def test_measured_acceptance_matches_the_formula(name, algorithm, rule):
    """On drafters that agree with their targets (``conftest.mimic``): the expected rate is far from
    0 and from 1, so a TLI or SD that never (or always) accepts fails."""
    pair = sv.toy_pair() if name == "toy" else mimic(name)
    prompt = "the" if name == "toy" else "The rain"
    expected, runs = expected_acceptance(pair, prompt, rule), 1500
    assert 0.2 < expected < 0.95, expected
    sigma = (expected * (1 - expected) / runs) ** 0.5
    assert measured_first_acceptance(pair, prompt, algorithm, runs) == \
        pytest.approx(expected, abs=4 * sigma + 1e-9)


def test_renormalising_on_the_intersection_never_lowers_acceptance():
    for pair, prompt in ((sv.toy_pair(), "the"), (tiny("spm-vs-bpe"), "The rain"),
                         (tiny("bpe-vs-char"), "The rain")):
        union = expected_acceptance(pair, prompt, "union")
        assert union <= expected_acceptance(pair, prompt, "tli") + 1e-6
        assert proposal_law(pair, prompt, "tli").sum() == pytest.approx(1.0)
        assert proposal_law(pair, prompt, "union").sum() <= 1.0 + 1e-6


def test_rules_are_checked():
    with pytest.raises(ValueError, match="sd, union, tli, slrs"):
        proposal_law(sv.toy_pair(), "the", "medusa")
    with pytest.raises(ValueError, match="shared vocabulary"):
        proposal_law(sv.toy_pair(), "the", "sd")


def test_a_drafter_with_no_shared_mass_has_no_tli_law():
    """Prompt lookup that finds nothing to copy puts all of q on its no-match symbol, which no target
    token spells: TLI drafts nothing there, so its first-position rate is undefined (NaN), not an
    error (the benchmark prints it as such)."""
    import math

    pair = tiny("spm-vs-bpe").with_drafter(sv.PromptLookup())
    assert math.isnan(expected_acceptance(pair, "The rain", "tli"))
    assert expected_acceptance(pair, "The rain", "union") == 0.0
