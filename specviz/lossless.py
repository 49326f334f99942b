"""Checking losslessness: the target's exact distribution of the first few tokens, an algorithm's
empirical one, and a chi-square test between them.

"Lossless" means: for any prompt, the output of a speculative decoder has exactly the distribution
of the target sampling alone. The first n tokens are a finite set of sequences, so the target's law
over them can be computed exactly (a tree of target forward passes) and compared with how often an
algorithm produces each sequence over many seeds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch

from .algorithms.loop import generate
from .algorithms.slrs import SLRS
from .algorithms.tli import TLI
from .sampling import probabilities


def target_distribution(pair, prompt: str, n_tokens: int, temperature: float,
                        min_prob: float = 1e-4) -> dict[tuple[int, ...], float]:
    """Exact P(first ``n_tokens`` target tokens = s) for every sequence s above ``min_prob``.

    Sequences end early at EOS, as generation does. Branches below ``min_prob`` are not expanded
    (their mass is what is missing from the total: callers pool it as 'other').
    """
    if temperature <= 0:
        raise ValueError("At temperature 0 the output is one sequence; compare with greedy output.")
    target = pair.target
    prompt_ids = target.prompt_ids(prompt)
    out: dict[tuple[int, ...], float] = {}
    frontier: list[tuple[tuple[int, ...], float]] = [((), 1.0)]
    for step in range(n_tokens):
        grown = []
        for prefix, mass in frontier:
            p = probabilities(target.logits(prompt_ids + list(prefix), 1)[0], temperature)
            keep = torch.nonzero(p * mass >= min_prob).squeeze(1).tolist()
            for token in keep:
                seq, prob = prefix + (token,), mass * float(p[token])
                if token in target.vocab.eos_ids or step == n_tokens - 1:
                    out[seq] = prob
                else:
                    grown.append((seq, prob))
        frontier = grown
    return out


def sample_sequences(pair, prompt: str, algorithm, n_tokens: int, temperature: float, runs: int,
                     first_seed: int = 0, **options) -> Counter:
    """How often ``algorithm`` produces each first-``n_tokens`` sequence over ``runs`` seeds."""
    counts: Counter = Counter()
    for seed in range(first_seed, first_seed + runs):
        res = generate(pair, prompt, algorithm, max_new_tokens=n_tokens, temperature=temperature,
                       seed=seed, trace_top_k=None, **options)
        counts[tuple(res.token_ids)] += 1
    return counts


@dataclass
class ChiSquare:
    """Pearson's chi-square of observed counts against exact probabilities."""

    statistic: float
    dof: int
    p_value: float
    total_variation: float  # 0.5 * sum |observed share - expected probability|
    bins: int
    runs: int

    def __str__(self) -> str:
        return (f"chi2 = {self.statistic:.1f} on {self.dof} dof, p = {self.p_value:.3g}, "
                f"TV = {self.total_variation:.3f} ({self.runs} runs, {self.bins} bins)")


def chi_square(expected: dict, counts: Counter, min_expected: float = 5.0) -> ChiSquare:
    """Compare counts with exact probabilities. Outcomes expected fewer than ``min_expected`` times
    are pooled into one 'other' bin (with any probability the exact table left out), as the
    chi-square approximation needs."""
    from scipy.stats import chi2

    runs = sum(counts.values())
    big = [s for s, prob in expected.items() if prob * runs >= min_expected]
    observed = [counts.get(s, 0) for s in big]
    wanted = [expected[s] * runs for s in big]
    other_obs, other_exp = runs - sum(observed), runs - sum(wanted)
    if other_exp >= min_expected or other_obs:
        observed.append(other_obs)
        wanted.append(max(other_exp, 1e-9))
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, wanted))
    dof = max(1, len(observed) - 1)
    tv = 0.5 * sum(abs(o - e) for o, e in zip(observed, wanted)) / runs
    return ChiSquare(stat, dof, float(chi2.sf(stat, dof)), tv, len(observed), runs)


def check_lossless(pair, prompt: str, algorithm, n_tokens: int = 2, temperature: float = 1.0,
                   runs: int = 2000, first_seed: int = 0, **options) -> ChiSquare:
    """Sample ``algorithm`` ``runs`` times and test it against the target's exact distribution."""
    expected = target_distribution(pair, prompt, n_tokens, temperature)
    counts = sample_sequences(pair, prompt, algorithm, n_tokens, temperature, runs, first_seed,
                              **options)
    return chi_square(expected, counts)


# -- broken on purpose: what the tests above must catch ----------------------------------------------

class ResidualFromTarget(TLI):
    """BROKEN TLI: after a rejection it draws the replacement from p instead of norm(max(0, p - q)).
    Tokens the drafter likes are then over-produced. Kept to show that the tests can fail."""

    name = "tli-broken-residual"

    def residual_token(self, run, cand, position, p):
        token, u = run.choose(p, run.target_draws)
        return token, u, []


class BareSumSLRS(SLRS):
    """BROKEN SLRS: psi as the bare sum over segmentations, without the stop factor. A drafter
    path that spells 'rain' on its way to 'rainbow' is counted for both, so psi overstates short
    tokens that start longer ones. Kept to show why specviz's SLRS defines its drafting step first."""

    name = "slrs-broken-psi"

    def stop_factor(self, run, spelling, law):
        return 1.0
