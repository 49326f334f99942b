"""Drafters without weights (prompt lookup, the byte n-gram model): lossless under every algorithm.

Greedy: the output equals plain decoding token for token. Sampling: chi-square against the target's
exact law. The toy world's bigram target follows its prompt, so prompt lookup's point-mass proposals
there are accepted *and* rejected often: that is where exact rejection sampling with q = delta_x is
put to the test. psi with the byte drafter is checked against a brute-force walk of the drafting
process. Real-model tests (the bundled Gemma 3 270M target) are marked slow.
"""

from collections import defaultdict
from functools import cache

import pytest
import torch

import specviz as sv
from specviz.algorithms.slrs import psi_lattices
from specviz.lossless import ResidualFromTarget, check_lossless
from specviz.models.bytelevel import BYTE_EOS, NO_MATCH
from specviz.models.ngram import NGramDrafter
from specviz.models.toy import EOS
from specviz.sampling import probabilities

THRESHOLD = 1e-3
ALGORITHMS = ["slem", "tli", "slrs"]
# Prompt lookup matching at least 5 bytes (the default is 1): on these short prompts some steps then
# find no match, so the tests see empty drafts between copies.
DRAFTERS = {"prompt-lookup": lambda: sv.PromptLookup(min_ngram=5),
            "ngram": lambda: NGramDrafter(order=3)}

# The toy target is a bigram model; after ' the' its prompt repeats, so lookup copies ' rainbow is
# wet.' (target probabilities 0.4, 1, 0.3, 1 under the bigram table).
TOY_PROMPT = "the sky is bright. the rainbow is wet. the"
TINY_PROMPT = "The rain in Spain falls. The rain in Spain"
UNICODE_PROMPT = "café 🌈 中文 café 🌈 中文 café 🌈"  # drafts that end inside a UTF-8 character
# A bigram target whose tokens are single characters, so that TLI (which can only propose the
# target's single-byte tokens) has something to do; lookup copies 'b' (p = 0.6), then 'c' (0.3)...
CHAR_TABLE = {
    "a": {"b": 0.6, "c": 0.4}, "b": {"a": 0.5, "c": 0.3, ".": 0.2},
    "c": {"a": 0.7, "b": 0.3}, ".": {EOS: 0.5, "a": 0.5},
}
CHAR_PROMPT = "abcabca"
WORLDS = {"words": TOY_PROMPT, "chars": CHAR_PROMPT}


def toy(drafter: str, world: str = "words") -> sv.ModelPair:
    if world == "chars":  # its matches are short: 'abca' has occurred before
        lookup = sv.PromptLookup(min_ngram=3) if drafter == "prompt-lookup" else DRAFTERS[drafter]()
        return sv.ModelPair(sv.ToyLM("char-target", CHAR_TABLE), lookup)
    return sv.ModelPair(sv.toy_pair().target, DRAFTERS[drafter]())


@cache
def tiny_target(name: str = "spm-vs-bpe"):
    """The target of a tiny pair (a fresh drafter is attached by ``tiny``)."""
    from specviz.models.hf import HFModel
    from specviz.models.tiny import tiny_pair

    return HFModel(*tiny_pair(name)[0])


def tiny(drafter: str, name: str = "spm-vs-bpe") -> sv.ModelPair:
    return sv.ModelPair(tiny_target(name), DRAFTERS[drafter]())


def stop_reasons(result) -> list[str]:
    return [it.get("draft").stop_reason for it in result.trace.iterations]


# -- the drafters themselves -----------------------------------------------------------------------

def test_prompt_lookup_copies_from_the_earliest_longest_match():
    lookup = sv.PromptLookup(min_ngram=2, max_ngram=4)
    # 'b_cd' occurs twice before the end; the earliest occurrence is followed by 'X', the latest by 'Y'.
    assert lookup.find(b"ab_cdX ab_cdY b_cd") == (5, 4)
    assert lookup.find(b"ab_cdX ab_cdY _cd") == (5, 3)  # no 4-byte match: the longest shorter one
    assert lookup.find(b"xyz no repeats") is None
    law = probabilities(lookup.logits(list(b"ab_cdX ab_cdY b_cd"), 1)[0], 1.0)
    assert float(law[ord("X")]) == 1.0
    assert float(probabilities(lookup.logits(list(b"xyz"), 1)[0], 0.7)[NO_MATCH]) == 1.0


@pytest.mark.parametrize("text", [TINY_PROMPT, "abababab", "x = 1\ny = 2\nx = 1\ny", "no repeat"])
def test_a_copied_draft_is_the_byte_law_applied_byte_after_byte(text):
    """SLEM's one-shot copy must equal the per-byte point-mass law TLI and SLRS draw from."""
    lookup = sv.PromptLookup()
    run = type("Run", (), {"drafter_ids": list(text.encode()), "iteration": 0})()
    draft = lookup.draft_continuation(run, 3)
    data = list(text.encode())
    stepped = []
    for _ in range(lookup.bytes_per_token * 3):
        symbol = int(torch.argmax(lookup.logits(data, 1)[0]))
        if symbol == NO_MATCH:
            break
        stepped.append(symbol)
        data.append(symbol)
    assert draft.tokens == stepped and draft.max_candidates == 3
    assert draft.event.stop_reason == ("no-match" if len(stepped) < 48 else "lookahead")
    assert [data[at] for at in draft.event.copied_from] == stepped  # where each byte came from


def test_ngram_law_is_a_distribution_and_forgets_what_it_uncounts():
    model = NGramDrafter(order=4, corpus="the cat sat on the mat. ")
    seq = list(b"the cat sat on the hat, the")
    q = torch.softmax(model.logits(seq, 1)[0], -1)
    assert abs(float(q.sum()) - 1) < 1e-6 and float(q[NO_MATCH]) == 0 and float(q[BYTE_EOS]) > 0
    assert float(q[ord(" ")]) > 0.5  # ' the' was followed by ' ' every time it was seen
    model.logits(list(b"something else entirely"), 1)  # counts another context, then...
    again = torch.softmax(model.logits(seq, 1)[0], -1)  # ...this one again: same law as fresh
    fresh_model = NGramDrafter(order=4, corpus="the cat sat on the mat. ")
    fresh = torch.softmax(fresh_model.logits(seq, 1)[0], -1)
    assert torch.allclose(again, q) and torch.allclose(fresh, q)


def test_names_and_devices():
    pair = sv.load_pair(sv.toy_pair().target, "prompt-lookup")
    assert isinstance(pair.drafter, sv.PromptLookup) and pair.drafter.device == pair.target.device
    assert isinstance(sv.toy_pair().with_drafter("ngram").drafter, sv.NGramDrafter)
    assert isinstance(sv.explore(sv.toy_pair(), "the", drafter="prompt-lookup").pair.drafter,
                      sv.PromptLookup)
    with pytest.raises(ValueError, match="prompt-lookup"):
        sv.load_model("prompt-lookups")
    with pytest.raises(ValueError, match="max_ngram"):
        sv.PromptLookup(min_ngram=5, max_ngram=2)
    with pytest.raises(ValueError, match="order"):
        NGramDrafter(order=0)


def test_tli_shares_the_targets_single_byte_tokens():
    pair = tiny("prompt-lookup")  # SentencePiece with byte fallback: all 256 bytes, and EOS
    single = {t for b, t in pair.target.vocab.id_by_bytes.items() if len(b) == 1}
    shared = set(pair.intersection.target_of[pair.intersection.target_of >= 0].tolist())
    assert shared == single | {min(pair.target.vocab.eos_ids)} and len(single) == 256


@pytest.mark.parametrize("drafter", DRAFTERS)
def test_sd_refuses_a_byte_drafter(drafter):
    with pytest.raises(ValueError, match="shared vocabulary"):
        sv.generate(toy(drafter), TOY_PROMPT, "sd")


# -- greedy: exactly plain decoding ----------------------------------------------------------------

@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_greedy_equals_plain_decoding(algorithm, drafter):
    for pair, prompt in ((toy(drafter), TOY_PROMPT), (toy(drafter, "chars"), CHAR_PROMPT),
                         (tiny(drafter), TINY_PROMPT), (tiny(drafter), UNICODE_PROMPT),
                         (tiny(drafter, "bpe-vs-char"), TINY_PROMPT)):
        plain = sv.generate(pair, prompt, "autoregressive", max_new_tokens=24)
        for lookahead in (1, 3):
            res = sv.generate(pair, prompt, algorithm, max_new_tokens=24, lookahead=lookahead)
            assert res.token_ids == plain.token_ids, (pair.target.name, lookahead)
            assert res.stats.target_forward_passes == res.stats.iterations


def test_greedy_prompt_lookup_is_accepted_on_the_toy_world():
    """Not a vacuous equality: the copy ' rainbow is wet.' is right up to ' wet' (the target says
    ' bright'), so SLEM needs two target passes where plain decoding needs five."""
    pair = toy("prompt-lookup")
    res = sv.generate(pair, TOY_PROMPT, sv.SLEM(lookahead=4), max_new_tokens=8)
    assert res.text == " rainbow is bright." and res.stats.target_forward_passes == 2
    first = res.trace.iterations[0]
    assert first.get("draft").copied_from[0] == TOY_PROMPT.index(" rainbow")
    assert first.get("translate").target_texts == [" rainbow", " is", " wet", "."]
    assert first.get("accept").committed_texts == [" rainbow", " is", " bright"]


def test_the_stepper_explains_a_copy_and_a_missing_match():
    from specviz.viz.explain import explain

    res = sv.generate(toy("prompt-lookup"), "the sky is bright. the rain is wet. the rainbow",
                      "slem", max_new_tokens=12)
    assert stop_reasons(res) == ["no-match", "no-match", "lookahead"]
    assert "nothing more to copy" in explain(res.trace, 0, "draft")
    assert "no candidates" in explain(res.trace, 0, "translate")
    draft = res.trace.iterations[2].get("draft")
    candidates = res.trace.iterations[2].get("translate").target_texts
    words = explain(res.trace, 2, "draft")
    assert f"copied {len(draft.tokens)} bytes" in words
    assert f"byte {draft.copied_from[0]} of the context" in words
    assert f"the first {len(''.join(candidates).encode())} bytes spell candidates" in words
    assert sum(draft.used) == len("".join(candidates).encode()) < len(draft.tokens)


def test_a_copy_survives_a_trip_through_json():
    res = sv.generate(toy("prompt-lookup"), TOY_PROMPT, "slem", max_new_tokens=8)
    back = sv.Trace.from_json(res.trace.to_json())
    assert back.to_dict() == res.trace.to_dict()
    copied = res.trace.iterations[0].get("draft").copied_from
    assert copied and back.iterations[0].events[0].copied_from == copied


def test_an_empty_draft_in_the_middle_of_a_run_is_one_plain_step():
    pair = tiny("prompt-lookup")
    plain = sv.generate(pair, TINY_PROMPT, "autoregressive", max_new_tokens=30)
    res = sv.generate(pair, TINY_PROMPT, sv.SLEM(lookahead=3), max_new_tokens=30)
    assert res.token_ids == plain.token_ids
    reasons = stop_reasons(res)
    middle = [i for i in range(1, len(reasons) - 1) if reasons[i] == "no-match"]
    assert reasons[0] == "lookahead" and middle and "lookahead" in reasons[middle[0]:]
    for i in middle:
        it = res.trace.iterations[i]
        assert it.get("draft").tokens == [] and it.get("translate").target_tokens == []
        assert it.get("verify").positions == [] and len(it.get("accept").committed) == 1
    passes = res.stats.target_forward_passes
    assert passes == res.stats.iterations <= plain.stats.target_forward_passes


# -- sampling: exactly the target's law ------------------------------------------------------------

TOY_RUNS = 800
# TLI in the words world could only propose '.', its one single-byte token: the chars world has TLI.
TOY_CASES = [("words", "slem"), ("words", "slrs"), ("chars", "slem"), ("chars", "tli"),
             ("chars", "slrs")]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("world,algorithm", TOY_CASES)
def test_toy_worlds_first_three_tokens(world, algorithm, drafter, temperature):
    result = check_lossless(toy(drafter, world), WORLDS[world], algorithm, n_tokens=3,
                            temperature=temperature, runs=TOY_RUNS)
    assert result.p_value > THRESHOLD, str(result)


def test_the_same_check_catches_a_residual_that_keeps_the_rejected_copy():
    """After rejecting x = delta_x's token, the replacement must come from p without x. A TLI that
    draws it from p itself produces 'b' with probability 0.6 + 0.4 * 0.6 instead of 0.6."""
    result = check_lossless(toy("prompt-lookup", "chars"), CHAR_PROMPT, ResidualFromTarget(),
                            n_tokens=3, temperature=1.0, runs=TOY_RUNS)
    assert result.p_value < 1e-6, str(result)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("drafter", DRAFTERS)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tiny_target_first_two_tokens(algorithm, drafter, temperature):
    result = check_lossless(tiny(drafter), TINY_PROMPT, algorithm, n_tokens=2,
                            temperature=temperature, runs=600, lookahead=3)
    assert result.p_value > THRESHOLD, str(result)


@pytest.mark.parametrize("algorithm,world,first,p", [("tli", "chars", "b", 0.6),
                                                     ("slrs", "chars", "b", 0.6),
                                                     ("slrs", "words", " rainbow", 0.4)])
def test_point_mass_proposals_are_kept_with_probability_p(algorithm, world, first, p):
    """Rejection sampling with q = delta_x keeps x with probability min(1, p(x)/1) = p(x): the
    first copied candidate must be kept in about that share of runs (the chi-square tests above
    show that the replacements after a rejection come out right too)."""
    pair, kept, runs = toy("prompt-lookup", world), 0, 400
    for seed in range(runs):
        res = sv.generate(pair, WORLDS[world], algorithm, max_new_tokens=3, temperature=1.0,
                          seed=seed)
        check = res.trace.iterations[0].get("verify").positions[0]
        assert check.candidate_text == first and check.q == 1.0
        kept += check.accepted
    assert abs(kept / runs - p) < 0.08  # 3.3 standard deviations of a share of 400 runs


# -- psi: a single path per target token -----------------------------------------------------------

def brute_force_proposal_law(pair, prompt, temperature):
    """The law of SLRS's proposal, walking every byte the drafter may draw, with the drafting rule
    of ``algorithms/slrs.py`` written out naively (prefix sets, no bisection). None is ⊥."""
    target = pair.target.vocab
    spellings = set(target.id_by_bytes)
    prefixes = {s[:i] for s in spellings for i in range(1, len(s) + 1)}
    longer = {s[:i] for s in spellings for i in range(1, len(s))}  # strict prefixes of a token
    context = pair.drafter.prompt_ids(prompt)
    law = defaultdict(float)

    def walk(spelled, prob):
        q = probabilities(pair.drafter.logits(context + list(spelled), 1)[0], temperature).tolist()
        for d, qd in enumerate(q):
            if qd == 0:
                continue
            if d == BYTE_EOS and not spelled:
                law[min(target.eos_ids)] += prob * qd
            elif d >= 256 or spelled + bytes([d]) not in prefixes:
                law[target.id_by_bytes.get(spelled) if spelled else None] += prob * qd
            elif spelled + bytes([d]) in longer:
                walk(spelled + bytes([d]), prob * qd)
            else:
                law[target.id_by_bytes[spelled + bytes([d])]] += prob * qd

    walk(b"", 1.0)
    return law


@pytest.mark.parametrize("where", ["toy", "tiny"])
@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_psi_of_the_byte_drafter_is_the_law_of_the_proposal(where, temperature):
    pair = toy("ngram") if where == "toy" else tiny("ngram", "bpe-vs-char")
    prompt = TOY_PROMPT if where == "toy" else TINY_PROMPT
    law = brute_force_proposal_law(pair, prompt, temperature)
    lattices = psi_lattices(pair, prompt, temperature=temperature)
    assert all(len(lat.paths) <= 1 for lat in lattices.values())  # one spelling, one path
    for token, lat in lattices.items():
        assert lat.psi == pytest.approx(law.get(token, 0.0), abs=1e-6), lat.target_text
    assert sum(lat.psi for lat in lattices.values()) + law[None] == pytest.approx(1.0, abs=1e-5)
    assert law[None] > 0 and max(lat.psi for lat in lattices.values()) > 0.05  # both kinds occur


# -- the CLI and the bundled target ----------------------------------------------------------------

def test_cli_generate_with_a_byte_drafter(capsys):
    from specviz.cli import main

    assert main(["generate", "--pair", "tiny:spm-vs-bpe", "--drafter", "prompt-lookup",
                 "--prompt", TINY_PROMPT, "--max-new-tokens", "6"]) == 0
    assert "prompt-lookup" in capsys.readouterr().out


COPY_PROMPT = ("Repeat the following sentence exactly, word for word.\n\nSentence: The old "
               "lighthouse on the northern cliff was painted white and red in the spring of 1924."
               "\n\nRepeated: The old lighthouse")


@cache
def bundled(drafter: str) -> sv.ModelPair:
    return sv.load_pair("gemma-3-270m", drafter)


@pytest.mark.slow
@pytest.mark.parametrize("drafter", DRAFTERS)
def test_bundled_greedy_equals_plain_decoding(drafter, record_property):
    pair = bundled(drafter)
    plain = sv.generate(pair, COPY_PROMPT, "autoregressive", max_new_tokens=16)
    for algorithm in ALGORITHMS:
        res = sv.generate(pair, COPY_PROMPT, algorithm, max_new_tokens=16, lookahead=3)
        assert res.token_ids == plain.token_ids, algorithm
        record_property("report", f"bundled {drafter} {algorithm}: {res.stats}")
        if drafter == "prompt-lookup" and algorithm != "tli":
            assert res.stats.target_forward_passes < plain.stats.target_forward_passes / 2


@pytest.mark.slow
def test_bundled_slrs_with_the_byte_drafter_samples_with_exact_psi():
    """262,144 target tokens, no budget error; psi of each proposal is the product of the n-gram's
    byte probabilities times the chance that drafting stops there, recomputed here by hand."""
    pair = bundled("ngram")
    spellings = sorted(pair.target.vocab.id_by_bytes)
    for seed in range(2):
        res = sv.generate(pair, COPY_PROMPT, sv.SLRS(lookahead=3), max_new_tokens=8,
                          temperature=1.0, seed=seed)
        assert res.stats.new_tokens == 8 and res.stats.judged > 0
    lattice = psi_lattices(pair, COPY_PROMPT, [" on"], temperature=1.0)
    lat = next(iter(lattice.values()))
    context = pair.drafter.prompt_ids(COPY_PROMPT)
    prob = 1.0
    for i, byte in enumerate(b" on"):
        law = torch.softmax(pair.drafter.logits(context + list(b" on"[:i]), 1)[0], -1)
        prob *= float(law[byte])
    after = torch.softmax(pair.drafter.logits(context + list(b" on"), 1)[0], -1)
    going_on = {s[3] for s in spellings if s.startswith(b" on") and len(s) > 3}
    prob *= 1 - float(after[sorted(going_on)].sum())
    assert len(lat.paths) == 1 and lat.psi == pytest.approx(prob, rel=1e-5)
