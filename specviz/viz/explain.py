"""Each step of a trace in words, with its numbers ("u = 0.41 < min(1, p/q) = 0.73: accepted").

The stepper shows these sentences next to its figures, and the token strip uses ``fate_summary`` for
its hover boxes, so that words and pictures always quote the same numbers.
"""

from __future__ import annotations

from ..trace import (AcceptEvent, DraftEvent, Iteration, PositionCheck, Trace, TranslateEvent,
                     VerifyEvent)
from .fates import TokenFate
from .style import proposal_symbol, show_prob, show_token

STOP_REASONS = {
    "lookahead": "it reached its lookahead",
    "eos": "it drafted its end-of-text token",
    "no-mass": "it put no probability on the shared tokens",
    "not-a-target-token": "its last draw continues no target token (SLRS proposes whole target "
                          "tokens only)",
}


def quoted(text: str) -> str:
    """A token in quotes, with its whitespace visible."""
    return f"'{show_token(text)}'"


def draw_words(u: float | None) -> str:
    """How a token was chosen: 'argmax' (greedy) or 'u = 0.412' (inverse-CDF sampling)."""
    return "argmax" if u is None else f"u = {u:.3f}"


def check_words(check: PositionCheck, symbol: str) -> str:
    """The verdict on one candidate, with its numbers."""
    head = f"position {check.position} {quoted(check.candidate_text)}: p = {show_prob(check.p)}"
    if check.q is not None:
        head += f", {symbol} = {show_prob(check.q)}"
    if check.choice is not None:  # exact match
        verdict = "same token: accepted" if check.accepted else "different: rejected"
        return (f"{head}; the target picked {quoted(check.choice_text or '')} "
                f"({draw_words(check.draw)}): {verdict}")
    relation, verdict = ("<", "accepted") if check.accepted else ("≥", "rejected")
    return (f"{head}; u = {check.draw:.3f} {relation} "
            f"min(1, p/{symbol}) = {show_prob(check.accept_prob)}: {verdict}")


def fate_summary(fate: TokenFate, symbol: str) -> str:
    """Why a token of the strip is there (or struck out), one short line per fact."""
    lines = [f"iteration {fate.iteration}, position {fate.position}: {quoted(fate.text)}"]
    if fate.check is not None:
        lines.append(check_words(fate.check, symbol))
    elif fate.fate == "unchecked":
        lines.append("never examined: an earlier candidate was rejected")
    elif fate.fate == "replacement":
        lines.append(f"the target's replacement, drawn from {fate.law_name} "
                     f"({draw_words(fate.draw)}); {fate.law_name} = {show_prob(fate.law_prob)}")
    else:
        label = "bonus: every candidate passed" if fate.fate == "bonus" \
            else "the target's own token"
        lines.append(f"{label}; p = {show_prob(fate.law_prob)} ({draw_words(fate.draw)})")
    return "\n".join(lines)


def explain(trace: Trace, iteration: int, phase: str) -> str:
    """What happened in one phase of one iteration, in a few sentences."""
    if not trace.iterations:
        return "This trace has no iterations: nothing was generated."
    it: Iteration = trace.iterations[iteration]
    event = it.get(phase)
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    head = f"Iteration {iteration}, {phase}: "
    if event is None:
        if phase in ("draft", "translate") and it.get("draft") is None:
            return head + "no drafter in this run; the target decodes on its own."
        return head + "not recorded (yet)."
    words = {"draft": _draft, "translate": _translate, "verify": _verify, "accept": _accept}
    return head + words[phase](event, it, trace, symbol)


def _draft(event: DraftEvent, it: Iteration, trace: Trace, symbol: str) -> str:
    law = "q'" if trace.meta.get("algorithm") == "tli" else "q"
    tokens = ", ".join(f"{quoted(t)} ({law} = {show_prob(p)}, {draw_words(u)})"
                       for t, p, u in zip(event.texts, event.probs, event.draws))
    reason = STOP_REASONS.get(event.stop_reason, event.stop_reason)
    if not event.tokens:
        return f"the drafter proposed nothing ({reason})."
    healing = ""
    if event.healed:
        healing = (f" Token healing: its context ended in {quoted(event.healed)}, which it backed "
                   "off; the first token had to start with it, so the draft re-spells it.")
    return (f"the drafter drew {len(event.tokens)} tokens in its own vocabulary: {tokens}. "
            f"It stopped because {reason}.{healing}")


def _translate(event: TranslateEvent, it: Iteration, trace: Trace, symbol: str) -> str:
    candidates = " ".join(quoted(t) for t in event.target_texts) or "none"
    algorithm = trace.meta.get("algorithm")
    if algorithm == "tli":
        pairs = ", ".join(f"{d} → {t}" for d, t in event.mapping)
        masses = ", ".join(f"{m:.3f}" for m in event.intersection_mass)
        return (f"every draft is a shared token, mapped by spelling (drafter id → target id: "
                f"{pairs or 'none'}). The shared tokens held {masses or 'no'} of q at each step; "
                f"q' = q / that share. Candidates: {candidates}.")
    if algorithm == "slrs":
        sums = []
        for lat in event.lattices:
            terms = " + ".join(f"{show_prob(p.prob)} ({'·'.join(quoted(t) for t in p.texts)})"
                               for p in lat.paths) or "greedy drafter: certain"
            sums.append(f"ψ({quoted(lat.target_text)}) = {terms} = {show_prob(lat.psi)}")
        return ("each proposed target token gets ψ, the total probability of every drafter "
                "path spelling it. " + ("; ".join(sums) or "No target token was proposed") + ".")
    if algorithm == "sd":
        return f"one shared vocabulary: the draft tokens are the candidates: {candidates}."
    text = f"the draft text {quoted(event.text)} was re-tokenized by the target's tokenizer"
    if event.window_text:
        text += (f" after the look-behind {quoted(event.window_text)} (already committed; "
                 "only the tokens after it are new)")
    text += f", giving the candidates {candidates}."
    if event.dropped:
        text += f" Dropped (not whole target tokens yet): {quoted(event.dropped)}."
    return text


def _verify(event: VerifyEvent, it: Iteration, trace: Trace, symbol: str) -> str:
    if not event.positions:
        top = ", ".join(f"{quoted(t.text)} {show_prob(t.prob)}" for t in event.bonus_top[:3])
        return f"one target forward pass gives p for the next token (top: {top or 'not recorded'})."
    lines = [check_words(c, symbol) for c in event.positions]
    candidates = len(it.get("translate").target_tokens) if it.get("translate") else 0
    if len(event.positions) < candidates:
        lines.append(f"The {candidates - len(event.positions)} candidates after the first "
                     "rejection are not examined.")
    rule = ("exact match: keep a candidate only if the target picks the same token"
            if event.rule == "exact-match" else
            f"rejection sampling: keep a candidate with probability min(1, p/{symbol})")
    return f"one target forward pass scores all candidates; {rule}.\n" + "\n".join(lines)


def _accept(event: AcceptEvent, it: Iteration, trace: Trace, symbol: str) -> str:
    parts = [f"kept {event.accepted} of {event.candidates} candidates."]
    if event.replacement is not None and event.first_rejected is None:
        parts.append("The drafter's last proposal spelled no target token (⊥), which counts as "
                     "a rejection.")
    if event.replacement is not None:
        token = quoted(event.replacement_text or "")
        if event.residual_draws:
            tries = ", ".join(f"{quoted(r.text)} (keep with max(0, 1 − ψ/p) = "
                              f"{show_prob(r.keep_prob)}, v = {r.draw:.3f}: "
                              f"{'yes' if r.kept else 'no'})"
                              for r in event.residual_draws)
            parts.append(f"The replacement {token} comes from the residual norm(max(0, p − ψ)), "
                         f"sampled by rejection from p: tried {tries}.")
        elif it.get("verify") is not None and it.get("verify").rule == "exact-match":
            parts.append(f"The target's own pick {token} takes the rejected candidate's place: "
                         "exactly what plain decoding would give.")
        else:
            parts.append(f"The replacement {token} is drawn from the residual norm(max(0, p − "
                         f"{symbol})) with {draw_words(event.replacement_draw)}.")
    elif event.bonus is not None:
        token = quoted(event.bonus_text or "")
        if it.get("draft") is None:
            parts.append(f"The target's own token {token} ({draw_words(event.bonus_draw)}).")
        else:
            parts.append(f"Every candidate passed, so the target's token after the last one is a "
                         f"free bonus: {token} ({draw_words(event.bonus_draw)}).")
    committed = " ".join(quoted(t) for t in event.committed_texts) or "nothing"
    parts.append(f"Committed: {committed}.")
    if event.finished:
        parts.append({"eos": "The run ended: end of text.",
                      "max_new_tokens": "The run ended: max_new_tokens reached.",
                      "context": "The run ended: the target's context is full."}
                     .get(event.finished, f"The run ended: {event.finished}."))
    return " ".join(parts)
