"""The stepper's sentences, case by case: each must be true of the trace it describes.

Every test finds the iteration that shows its case in a toy-world trace (and fails if none does),
then reads the words the stepper would show next to it.
"""

from __future__ import annotations

import re

import pytest
import torch

import specviz as sv
from specviz.trace import DraftEvent, Trace
from specviz.viz import distribution_figure
from specviz.viz.explain import explain

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def toy():
    return sv.toy_pair()


def run(toy, algorithm, temperature, max_new_tokens=16, seed=3) -> Trace:
    return sv.generate(toy, "the", algorithm, max_new_tokens=max_new_tokens,
                       temperature=temperature, seed=seed).trace


def find(trace: Trace, condition):
    """The first iteration whose accept/draft events satisfy ``condition``; fails if none."""
    for it in trace.iterations:
        if condition(it):
            return it
    pytest.fail("no iteration of this trace shows the case under test")


def words(trace: Trace, it) -> dict[str, str]:
    return {phase: explain(trace, it.index, phase) for phase in ("draft", "translate", "verify",
                                                                   "accept")}


def test_no_singular_plural_mistakes(toy):
    for algorithm in ("slem", "tli", "slrs"):
        for temperature in (0.0, 1.0):
            for n in (1, 2, 3, 16):
                trace = run(toy, algorithm, temperature, n)
                for it in trace.iterations:
                    for text in words(trace, it).values():
                        assert not re.search(r"\b1 (tokens|candidates|draws)\b", text), text
                        assert "The 1 " not in text and "all 1 " not in text


def test_draft_cut_by_the_output_budget_says_so(toy):
    trace = run(toy, "tli", 1.0, max_new_tokens=3)  # lookahead 4, but only 2 candidates fit
    draft = trace.iterations[0].get("draft")
    assert draft.stop_reason == "budget" and len(draft.tokens) == 2
    text = explain(trace, 0, "draft")
    assert "lookahead" not in text
    assert "max_new_tokens" in text and "room for no more candidates" in text


def test_slem_candidates_cut_by_the_budget_are_named(toy):
    trace = run(toy, "slem", 0.0, max_new_tokens=3)
    translate = trace.iterations[0].get("translate")
    assert translate.over_budget  # re-tokenizing the draft gave more candidates than fit
    text = explain(trace, 0, "translate")
    assert f"giving {len(translate.target_tokens)} candidates" in text
    assert "Cut after" in text and "max_new_tokens" in text


@pytest.mark.parametrize("algorithm", ["slem", "tli", "slrs"])
def test_max_new_tokens_1_proposes_nothing_and_says_why(toy, algorithm):
    trace = run(toy, algorithm, 0.0, max_new_tokens=1)
    assert len(trace.iterations) == 1
    draft = trace.iterations[0].get("draft")
    assert draft.stop_reason == "budget" and not draft.tokens
    said = words(trace, trace.iterations[0])
    assert "lookahead" not in said["draft"]
    assert "leaves room only for the target's own token" in said["draft"]
    assert "no candidates" in said["verify"]
    assert "kept 0 of 0" not in said["accept"] and "Every candidate passed" not in said["accept"]
    assert "there were no candidates" in said["accept"] and "only new token" in said["accept"]


def test_greedy_replacement_is_plain_greedy_decoding(toy):
    trace = run(toy, "slem", 0.0, max_new_tokens=3)
    it = find(trace, lambda it: it.get("accept").first_rejected is not None)
    text = explain(trace, it.index, "accept")
    assert "(argmax)" in text and "exactly the token plain greedy decoding gives" in text


def test_sampled_replacement_is_not_called_exactly_plain_decoding(toy):
    trace = run(toy, "slem", 1.0, max_new_tokens=6)
    it = find(trace, lambda it: it.get("accept").first_rejected is not None)
    text = explain(trace, it.index, "accept")
    assert "exactly" not in text
    accept = it.get("accept")
    assert f"u = {accept.replacement_draw:.3f}" in text and "same p as plain sampling" in text


def test_eos_inside_a_draft_announces_no_bonus_that_is_not_committed(toy):
    trace = run(toy, "slrs", 1.0)
    it = find(trace, lambda it: it.get("accept").bonus is not None
              and it.get("accept").finished == "eos"
              and it.get("accept").bonus not in it.get("accept").committed)
    text = explain(trace, it.index, "accept")
    assert "free" not in text and "bonus" not in text
    assert "is not committed: the output already ended with end-of-text" in text
    assert "drew its end-of-text token" in explain(trace, it.index, "draft")


def test_slrs_stop_on_a_non_token_reads_as_one_story(toy):
    trace = run(toy, "slrs", 1.0)
    it = find(trace, lambda it: it.get("draft").stop_reason == "not-a-target-token"
              and it.get("accept").candidates > 0)
    accept = it.get("accept")
    assert accept.first_rejected is None and accept.replacement is not None
    text = explain(trace, it.index, "accept")
    assert "kept 1 of 1" not in text and "Every candidate passed" not in text
    assert "SLRS treats ⊥ as a rejection at position" in text
    assert "not as a free bonus" in text
    assert "spells no target token (⊥)" in explain(trace, it.index, "draft")


def test_slrs_draws_name_the_context_they_came_from(toy):
    trace = run(toy, "slrs", 1.0)
    it = find(trace, lambda it: not all(a == i - 1 for i, a in enumerate(it.get("draft").after)))
    draft = it.get("draft")
    text = explain(trace, it.index, "draft")
    for i, token in enumerate(draft.texts):
        if draft.after[i] != i - 1:  # drawn after an earlier context than the previous draw
            context = "".join(draft.texts[j] for j in _chain(draft, i))
            assert re.search(rf"'{re.escape(_visible(token))}' \(after '{re.escape(_visible(context))}'",
                             text) or not context, text
    assert "unused" in text


def _chain(draft: DraftEvent, i: int) -> list[int]:
    out, j = [], draft.after[i]
    while j >= 0:
        out.append(j)
        j = draft.after[j]
    return list(reversed(out))


def _visible(text: str) -> str:
    from specviz.viz.style import show_token
    return show_token(text)


def test_an_unknown_stop_reason_is_shown_as_recorded(toy):
    trace = run(toy, "slem", 0.0, max_new_tokens=8)
    trace.iterations[0].get("draft").stop_reason = "some-new-reason"
    assert "It stopped because of 'some-new-reason'." in explain(trace, 0, "draft")


@pytest.mark.parametrize("algorithm,temperature", [("slem", 0.0), ("slem", 1.0), ("tli", 1.0),
                                                   ("slrs", 1.0)])
def test_distribution_shows_only_what_is_known_at_each_phase(toy, algorithm, temperature):
    trace = run(toy, algorithm, temperature)
    for it in trace.iterations:
        for phase in ("draft", "translate"):
            fig = distribution_figure(trace, it.index, 0, phase)
            names = {d.name: d for d in fig.data}
            pick = next(d for d in fig.data if d.name.startswith("target's pick"))
            assert pick.name == "target's pick" and not len(pick.x or ())
            assert not len(names["p"].x or ())  # no p before the target has run
            assert "u =" not in fig.layout.title.text
        fig = distribution_figure(trace, it.index, None, "accept")
        pick = next(d for d in fig.data if d.name.startswith("target's pick"))
        assert len(pick.x) == 1 and pick.visible
