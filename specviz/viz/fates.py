"""What became of every token an iteration put forward, read from a trace.

A speculative iteration writes more tokens than it keeps. Its candidates are *accepted* up to the
first *rejected* one; the candidates after that are never looked at (*unchecked*); then the target
adds one token of its own: a *replacement* for the rejected candidate, or a *bonus* token when all
passed (an autoregressive run has only the *target*'s own token). Figures and explanations read the
same list, so that they always agree.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..trace import AcceptEvent, Iteration, PositionCheck, TokenProb, TranslateEvent, VerifyEvent

FATES = ("accepted", "rejected", "unchecked", "replacement", "bonus", "target")


@dataclass
class TokenFate:
    """One token of one iteration, at candidate ``position``, with the evidence that decided it.

    ``check`` is the target's verdict on a candidate. For the target's own tokens, ``law`` is the
    top-k of the distribution it was drawn from (``law_name``: "p" or "residual"; SLRS draws its
    residual by rejection from p, so its law is p) and ``draw`` the uniform number that drew it.
    """

    iteration: int
    position: int
    token: int
    text: str
    fate: str
    check: PositionCheck | None = None
    law: list[TokenProb] | None = None
    law_name: str = "p"
    draw: float | None = None

    @property
    def kept(self) -> bool:
        """Is the token part of the output?"""
        return self.fate not in ("rejected", "unchecked")

    @property
    def law_prob(self) -> float | None:
        """The probability of this token in ``law``, if it is among the recorded top-k."""
        return next((t.prob for t in self.law or () if t.id == self.token), None)


def iteration_fates(it: Iteration) -> list[TokenFate]:
    """The tokens of one iteration in reading order: kept drafts, thrown-away drafts, then the
    target's own token. Empty for an iteration whose accept phase is not recorded yet."""
    accept: AcceptEvent | None = it.get("accept")
    if accept is None:
        return []
    verify: VerifyEvent | None = it.get("verify")
    translate: TranslateEvent | None = it.get("translate")
    checks = verify.positions if verify is not None else []
    candidates = list(zip(translate.target_tokens, translate.target_texts)) if translate else []
    out = [TokenFate(it.index, j, accept.committed[j], accept.committed_texts[j], "accepted",
                     check=checks[j])
           for j in range(min(accept.accepted, len(accept.committed)))]  # EOS may cut them short
    if accept.first_rejected is not None:
        for j in range(accept.first_rejected, len(candidates)):
            token, text = candidates[j]
            fate = "rejected" if j == accept.first_rejected else "unchecked"
            out.append(TokenFate(it.index, j, token, text, fate,
                                 check=checks[j] if fate == "rejected" else None))
    if len(accept.committed) > accept.accepted:  # the target's own token (unless cut short)
        j = accept.accepted
        token, text = accept.committed[j], accept.committed_texts[j]
        if accept.replacement is not None:
            # exact match: the target's pick at the rejected position; else a residual draw
            check = checks[j] if j < len(checks) else None
            if check is not None and check.choice is not None:
                law, name, draw = check.top, "p", check.draw
            else:
                name = "p" if accept.residual_draws else "residual"
                law, draw = accept.residual_top, accept.replacement_draw
            out.append(TokenFate(it.index, j, token, text, "replacement", law=law, law_name=name,
                                 draw=draw))
        else:
            fate = "target" if it.get("draft") is None else "bonus"
            law = verify.bonus_top if verify is not None else None
            out.append(TokenFate(it.index, j, token, text, fate, law=law, draw=accept.bonus_draw))
    return out


def trace_fates(iterations: list[Iteration]) -> list[TokenFate]:
    """Every iteration's tokens, in order."""
    return [fate for it in iterations for fate in iteration_fates(it)]


def decisive_position(it: Iteration) -> int:
    """Where the iteration was decided: the first rejected candidate, else the bonus position."""
    accept: AcceptEvent | None = it.get("accept")
    if accept is not None:
        return accept.accepted
    verify: VerifyEvent | None = it.get("verify")
    return len(verify.positions) if verify is not None else 0


def positions(it: Iteration) -> list[int]:
    """Candidate positions worth a look: every one the target examined, plus the bonus position
    when all passed (where the target's own token came from)."""
    verify: VerifyEvent | None = it.get("verify")
    if verify is None:
        return []
    examined = len(verify.positions)
    all_passed = all(c.accepted for c in verify.positions)
    return list(range(examined + (1 if all_passed else 0)))
