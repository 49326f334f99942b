"""A sixth algorithm needs its own file and the registry, nothing else (the shape of issue 11).

``OneTokenSD`` stands for that file: standard speculative decoding that proposes one token per
iteration, under a law symbol of its own ("q1") so that the figures can be seen to read it from the
class. Registered under "sd1", it must run through the shared loop greedy (equal to plain
decoding) and sampled (lossless), record a trace that survives JSON, and be drawn and explained by
the figures.
"""

import pytest
from conftest import mimic

import specviz as sv
from specviz import algorithms
from specviz.lossless import check_lossless
from specviz.models.toy import shared_toy_pair
from specviz.trace import Trace

THRESHOLD = 1e-3


class OneTokenSD(sv.SD):
    """SD that proposes one drafted token per iteration: its lookahead is always 1."""

    name = "sd1"
    draft_law = proposal_symbol = "q1"

    def __init__(self, lookahead: int = 1, lookbehind: int = 10) -> None:
        super().__init__(1, lookbehind)


class ResidualFromTargetOneTokenSD(OneTokenSD):
    """BROKEN: draws the replacement from p instead of norm(max(0, p - q))."""

    name = "sd1-broken-residual"

    def residual_token(self, run, cand, position, p):
        token, u = run.choose(p, run.target_draws)
        return token, u, []


@pytest.fixture
def sd1():
    algorithms.register(OneTokenSD)
    yield "sd1"
    algorithms.unregister("sd1")


def test_register_makes_the_name_known_and_unregister_forgets_it(sd1):
    assert algorithms.algorithm_class("sd1") is OneTokenSD
    assert algorithms.ALGORITHMS[-1] == "sd1"  # after the built-in ones
    assert isinstance(algorithms.make_algorithm("SD1"), OneTokenSD)
    algorithms.unregister("sd1")
    assert algorithms.algorithm_class("sd1") is sv.Algorithm and "sd1" not in algorithms.ALGORITHMS
    with pytest.raises(ValueError, match="Unknown algorithm 'sd1'"):
        algorithms.make_algorithm("sd1")
    algorithms.register(OneTokenSD)  # for the fixture to remove


def test_register_refuses_what_is_no_algorithm_or_a_built_in_name():
    with pytest.raises(TypeError):
        algorithms.register(object)
    with pytest.raises(ValueError, match="built-in"):
        algorithms.register(type("FakeSLEM", (sv.SD,), {"name": "slem"}))
    with pytest.raises(ValueError, match="built-in"):
        algorithms.unregister("sd")


def test_greedy_output_is_plain_decoding(sd1):
    pair = mimic("shared-vocab")
    rejected = 0
    for prompt in ("The weather today is", " leading space", "trailing space ",
                   "line one\nline two\n", "def area(r):\n    return", "1234 + 5678 ="):
        reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=16)
        res = sv.generate(pair, prompt, sd1, max_new_tokens=16)
        assert res.token_ids == reference.token_ids, prompt
        assert res.trace.meta["algorithm"] == "sd1"
        assert all(len(it.get("draft").tokens) <= 1 for it in res.trace.iterations)
        assert res.stats.proposed == res.stats.drafted > 0
        rejected += res.stats.judged - res.stats.accepted
    assert rejected > 0  # the test saw drafts kept and drafts rejected


def test_sampling_is_lossless_and_a_broken_residual_is_caught(sd1):
    result = check_lossless(shared_toy_pair(), "the", sd1, n_tokens=3, runs=2000)
    assert result.p_value > THRESHOLD, str(result)
    assert 0.2 < result.acceptance < 0.95, str(result)  # drafts are both kept and rejected
    broken = check_lossless(shared_toy_pair(), "the", ResidualFromTargetOneTokenSD(), n_tokens=3,
                            runs=2000)
    assert broken.p_value < THRESHOLD, str(broken)


def test_trace_round_trips_and_the_figures_read_the_class(sd1):
    from specviz.viz.explain import explain
    from specviz.viz.figures import distribution_figure, translation_figure

    res = sv.generate(shared_toy_pair(), "the", sd1, max_new_tokens=8, temperature=1.0, seed=3)
    back = Trace.from_json(res.trace.to_json())
    assert back.to_dict() == res.trace.to_dict()
    i = next(it.index for it in back.iterations if it.get("verify").positions)
    check = back.iteration(i).get("verify").positions[0]

    assert "q1 = " in explain(back, i, "draft")  # the law each draft was drawn from
    assert "one shared vocabulary" in explain(back, i, "translate")
    assert "q1" in explain(back, i, "verify")
    laws = {bar.name: dict(zip(bar.x, bar.y)) for bar in distribution_figure(back, i, 0).data
            if bar.type == "bar"}
    assert "q1" in laws and "min(p, q1)" in laws
    assert pytest.approx(check.q) in laws["q1"].values()
    figure = translation_figure(back, i)
    shown = " ".join(str(t) for bar in figure.data for t in (bar.text or ()))
    assert back.iteration(i).get("translate").target_texts[0].strip() in shown


def test_the_benchmark_runs_a_registered_algorithm(sd1):
    """The benchmark checks names against the registry as it is now, not as it was at import."""
    result = sv.bench(mimic("shared-vocab"), algorithms=[sd1], lookahead=[1], temperature=[0.0],
                      prompts=["code"], max_new_tokens=4, repeats=1, warmup=0, hf=False,
                      progress=False)
    rows = [r for r in result.rows if r["algorithm"] == sd1]
    assert rows and all(r["same_as_autoregressive"] for r in rows)
