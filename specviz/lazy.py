"""Package attributes imported on first use (PEP 562), so that ``import specviz`` stays light:
plotly and ipywidgets load with the first figure or widget, transformers with the first model."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable


def lazy_attributes(package: str, where: dict[str, str],
                    submodules: tuple[str, ...] = ()) -> tuple[Callable, Callable]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``where`` is imported from the
    submodule it maps to (relative to ``package``) the first time someone asks for it, and each
    name in ``submodules`` is that submodule itself (``sv.viz.Stepper`` in a fresh interpreter)."""
    module = sys.modules[package]

    def __getattr__(name: str):
        if name in submodules:
            value = importlib.import_module(f".{name}", package)
        elif name in where:
            value = getattr(importlib.import_module(f".{where[name]}", package), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(module, name, value)  # found directly from now on
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(module)) | set(where) | set(submodules))

    return __getattr__, __dir__
