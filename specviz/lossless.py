"""Checking losslessness: the target's exact distribution of the first few tokens, an algorithm's
empirical one, and a chi-square test between them.

"Lossless" means: for any prompt, the output of a speculative decoder has exactly the distribution
of the target sampling alone. The first n tokens are a finite set of sequences, so the target's law
over them can be computed exactly (a tree of target forward passes) and compared with how often an
algorithm produces each sequence over many seeds.

Such a test proves something only if the algorithm's drafts are often kept and often rejected:
with a drafter that never agrees, the residual is p itself and a wrong proposal law or residual
goes unseen. The tests use drafters that agree (``models.mimic``), assert the acceptance they saw,
and check that the broken variants at the end of this file fail.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch

from .algorithms.loop import generate
from .algorithms.sd import SD
from .algorithms.slrs import SLRS
from .algorithms.tli import TLI
from .models.base import LanguageModel
from .sampling import TargetSettings


def target_distribution(pair, prompt: str, n_tokens: int, temperature: float,
                        min_prob: float = 1e-4, top_k: int | None = None, top_p: float | None = None,
                        repetition_penalty: float | None = None) -> dict[tuple[int, ...], float]:
    """Exact P(first ``n_tokens`` target tokens = s) for every sequence s above ``min_prob``, under
    the same ``TargetSettings`` as ``generate`` (top-k, top-p, repetition penalty).

    Sequences end early at EOS, as generation does. Branches below ``min_prob`` are not expanded
    (their mass is what is missing from the total: callers pool it as 'other').
    """
    if temperature <= 0:
        raise ValueError("At temperature 0 the output is one sequence; compare with greedy output.")
    target, settings = pair.target, TargetSettings(top_k, top_p, repetition_penalty)
    prompt_ids = target.prompt_ids(prompt)
    out: dict[tuple[int, ...], float] = {}
    frontier: list[tuple[tuple[int, ...], float]] = [((), 1.0)]
    for step in range(n_tokens):
        grown = []
        for prefix, mass in frontier:
            ids = prompt_ids + list(prefix)
            p = settings.probabilities(settings.scores(target.logits(ids, 1), ids), temperature)[0]
            keep = torch.nonzero(p * mass >= min_prob).squeeze(1).tolist()
            for token in keep:
                seq, prob = prefix + (token,), mass * float(p[token])
                if token in target.vocab.eos_ids or step == n_tokens - 1:
                    out[seq] = prob
                else:
                    grown.append((seq, prob))
        frontier = grown
    return out


class Memoized(LanguageModel):
    """``inner`` with every logits row remembered by its context: sampling one prompt thousands of
    times revisits the same contexts, and each is then computed once. ``rows`` bounds the memory."""

    def __init__(self, inner: LanguageModel, rows: int = 30_000) -> None:
        super().__init__()
        self.inner, self.limit, self.rows = inner, rows, {}
        self.name, self.vocab, self.device = inner.name, inner.vocab, inner.device
        self.counter, self.max_length = inner.counter, inner.max_length
        self.no_match_id = inner.no_match_id
        self._prompts: dict[str, list[int]] = {}

    def prompt_ids(self, text):
        if text not in self._prompts:
            self._prompts[text] = self.inner.prompt_ids(text)
        return list(self._prompts[text])

    def reset(self):
        self.inner.reset()

    def draft_continuation(self, run, n, limit="lookahead"):
        return self.inner.draft_continuation(run, n, limit)

    def _remember(self, keys, rows) -> torch.Tensor:
        if len(self.rows) + len(keys) > self.limit:
            self.rows.clear()
        self.rows.update(zip(keys, rows))
        return rows

    def logits(self, ids, n=1):
        keys = [tuple(ids[:len(ids) - n + 1 + i]) for i in range(n)]
        if all(k in self.rows for k in keys):
            return torch.stack([self.rows[k] for k in keys])
        return self._remember(keys, self.inner.logits(ids, n))

    def branch_logits(self, ids, branches):
        keys = [tuple(ids) + tuple(b) for b in branches]
        missing = [b for b, k in zip(branches, keys) if k not in self.rows]
        if missing:
            self._remember([tuple(ids) + tuple(b) for b in missing],
                           self.inner.branch_logits(ids, missing))
        return torch.stack([self.rows[k] for k in keys])


def fate_of(accepted: int, candidates: int) -> str:
    """What verification did to an iteration's ``candidates``: 'all kept', 'partly kept' or
    'none kept'."""
    return "all kept" if accepted == candidates else "none kept" if accepted == 0 else "partly kept"


class _Enough(Exception):
    """Ends a sampled run once it has committed every token the test compares."""


class _Stopper:
    """Makes a copy of an algorithm that ends the run (raising ``_Enough``) at the first iteration
    that would start after ``n_tokens`` are committed, and tallies what verification did: an
    iteration that started with ``before`` tokens and verified ``m`` candidates committed the kept
    ones plus one token of the target's own."""

    def __init__(self, algo, n_tokens: int, tally: Counter | None) -> None:
        self.n_tokens, self.tally = n_tokens, tally
        self.run, self.before, self.m = None, 0, 0
        cls, stopper = type(algo), self

        def draft(algorithm, run):
            stopper.settle()
            if len(run.generated) >= n_tokens:
                raise _Enough
            stopper.run, stopper.before = run, len(run.generated)
            return cls.draft(algorithm, run)

        def translate(algorithm, run, drafted):
            cand = cls.translate(algorithm, run, drafted)
            stopper.m = len(cand.tokens)
            return cand

        self.algorithm = type(cls.__name__, (cls,), {"draft": draft, "translate": translate})(
            **algo.params())

    def settle(self) -> None:
        """Tally the iteration that just ended (if it verified anything)."""
        if self.run is not None and self.tally is not None and self.m:
            kept = min(self.m, max(0, len(self.run.generated) - self.before - 1))
            self.tally.update((fate_of(kept, self.m),), judged=min(kept + 1, self.m),
                              accepted=kept)
        self.m = 0

    def output(self) -> tuple[int, ...]:
        """The run's first ``n_tokens``; the next run starts afresh."""
        self.settle()
        out = tuple(self.run.generated[:self.n_tokens]) if self.run is not None else ()
        self.run = None
        return out


def sample_sequences(pair, prompt: str, algorithm, n_tokens: int, temperature: float, runs: int,
                     first_seed: int = 0, lookahead: int | None = None,
                     tally: Counter | None = None, **options) -> Counter:
    """How often ``algorithm`` produces each first-``n_tokens`` sequence over ``runs`` seeds.

    Each run may generate ``n_tokens + lookahead`` tokens, so that every iteration that makes one
    of the first ``n_tokens`` verifies a full lookahead of drafts (with only ``n_tokens`` the output
    budget cuts drafts short: lookahead 4 would act as lookahead 2 on 3 tokens); it stops as soon as
    those are committed, since what follows cannot change them. Both models are wrapped in
    ``Memoized``, so repeated contexts cost nothing. ``tally``, if given, counts what verification
    did: 'judged' and 'accepted' candidates, and the iterations where all candidates were kept
    ('all kept'), some ('partly kept') or none ('none kept').
    """
    from .algorithms import make_algorithm
    from .models.pair import ModelPair

    algo = make_algorithm(algorithm, lookahead)
    fast = ModelPair(Memoized(pair.target), pair.drafter and Memoized(pair.drafter))
    stopper = _Stopper(algo, n_tokens, tally)
    counts: Counter = Counter()
    for seed in range(first_seed, first_seed + runs):
        try:
            res = generate(fast, prompt, stopper.algorithm, temperature=temperature, seed=seed,
                           max_new_tokens=n_tokens + algo.lookahead, trace_top_k=None, **options)
            counts[tuple(res.token_ids[:n_tokens])] += 1
            stopper.output()
        except _Enough:
            counts[stopper.output()] += 1
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
    tally: Counter | None = None  # what verification did (``sample_sequences``)

    @property
    def acceptance(self) -> float:
        """Share of judged candidates that were kept (nan without a tally)."""
        if not self.tally:
            return math.nan
        return self.tally["accepted"] / max(1, self.tally["judged"])

    def __str__(self) -> str:
        kept = f", acceptance {self.acceptance:.2f} of {self.tally['judged']}" if self.tally else ""
        return (f"chi2 = {self.statistic:.1f} on {self.dof} dof, p = {self.p_value:.3g}, "
                f"TV = {self.total_variation:.3f} ({self.runs} runs, {self.bins} bins{kept})")


def chi_square(expected: dict, counts: Counter, min_expected: float = 5.0,
               max_bins: int | None = None) -> ChiSquare:
    """Compare counts with exact probabilities. Outcomes expected fewer than ``min_expected`` times
    are pooled into one 'other' bin (with any probability the exact table left out), as the
    chi-square approximation needs; so are all but the ``max_bins - 1`` likeliest, if given (fewer
    degrees of freedom: more power against a given total variation, see ``detectable_tv``)."""
    from scipy.stats import chi2

    runs = sum(counts.values())
    big = sorted((s for s, prob in expected.items() if prob * runs >= min_expected),
                 key=lambda s: -expected[s])[:None if max_bins is None else max_bins - 1]
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


def detectable_tv(runs: int, bins: int, alpha: float = 1e-3, power: float = 0.9) -> float:
    """The smallest total variation (over ``bins`` outcomes) that a chi-square test of ``runs``
    samples at level ``alpha`` detects with probability ``power``, *whatever its shape*.

    A law at total variation d from the expected one has chi-square divergence at least 4 d^2
    (Cauchy-Schwarz; equality when the excess is spread in proportion over half of the mass), so the
    statistic is at least noncentral chi-square with noncentrality 4 runs d^2. Example: 9,000 runs
    over 7 bins at alpha 1e-3 see d = 0.03 nine times in ten.
    """
    from scipy.optimize import brentq
    from scipy.stats import chi2, ncx2

    dof = max(1, bins - 1)
    critical = chi2.isf(alpha, dof)
    return brentq(lambda d: ncx2.sf(critical, dof, 4 * runs * d * d) - power, 1e-6, 1.0)


def check_lossless(pair, prompt: str, algorithm, n_tokens: int = 2, temperature: float = 1.0,
                   runs: int = 2000, first_seed: int = 0, lookahead: int | None = None,
                   max_bins: int | None = None, **options) -> ChiSquare:
    """Sample ``algorithm`` ``runs`` times and test it against the target's exact distribution."""
    settings = {k: options[k] for k in ("top_k", "top_p", "repetition_penalty") if k in options}
    expected = target_distribution(pair, prompt, n_tokens, temperature, **settings)
    tally: Counter = Counter()
    counts = sample_sequences(pair, prompt, algorithm, n_tokens, temperature, runs, first_seed,
                              lookahead, tally, **options)
    result = chi_square(expected, counts, max_bins=max_bins)
    result.tally = tally
    return result


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


class AlwaysRejectTLI(TLI):
    """BROKEN TLI: judges every draft as rejected (its proposal law claims certainty, p/q' is never
    compared). Each output token then comes from the residual norm(max(0, p - q')): tokens the
    drafter likes are under-produced."""

    name = "tli-broken-always-rejects"

    def translate(self, run, draft):
        cand = super().translate(run, draft)
        cand.proposal_probs = [math.inf] * len(cand.tokens)  # min(1, p / inf) = 0: never kept
        return cand


class UnnormalisedTLI(TLI):
    """BROKEN TLI: drafts from q' = q / q(shared) but verifies with q restricted and *not*
    renormalised (the law it drew from is not the law it claims)."""

    name = "tli-broken-unnormalised"

    def translate(self, run, draft):
        cand = super().translate(run, draft)
        masses = torch.tensor(draft.intersection_mass[:len(cand.tokens)],
                              device=cand.proposal.device if cand.proposal is not None else None)
        if cand.tokens:
            cand.proposal = cand.proposal * masses[:, None]
            cand.proposal_probs = [q * float(m) for q, m in zip(cand.proposal_probs, masses)]
        return cand


class ResidualFromTargetSD(SD):
    """BROKEN SD: after a rejection it draws the replacement from p, not norm(max(0, p - q))."""

    name = "sd-broken-residual"

    def residual_token(self, run, cand, position, p):
        token, u = run.choose(p, run.target_draws)
        return token, u, []


class AcceptLateDraftsSD(SD):
    """BROKEN SD: the third and later drafts of an iteration are kept unconditionally (as if p/q
    were at least 1). Invisible unless runs verify at least three drafts per iteration."""

    name = "sd-broken-late-drafts"

    def translate(self, run, draft):
        cand = super().translate(run, draft)
        cand.proposal_probs = [q if j < 2 else 1e-300 for j, q in enumerate(cand.proposal_probs)]
        return cand


class NothingProposedSLRS(SLRS):
    """BROKEN SLRS: when drafting proposes nothing (⊥: the drafter's text forms no target token),
    the next token is drawn from p instead of the residual norm(max(0, p - psi))."""

    name = "slrs-broken-nothing-proposed"

    def translate(self, run, draft):
        cand = super().translate(run, draft)
        cand.law_after_last = False
        return cand


BROKEN = (ResidualFromTarget, BareSumSLRS, AlwaysRejectTLI, UnnormalisedTLI, ResidualFromTargetSD,
          AcceptLateDraftsSD, NothingProposedSLRS)
