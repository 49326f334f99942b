"""Recording: events in phase order, live hooks, JSON round trip, stats that add up."""

import json

import pytest
from conftest import tiny

import specviz as sv
from specviz.trace import PHASES, AcceptEvent, DraftEvent, Trace


@pytest.mark.parametrize("algorithm", ["slem", "tli", "slrs"])
def test_json_round_trip_keeps_every_event(tmp_path, algorithm):
    res = sv.generate(sv.toy_pair(), "the", algorithm, max_new_tokens=10, temperature=1.0, seed=2)
    path = tmp_path / "trace.json"
    res.trace.to_json(path)
    back = Trace.from_json(path)
    assert back.to_dict() == res.trace.to_dict()
    assert isinstance(back.iterations[0].events[0], DraftEvent)
    assert back.stats.acceptance == res.stats.acceptance
    assert back.stats.kept_share == res.stats.kept_share
    meta = json.loads(path.read_text())["meta"]
    assert meta["algorithm"] == algorithm and meta["seed"] == 2 and meta["temperature"] == 1.0
    assert meta["target"]["name"] == "toy-target" and meta["drafter"]["vocab_size"] == 15
    assert {"torch", "python"} <= set(meta["versions"]) and meta["prompt_ids"]


def test_trace_from_a_real_tokenizer_pair_round_trips():
    res = sv.generate(tiny("spm-vs-bpe"), "café 🌈", "tli", max_new_tokens=8, temperature=0.9)
    assert Trace.from_json(res.trace.to_json()).to_dict() == res.trace.to_dict()


def test_hooks_fire_live_in_phase_order():
    seen = []
    res = sv.generate(sv.toy_pair(), "the", "slem", max_new_tokens=8, hooks=seen.append)
    assert [e.phase for e in seen] == list(PHASES) * res.stats.iterations
    assert [e.iteration for e in seen[::4]] == list(range(res.stats.iterations))
    assert seen == res.trace.events


def test_hook_object_and_lists():
    class Watcher:
        def __init__(self):
            self.accepted = []

        def on_accept(self, event: AcceptEvent):
            self.accepted.append(event.committed)

    watcher, calls = Watcher(), []
    res = sv.generate(sv.toy_pair(), "the", "tli", max_new_tokens=8, hooks=[watcher, calls.append])
    assert sum(watcher.accepted, []) == res.token_ids
    assert len(calls) == 4 * res.stats.iterations
    with pytest.raises(TypeError, match="on_draft"):
        sv.generate(sv.toy_pair(), "the", "tli", hooks=object())


def test_autoregressive_records_verify_and_accept_only():
    res = sv.generate(sv.toy_pair(), "the", "autoregressive", max_new_tokens=5)
    assert all([e.phase for e in it.events] == ["verify", "accept"] for it in res.trace.iterations)


def test_recording_can_be_reduced_or_switched_off():
    full = sv.generate(tiny("spm-vs-bpe"), "The rain", "slem", max_new_tokens=12, trace_top_k=3)
    assert all(len(row) == 3 for row in full.trace.iterations[0].get("draft").top)
    bare = sv.generate(tiny("spm-vs-bpe"), "The rain", "slem", max_new_tokens=12, trace_top_k=0)
    assert bare.trace.iterations and all(not row for row in bare.trace.iterations[0].get("draft").top)
    off = sv.generate(tiny("spm-vs-bpe"), "The rain", "slem", max_new_tokens=12, trace_top_k=None)
    assert off.trace.iterations == [] and off.token_ids == full.token_ids
    assert off.stats.target_forward_passes == full.stats.target_forward_passes


@pytest.mark.parametrize("algorithm", ["autoregressive", "slem", "tli", "slrs"])
@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_stats_add_up(algorithm, temperature):
    res = sv.generate(tiny("bpe-vs-char"), "The weather", algorithm, max_new_tokens=20,
                      temperature=temperature, seed=3)
    s, events = res.stats, res.trace.events
    accepts = [e for e in events if e.phase == "accept"]
    assert s.new_tokens == len(res.token_ids) == sum(len(e.committed) for e in accepts)
    assert s.accepted == sum(e.accepted for e in accepts) <= s.proposed
    assert s.iterations == len(accepts) == s.target_forward_passes - 0  # one verify pass each
    assert s.time_to_first_token <= s.seconds
    assert sum(s.phase_seconds.values()) <= s.seconds + 1e-6
    assert 0 <= s.overhead_share <= 1 and s.tokens_per_second > 0
    if algorithm == "autoregressive":
        assert s.drafter_forward_passes == 0 and s.proposed == 0
    for e in events:
        assert e.seconds >= 0
