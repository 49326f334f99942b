"""Helpers for the course notebooks: a shared-vocabulary toy drafter, by-hand tables, psi with its
paths, and answer checks for the workshop exercises.

Everything here is small on purpose: the notebooks call it so that their cells stay short, and a
student can read any of it in a minute. Expected answers are never typed in: each one is computed
by specviz itself (``expected_acceptance``, SLRS's own psi, the cost model), so the checks and the
package cannot disagree.

    from specviz import exercises as ex
    ex.rejection_table(p, q)          # the by-hand computation of one rejection-sampling step
    ex.psi_table(ex.psi_lattice(sv.toy_pair(), "the", " rainbow"))
    ex.check(1, 0.7)                  # prints whether the answer to exercise 1 is right
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from .algorithms.slrs import psi_lattice
from .models.toy import EOS, shared_toy_pair, toy_pair
from .tables import Column, format_table
from .trace import Lattice
from .viz.style import show_token
from .vocab import Vocabulary


def next_token_laws(pair, previous: str) -> tuple[dict[str, float], dict[str, float]]:
    """For a toy pair: the target's and the drafter's next-token tables after ``previous``."""
    return dict(pair.target.table.get(previous, {})), dict(pair.drafter.table.get(previous, {}))


def visible(texts: Sequence[str]) -> str:
    """Tokens side by side as the figures show them (``viz.style.show_token``: spaces as '\u2423',
    newlines as '\u21b5', ...), separated by '|', so that whitespace tokens can be counted."""
    return " | ".join(show_token(t) for t in texts)


# -- by-hand tables --------------------------------------------------------------------------------

def _table(rows: list[dict], columns: Sequence[Column]) -> str:
    """``format_table`` with the first column, the row labels, flush left, as text is read."""
    key, header, _ = columns[0]
    width = max([len(header), *(len(row[key]) for row in rows)])
    return format_table(rows, [(key, header.ljust(width), f"<{width}"), *columns[1:]])


def rejection_table(p: Mapping[str, float], q: Mapping[str, float], proposal: str = "q") -> str:
    """One step of rejection sampling, by hand: for every token, p, the proposal, min(p, q),
    the leftover max(0, p - q), the residual norm(max(0, p - q)) and the final chance of the
    token, min(p, q) + P(reject) * residual, which must equal p. Returns the table as text."""
    tokens = list(dict.fromkeys([*p, *q]))
    overlap = {t: min(p.get(t, 0.0), q.get(t, 0.0)) for t in tokens}
    left = {t: max(0.0, p.get(t, 0.0) - q.get(t, 0.0)) for t in tokens}
    accept = sum(overlap.values())
    reject = 1.0 - accept
    total_left = sum(left.values())
    residual = {t: left[t] / total_left if total_left > 0 else 0.0 for t in tokens}
    out = {t: overlap[t] + reject * residual[t] for t in tokens}
    columns = [("token", "token", "s"), ("p", "p", ".3f"), ("q", proposal, ".3f"),
               ("overlap", f"min(p,{proposal})", ".3f"), ("left", f"max(0,p-{proposal})", ".3f"),
               ("residual", "residual", ".3f"), ("out", "P(output)", ".3f")]
    rows = [{"token": repr(t), "p": p.get(t, 0.0), "q": q.get(t, 0.0), "overlap": overlap[t],
             "left": left[t], "residual": residual[t], "out": out[t]} for t in tokens]
    rows.append({"token": "total", "p": sum(p.values()), "q": sum(q.values()), "overlap": accept,
                 "left": reject, "residual": sum(residual.values()), "out": sum(out.values())})
    return _table(rows, columns) + (f"\nP(accept) = sum of min(p,{proposal}) = {accept:.3f};  "
                                    f"P(reject) = {reject:.3f}")


# -- psi, path by path -----------------------------------------------------------------------------

def psi_table(lattice: Lattice) -> str:
    """Every path of a ``psi_lattice`` (from ``specviz.algorithms.slrs``): its tokens, the
    drafter's probability of each step, the stop factor and the path's share of psi; psi is the
    last line."""
    rows = [{"path": " + ".join(repr(t) for t in path.texts),
             "steps": " x ".join(f"{x:.3g}" for x in path.probs), "stop": f"{stop:.3g}",
             "prob": path.prob} for path, stop in zip(lattice.paths, lattice.stop_factor)]
    rows.append({"path": f"psi({lattice.target_text!r})", "steps": "", "stop": "",
                 "prob": lattice.psi})
    return _table(rows, [("path", "drafter path", "s"), ("steps", "q along the path", "s"),
                         ("stop", "stop", "s"), ("prob", "probability", ".4f")])


# -- the cost of psi -------------------------------------------------------------------------------

def all_substrings_vocabulary(text: str) -> Vocabulary:
    """A drafter vocabulary that holds every substring of ``text``: the worst case for SLRS, where
    a string of L characters has 2^(L-1) segmentations. (Only its spellings are used.)"""
    spellings = sorted({text[i:j].encode() for i in range(len(text))
                        for j in range(i + 1, len(text) + 1)})
    return Vocabulary(name=f"all substrings of {text!r}", token_bytes=[None, *spellings],
                      encode_text=lambda s: [], eos_ids=frozenset([0]), special_texts={0: EOS})


def paths_by_length(target: Vocabulary, drafter: Vocabulary, max_bytes: int = 16,
                    ascii_only: bool = False) -> list[dict]:
    """For each length in bytes (1..``max_bytes``): how many target tokens have it, and the median
    and largest number of drafter paths that spell one of them (the number of terms in psi).
    ``ascii_only``: count only tokens made of ASCII characters (English words, code)."""
    from .algorithms.slrs import paths_by_offset

    counts: dict[int, list[int]] = {n: [] for n in range(1, max_bytes + 1)}
    for spelling in target.token_bytes:
        if spelling and len(spelling) <= max_bytes and (spelling.isascii() or not ascii_only):
            counts[len(spelling)].append(paths_by_offset(spelling, drafter)[-1])
    rows = []
    for n, paths in counts.items():
        paths.sort()
        rows.append({"bytes": n, "tokens": len(paths),
                     "median_paths": paths[len(paths) // 2] if paths else 0,
                     "max_paths": paths[-1] if paths else 0,
                     "over_512": sum(x > 512 for x in paths)})
    return rows


# -- chi-square verdicts ---------------------------------------------------------------------------

ALPHA = 0.001  # a test of a correct algorithm fails by chance this often


def verdict(result, alpha: float = ALPHA) -> str:
    """'PASS' when a ``check_lossless`` result is consistent with the target (p >= ``alpha``)."""
    return "PASS" if result.p_value >= alpha else "FAIL"


# -- the workshop exercises ------------------------------------------------------------------------

@dataclass(frozen=True)
class Exercise:
    """One exercise: what is asked, how the right answer is computed, and how close is close."""

    question: str
    answer: Callable[[], object]
    tolerance: float = 0.005  # absolute, for numbers
    hint: str = ""
    why: str = ""  # said when the answer is right


def _sd_acceptance() -> float:
    from .acceptance import expected_acceptance

    return expected_acceptance(shared_toy_pair(), " is", "sd")


def _tli_acceptance() -> float:
    from .acceptance import expected_acceptance

    return expected_acceptance(toy_pair(), "the", "tli")


def _psi(token: str) -> Callable[[], float]:
    return lambda: psi_lattice(toy_pair(), "the", token).psi


def _speedup() -> float:
    from .costmodel import predicted_speedup

    return predicted_speedup(0.8, 4, 0.1)


def _best_lookahead() -> int:
    from .costmodel import predicted_speedup

    return max(range(1, 11), key=lambda k: predicted_speedup(0.6, k, 0.25))


# Measured on a 2-core CPU in notebook 5: milliseconds per forward pass over 1, 2, ... positions.
TARGET_PASS_MS = (120.3, 125.6, 137.8, 224.2, 254.5, 292.1)
DRAFTER_STEP_MS = 69.9


def _measured_c() -> float:
    return DRAFTER_STEP_MS / TARGET_PASS_MS[0]


def _measured_v(k: int) -> float:
    """v for k candidates: a target pass over k + 1 positions, in target steps."""
    from .costmodel import pass_cost

    return pass_cost(list(TARGET_PASS_MS), k + 1) / TARGET_PASS_MS[0]


def _best_measured_lookahead() -> int:
    from .costmodel import predicted_speedup

    return max(range(1, 6), key=lambda k: predicted_speedup(0.7, k, _measured_c(), _measured_v(k)))


def _paths() -> int:
    from .algorithms.slrs import slrs_cost

    return slrs_cost(all_substrings_vocabulary("spectral"), ["spectral"])[0]["paths"]


EXERCISES: dict[int, Exercise] = {
    1: Exercise("Standard SD on the shared toy pair, after ' is': the chance that the first "
                "drafted token is accepted.", _sd_acceptance,
                hint="Add up min(p, q) over the tokens that can follow ' is'."),
    2: Exercise("TLI on the toy pair, after 'the': the chance that the first draft is accepted.",
                _tli_acceptance,
                hint="Keep only the drafter tokens the target also has, renormalise them to q', "
                     "then add up min(p, q')."),
    3: Exercise("Predicted speedup for a = 0.8, k = 4, c = 0.1 (verification costs one target "
                "step).", _speedup, tolerance=0.01,
                hint="(1 - a^(k+1)) / ((1 - a)(k c + 1))."),
    4: Exercise("With a = 0.6 and c = 0.25, which lookahead k from 1 to 10 gives the largest "
                "predicted speedup?", _best_lookahead, tolerance=0,
                hint="Compute the speedup for k = 1, 2, 3, ... and watch it rise, then fall."),
    5: Exercise("psi(' rainbow') after 'the' on the toy pair.", _psi(" rainbow"),
                hint="Four drafter paths spell ' rainbow'. Multiply the drafter's probabilities "
                     "along each one (each conditioned on the token before) and add them up."),
    6: Exercise("psi(' rain') after 'the' on the toy pair, stop factors included.", _psi(" rain"),
                hint="Two paths spell ' rain'. After each, the drafter must also stop: multiply "
                     "by the chance that its next token does NOT head on towards ' rainbow'."),
    7: Exercise("A drafter holds every substring of 'spectral'. How many drafter paths spell "
                "'spectral'?", _paths, tolerance=0,
                hint="Each of the 7 gaps between the 8 letters is either a cut or not."),
    8: Exercise("Sampling at temperature 1; both models use exactly the same tokenizer.",
                lambda: "sd", hint="Nothing needs translating.",
                why="One vocabulary: the drafted token is a target token, q is its law."),
    9: Exercise("Greedy decoding (temperature 0); a Gemma target and a drafter with one token "
                "per byte. Under sampling such a drafter would call for SLRS; which algorithm "
                "does the course recommend under greedy decoding?",
                lambda: "slem",
                hint="Under greedy decoding the target's choice is certain: which rule keeps every "
                     "draft that equals it, whatever the tokenizers? (notebook 2, section 5)",
                why="Under greedy decoding a lossless rule may keep a draft only if it is the "
                    "target's argmax, and exact matching keeps every such draft: nothing can do "
                    "better, for any pair of tokenizers."),
    10: Exercise("Sampling at temperature 1; the tokenizers differ, but 95% of the drafter's "
                 "tokens are spelled exactly like target tokens.", lambda: "tli",
                 hint="Which algorithm drafts only tokens the target also has?",
                 why="A large intersection loses little mass, and rejection sampling on it "
                     "accepts more often than SLEM's exact matching does under sampling."),
    11: Exercise("Sampling at temperature 1; the drafter has one token per character and the "
                 "target's tokens are short. Which lossless algorithm accepts most often (cost "
                 "aside)?", lambda: "slrs",
                 hint="The intersection holds only single characters, so TLI can propose "
                      "little. SLEM keeps a draft only when the target's own draw is the same "
                      "token; SLRS keeps a proposed t with probability min(1, p(t)/psi(t)).",
                 why="SLRS keeps a draft with probability sum min(p, psi). SLEM keeps one only "
                     "when the target's independent draw equals it: sum p psi (notebook 2's "
                     "sum p^2 when psi = p), never more, since p psi <= min(p, psi) for "
                     "probabilities. Short target tokens keep psi cheap to compute."),
    12: Exercise("Notebook 5's CPU: a drafter step takes 69.9 ms, a target step (one position) "
                 "120.3 ms. What is c?", _measured_c,
                 hint="c is the cost of one drafter step in target steps."),
    13: Exercise("The same CPU: a target pass over 1, 2, ..., 6 positions takes "
                 f"{', '.join(map(str, TARGET_PASS_MS))} ms. What is v, the verify cost in "
                 "target steps, for k = 3 candidates?", lambda: _measured_v(3), tolerance=0.01,
                 hint="Verifying k candidates is one target pass over k + 1 positions (the "
                      "target also scores the position after the last one)."),
    14: Exercise("The same CPU, with acceptance a = 0.7, c from exercise 12 and v(k) measured "
                 "as in exercise 13: which lookahead k from 1 to 5 gives the largest predicted "
                 "speedup?", _best_measured_lookahead, tolerance=0,
                 hint="S(k) = (1 - a^(k+1)) / ((1 - a)(k c + v(k))), with v(k) the pass over "
                      "k + 1 positions divided by the pass over 1.",
                 why="Each extra candidate costs a drafter step (c is large here) and makes the "
                     "verify pass dearer, faster than the tokens it adds: the shortest draft is "
                     "best, and it barely pays."),
}

ALGORITHM_ANSWERS = ("sd", "slem", "tli", "slrs")


def expected(number: int):
    """The right answer to exercise ``number``, computed by specviz."""
    return EXERCISES[number].answer()


def grade(number: int, answer) -> tuple[bool, str]:
    """Judge ``answer`` to exercise ``number``: (right?, the message ``check`` prints).

    ``None`` (not answered yet) is reported, not counted as an error, so a notebook still runs
    from top to bottom before the exercises are done.
    """
    if number not in EXERCISES:
        raise ValueError(f"No exercise {number}; there are {', '.join(map(str, EXERCISES))}.")
    ex = EXERCISES[number]
    if answer is None:
        return False, f"Exercise {number}: not answered yet (replace None with your answer)."
    right = ex.answer()
    if isinstance(right, str):
        given = str(answer).strip().lower()
        if given != right and given not in ALGORITHM_ANSWERS:
            names = ", ".join(map(repr, ALGORITHM_ANSWERS))
            return False, f"Exercise {number}: answer with one of {names}."
        ok, shown = given == right, repr(answer)
    else:
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return False, f"Exercise {number}: expected a number, got {answer!r}."
        ok = math.isfinite(value) and abs(value - right) <= ex.tolerance + 1e-12
        shown = f"{value:g}"
    if ok:
        return True, f"Exercise {number}: correct ({shown}). {ex.why}".rstrip()
    return False, f"Exercise {number}: not yet ({shown} is not it). Hint: {ex.hint}"


def check(number: int, answer) -> None:
    """Print whether ``answer`` to exercise ``number`` is right, with a hint if it is not."""
    print(grade(number, answer)[1])


def check_solution(number: int, answer) -> None:
    """For the notebook's solution cells: raise if ``answer`` is wrong, else say so without
    printing it, so that running every cell shows students their own results, not the answers
    (and a wrong solution still fails the notebook's test)."""
    ok, message = grade(number, answer)
    if not ok:
        raise AssertionError(f"The solution to exercise {number} is wrong: {message}")
    print(f"Exercise {number}: this solution checks out (open the cell to read it).")
