"""SLRS, String-Level Rejection Sampling (Timor et al., ICML 2025), made exact.

The drafter speaks in its tokens; the target judges target tokens. SLRS lifts the drafter to a
*generalised drafter* psi over target tokens: psi(t) adds up the probability of every drafter path
that spells t, e.g. psi('hey') = q(hey) + q(he)q(y|he) + q(h)q(ey|h) + q(h)q(e|h)q(y|he). A proposed
t is kept with probability min(1, p(t)/psi(t)); a rejection draws from norm(max(0, p - psi)).

Rejection sampling is exact only if psi is *exactly* the law of the proposed token. Summing paths is
not enough when target tokens are prefixes of each other ('rain' and 'rainbow'): a drafter path that
spells 'rain' and goes on to spell 'rainbow' would be counted for both. So the drafting step is
defined first, and psi is derived from it:

    Draft drafter tokens one by one, appending their text to s.
      * If s + d is still a prefix of some target token, take d; stop when no longer target token
        starts with s.
      * Otherwise stop *before* d (d is dropped), and also stop at the drafter's EOS.
    Propose the target token spelled by s; if s spells none (or is empty), propose nothing (⊥),
    except that EOS drawn first proposes the target's EOS.

Every run of this process stops on exactly one path, so the proposal law is
    psi(t) = sum over paths spelling t of  P(path) * stop(t, path),
where stop = 1 if no longer target token starts with t, else the drafter's probability, after the
path, of a token that does not continue toward a longer target token. psi sums to at most 1; the
rest is the chance of ⊥. ⊥ goes straight to the residual, so for every t

    P(output = t) = min(p(t), psi(t)) + (1 - sum_t min(p, psi)) * norm(max(0, p - psi))(t) = p(t).

The price: a path per segmentation of t, up to 2^(L-1) for L characters (``slrs_cost`` counts
them), each needing the drafter's conditionals along it. The drafter's tree is evaluated breadth
first, one batched pass per depth, reusing every node already computed. ``max_paths`` bounds it and
an ``SLRSBudgetError`` says when a token would need more. The residual needs psi of *every* target
token; instead of computing them all, it samples t from p and keeps it with probability
max(0, 1 - psi(t)/p(t)), which draws exactly from norm(max(0, p - psi)) and needs psi only at the
tokens it tries (at most ``max_residual_tokens`` distinct ones).

With a byte drafter (``sv.NGramDrafter``, ``sv.PromptLookup``) every target token has exactly one
path, its bytes, so psi(t) = q(b1) q(b2|b1) ... q(bL|b1..bL-1) x stop: linear in L, no budget error
on the 262k-token Gemma vocabulary. A point-mass drafter (prompt lookup) gives psi in {0, 1}.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

import torch

from ..sampling import cumulative, is_whole_number, probabilities, sample_cdf
from ..trace import DraftEvent, Lattice, PsiPath, ResidualDraw, TranslateEvent
from ..vocab import Vocabulary
from .base import Algorithm, BudgetError, Candidates, Decoding, Draft


class SLRSBudgetError(BudgetError):
    """An SLRS step would need more drafter paths (or residual draws) than its budget allows."""


class TargetPrefixes:
    """The target vocabulary as sorted spellings, to ask 'is s the start of some target token?'."""

    def __init__(self, vocab: Vocabulary) -> None:
        self.id_of = vocab.id_by_bytes
        self.spellings = sorted(self.id_of)

    def _first_at_or_after(self, s: bytes) -> int:
        return bisect_left(self.spellings, s)

    def is_prefix(self, s: bytes) -> bool:
        i = self._first_at_or_after(s)
        return i < len(self.spellings) and self.spellings[i].startswith(s)

    def extends(self, s: bytes) -> bool:
        """Is some target token strictly longer than ``s`` and starting with it?"""
        i = self._first_at_or_after(s)
        if i < len(self.spellings) and self.spellings[i] == s:
            i += 1
        return i < len(self.spellings) and self.spellings[i].startswith(s)

    def next_bytes(self, s: bytes) -> list[int]:
        """Every byte c such that s + c is still a prefix of some target token, in order.

        Spellings that start with s + c lie together in sorted order, so after finding one c the
        search jumps straight past them: one bisection per answer, not one step per token.
        """
        out, i = [], self._first_at_or_after(s)
        while i < len(self.spellings) and self.spellings[i].startswith(s):
            if len(self.spellings[i]) == len(s):  # s itself
                i += 1
                continue
            c = self.spellings[i][len(s)]
            out.append(c)
            if c == 0xFF:
                break
            i = bisect_left(self.spellings, s + bytes([c + 1]), i)
        return out

    def continuations(self, s: bytes, longest: int) -> set[bytes]:
        """Every non-empty r of at most ``longest`` bytes such that s + r is still a prefix of some
        target token (``longest``: the drafter's longest token, 1 for a byte drafter)."""
        out: set[bytes] = set()
        frontier = [b""]
        for _ in range(longest):
            frontier = [r + bytes([c]) for r in frontier for c in self.next_bytes(s + r)]
            if not frontier:
                break
            out.update(frontier)
        return out


def paths_by_offset(spelling: bytes, drafter: Vocabulary) -> list[int]:
    """``ways[i]``: how many drafter token sequences spell ``spelling[:i]`` exactly.

    A dynamic programme over byte offsets; ``ways[-1]`` is the number of terms in psi, and
    ``sum(ways)`` the number of nodes of the tree of drafter paths (its root included).
    """
    ways = [1] + [0] * len(spelling)
    for end in range(1, len(spelling) + 1):
        for start in range(end):
            if ways[start]:
                ways[end] += ways[start] * len(drafter.ids_by_bytes.get(spelling[start:end], ()))
    return ways


def slrs_cost(tokenizer_or_pair, strings) -> list[dict]:
    """For each string: how many drafter paths spell it (the number of terms in psi), and how many
    distinct tree nodes, i.e. drafter forward evaluations, computing psi exactly would take.

    Accepts a ``ModelPair`` (uses its drafter), a ``LanguageModel``, a ``Vocabulary`` or a Hugging
    Face tokenizer; needs no model to run.
    """
    from ..models.base import LanguageModel
    from ..models.hf import hf_vocabulary
    from ..models.pair import ModelPair

    source = tokenizer_or_pair.drafter if isinstance(tokenizer_or_pair, ModelPair) \
        else tokenizer_or_pair
    if isinstance(source, LanguageModel):
        source = source.vocab
    vocab = source if isinstance(source, Vocabulary) else hf_vocabulary(source)
    rows = []
    for text in strings:
        spelling = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        ways = paths_by_offset(spelling, vocab)
        rows.append({"string": spelling.decode("utf-8", errors="replace"), "bytes": len(spelling),
                     "paths": ways[-1], "tree_nodes": sum(ways)})
    return rows


_PREFIXES: dict[str, TargetPrefixes] = {}  # by target vocabulary fingerprint
_CONTINUATIONS: dict[tuple, torch.Tensor] = {}  # by (target, drafter, device, spelling)


def _target_eos(run: Decoding) -> int | None:
    """The one target EOS that a drafter EOS proposes."""
    return min(run.target.vocab.eos_ids) if run.target.vocab.eos_ids else None


@dataclass
class _Proposal:
    """One run of the drafting process: the drafter path taken and the target token it proposes."""

    target: int | None  # None is ⊥
    path: list[int]


@dataclass
class _Tree:
    """Drafter laws already computed this iteration, keyed by the path after the drafter context."""

    laws: dict[tuple[int, ...], torch.Tensor] = field(default_factory=dict)


@dataclass
class SLRSDraft(Draft):
    """The drafter's draws, with the tree of laws computed so far and what each run of the
    drafting process proposed."""

    tree: _Tree = field(default_factory=_Tree)
    proposals: list[_Proposal] = field(default_factory=list)


@dataclass
class SLRSCandidates(Candidates):
    """Candidates with what the residual needs: the tree, and ``befores[j]``, the drafter path
    taken before candidate j (``befores[m]``: before the position after the last one)."""

    tree: _Tree = field(default_factory=_Tree)
    befores: list[tuple[int, ...]] = field(default_factory=list)


class SLRS(Algorithm):
    """Propose target tokens through the drafter's paths; verify with psi by rejection sampling."""

    name = "slrs"
    proposal_symbol = "ψ"
    translation = "lattice"

    max_residual_tries = 100_000  # only reachable through rounding: a rejection implies residual mass

    def __init__(self, lookahead: int = 4, lookbehind: int = 10, max_paths: int = 512,
                 max_residual_tokens: int = 64) -> None:
        super().__init__(lookahead, lookbehind)
        for label, value in (("max_paths", max_paths), ("max_residual_tokens", max_residual_tokens)):
            if not is_whole_number(value, 1):
                raise ValueError(f"{label} must be a positive integer, got {value!r}")
        self.max_paths = max_paths
        self.max_residual_tokens = max_residual_tokens

    def params(self) -> dict:
        return {**super().params(), "max_paths": self.max_paths,
                "max_residual_tokens": self.max_residual_tokens}

    # -- the target's spellings ----------------------------------------------------------------

    def prefixes(self, run: Decoding) -> TargetPrefixes:
        key = run.target.vocab.fingerprint
        if key not in _PREFIXES:  # kept across runs: sorting 262k spellings takes a fifth of a second
            _PREFIXES[key] = TargetPrefixes(run.target.vocab)
        return _PREFIXES[key]

    def _continuing_ids(self, run: Decoding, spelling: bytes) -> torch.Tensor:
        """Drafter ids whose text, appended to ``spelling``, still starts some target token."""
        drafter = run.drafter.vocab
        key = (run.target.vocab.fingerprint, drafter.fingerprint, str(run.drafter.device), spelling)
        if key not in _CONTINUATIONS:
            longest = max(map(len, drafter.ids_by_bytes))
            ids = sorted(d for r in self.prefixes(run).continuations(spelling, longest)
                         for d in drafter.ids_by_bytes.get(r, ()))
            _CONTINUATIONS[key] = torch.tensor(ids, dtype=torch.long, device=run.drafter.device)
        return _CONTINUATIONS[key]

    # -- drafter laws on the tree of paths -----------------------------------------------------

    def _laws(self, run: Decoding, tree: _Tree, paths: list[tuple[int, ...]]) -> None:
        """Compute the drafter's law after each path not yet in the tree, one pass per length."""
        missing = sorted({p for p in paths if p not in tree.laws}, key=len)
        for length in sorted({len(p) for p in missing}):
            batch = [p for p in missing if len(p) == length]
            if length == 0:
                logits = run.drafter.logits(run.drafter_ids, 1)
            else:
                logits = run.drafter.branch_logits(run.drafter_ids, [list(p) for p in batch])
            for path, row in zip(batch, probabilities(logits, run.temperature)):
                tree.laws[path] = row

    def _law(self, run: Decoding, tree: _Tree, path: tuple[int, ...]) -> torch.Tensor:
        if path not in tree.laws:  # the sampled path: extend the drafter's own cache
            tree.laws[path] = probabilities(run.drafter.logits(run.drafter_ids + list(path), 1)[0],
                                            run.temperature)
        return tree.laws[path]

    # -- drafting ------------------------------------------------------------------------------

    def _propose(self, run: Decoding, tree: _Tree, before: tuple[int, ...],
                 event: DraftEvent, after: int) -> _Proposal:
        """Run the drafting process once after the drafter context plus ``before``, whose last
        token is draw ``after`` of ``event`` (-1: none)."""
        prefixes, vocab = self.prefixes(run), run.drafter.vocab
        spelled, path, first = b"", [], len(event.tokens)
        while True:
            q = self._law(run, tree, before + tuple(path))
            token, u = run.choose(q, run.draft_draws)
            event.add(token, vocab.describe(token), float(q[token]), u, run.top_drafter(q),
                      after=len(event.tokens) - 1 if path else after)
            if token in vocab.eos_ids and not spelled and _target_eos(run) is not None:
                return _Proposal(_target_eos(run), [token])
            piece = vocab.token_bytes[token]
            if not piece or not prefixes.is_prefix(spelled + piece):
                event.used[-1] = False  # stop before this token
                break
            spelled += piece
            path.append(token)
            if not prefixes.extends(spelled):
                break
        target = prefixes.id_of.get(spelled) if spelled else None
        if target is None:  # ⊥: nothing this run drew is proposed
            event.used[first:] = [False] * (len(event.used) - first)
        return _Proposal(target, path)

    def draft(self, run: Decoding) -> SLRSDraft:
        budget, limit = self.draft_limit(run)
        room = run.drafter_room() > 0
        event = DraftEvent(iteration=run.iteration,
                           stop_reason=limit if room else "drafter-context")
        tree = _Tree()
        proposals: list[_Proposal] = []
        before: tuple[int, ...] = ()
        last = -1  # the draw that ends ``before``
        for _ in range(budget if room else 0):
            proposal = self._propose(run, tree, before, event, last)
            proposals.append(proposal)
            if proposal.target is None:
                event.stop_reason = ("no-match" if event.tokens[-1] == run.drafter.no_match_id
                                     else "not-a-target-token")
                break
            if proposal.target in run.target.vocab.eos_ids:
                event.stop_reason = "eos"
                break
            before += tuple(proposal.path)
            last = max(i for i, used in enumerate(event.used) if used)
        event.text = run.drafter.vocab.text_of(list(before))
        return SLRSDraft(event.tokens, event, tree=tree, proposals=proposals)

    # -- psi -----------------------------------------------------------------------------------

    def lattice(self, run: Decoding, tree: _Tree, before: tuple[int, ...], token: int) -> Lattice:
        """psi(token) after the drafter context plus ``before``, with every path that adds to it."""
        target, drafter = run.target.vocab, run.drafter.vocab
        passes = run.drafter.counter.passes
        text = target.describe(token)
        if token == _target_eos(run):
            q = self._law(run, tree, before)
            paths = [PsiPath([d], [drafter.describe(d)], [float(q[d])], float(q[d]))
                     for d in sorted(drafter.eos_ids) if float(q[d]) > 0]
            return Lattice(token, text, paths, [1.0] * len(paths), sum(p.prob for p in paths),
                           run.drafter.counter.passes - passes)
        spelling = target.token_bytes[token]
        if not spelling or self.prefixes(run).id_of.get(spelling) != token:
            return Lattice(token, text, [], [], 0.0, 0)  # never proposed: psi = 0
        count = paths_by_offset(spelling, drafter)[-1]
        if count > self.max_paths:
            raise SLRSBudgetError(
                f"psi({text!r}) needs {count} drafter paths (every way the drafter's vocabulary "
                f"spells those {len(spelling)} bytes), over the budget max_paths={self.max_paths}. "
                f"Raise it (sv.SLRS(max_paths={count})) if you can afford {count} paths, or use "
                "SLEM or TLI for this pair: SLRS suits drafters with short tokens.")
        needs_stop = self.prefixes(run).extends(spelling)
        frontier: list[tuple[tuple[int, ...], int]] = [((), 0)]  # (path, bytes spelled)
        complete: list[tuple[int, ...]] = []
        while frontier:
            self._laws(run, tree, [before + p for p, at in frontier
                                   if at < len(spelling) or needs_stop])
            grown = []
            for path, at in frontier:
                if at == len(spelling):
                    complete.append(path)
                    continue
                for end in range(at + 1, len(spelling) + 1):
                    for d in drafter.ids_by_bytes.get(spelling[at:end], ()):
                        grown.append((path + (d,), end))
            frontier = grown
        paths, stops = [], []
        for path in complete:
            steps = [float(tree.laws[before + path[:i]][d]) for i, d in enumerate(path)]
            stop = self.stop_factor(run, spelling, tree.laws[before + path]) if needs_stop else 1.0
            prob = stop
            for s in steps:
                prob *= s
            paths.append(PsiPath(list(path), [drafter.describe(d) for d in path], steps, prob))
            stops.append(stop)
        return Lattice(token, text, paths, stops, sum(p.prob for p in paths),
                       run.drafter.counter.passes - passes)

    def stop_factor(self, run: Decoding, spelling: bytes, law: torch.Tensor) -> float:
        """P(drafting stops right after a path spelling ``spelling``), for a target token that is
        the start of longer ones: the drafter's mass on tokens that do not continue toward them.
        ``law``: the drafter's next-token law after that path, ``[V_drafter]``."""
        return 1.0 - float(law[self._continuing_ids(run, spelling)].sum())

    def translate(self, run: Decoding, draft: SLRSDraft) -> SLRSCandidates:
        tree, proposals = draft.tree, draft.proposals
        tokens: list[int] = []
        lattices: list[Lattice] = []
        befores: list[tuple[int, ...]] = [()]
        for proposal in proposals:
            if proposal.target is None:
                break
            if run.greedy:  # a greedy drafter proposes with certainty: psi = 1
                lat = Lattice(proposal.target, run.target.vocab.describe(proposal.target), [], [], 1.0, 0)
            else:
                lat = self.lattice(run, tree, befores[-1], proposal.target)
            tokens.append(proposal.target)
            lattices.append(lat)
            befores.append(befores[-1] + tuple(proposal.path))
        vocab = run.target.vocab
        event = TranslateEvent(iteration=run.iteration, text=draft.event.text,
                               target_tokens=tokens,
                               target_texts=[vocab.describe(t) for t in tokens],
                               proposal_probs=[lat.psi for lat in lattices], lattices=lattices)
        return SLRSCandidates(tokens, event, drafter_path=list(befores[-1]),
                              proposal_probs=[lat.psi for lat in lattices],
                              law_after_last=bool(proposals) and proposals[-1].target is None,
                              tree=tree, befores=befores)

    # -- the residual, by rejection from p ------------------------------------------------------

    def residual_token(self, run: Decoding, cand: SLRSCandidates, position: int,
                       p: torch.Tensor) -> tuple[int, float | None, list]:
        tree, before = cand.tree, cand.befores[position]
        known = {cand.tokens[position]: cand.proposal_probs[position]} \
            if position < len(cand.tokens) else {}
        tries: list[ResidualDraw] = []
        cdf = cumulative(p)
        for _ in range(self.max_residual_tries):
            u = run.target_draws.uniform()
            token = sample_cdf(cdf, u)
            if token not in known:
                if len(known) >= self.max_residual_tokens:
                    raise SLRSBudgetError(
                        f"The residual draw after a rejection needed psi of more than "
                        f"max_residual_tokens={self.max_residual_tokens} distinct target tokens "
                        f"(psi covers most of p here, so the residual is narrow). Raise it: "
                        f"sv.SLRS(max_residual_tokens={2 * self.max_residual_tokens}).")
                known[token] = self.lattice(run, tree, before, token).psi
            p_token = float(p[token])
            keep = max(0.0, 1.0 - known[token] / p_token)
            v = run.target_draws.uniform()
            tries.append(ResidualDraw(token, run.target.vocab.describe(token), p_token,
                                      known[token], keep, v, v < keep))
            if v < keep:
                return token, u, tries
        raise SLRSBudgetError(f"No residual token after {self.max_residual_tries} tries: p and psi "
                              "agree to rounding error here, so a rejection should not happen.")


# -- psi without running a decoder ---------------------------------------------------------------------

def psi_lattices(pair, prompt: str, tokens=None, algorithm: SLRS | None = None,
                 temperature: float = 1.0) -> dict[int, Lattice]:
    """psi of each target token (ids or texts; default: the whole target vocabulary) right after
    ``prompt``, with every drafter path that spells it. ``algorithm``: an ``SLRS`` (default
    ``SLRS()``); ``specviz.lossless.BareSumSLRS()`` shows the broken psi without stop factors.
    Drafter laws are computed once and shared by all tokens."""
    from ..sampling import seeded_streams

    vocab = pair.target.vocab
    ids = range(vocab.size) if tokens is None else [_token_id(vocab, t, pair) for t in tokens]
    drafts, targets = seeded_streams(0)
    run = Decoding(pair, prompt, max_new_tokens=1, temperature=temperature, seed=0, top_k=0,
                   lookbehind=0, draft_draws=drafts, target_draws=targets)
    algorithm, tree = algorithm or SLRS(), _Tree()
    return {t: algorithm.lattice(run, tree, (), t) for t in ids}


def psi_lattice(pair, prompt: str, token: int | str, algorithm: SLRS | None = None,
                temperature: float = 1.0) -> Lattice:
    """psi of one target token (its id or its text) right after ``prompt``, path by path."""
    return next(iter(psi_lattices(pair, prompt, [token], algorithm, temperature).values()))


def _token_id(vocab: Vocabulary, token: int | str, pair) -> int:
    if isinstance(token, int):
        return token
    if token.encode() not in vocab.id_by_bytes:
        raise ValueError(f"{token!r} is not a token of {pair.target.name}")
    return vocab.id_by_bytes[token.encode()]
