"""SLRS: psi against brute force, acceptance against its formula, the budget, and exactness."""

import re
from collections import defaultdict

import pytest
from conftest import tiny

import specviz as sv
from specviz.algorithms.slrs import psi_lattices
from specviz.lossless import check_lossless
from specviz.models.toy import EOS
from specviz.sampling import probabilities

# A drafter whose vocabulary overlaps itself ('h', 'he', 'hey', 'ey', ...): 'hey' has 4 paths.
HEY_TARGET = {
    "!": {"hey": 0.45, "he": 0.2, "h": 0.1, "e": 0.1, "y": 0.05, EOS: 0.1},
    "hey": {"!": 1.0}, "he": {"y": 0.5, "!": 0.5}, "h": {"e": 0.6, "!": 0.4},
    "e": {"y": 0.7, "!": 0.3}, "y": {"!": 0.6, EOS: 0.4},
}
HEY_DRAFTER = {
    "!": {"h": 0.3, "he": 0.2, "hey": 0.3, "e": 0.1, "ey": 0.05, EOS: 0.05},
    "h": {"e": 0.5, "ey": 0.3, "!": 0.2}, "he": {"y": 0.6, "!": 0.4},
    "e": {"y": 0.5, "!": 0.3, "h": 0.2}, "ey": {"!": 1.0}, "hey": {"!": 0.8, EOS: 0.2},
    "y": {"!": 0.7, EOS: 0.3},
}


def hey_pair():
    return sv.toy_pair(HEY_TARGET, HEY_DRAFTER)


def brute_force_proposal_law(pair, prompt, temperature):
    """The law of SLRS's proposal, by walking every drafter choice of the drafting process as the
    module docstring defines it (an independent, naive implementation). None stands for ⊥."""
    target, drafter = pair.target.vocab, pair.drafter.vocab
    spellings = set(target.id_by_bytes)
    starts = lambda s: any(t.startswith(s) for t in spellings)
    longer = lambda s: any(t.startswith(s) and t != s for t in spellings)
    context = pair.drafter.prompt_ids(prompt)
    law = defaultdict(float)

    def walk(path, spelled, prob):
        q = probabilities(pair.drafter.logits(context + path, 1)[0], temperature).tolist()
        for d, qd in enumerate(q):
            if qd == 0:
                continue
            piece = drafter.token_bytes[d]
            if d in drafter.eos_ids and not spelled:
                law[min(target.eos_ids)] += prob * qd
            elif not piece or not starts(spelled + piece):
                law[target.id_by_bytes.get(spelled) if spelled else None] += prob * qd
            elif longer(spelled + piece):
                walk(path + [d], spelled + piece, prob * qd)
            else:
                law[target.id_by_bytes[spelled + piece]] += prob * qd

    walk([], b"", 1.0)
    return dict(law)


def psi_of_every_token(pair, prompt, temperature):
    return psi_lattices(pair, prompt, temperature=temperature)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("world,prompt", [("toy", "the"), ("hey", "!"), ("tiny", "The rain")])
def test_psi_equals_brute_force_law(world, prompt, temperature):
    pair = {"toy": sv.toy_pair, "hey": hey_pair, "tiny": lambda: tiny("bpe-vs-char")}[world]()
    law = brute_force_proposal_law(pair, prompt, temperature)
    lattices = psi_of_every_token(pair, prompt, temperature)
    for token, lat in lattices.items():
        assert lat.psi == pytest.approx(law.get(token, 0.0), abs=1e-6), lat.target_text
        assert sum(p.prob for p in lat.paths) == pytest.approx(lat.psi)
    assert sum(law.values()) == pytest.approx(1.0)
    assert sum(lat.psi for lat in lattices.values()) <= 1.0 + 1e-6


def test_psi_by_hand_in_the_toy_world():
    """The numbers a student can check: after 'the', psi(' rainbow') sums four paths."""
    psi = {lat.target_text: lat for lat in psi_of_every_token(sv.toy_pair(), "the", 1.0).values()}
    rainbow = psi[" rainbow"]
    assert sorted(p.texts for p in rainbow.paths) == sorted(
        [[" r", "ain", "bo", "w"], [" r", "ain", "bow"], [" rain", "bo", "w"], [" rain", "bow"]])
    assert rainbow.psi == pytest.approx(0.3 * 0.9 * 0.2 + 0.3 * 0.9 * 0.5 + 0.5 * 0.1 + 0.5 * 0.4)
    # ' rain' starts ' rainbow': a path only counts if drafting stops there (next is not 'bo'/'bow')
    assert psi[" rain"].psi == pytest.approx(0.3 * 0.9 * (1 - 0.2 - 0.5) + 0.5 * (1 - 0.1 - 0.4))
    assert psi[" sky"].psi == pytest.approx(0.2)
    hey = {lat.target_text: lat for lat in psi_of_every_token(hey_pair(), "!", 1.0).values()}
    assert len(hey["hey"].paths) == 4
    assert hey["hey"].psi == pytest.approx(0.3 + 0.2 * 0.6 + 0.3 * 0.3 + 0.3 * 0.5 * 0.5)


@pytest.mark.parametrize("make_pair,prompt", [(sv.toy_pair, "the"), (hey_pair, "!")])
def test_acceptance_rate_matches_sum_of_min_p_psi_and_beats_slem(make_pair, prompt):
    pair, runs = make_pair(), 4000
    p = probabilities(pair.target.logits(pair.target.prompt_ids(prompt), 1)[0], 1.0)
    law = brute_force_proposal_law(pair, prompt, 1.0)
    expected = sum(min(float(p[t]), q) for t, q in law.items() if t is not None)

    def first_acceptance(algorithm):
        kept = 0
        for seed in range(runs):
            res = sv.generate(pair, prompt, algorithm, max_new_tokens=2, lookahead=1,
                              temperature=1.0, seed=seed)
            kept += res.trace.iterations[0].get("accept").accepted
        return kept / runs

    slrs, slem = first_acceptance("slrs"), first_acceptance("slem")
    sigma = (expected * (1 - expected) / runs) ** 0.5
    assert abs(slrs - expected) < 4 * sigma + 1e-9, (slrs, expected)
    assert slrs >= slem - 4 * sigma, (slrs, slem)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_slrs_exact_on_the_overlapping_drafter(temperature):
    result = check_lossless(hey_pair(), "!", "slrs", n_tokens=3, temperature=temperature, runs=2000)
    assert result.p_value > 1e-3, str(result)


def test_greedy_slrs_equals_target_greedy():
    for pair, prompt in ((sv.toy_pair(), "the"), (hey_pair(), "!")):
        reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=10)
        assert sv.generate(pair, prompt, "slrs", max_new_tokens=10).token_ids == reference.token_ids


def test_budget_error_names_budget_string_and_count():
    with pytest.raises(sv.SLRSBudgetError, match=r"' rainbow'.*4 drafter paths.*max_paths=2"):
        for seed in range(50):
            sv.generate(sv.toy_pair(), "the", sv.SLRS(max_paths=2), max_new_tokens=4,
                        temperature=1.0, seed=seed)


def test_trace_records_paths_psi_and_draws():
    res = sv.generate(sv.toy_pair(), "the", "slrs", max_new_tokens=6, temperature=1.0, seed=1)
    for it in res.trace.iterations:
        tr, ver = it.get("translate"), it.get("verify")
        for lat, prob in zip(tr.lattices, tr.proposal_probs):
            assert lat.psi == pytest.approx(sum(p.prob for p in lat.paths)) and lat.psi == prob
        for check in ver.positions:
            assert check.accept_prob == pytest.approx(min(1.0, check.p / check.q))
            assert check.accepted == (check.draw < check.accept_prob)


def test_cost_counts_segmentations():
    rows = sv.slrs_cost(sv.toy_pair(), [" rainbow", " sky", "xyz"])
    assert [r["paths"] for r in rows] == [4, 1, 0]
    # a drafter holding every substring: a string of L characters has 2^(L-1) paths
    letters = "abcdefgh"
    table = {s: {EOS: 1.0} for s in {letters[i:j] for i in range(8) for j in range(i + 1, 9)}}
    everything = sv.ToyLM("all-substrings", table)
    assert [r["paths"] for r in sv.slrs_cost(everything, [letters[:n] for n in range(1, 9)])] == \
        [2 ** (n - 1) for n in range(1, 9)]
    from specviz.models.tiny import char_tokenizer
    assert sv.slrs_cost(char_tokenizer(), ["hello"])[0]["paths"] == 1


def test_budget_error_halfway_says_how_far_the_run_got():
    """A budget error can stop a run after some tokens: it says how many, and what to change."""
    messages = []
    for seed in range(60):
        try:
            sv.generate(sv.toy_pair(), "the", sv.SLRS(max_paths=2), max_new_tokens=8,
                        temperature=1.0, seed=seed)
        except sv.SLRSBudgetError as err:
            messages.append(str(err))
    halfway = [m for m in messages if "after 0 of" not in m]
    assert halfway, messages[:3]
    for message in halfway:
        assert re.search(r"The run stopped after [1-7] of 8 new tokens \(seed \d+; output so far '.+'\)",
                         message), message
        assert "sv.SLRS(max_paths=4)" in message


def test_budget_error_outside_a_run_says_no_run_stopped():
    """psi computed straight from the models (``psi_lattices``) runs no decoder: its budget error
    names the budget and what to change, and does not claim a run stopped after 0 of 1 tokens."""
    from specviz.algorithms.slrs import psi_lattice

    with pytest.raises(sv.SLRSBudgetError, match=r"max_paths=2\. Raise it") as caught:
        psi_lattice(sv.toy_pair(), "the", " rainbow", algorithm=sv.SLRS(max_paths=2))
    assert "run stopped" not in str(caught.value)
