"""The decoding algorithms, by name. Each file holds one; ``loop.py`` runs them all.

A new algorithm is one file with an ``Algorithm`` subclass, added to ``_CLASSES`` below (or, from
outside the package, ``register``-ed): the loop, the trace and the figures need nothing else.
"""

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
_BUILT_IN = frozenset(_CLASSES)
ALGORITHMS: tuple[str, ...] = tuple(_CLASSES)  # read it as ``algorithms.ALGORITHMS``: it grows


def register(cls: type[Algorithm]) -> type[Algorithm]:
    """Make ``cls`` known by its ``name`` (to ``generate``, ``make_algorithm`` and the figures),
    after the built-in ones; registering a name again replaces that class. Usable as a decorator."""
    global ALGORITHMS
    if not (isinstance(cls, type) and issubclass(cls, Algorithm)):
        raise TypeError(f"register() takes an Algorithm subclass, got {cls!r}")
    if not cls.name or cls.name != cls.name.lower():
        raise ValueError(f"{cls.__name__}.name must be a non-empty lower-case name, "
                         f"got {cls.name!r}")
    if cls.name in _BUILT_IN and _CLASSES[cls.name] is not cls:
        raise ValueError(f"{cls.name!r} is a built-in algorithm; give {cls.__name__} another name")
    _CLASSES[cls.name] = cls
    ALGORITHMS = tuple(_CLASSES)
    return cls


def unregister(name: str) -> None:
    """Forget an algorithm added with ``register`` (built-in ones stay)."""
    global ALGORITHMS
    if name in _BUILT_IN:
        raise ValueError(f"{name!r} is a built-in algorithm and cannot be unregistered")
    _CLASSES.pop(name, None)
    ALGORITHMS = tuple(_CLASSES)


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
        raise ValueError(f"Unknown algorithm {algorithm!r}. Choose one of: {', '.join(_CLASSES)} "
                         "(or pass an instance, e.g. sv.SLEM(lookahead=5)).")
    if lookahead is not None and algo.needs_drafter and (lookahead != algo.lookahead
                                                         or type(lookahead) is not int):
        algo = type(algo)(**{**algo.params(), "lookahead": lookahead})
    return algo
