"""Each step of a trace in words, with its numbers ("u = 0.41 < min(1, p/q) = 0.73: accepted").

The stepper shows these sentences next to its figures, and the token strip uses ``fate_summary`` for
its hover boxes, so that words and pictures always quote the same numbers. Every sentence must be
true of the trace at hand, greedy or sampling, at the edges too (an empty draft, a draft cut by
``max_new_tokens``, an end-of-text inside a draft): ``tests/test_explain.py`` checks each case. What
differs between algorithms is read from the algorithm's class (``algorithms.algorithm_class``),
never from comparing its name.
"""

from __future__ import annotations

from ..algorithms import algorithm_class
from ..trace import (AcceptEvent, DraftEvent, Iteration, PositionCheck, Trace, TranslateEvent,
                     VerifyEvent, plural)
from .fates import TokenFate
from .style import proposal_symbol, show_prob, show_token

BUDGET = ("max_new_tokens (or the target's context) leaves room for no more candidates: the verify "
          "pass adds one token of the target's own")
STOP_REASONS = {  # why a draft stopped; a reason not listed here is shown as recorded
    "eos": "it drew its end-of-text token",
    "no-mass": "it put no probability on the shared tokens",
    "not-a-target-token": "its last proposal spells no target token (⊥), so nothing it drew for it "
                          "is proposed",
    "drafter-context": "its context is full",
    "no-match": "the context's last bytes occur nowhere earlier, so prompt lookup has nothing more "
                "to copy",
    "budget": BUDGET,
}
FINISHED = {"eos": "The run ended: end of text.",
            "max_new_tokens": "The run ended: max_new_tokens reached.",
            "context": "The run ended: the target's context is full."}


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


def stop_words(event: DraftEvent, trace: Trace) -> str:
    """Why the draft stopped, as a clause ("it reached its lookahead (k = 4)")."""
    if event.stop_reason == "lookahead":
        return f"it reached its lookahead (k = {trace.meta.get('params', {}).get('lookahead', '?')})"
    if event.stop_reason == "budget" and not event.tokens:
        return "max_new_tokens (or the target's context) leaves room only for the target's own token"
    return STOP_REASONS.get(event.stop_reason, f"of {event.stop_reason!r}")


def explain(trace: Trace, iteration: int, phase: str) -> str:
    """What happened in one phase of one iteration, in a few sentences."""
    if not trace.iterations:
        return "This trace has no iterations: nothing was generated."
    it = trace.iteration(iteration)  # by its number: an excerpt of a trace keeps the originals
    if it is None:
        raise ValueError(f"this trace has no iteration {iteration}")
    event = it.get(phase)
    head = f"Iteration {iteration}, {phase}: "
    if event is None:
        if phase in ("draft", "translate") and it.get("draft") is None:
            return head + "no drafter in this run; the target decodes on its own."
        return head + "not recorded (yet)."
    words = {"draft": _draft, "translate": _translate, "verify": _verify, "accept": _accept}
    return head + words[phase](event, it, trace)


def _context_of(event: DraftEvent, i: int) -> str:
    """The drafted text that draw ``i`` came right after (empty: the drafter's context alone)."""
    chain, j = [], event.after[i] if i < len(event.after) else i - 1
    while j >= 0:
        chain.append(event.texts[j])
        j = event.after[j] if j < len(event.after) else j - 1
    return "".join(reversed(chain))


def _draft(event: DraftEvent, it: Iteration, trace: Trace) -> str:
    algo = algorithm_class(trace.meta.get("algorithm", ""))
    if not event.tokens:
        return f"the drafter drew nothing: {stop_words(event, trace)}."
    if event.copied_from:
        return _copy_words(event, trace)
    sequential = all(a == i - 1 for i, a in enumerate(event.after))
    items = []
    for i, (text, p, u) in enumerate(zip(event.texts, event.probs, event.draws)):
        where = ""
        if not sequential:
            context = _context_of(event, i)
            where = f"after {quoted(context)}, " if context else "after the context, "
        unused = "" if i >= len(event.used) or event.used[i] else ", unused"
        items.append(f"{quoted(text)} ({where}{algo.draft_law} = {show_prob(p)}, "
                     f"{draw_words(u)}{unused})")
    words = (f"the drafter drew {plural(len(event.tokens), 'token')} in its own vocabulary: "
             f"{', '.join(items)}.")
    if not all(event.used):
        words += (" An unused draw ended a proposal: appended to it, the text would start no "
                  "target token, so the proposal stops before it and the next proposal (if any) "
                  "is drawn after the same context.")
    words += f" It stopped because {stop_words(event, trace)}."
    if event.healed:
        words += (f" Token healing: its context ended in {quoted(event.healed)}, which it backed "
                  "off; the first token had to start with it, so the draft re-spells it.")
    return words


def _copy_words(event: DraftEvent, trace: Trace) -> str:
    """A prompt-lookup draft: one copy from the context, nothing drawn."""
    k = trace.meta.get("params", {}).get("lookahead", "?")
    words = (f"prompt lookup copied {plural(len(event.tokens), 'byte')}, {quoted(event.text)}, "
             "what followed the earliest occurrence of the context's last bytes (the first "
             f"is byte {event.copied_from[0]} of the context). Nothing is drawn: q puts all its "
             "mass on each copied byte.")
    used = sum(event.used)
    if used < len(event.tokens):
        first = "the first byte spells" if used == 1 else f"the first {used} bytes spell"
        words += (f" Only {first} candidates (at most k = {k} target tokens); the rest is not "
                  "proposed.")
    if event.stop_reason == "lookahead":
        return words + f" It copied as many bytes as k = {k} target tokens may need."
    return words + f" It stopped because {stop_words(event, trace)}."


def _candidates(event: TranslateEvent) -> str:
    n = len(event.target_texts)
    if not n:
        return "no candidates"
    return f"{plural(n, 'candidate')}: " + " ".join(quoted(t) for t in event.target_texts)


def _translate(event: TranslateEvent, it: Iteration, trace: Trace) -> str:
    kind = algorithm_class(trace.meta.get("algorithm", "")).translation
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    if kind == "intersection":
        pairs = ", ".join(f"{d} → {t}" for d, t in event.mapping)
        masses = ", ".join(f"{m:.3f}" for m in event.intersection_mass)
        return (f"every draft is a shared token, mapped by spelling (drafter id → target id: "
                f"{pairs or 'none'}). The shared tokens held {masses or 'no'} of q at each step; "
                f"{symbol} = q / that share. This gives {_candidates(event)}.")
    if kind == "lattice":
        sums = []
        for lat in event.lattices:
            terms = " + ".join(f"{show_prob(p.prob)} ({'·'.join(quoted(t) for t in p.texts)})"
                               for p in lat.paths) or "greedy drafter: certain"
            sums.append(f"{symbol}({quoted(lat.target_text)}) = {terms} = {show_prob(lat.psi)}")
        words = (f"each proposed target token gets {symbol}, the total probability of every "
                 f"drafter path spelling it. " + ("; ".join(sums) or "No target token was proposed")
                 + f". This gives {_candidates(event)}.")
        draft = it.get("draft")
        if draft is not None and draft.stop_reason == "not-a-target-token":
            words += (" The last proposal spelled no target token (⊥): it is no candidate, and "
                      "the target treats it as a rejection after the last candidate.")
        return words
    if kind == "same-vocabulary":
        return f"one shared vocabulary: the drafted tokens are the candidates, {_candidates(event)}."
    if not event.text and not event.target_texts:
        return "nothing was drafted, so there is nothing to re-tokenize: no candidates."
    text = f"the draft text {quoted(event.text)} was re-tokenized by the target's tokenizer"
    if event.window_text:
        text += (f" after the look-behind {quoted(event.window_text)} (already committed; "
                 "only the tokens after it are new)")
    text += f", giving {_candidates(event)}."
    if event.over_budget:
        them = "it" if len(event.target_texts) == 1 else "them"
        text += (f" Cut after {them}: {' '.join(quoted(t) for t in event.over_budget)}, because "
                 f"{BUDGET}.")
    if event.dropped:
        text += f" Dropped (not whole target tokens yet): {quoted(event.dropped)}."
    return text


def _verify(event: VerifyEvent, it: Iteration, trace: Trace) -> str:
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    if not event.positions:
        top = ", ".join(f"{quoted(t.text)} {show_prob(t.prob)}" for t in event.bonus_top[:3])
        none = "no candidates to judge; " if it.get("draft") is not None else ""
        return (f"{none}one target forward pass gives p for the next token "
                f"(top: {top or 'not recorded'}).")
    lines = [check_words(c, symbol) for c in event.positions]
    translate = it.get("translate")
    candidates = len(translate.target_tokens) if translate is not None else 0
    unexamined = candidates - len(event.positions)
    if unexamined > 0:
        lines.append(f"{plural(unexamined, 'candidate')} after the first rejection "
                     f"{'is' if unexamined == 1 else 'are'} not examined.")
    if event.rule == "exact-match":
        how = "its argmax" if trace.meta.get("temperature", 0) == 0 else \
            "a sample from p, with its own draw u"
        rule = (f"exact match: the target picks its own token at each position ({how}) and keeps "
                "a candidate only if it is the same token")
    else:
        rule = f"rejection sampling: keep a candidate with probability min(1, p/{symbol})"
    scores = "the candidate" if candidates == 1 else "all candidates"
    return f"one target forward pass scores {scores}; {rule}.\n" + "\n".join(lines)


def _accept(event: AcceptEvent, it: Iteration, trace: Trace) -> str:
    symbol = proposal_symbol(trace.meta.get("algorithm", ""))
    k, m = event.accepted, event.candidates
    verify = it.get("verify")
    greedy = trace.meta.get("temperature", 0) == 0
    own_committed = len(event.committed) > k
    if it.get("draft") is None:
        parts = []
    elif m == 0:
        parts = ["there were no candidates."]
    elif event.first_rejected is not None:
        parts = [f"kept {k} of {plural(m, 'candidate')}; the one at position {k} was rejected."]
    else:
        parts = [f"kept all {plural(m, 'candidate')}." if m > 1 else "kept the one candidate."]
    if event.finished and len(event.committed) < min(k, m):  # cut short by EOS or the budget
        parts.append(f"Only {plural(len(event.committed), 'token')} of them went into the output: "
                     "the run ended there.")
    ended = "the output already ended with end-of-text" if event.finished == "eos" else \
        "the run ended before it"
    token = quoted(event.replacement_text if event.replacement is not None
                   else event.bonus_text or "")
    if event.replacement is not None:
        if event.first_rejected is None:  # SLRS: the drafter's next proposal was ⊥
            parts.append(f"The drafter's next proposal spelled no target token (⊥); SLRS treats "
                         f"⊥ as a rejection at position {k}, so the target's token there comes "
                         f"from the residual, not as a free bonus from p.")
        if event.residual_draws:
            tries = ", ".join(f"{quoted(r.text)} (keep with max(0, 1 − {symbol}/p) = "
                              f"{show_prob(r.keep_prob)}, v = {r.draw:.3f}: "
                              f"{'yes' if r.kept else 'no'})"
                              for r in event.residual_draws)
            parts.append(f"The replacement {token} comes from the residual norm(max(0, p − "
                         f"{symbol})), sampled by rejection from p: tried {tries}.")
        elif verify is not None and verify.rule == "exact-match":
            if greedy:
                parts.append(f"The target's own pick {token} (argmax) takes the rejected "
                             "candidate's place: exactly the token plain greedy decoding gives.")
            else:
                parts.append(f"The target's own pick {token}, drawn from p "
                             f"({draw_words(event.replacement_draw)}), takes the rejected "
                             "candidate's place: drawn from the same p as plain sampling, though "
                             "with other draws it could be another token.")
        else:
            parts.append(f"The replacement {token} is drawn from the residual norm(max(0, p − "
                         f"{symbol})) with {draw_words(event.replacement_draw)}.")
    elif event.bonus is not None:
        law = f"from p ({draw_words(event.bonus_draw)})"
        if it.get("draft") is None:
            parts.append(f"The target's own token {token}, {law}.")
        elif not own_committed:
            parts.append(f"The target's token after them, {token} {law}, is not committed: "
                         f"{ended}.")
        elif m == 0:
            parts.append(f"The target's own token {token}, {law}, is the only new token.")
        else:
            parts.append(f"Every candidate passed, so the target's token after the last one "
                         f"comes free: a bonus {token}, {law}.")
    if event.replacement is not None and not own_committed:
        parts.append(f"The replacement {token} is not committed: {ended}.")
    committed = " ".join(quoted(t) for t in event.committed_texts) or "nothing"
    parts.append(f"Committed: {committed}.")
    if event.finished:
        parts.append(FINISHED.get(event.finished, f"The run ended: {event.finished}."))
    return " ".join(parts)
