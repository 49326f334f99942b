"""The distributions at one candidate position, and the test that decided it.

Top panel: the target's p and the proposal law (q; q' for TLI; psi for SLRS) over the top tokens,
their overlap min(p, q), which is where acceptance comes from, and the residual norm(max(0, p - q))
that a replacement is drawn from. Bottom panel: the acceptance test, min(1, p/q) against the draw u,
or, for exact match (SLEM, greedy), the target's own pick compared with the candidate.

The trace keeps only top-k lists, so a bar is drawn only where the number is recorded.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import plotly.graph_objects as go

from ..algorithms import algorithm_class
from ..trace import PHASES, AcceptEvent, Iteration, PositionCheck, Trace, VerifyEvent
from .explain import check_words, draw_words, quoted
from .fates import decisive_position
from .style import (GREEN, GREY, OVERLAP_COLOUR, P_COLOUR, PHASE_COLOURS, PROPOSAL_COLOUR,
                    RESIDUAL_COLOUR, VERMILLION, YELLOW, base_layout, note, panel_title,
                    proposal_symbol, token_label)

MAX_TOKENS = 12  # bars per law: the top-k lists hold fewer; more would not be readable


@dataclass
class PositionLaws:
    """What the trace knows at one position: probabilities keyed by token label."""

    p: dict[str, float] = field(default_factory=dict)
    proposal: dict[str, float] = field(default_factory=dict)
    residual: dict[str, float] = field(default_factory=dict)
    residual_name: str = ""
    candidate: str | None = None
    check: PositionCheck | None = None
    pick: str | None = None  # the token the target itself chose here, if it chose one
    pick_draw: float | None = None
    known_candidates: bool = False  # translate has run: the candidates are known


def position_laws(trace: Trace, it: Iteration, position: int,
                  phase: str = "accept") -> PositionLaws:
    """What is known at ``position`` once ``phase`` has run: the drafter's law (draft, where each
    drafted token is a candidate), the candidate and its proposal probability (translate), p, the
    test and an exact-match pick (verify), the residual and the target's own token (accept)."""
    algo = algorithm_class(trace.meta.get("algorithm", ""))
    symbol = algo.proposal_symbol
    done = PHASES[:PHASES.index(phase) + 1] if phase in PHASES else PHASES
    draft, translate = it.get("draft"), it.get("translate")
    verify: VerifyEvent | None = it.get("verify") if "verify" in done else None
    accept: AcceptEvent | None = it.get("accept") if "accept" in done else None
    checks = verify.positions if verify else []
    check = checks[position] if position < len(checks) else None
    laws = PositionLaws(check=check)
    if algo.drafts_are_candidates and draft is not None and position < len(draft.top):
        laws.proposal = {t.text: t.prob for t in draft.top[position] if t.prob > 0}
        laws.proposal[draft.texts[position]] = draft.probs[position]
        laws.candidate = draft.texts[position]
    if translate is not None and "translate" in done:
        laws.known_candidates = True
        if position < len(translate.target_texts):
            laws.candidate = translate.target_texts[position]
            if position < len(translate.proposal_probs):
                laws.proposal[laws.candidate] = translate.proposal_probs[position]
    if verify is not None:
        top = check.top if check else verify.bonus_top
        laws.p = {t.text: t.prob for t in top if t.prob > 0}
    if check is not None:
        laws.p[check.candidate_text] = check.p
        if check.q is not None:
            laws.proposal[check.candidate_text] = check.q
        if check.choice is not None:
            laws.pick, laws.pick_draw = check.choice_text, check.draw
    if accept is not None and position == accept.accepted:
        if accept.replacement is not None and laws.pick is None:
            laws.pick, laws.pick_draw = accept.replacement_text, accept.replacement_draw
        elif accept.bonus is not None:
            laws.pick, laws.pick_draw = accept.bonus_text, accept.bonus_draw
        if accept.residual_draws:  # SLRS: psi is known only at the tokens the residual tried
            laws.proposal.update({r.text: r.psi for r in accept.residual_draws})
            laws.residual = {t: max(0.0, laws.p[t] - q) for t, q in laws.proposal.items()
                             if t in laws.p}
            laws.residual_name = f"max(0, p − {symbol}), unnormalised"
        elif accept.replacement is not None and verify is not None \
                and verify.rule == "rejection-sampling":
            laws.residual = {t.text: t.prob for t in accept.residual_top if t.prob > 0}
            laws.residual_name = f"residual norm(max(0, p − {symbol}))"
    return laws


def _categories(laws: PositionLaws) -> list[str]:
    """Token labels in display order: by p, then whatever else is recorded, at most MAX_TOKENS."""
    ordered = sorted(laws.p, key=laws.p.get, reverse=True)
    for extra in (laws.proposal, laws.residual, [laws.candidate, laws.pick]):
        ordered += [t for t in extra if t is not None and t not in ordered]
    keep = ordered[:MAX_TOKENS]
    for must in (laws.candidate, laws.pick):
        if must is not None and must not in keep:
            keep[-1] = must
    return keep


def distribution_figure(trace: Trace, iteration: int, position: int | None = None,
                        phase: str = "accept") -> go.Figure:
    """p and the proposal at one candidate position, their overlap, the residual and the test.

    ``position`` defaults to where the iteration was decided (first rejection, or the bonus).
    ``phase`` hides what was not known yet: before verify there is no p, before accept no residual.
    """
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    it = trace.iteration(iteration)
    if position is None:
        position = decisive_position(it) if it else 0
    laws = position_laws(trace, it, position, phase) if it else PositionLaws()
    cats = _categories(laws)
    labels = [token_label(t) for t in cats]
    target_ran = phase in ("verify", "accept")
    accepted = phase == "accept"

    def bars(name: str, values: dict[str, float], colour: str, visible: bool) -> go.Bar:
        shown = [(label, values[t]) for t, label in zip(cats, labels) if t in values]
        return go.Bar(name=name, x=[s[0] for s in shown], y=[s[1] for s in shown],
                      marker={"color": colour}, visible=visible,
                      hovertemplate=f"{name}(%{{x}}) = %{{y:.4f}}<extra></extra>")

    overlap = {t: min(laws.p[t], laws.proposal[t]) for t in cats
               if t in laws.p and t in laws.proposal}
    data = [
        bars("p", laws.p, P_COLOUR, target_ran),
        bars(symbol, laws.proposal, PROPOSAL_COLOUR, True),
        bars(f"min(p, {symbol})", overlap, OVERLAP_COLOUR, target_ran),
        bars(laws.residual_name or "residual", laws.residual, RESIDUAL_COLOUR, accepted),
    ]
    height_of = {t: max(laws.p.get(t, 0.0) if target_ran else 0.0, laws.proposal.get(t, 0.0))
                 for t in cats}
    pick_name = f"target's pick ({draw_words(laws.pick_draw)})" if laws.pick else "target's pick"
    data += [_marker("candidate", laws.candidate, cats, labels, height_of, "triangle-down",
                     PHASE_COLOURS["translate"], True),
             _marker(pick_name, laws.pick, cats, labels, height_of, "star", YELLOW,
                     laws.pick is not None)]
    data += _test_traces(laws.check, symbol, target_ran)

    title = f"Iteration {iteration}, position {position}"
    if laws.candidate:
        title += f": candidate {token_label(quoted(laws.candidate))}"
    elif it and (laws.known_candidates or target_ran):
        title += ": no candidate here (the target's own token)"
    elif it:
        title += ": the candidates come from the translate phase"
    shown = [name for name, law in (("p", laws.p), (symbol, laws.proposal)) if law]
    annotations = [panel_title(f"{' and '.join(shown)} over the top tokens" if shown
                               else "no law known yet", (0, 1), 0.93),
                   panel_title(_test_title(laws.check, symbol, target_ran), (0, 1), 0.17)]
    if not it:
        annotations.append(note("no iteration to show"))
    elif not target_ran and not laws.proposal:
        annotations.append(note("the target has not run yet", y=0.6))
    layout = base_layout(
        title, height=450, top=90, barmode="group", bargap=0.25, annotations=annotations,
        xaxis={"domain": [0, 1], "type": "category", "categoryorder": "array",
               "categoryarray": labels, "tickfont": {"family": "monospace"}, "fixedrange": True},
        yaxis={"domain": [0.36, 0.92], "range": [0, 1.12], "title": "probability",
               "fixedrange": True},
        xaxis2={"domain": [0, 1], "anchor": "y2", "range": [0, 1], "title": "u ~ U(0, 1)",
                "fixedrange": True,  # no draw u under exact match (greedy, SLEM): no empty axis
                "visible": bool(laws.check is not None and laws.check.accept_prob is not None
                                and target_ran)},
        yaxis2={"domain": [0.02, 0.15], "anchor": "x2", "visible": False, "range": [-0.6, 0.6],
                "fixedrange": True})
    return go.Figure(data=data, layout=layout)


def _marker(name: str, token: str | None, cats: list[str], labels: list[str],
            height_of: dict[str, float], symbol: str, colour: str, visible: bool) -> go.Scatter:
    """A marker above one token's bars (the candidate, or the target's own pick)."""
    shown = token is not None and token in cats
    i = cats.index(token) if shown else 0
    return go.Scatter(name=name, x=[labels[i]] if shown else [],
                      y=[height_of[token] + 0.06] if shown else [], mode="markers",
                      marker={"symbol": symbol, "size": 14, "color": colour,
                              "line": {"color": GREY, "width": 1}},
                      visible=visible, hovertemplate=f"{name}: %{{x}}<extra></extra>")


def _test_traces(check: PositionCheck | None, symbol: str, visible: bool) -> list:
    """The rejection-sampling test as a line from 0 to 1: accept below min(1, p/q), the draw u."""
    a = check.accept_prob if check is not None and check.accept_prob is not None else None
    shown = a is not None and visible
    u = [check.draw] if shown else []
    return [
        go.Bar(name=f"accept: u < min(1, p/{symbol})", orientation="h", y=[0] if shown else [],
               base=[0], x=[a] if shown else [], marker={"color": GREEN}, offsetgroup="test",
               xaxis="x2", yaxis="y2",
               hovertemplate=f"accept if u < min(1, p/{symbol}) = %{{x:.4f}}<extra></extra>",
               visible=visible, showlegend=False),
        go.Bar(name="reject", orientation="h", y=[0] if shown else [], base=[a] if shown else [],
               x=[1 - a] if shown else [], marker={"color": VERMILLION, "opacity": 0.8},
               offsetgroup="test", xaxis="x2", yaxis="y2", hovertemplate="reject<extra></extra>",
               visible=visible,
               showlegend=False),
        go.Scatter(name="u", x=u, y=[0] * len(u), mode="markers+text", text=["u"] * len(u),
                   textposition="top center",
                   marker={"symbol": "diamond", "size": 16, "color": YELLOW,
                           "line": {"color": GREY, "width": 2}},
                   xaxis="x2", yaxis="y2", hovertemplate="u = %{x:.4f}<extra></extra>",
                   visible=visible, showlegend=False),
    ]


def _test_title(check: PositionCheck | None, symbol: str, target_ran: bool) -> str:
    if not target_ran:
        return "the test comes after the target's forward pass (verify)"
    if check is None:
        return "no test at this position: the target's own token"
    return html.escape(check_words(check, symbol), quote=False)
