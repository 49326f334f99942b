"""The decoding algorithms, by name. Each file holds one; ``loop.py`` runs them all."""

from __future__ import annotations

from .autoregressive import Autoregressive
from .base import Algorithm
from .sd import SD
from .slem import SLEM
from .slrs import SLRS
from .tli import TLI

_CLASSES: dict[str, type[Algorithm]] = {
    cls.name: cls for cls in (Autoregressive, SD, SLEM, TLI, SLRS)
}
ALGORITHMS: tuple[str, ...] = tuple(_CLASSES)


def algorithm_class(name: str) -> type[Algorithm]:
    """The class registered as ``name`` (a trace's ``meta["algorithm"]``), whose attributes tell
    figures how to describe it; the base ``Algorithm`` for a name this version does not know."""
    return _CLASSES.get(name, Algorithm)


def make_algorithm(algorithm: str | Algorithm, lookahead: int | None = None) -> Algorithm:
    """An algorithm instance from a name or an instance; ``lookahead`` overrides the instance's."""
    if isinstance(algorithm, Algorithm):
        algo = algorithm
    elif isinstance(algorithm, str) and algorithm.lower() in _CLASSES:
        algo = _CLASSES[algorithm.lower()]()
    else:
        raise ValueError(f"Unknown algorithm {algorithm!r}. Choose one of: {', '.join(ALGORITHMS)} "
                         "(or pass an instance, e.g. sv.SLEM(lookahead=5)).")
    if lookahead is not None and algo.needs_drafter and (lookahead != algo.lookahead
                                                         or type(lookahead) is not int):
        algo = type(algo)(**{**algo.params(), "lookahead": lookahead})
    return algo
