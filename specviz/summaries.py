"""A benchmark's rows summed up: one row per setting, speedups over plain decoding measured in the
same benchmark, specviz against Hugging Face, and the tables that print them.

Every ratio is a ratio of sums over a setting's runs (long runs weigh more), never a mean of ratios.
"""

from __future__ import annotations

import statistics

from .algorithms import algorithm_class
from .costmodel import PassCosts, analytic_prediction
from .tables import Column, columns
from .trace import PHASES

SETTING_FIELDS = ("threads", "impl", "algorithm", "lookahead", "temperature")
_SETTING = "impl=impl:s; algorithm=algorithm:s; lookahead=k:d; temperature=T:g;"  # as columns
SUMMARY_COLUMNS = (
    *SETTING_FIELDS, "runs", "new_tokens", "seconds", "seconds_per_token",
    "cpu_seconds_per_token", "tokens_per_second", "time_to_first_token", "time_per_output_token",
    "tokens_per_iteration", "acceptance", "kept_share",
    "mean_accepted_per_iteration", "candidates_per_iteration", "target_passes_per_token",
    "drafter_passes_per_token", "drafter_passes_per_iteration", "target_positions_per_token",
    "drafter_positions_per_token", *(f"{phase}_share" for phase in PHASES), "overhead_share",
    "peak_memory_mb", "speedup", "cpu_speedup",
    "same_as_autoregressive", "predicted_counted", "counted_gap", "predicted_tokens_per_iteration",
    "predicted_seconds_per_token", "predicted_gap", "predicted_speedup", "ideal_speedup",
)
"""Columns of ``summary.csv``."""


def group_key(row: dict, *fields: str) -> tuple:
    return tuple(row[f] for f in fields)


def is_plain(row: dict) -> bool:
    """Is this row's algorithm plain decoding (the baseline of every speedup)?"""
    return not algorithm_class(row["algorithm"]).needs_drafter


def add_comparisons(rows: list[dict]) -> None:
    """Speedup over the same implementation's plain decoding of the same prompt, temperature,
    repeat and thread count; under greedy decoding, whether the output equals specviz's plain
    decoding token for token (it must, for every lossless algorithm)."""
    where = ("threads", "temperature", "prompt_set", "prompt_index", "repeat")
    plain = {group_key(r, "impl", *where): r for r in rows if is_plain(r)}
    for r in rows:
        base = plain.get(group_key(r, "impl", *where))
        ok = base and base["seconds_per_token"] and r["seconds_per_token"]
        r["speedup"] = base["seconds_per_token"] / r["seconds_per_token"] if ok else None
        reference = plain.get(group_key(r | {"impl": "specviz"}, "impl", *where))
        r["same_as_autoregressive"] = (r["token_ids"] == reference["token_ids"]
                                       if r["temperature"] == 0 and reference else None)


def summarise(rows: list[dict], costs: dict[int, PassCosts]) -> list[dict]:
    """One row per setting: totals over its runs, speedups and the cost model's predictions."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(group_key(r, *SETTING_FIELDS), []).append(r)
    out = [_summary(dict(zip(SETTING_FIELDS, key, strict=True)), runs)
           for key, runs in groups.items()]
    baseline = ("threads", "impl", "temperature")
    plain = {group_key(s, *baseline): s for s in out if is_plain(s)}
    for s in out:
        base = plain.get(group_key(s, *baseline))
        for name, key in (("speedup", "seconds_per_token"),
                          ("cpu_speedup", "cpu_seconds_per_token")):
            s[name] = base[key] / s[key] if base else None
        s |= analytic_prediction(s, groups[group_key(s, *SETTING_FIELDS)], costs[s["threads"]],
                                 drafts=not is_plain(s))
    for s in out:
        base = plain.get(group_key(s, *baseline))
        key = "predicted_seconds_per_token"
        ok = base and base.get(key) and s.get(key)
        s["predicted_speedup"] = base[key] / s[key] if ok else None
    return out


def _summary(key: dict, runs: list[dict]) -> dict:
    total = lambda name: sum(r.get(name) or 0 for r in runs)  # noqa: E731
    tokens, seconds, iterations = total("new_tokens"), total("seconds"), total("iterations")
    ratio = lambda a, b: a / b if b else None  # noqa: E731
    predicted = [r["predicted_seconds"] for r in runs]
    same = [r["same_as_autoregressive"] for r in runs if r["same_as_autoregressive"] is not None]
    ours = key["impl"] == "specviz"  # Hugging Face exposes no phases, drafts or acceptance
    return key | {
        "runs": len(runs), "new_tokens": tokens, "seconds": seconds,
        "seconds_per_token": ratio(seconds, tokens), "tokens_per_second": ratio(tokens, seconds),
        "cpu_seconds_per_token": ratio(total("cpu_seconds"), tokens),
        "time_to_first_token": statistics.fmean(r["time_to_first_token"] for r in runs),
        "time_per_output_token": ratio(seconds - total("time_to_first_token"),
                                       tokens - sum(1 for r in runs if r["new_tokens"])),
        "tokens_per_iteration": ratio(tokens, iterations),
        "acceptance": ratio(total("accepted"), total("judged")) if ours else None,
        "kept_share": ratio(total("accepted"), total("proposed")) if ours else None,
        "mean_accepted_per_iteration": ratio(total("accepted"), iterations) if ours else None,
        "candidates_per_iteration": ratio(total("proposed"), iterations) if ours else None,
        "target_passes_per_token": ratio(total("target_passes"), tokens),
        "drafter_passes_per_token": ratio(total("drafter_passes"), tokens),
        "drafter_passes_per_iteration": ratio(total("drafter_passes"), iterations),
        "target_positions_per_token": ratio(total("target_positions"), tokens),
        "drafter_positions_per_token": ratio(total("drafter_positions"), tokens),
        **{f"{p}_share": ratio(total(f"{p}_seconds"), seconds) if ours else None for p in PHASES},
        "overhead_share": ratio(total("overhead_seconds"), seconds),
        "peak_memory_mb": max(r["peak_memory_mb"] for r in runs),
        "same_as_autoregressive": all(same) if same else None,
        "predicted_counted": ratio(sum(predicted), tokens) if None not in predicted else None,
        "counted_gap": seconds / sum(predicted) - 1 if None not in predicted and sum(predicted)
        else None,
    }


def compare_with_hf(rows: list[dict], summary: list[dict]) -> list[dict]:
    """Pair each Hugging Face setting with specviz's same setting; ratios > 1: specviz is faster.

    ``total_ratio`` is HF's time per token over specviz's, each over all its runs (the two s/tok
    columns). ``wall_ratio`` is the median, over prompts and repeats, of the same ratio within one
    prompt and repeat (minutes apart); ``ratio_min``/``ratio_max`` show its spread, which on a
    shared machine is mostly noise. Under greedy decoding both runs of a pair produce the same
    tokens, so the median pairs like with like; under sampling they draw different continuations
    (one may accept more by luck), and ``total_ratio`` is the one to read. ``cpu_ratio`` compares
    the CPU time both spent (totals): it ignores time spent waiting for a busy core, so it shows
    the work done.
    ``same_output``: under greedy decoding, both produced exactly plain decoding's tokens.
    """
    setting = ("threads", "algorithm", "lookahead", "temperature")
    run = (*setting, "prompt_set", "prompt_index", "repeat")
    ours = {group_key(s, *setting): s for s in summary if s["impl"] == "specviz"}
    our_runs = {group_key(r, *run): r for r in rows if r["impl"] == "specviz"}
    out = []
    for h in (s for s in summary if s["impl"] == "hf"):
        o = ours.get(group_key(h, *setting))
        if o is None:
            continue
        row = {f: h[f] for f in setting}
        for name in ("seconds_per_token", "tokens_per_iteration", "target_positions_per_token",
                     "drafter_positions_per_token", "overhead_share"):
            row[f"specviz_{name}"], row[f"hf_{name}"] = o[name], h[name]
        theirs = [r for r in rows if r["impl"] == "hf"
                  and group_key(r, *setting) == group_key(h, *setting)]
        paired = [r["seconds_per_token"] / our_runs[group_key(r, *run)]["seconds_per_token"]
                  for r in theirs if group_key(r, *run) in our_runs]
        row |= {"total_ratio": h["seconds_per_token"] / o["seconds_per_token"],
                "wall_ratio": statistics.median(paired), "ratio_min": min(paired),
                "ratio_max": max(paired),
                "cpu_ratio": h["cpu_seconds_per_token"] / o["cpu_seconds_per_token"]}
        same = (o["same_as_autoregressive"], h["same_as_autoregressive"])
        row["same_output"] = None if None in same else all(same)
        out.append(row)
    return out


def by_prompt_set(rows: list[dict], costs: dict[int, PassCosts]) -> list[dict]:
    """The summary again, prompt set by prompt set."""
    out = []
    for name in dict.fromkeys(r["prompt_set"] for r in rows):
        runs = [r for r in rows if r["prompt_set"] == name]
        out += [s | {"prompt_set": name} for s in summarise(runs, costs)]
    return out


def pass_cost_rows(costs: dict[int, PassCosts]) -> list[dict]:
    """One row per thread count and pass size: each model's ms, the verify cost and c."""
    rows = []
    for threads, pc in costs.items():
        for n in range(1, len(pc.target) + 1):
            rows.append({"threads": threads, "positions": n,
                         "target_ms": 1000 * pc.target[n - 1], "verify_cost": pc.verify_cost(n),
                         "drafter_ms": 1000 * pc.drafter[n - 1] if pc.drafter else None,
                         "c": pc.drafter[n - 1] / pc.target[0] if pc.drafter else None})
    return rows


def by_thread_count(summary: list[dict]) -> tuple[list[dict], list[Column]]:
    """Each setting's time per token at every thread count, and its ratio to the first count;
    with the columns that show them (they depend on the counts measured)."""
    counts = sorted({s["threads"] for s in summary})
    rows: dict[tuple, dict] = {}
    for s in summary:
        row = rows.setdefault(group_key(s, *SETTING_FIELDS[1:]), {
            f: s[f] for f in SETTING_FIELDS[1:]})
        row[f"s/tok {s['threads']}"] = s["seconds_per_token"]
    table = [*columns(_SETTING), *((f"s/tok {n}", f"s/tok, {n} thr", ".3f") for n in counts)]
    for n in counts[1:]:
        for row in rows.values():
            first, this = row.get(f"s/tok {counts[0]}"), row.get(f"s/tok {n}")
            row[f"ratio {n}"] = this / first if first and this else None
        table.append((f"ratio {n}", f"{n} thr / {counts[0]} thr", ".2f"))
    return list(rows.values()), table


# -- the printed tables: key=header:format (specviz.tables.columns) --------------------------------

SUMMARY_TABLE = columns(
    f"threads=thr:d; {_SETTING} runs=runs:d; seconds_per_token=s/tok:.3f;"
    "cpu_seconds_per_token=CPU s/tok:.3f; time_to_first_token=TTFT s:.2f;"
    "time_per_output_token=TPOT s:.3f; acceptance=a:.2f; kept_share=kept:.2f;"
    "tokens_per_iteration=tok/it:.2f; target_passes_per_token=T pass/tok:.2f;"
    "drafter_passes_per_token=D pass/tok:.2f; draft_share=draft:.0%; translate_share=transl:.0%;"
    "verify_share=verify:.0%; accept_share=accept:.0%; overhead_share=overhead:.1%;"
    "peak_memory_mb=peak MB:.0f; speedup=speedup:.2f; cpu_speedup=CPU speedup:.2f;"
    "same_as_autoregressive==AR:b")
HF_TABLE = columns(
    "threads=thr:d; algorithm=algorithm:s; lookahead=k:d; temperature=T:g;"
    "specviz_seconds_per_token=specviz s/tok:.3f; hf_seconds_per_token=HF s/tok:.3f;"
    "total_ratio=HF/sv total:.2f; wall_ratio=HF/sv median:.2f; ratio_min=min:.2f;"
    "ratio_max=max:.2f; cpu_ratio=HF/sv CPU:.2f;"
    + "".join(f"{who}_{name}={header} {short}:{fmt};"
              for name, header, fmt in (("tokens_per_iteration", "tok/it", ".2f"),
                                        ("target_positions_per_token", "T pos/tok", ".2f"),
                                        ("drafter_positions_per_token", "D pos/tok", ".2f"),
                                        ("overhead_share", "overhead", ".1%"))
              for who, short in (("specviz", "sv"), ("hf", "HF")))
    + "same_output=same text:b")
SETS_TABLE = columns(
    f"prompt_set=set:s; {_SETTING} runs=runs:d; seconds_per_token=s/tok:.3f;"
    "tokens_per_iteration=tok/it:.2f; acceptance=a:.2f; speedup=speedup:.2f;"
    "same_as_autoregressive==AR:b")
RATES_TABLE = columns(
    "temperature=T:g; prompt_set=set:s; prompt_index=#:d; tli=TLI sum min(p,q'):.3f;"
    "exact_match=sum p*psi:.3f; slrs=SLRS sum min(p,psi):.3f; unresolved=unresolved p:.4f;"
    "measured_tli=a TLI:.3f; measured_slem=a SLEM:.3f; measured_slrs=a SLRS:.3f")
COST_TABLE = columns(
    f"threads=thr:d; {_SETTING} acceptance=a:.2f; candidates_per_iteration=cand/it:.2f;"
    "tokens_per_iteration=tok/it:.2f; predicted_tokens_per_iteration=tok/it pred:.2f;"
    "seconds_per_token=s/tok:.3f; predicted_counted=counted s/tok:.3f; counted_gap=gap:+.1%;"
    "predicted_seconds_per_token=model s/tok:.3f; predicted_gap=gap :+.1%;"
    "speedup=speedup:.2f; predicted_speedup=pred speedup:.2f;"
    "ideal_speedup=ideal (no prefill):.2f")
PASS_COST_TABLE = columns(
    "threads=thr:d; positions=positions:d; target_ms=target ms:.1f;"
    "verify_cost=target / 1 pos:.2f; drafter_ms=drafter ms:.1f; c=drafter / target 1 pos:.2f")
