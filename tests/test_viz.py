"""Figures, widgets and the cost model, checked against the traces they draw.

Every figure is read back from ``fig.data`` and compared with the numbers in the trace, for traces
of every algorithm (toy world and tiny Hugging Face pairs, greedy and sampling).
"""

from __future__ import annotations

import math

import pytest
import torch

import specviz as sv
from specviz import costmodel
from specviz.models.tiny import tiny_pair
from specviz.trace import PHASES, Trace
from specviz.viz import (Stepper, distribution_figure, explore, save_html, speedup_figure,
                         summary_figure, token_strip_figure, translation_figure, vocabulary_figure)
from specviz.viz.explain import explain
from specviz.viz.fates import FATES, positions, trace_fates
from specviz.viz.strip import HIGHLIGHT, iteration_outline
from specviz.viz.style import (GREEN, GREY, ORANGE, PURPLE, SKY_BLUE, YELLOW, algorithm_colour,
                                show_prob, show_token, token_label)
from specviz.viz.translation import label_bytes

torch.set_num_threads(1)

TOY_ALGORITHMS = ("autoregressive", "slem", "tli", "slrs")
TINY_CROSS = ("slem", "tli", "slrs")


@pytest.fixture(scope="module")
def toy():
    return sv.toy_pair()


@pytest.fixture(scope="module")
def traces(toy) -> dict[str, Trace]:
    """One trace per (world, algorithm, temperature), named like 'toy-slrs-1.0'."""
    out = {}
    for algorithm in TOY_ALGORITHMS:
        for temperature in (0.0, 1.0):
            out[f"toy-{algorithm}-{temperature}"] = sv.generate(
                toy, "the", algorithm, max_new_tokens=16, temperature=temperature, seed=3).trace
    shared = sv.load_pair(*tiny_pair("shared-vocab"))
    cross = sv.load_pair(*tiny_pair("bpe-vs-spm"))
    for temperature in (0.0, 1.0):
        out[f"tiny-sd-{temperature}"] = sv.generate(
            shared, "The cat sat", "sd", max_new_tokens=8, temperature=temperature, seed=1).trace
        for algorithm in TINY_CROSS:
            out[f"tiny-{algorithm}-{temperature}"] = sv.generate(
                cross, "The cat sat", algorithm, max_new_tokens=8, temperature=temperature,
                seed=1).trace
    return out


ALL = [f"toy-{a}-{t}" for a in TOY_ALGORITHMS for t in (0.0, 1.0)] + \
      [f"tiny-{a}-{t}" for a in ("sd", *TINY_CROSS) for t in (0.0, 1.0)]


def _strip_tokens(fig) -> list[tuple[int, float, str, str]]:
    """(row, left edge, label, hover text) of every token bar of a strip, in reading order."""
    cells = []
    for bar in fig.data:
        if bar.type == "bar":
            cells += zip(bar.y, bar.base, bar.text, bar.hovertext)
    return sorted(cells)


# -- style and the fates every figure relies on ----------------------------------------------------

def test_whitespace_is_visible():
    assert show_token(" a\n\tb\x18") == "␣a↵⇥b␘"
    assert token_label("<eos>") == "&lt;eos&gt;"
    assert show_token("") == "∅"


def test_algorithm_colours_follow_the_registry():
    from specviz import algorithms

    assert [algorithm_colour(name) for name in algorithms.ALGORITHMS] == \
        [GREY, SKY_BLUE, ORANGE, PURPLE, GREEN]
    algorithms.register(type("Sixth", (sv.SD,), {"name": "sixth"}))
    try:
        assert algorithm_colour("sixth") == YELLOW  # registered later: the next colour, unasked
    finally:
        algorithms.unregister("sixth")
    assert algorithm_colour("sixth") == GREY  # a name this version does not know


@pytest.mark.parametrize("name", ALL)
def test_fates_spell_the_output(traces, name):
    trace = traces[name]
    fates = trace_fates(trace.iterations)
    assert [f.text for f in fates if f.kept] == trace.token_texts
    for fate in fates:
        assert fate.fate in FATES
        if fate.fate in ("accepted", "rejected"):
            assert fate.check.accepted == (fate.fate == "accepted")


# -- figures --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_token_strip(traces, name):
    trace = traces[name]
    fig = token_strip_figure(trace, iteration=0)
    assert [t.name for t in fig.data][-2:] == ["iteration boundary", HIGHLIGHT]
    assert len(fig.data) == len(FATES) + 2
    cells = _strip_tokens(fig)
    kept = [label for _, _, label, _ in cells if not label.startswith("<s>")]
    assert kept == [token_label(t) for t in trace.token_texts]
    fates = trace_fates(trace.iterations)
    assert len(cells) == len(fates)
    for fate, (_, _, label, hover) in zip(fates, cells):
        assert label.removeprefix("<s>").removesuffix("</s>") == token_label(fate.text)
        assert hover.startswith(f"iteration {fate.iteration}, position {fate.position}: ")
        if fate.check is not None:  # a judged candidate: its p, q, acceptance probability, draw
            assert f"p = {show_prob(fate.check.p)}" in hover
            if fate.check.accept_prob is not None:
                assert "min(1, p/" in hover and show_prob(fate.check.accept_prob) in hover
                assert f"u = {fate.check.draw:.3f}" in hover
        elif fate.kept:  # the target's own token: its probability in the law it came from
            assert show_prob(fate.law_prob) in hover


@pytest.mark.parametrize("name", ALL)
def test_translation(traces, name):
    trace = traces[name]
    algorithm = trace.meta["algorithm"]
    for it in trace.iterations:
        fig = translation_figure(trace, it.index)
        names = [t.name for t in fig.data]
        assert names[:8] == ["drafted tokens", "drawn but unused", "look-behind text",
                             "draft text", "look-behind tokens", "candidate target tokens",
                             "dropped text", "not proposed"]
        assert len(names) == (11 if algorithm == "slrs" else 8)
        translate, draft = it.get("translate"), it.get("draft")
        if translate is None:
            assert all(len(t.x or ()) == 0 for t in fig.data)
            continue
        candidates = fig.data[5]
        assert list(candidates.text or ()) == [token_label(t) for t in translate.target_texts]
        drafted, unused = list(fig.data[0].text or ()), list(fig.data[1].text or ())
        assert len(drafted) + len(unused) == len(draft.texts)
        if algorithm == "slrs":  # it drafts tokens it does not use; the rest spell the candidates
            used = draft.used
            assert b"".join(label_bytes(t) for t, u in zip(draft.texts, used) if u) == \
                b"".join(label_bytes(t) for t in translate.target_texts)
            assert drafted == [token_label(t) for t, u in zip(draft.texts, used) if u]
        else:
            assert drafted == [token_label(t) for t in draft.texts]
        if translate.dropped:
            assert list(fig.data[6].text) == [token_label(translate.dropped)]
        if algorithm == "tli" and translate.intersection_mass:
            shares = ", ".join(f"{m:.0%}" for m in translate.intersection_mass)
            assert fig.layout.title.text.endswith(f"share of q on shared tokens: {shares}")
        if algorithm == "slrs":
            paths, _, target_p = fig.data[8:]
            for j, lat in enumerate(translate.lattices):
                row = f"{j}: {token_label(lat.target_text)}"
                widths = [w for y, w in zip(paths.y, paths.x) if y == row]
                assert math.isclose(sum(widths), lat.psi, rel_tol=1e-6)
            checks = it.get("verify").positions
            assert list(target_p.x) == [c.p for c in checks[:len(translate.lattices)]]


def test_translation_of_a_healed_draft():
    """Token healing: the first drafted token re-spells the context's trailing whitespace, so it is
    drawn reaching back over the committed text, and its hover and the explanation say why."""
    pair = sv.load_pair(*tiny_pair("spm-vs-bpe"))
    trace = sv.generate(pair, "def area(r):\n    ", "slem", max_new_tokens=6).trace
    it = next(it for it in trace.iterations if it.get("draft").healed)
    draft, translate = it.get("draft"), it.get("translate")
    fig = translation_figure(trace, it.index)
    drafted, text = fig.data[0], fig.data[3]
    healed = len(draft.healed.encode())
    assert drafted.base[0] == pytest.approx(-healed + 0.05)  # starts over the committed whitespace
    assert "token healing" in drafted.hovertext[0]
    assert text.base[0] == pytest.approx(0.05)
    assert text.x[0] == pytest.approx(len(translate.text.encode()) - 0.1)
    assert "Token healing" in explain(trace, it.index, "draft")


def test_slrs_marks_dropped_drafts():
    # greedy in the toy world: after ' rain' the drafter draws ' is', which continues no target
    # token: it is dropped, and drawn again as the start of the next proposal
    trace = sv.generate(sv.toy_pair(), "the", "slrs", max_new_tokens=4, lookahead=4).trace
    draft = trace.iterations[0].get("draft")
    assert draft.texts == [" rain", " is", " is", " bri", "ght"]
    assert draft.used == [True, False, True, True, True]
    assert b"".join(label_bytes(t) for t, u in zip(draft.texts, draft.used) if u) == \
        b"".join(label_bytes(t) for t in trace.iterations[0].get("translate").target_texts)
    assert label_bytes("<0xE4><0xB8>") == b"\xe4\xb8" and label_bytes("<eos>") == b""


@pytest.mark.parametrize("name", ALL)
def test_distribution(traces, name):
    trace = traces[name]
    algorithm = trace.meta["algorithm"]
    for it in trace.iterations:
        verify, accept = it.get("verify"), it.get("accept")
        for j in positions(it):
            fig = distribution_figure(trace, it.index, j)
            assert len(fig.data) == 9
            p, proposal, overlap, residual = fig.data[:4]
            assert p.name == "p"
            check = verify.positions[j] if j < len(verify.positions) else None
            top = check.top if check else verify.bonus_top
            expected = {token_label(t.text): t.prob for t in top if t.prob > 0}
            if check:
                expected[token_label(check.candidate_text)] = check.p
            shown = dict(zip(p.x, p.y))
            assert all(math.isclose(shown[k], v) for k, v in expected.items() if k in shown)
            assert len(shown) >= min(len(expected), 6)
            if check is not None and check.q is not None:
                assert dict(zip(proposal.x, proposal.y))[token_label(check.candidate_text)] \
                    == check.q
            for x, y in zip(overlap.x, overlap.y):
                assert math.isclose(y, min(shown[x], dict(zip(proposal.x, proposal.y))[x]))
            accept_bar, reject_bar, u = fig.data[6:]
            if check is not None and check.accept_prob is not None:
                assert list(accept_bar.x) == [check.accept_prob]
                assert list(u.x) == [check.draw]
            else:
                assert len(accept_bar.x or ()) == 0
            rejected_here = accept.first_rejected == j and accept.replacement is not None
            if rejected_here and verify.rule == "rejection-sampling" and algorithm != "slrs":
                top_residual = {token_label(t.text): t.prob for t in accept.residual_top
                                if t.prob > 0}
                assert all(math.isclose(top_residual[x], y) for x, y in zip(residual.x, residual.y))
        before = distribution_figure(trace, it.index, 0, phase="draft")
        assert before.data[0].visible is False  # no p before the target has run
        assert before.data[1].visible is True


@pytest.mark.parametrize("name", ["toy-tli-1.0", "toy-slem-0.0", "toy-autoregressive-1.0",
                                  "tiny-sd-1.0", "tiny-tli-1.0"])
def test_vocabulary(traces, name):
    trace = traces[name]
    fig = vocabulary_figure(trace)
    sizes, masses = fig.data
    expected = [trace.meta["target"]["vocab_size"]]
    if trace.meta["drafter"]:
        expected += [trace.meta["drafter"]["vocab_size"], trace.meta["intersection_size"]]
    assert list(sizes.x) == expected
    recorded = [m for it in trace.iterations if it.get("translate")
                for m in it.get("translate").intersection_mass]
    assert list(masses.y or ()) == recorded
    assert bool(recorded) == (trace.meta["algorithm"] == "tli")


@pytest.mark.parametrize("name", ALL)
def test_summary(traces, name):
    trace = traces[name]
    fig = summary_figure(trace)
    assert len(fig.data) == 5 + len(PHASES)
    acceptance, kept, own, cumulative, _ = fig.data[:5]
    judged = [c for it in trace.iterations for c in it.get("verify").positions]
    for position, rate in zip(acceptance.x, acceptance.y):
        here = [c.accepted for c in judged if c.position == position]
        assert math.isclose(rate, sum(here) / len(here))
    assert sum(kept.y) + sum(own.y) == trace.stats.new_tokens == cumulative.y[-1]
    titles = [a.text for a in fig.layout.annotations]
    assert f"acceptance a per position: accepted / judged (all: {trace.stats.acceptance:.2f})" \
        in titles  # the cost model's a, named as in Stats and the benchmark tables
    for phase, bars in zip(PHASES, fig.data[5:]):
        assert bars.name.startswith(phase)
        events = [it.get(phase) for it in trace.iterations]
        assert list(bars.y) == [1000 * e.seconds if e else 0.0 for e in events]


def test_speedup_figure_and_cost_model():
    points = [costmodel.SpeedupPoint("slem", k, 1.0 + 0.1 * k, 0.6, 0.1) for k in (1, 2, 4)]
    points.append({"algorithm": "tli", "lookahead": 3, "speedup": 1.2, "acceptance": 0.5,
                   "cost_ratio": 0.2, "verify_cost": 1.5})
    fig = speedup_figure(points, lookaheads=range(1, 6), verify_cost=lambda k: 1 + 0.1 * k)
    measured, model, tli_measured, tli_model, baseline = fig.data
    assert measured.marker.color == model.line.color == ORANGE
    assert tli_measured.marker.color == tli_model.line.color == PURPLE
    assert list(measured.y) == [1.1, 1.2, 1.4] and list(tli_measured.x) == [3]
    assert list(model.x) == [1, 2, 3, 4, 5]
    for k, y in zip(model.x, model.y):
        assert math.isclose(y, costmodel.predicted_speedup(0.6, k, 0.1, 1 + 0.1 * k))
    assert list(baseline.y) == [1, 1]

    assert costmodel.expected_tokens_per_iteration(0.5, 2) == 1.75
    assert costmodel.expected_tokens_per_iteration(1.0, 4) == 5.0
    assert costmodel.predicted_speedup(0.0, 3, 0.0) == 1.0
    assert math.isclose(costmodel.predicted_speedup(0.8, 4, 0.05, 1.0),
                        (1 - 0.8 ** 5) / (0.2 * 1.2))
    for a in (0.0, 0.3, 0.9):
        tokens = costmodel.expected_tokens_per_iteration(a, 4)
        assert math.isclose(costmodel.acceptance_from_tokens_per_iteration(tokens, 4), a,
                            abs_tol=1e-9)
    with pytest.raises(ValueError):
        costmodel.expected_tokens_per_iteration(1.5, 2)


def test_acceptance_from_stats_and_trace(traces):
    trace = traces["toy-slrs-1.0"]
    judged = [c for it in trace.iterations for c in it.get("verify").positions]
    assert trace.stats.acceptance == sum(c.accepted for c in judged) / len(judged)
    proposed = sum(len(it.get("translate").target_tokens) for it in trace.iterations)
    assert trace.stats.kept_share == sum(c.accepted for c in judged) / proposed
    assert 0.0 <= costmodel.acceptance_from_stats(trace.stats) <= 1.0
    assert costmodel.acceptance_from_stats(traces["toy-autoregressive-0.0"].stats) == 0.0


@pytest.mark.parametrize("name", ["toy-slrs-1.0", "toy-tli-1.0", "tiny-slem-1.0",
                                  "toy-autoregressive-0.0"])
def test_json_round_trip_draws_the_same(traces, name):
    trace = traces[name]
    loaded = Trace.from_json(trace.to_json())
    pairs = [(token_strip_figure, ()), (summary_figure, ()), (vocabulary_figure, ())]
    for it in trace.iterations[:3]:
        pairs += [(translation_figure, (it.index,)), (distribution_figure, (it.index,))]
    for build, args in pairs:
        assert build(loaded, *args).to_dict() == build(trace, *args).to_dict(), build.__name__


def test_explanations_quote_the_numbers(traces):
    trace = traces["toy-slrs-1.0"]
    for it in trace.iterations:
        for phase in PHASES:
            assert explain(trace, it.index, phase).startswith(f"Iteration {it.index}, {phase}: ")
    check = trace.iterations[0].get("verify").positions[0]
    words = explain(trace, 0, "verify")
    relation = "<" if check.accepted else "≥"
    assert (f"u = {check.draw:.3f} {relation} min(1, p/ψ) = {show_prob(check.accept_prob)}"
            in words)
    assert "no drafter" in explain(traces["toy-autoregressive-0.0"], 0, "draft")


def test_html_export_is_self_contained(traces, tmp_path):
    path = save_html(token_strip_figure(traces["toy-slem-1.0"]), tmp_path / "strip.html")
    page = path.read_text(encoding="utf-8")
    assert "<script src=" not in page  # nothing is fetched: plotly.js itself is inside
    assert len(page) > 1_000_000


# -- widgets --------------------------------------------------------------------------------------

def test_stepper_moves_and_redraws(traces):
    trace = traces["toy-slrs-1.0"]
    stepper = Stepper(trace)
    assert (stepper.iteration, stepper.phase) == (0, "draft")
    assert stepper.distribution.data[0].visible is False  # the target has not run yet
    stepper.next()
    assert (stepper.iteration, stepper.phase) == (0, "translate")
    stepper.next()
    assert stepper.phase == "verify" and stepper.distribution.data[0].visible is True
    stepper.back()
    assert stepper.phase == "translate"

    last = trace.iterations[-1]
    stepper.last()
    assert (stepper.iteration, stepper.phase) == (last.index, "accept")
    for it in trace.iterations:
        for j in positions(it):
            stepper.goto(it.index, "verify", position=j)
            assert stepper.position == j
            verify = it.get("verify")
            top = verify.positions[j].top if j < len(verify.positions) else verify.bonus_top
            shown = dict(zip(stepper.distribution.data[0].x, stepper.distribution.data[0].y))
            for t in top:
                if t.prob > 0:
                    assert math.isclose(shown[token_label(t.text)], t.prob)
            assert stepper.translation.figure.layout.title.text.startswith(f"Iteration {it.index}:")
            outline = iteration_outline(stepper._cells, it.index)
            highlight = next(t for t in stepper.strip.data if t.name == HIGHLIGHT)
            assert list(highlight.x) == outline[0]
    stepper.slider.value = 2
    assert (stepper.iteration, stepper.phase) == stepper.steps[2]
    stepper.play.value = 5  # the play button drives the slider
    assert stepper.step == 5
    stepper.first()
    assert stepper.step == 0
    assert "draft" in stepper.phase_bar.value and "Iteration 0, draft" in stepper.explanation.value
    assert "Stepper slrs" in repr(stepper)


def test_stepper_position_picker(traces):
    trace = traces["toy-tli-1.0"]
    it = next(it for it in trace.iterations if len(positions(it)) > 1)
    stepper = Stepper(trace)
    stepper.goto(it.index, "accept")
    other = positions(it)[0] if stepper.position != positions(it)[0] else positions(it)[1]
    stepper.position_picker.value = other
    assert stepper.position == other
    assert stepper.distribution.figure.layout.title.text.startswith(
        f"Iteration {it.index}, position {other}")


def test_stepper_autoregressive_and_empty(traces, toy):
    stepper = Stepper(traces["toy-autoregressive-1.0"])
    assert stepper.phase == "verify"  # no draft or translate events
    stepper.next()
    stepper.last()
    assert stepper.phase == "accept"
    with pytest.raises(ValueError, match="no draft phase"):
        stepper.goto(0, "draft")
    with pytest.raises(ValueError, match="no position 3"):
        stepper.goto(0, "verify", position=3)
    empty = Stepper(sv.generate(toy, "the", "slem", max_new_tokens=0).trace)
    empty.next(), empty.back(), empty.last()
    assert "no iterations" in repr(empty) and empty.position is None


def test_explore_runs_and_reports_errors(toy):
    explorer = explore(toy)
    explorer.algorithm.value = "tli"
    explorer.temperature.value = 1.0
    explorer.seed.value = 4
    explorer.lookahead.value = 3
    explorer.max_new_tokens.value = 12
    explorer.run_button.click()
    assert explorer.message.value == ""
    assert explorer.stepper is not None and explorer.stepper.trace is explorer.trace
    assert explorer.trace.meta["algorithm"] == "tli"
    assert explorer.trace.meta["params"]["lookahead"] == 3
    assert explorer.progress.value == explorer.trace.stats.new_tokens
    assert explorer.stepper in explorer.children
    live_tokens = [label for _, _, label, _ in _strip_tokens(explorer.live)
                   if not label.startswith("<s>")]
    assert live_tokens == [token_label(t) for t in explorer.trace.token_texts]

    first = explorer.stepper
    explorer.temperature.value = -1
    explorer.run_button.click()
    assert "temperature" in explorer.message.value and "Could not run" in explorer.message.value
    assert explorer.stepper is first  # the last good run stays on screen
    explorer.temperature.value = 0
    explorer.prompt.value = ""
    explorer.run_button.click()
    assert "prompt" in explorer.message.value
    explorer.prompt.value = "the"
    explorer.algorithm.value = "sd"  # the toy pair has two vocabularies
    explorer.run_button.click()
    assert "vocabulary" in explorer.message.value
