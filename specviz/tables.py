"""Plain-text tables: the benchmark's printed summaries and the exercises' answers share them.

    format_table([{"k": 3, "a": 0.5}], [("k", "k", "d"), ("a", "acceptance", ".2f")])

Light on purpose (no torch, no plotly): anything that prints a table may import it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Column = tuple[str, str, str]
"""(key in each row, header, format spec): ``"b"`` prints a flag as yes/NO."""


def columns(spec: str) -> tuple[Column, ...]:
    """Columns written compactly: items ``key=header:format`` split by ';' (or new lines ending
    with ';'). The header is kept as written, spaces included (they widen the column).

        columns("lookahead=k:d; acceptance=a:.2f")  # (("lookahead", "k", "d"), ("acceptance", ...))
    """
    out = []
    for item in filter(str.strip, spec.split(";")):
        key, rest = item.split("=", 1)
        header, fmt = rest.rsplit(":", 1)
        out.append((key.strip(), header, fmt.strip()))
    return tuple(out)


def cell(value, fmt: str) -> str:
    """One value as its column shows it; '-' for a missing value (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if fmt == "b":
        return "yes" if value else "NO"
    return format(value, fmt)


def format_table(rows: list[dict], columns: Sequence[Column]) -> str:
    """A plain fixed-width table, right-aligned, with a rule under the headers."""
    grid = [[header for _, header, _ in columns]]
    grid += [[cell(r.get(key), fmt) for key, _, fmt in columns] for r in rows]
    widths = [max(len(line[i]) for line in grid) for i in range(len(columns))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in grid]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])
