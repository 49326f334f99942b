"""The traces shipped in notebooks/data must be what today's code produces with their settings.

A notebook replays them as if they were fresh. A trace recorded before a change to an algorithm
(token healing, say) replays the old behaviour under the new name, so each one is re-run here with
its recorded settings on the bundled pair and compared token by token and count by count.
(Greedy float32 output could differ on another CPU at a near-tie; re-record it there if so.)
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import specviz as sv
from specviz.algorithms import algorithm_class

DATA = Path(__file__).resolve().parent.parent / "notebooks" / "data"
SHIPPED = sorted(DATA.glob("*.json"))
COUNTS = ("new_tokens", "iterations", "target_forward_passes", "drafter_forward_passes",
          "drafted", "proposed", "judged", "accepted", "finish_reason")


def _keys(trace: sv.Trace) -> set[tuple[str, str]]:
    """Every (phase, field) the trace's events hold: a stale trace lacks fields added since."""
    return {(event["phase"], key) for it in trace.to_dict()["iterations"]
            for event in it["events"] for key in event}


def test_some_trace_is_shipped():
    assert SHIPPED, f"no trace in {DATA}"


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_trace_is_what_the_code_produces_now(path):
    raw = sv.Trace.from_json(path)
    stored_events = {(e["phase"], key) for it in json.loads(path.read_text("utf-8"))["iterations"]
                     for e in it["events"] for key in e}
    meta = raw.meta
    pair = sv.load_pair()
    if (meta["target"]["name"], meta["drafter"]["name"]) != (pair.target.name, pair.drafter.name):
        pytest.skip(f"{path.name} was recorded with another pair; re-run it where that pair is")
    sv.set_threads(meta.get("threads") or 1)
    algorithm = algorithm_class(meta["algorithm"])(**meta["params"])
    fresh = sv.generate(pair, raw.prompt, algorithm, max_new_tokens=meta["max_new_tokens"],
                        temperature=meta["temperature"], seed=meta["seed"],
                        trace_top_k=meta["top_k"]).trace
    hint = f"{path.name} is stale: re-record it with the command in notebooks/data/README.md"
    assert fresh.meta["params"] == meta["params"], hint  # e.g. a new setting such as heal
    assert _keys(fresh) <= stored_events, hint  # event fields added since it was recorded
    assert fresh.token_ids == raw.token_ids, hint
    assert [it.get("accept").committed for it in fresh.iterations] == \
        [it.get("accept").committed for it in raw.iterations], hint
    for name in COUNTS:
        assert getattr(fresh.stats, name) == getattr(raw.stats, name), (name, hint)
