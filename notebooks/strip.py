"""Keep the stored notebooks small and their checked outputs current.

    python notebooks/strip.py                 # strip every notebook in place
    python notebooks/strip.py --execute       # run each in a fresh kernel first, then strip
    python notebooks/strip.py --check         # exit 1 if some notebook is not stripped (CI)
    python notebooks/strip.py 03_tli.ipynb    # only some notebooks

What is kept (see README.md): the outputs of cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval compares
them), and small plain-text outputs of other cells (so a notebook reads well before it is run).
Everything else goes: figures, widgets, HTML, progress bars (stderr), widget state
(``metadata.widgets``), execution timings and output metadata. Execution counts are renumbered
1, 2, 3, ... over the cells that keep an output; the rest get none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
CHECK = "# NBVAL_CHECK_OUTPUT"
CHECK_TAG = "nbval-check-output"  # the same, as a cell tag (notebook 7's solutions: no marker shown)
SMALL_TEXT = 2000  # characters: larger plain-text outputs of unchecked cells are dropped
KEPT_CELL_METADATA = ("jupyter", "tags", "editable", "deletable")


def _plain(output) -> bool:
    """A stdout stream, or a result whose only representation is plain text."""
    if output.output_type == "stream":
        return output.name == "stdout"
    if output.output_type in ("execute_result", "display_data"):
        return set(output.get("data", {})) == {"text/plain"}
    return False


def _text_length(outputs) -> int:
    return sum(len(o.get("text", "")) + len(str(o.get("data", {}).get("text/plain", "")))
               for o in outputs)


def _clean_output(output):
    output = nbformat.from_dict(dict(output))
    if output.output_type in ("execute_result", "display_data"):
        output.metadata = {}
    return output


def strip(nb) -> tuple[object, list[str]]:
    """Strip one notebook (in place) and return it with a list of problems found in checked cells."""
    problems: list[str] = []
    nb.metadata.pop("widgets", None)
    language = nb.metadata.get("language_info", {})
    nb.metadata["language_info"] = {"name": language.get("name", "python")}
    count = 0
    for index, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in KEPT_CELL_METADATA}
        if cell.cell_type != "code":
            continue
        checked = (cell.source.lstrip().startswith(CHECK)
                   or CHECK_TAG in cell.metadata.get("tags", ()))
        outputs = [_clean_output(o) for o in cell.get("outputs", [])]
        if checked:
            bad = [o for o in outputs if not _plain(o)]
            if bad:
                kinds = ", ".join(sorted({o.get("name") or o.output_type for o in bad}))
                problems.append(f"cell {index}: checked, but has output nbval would compare "
                                f"beyond plain text ({kinds}); print plain text only")
            if not outputs and cell.get("execution_count") is not None:
                problems.append(f"cell {index}: checked, but printed nothing")
            keep = outputs
        elif all(_plain(o) for o in outputs) and _text_length(outputs) <= SMALL_TEXT:
            keep = outputs
        else:
            keep = []
        ran = cell.get("execution_count") is not None
        if keep and ran:
            count += 1
            cell.execution_count = count
            for o in keep:
                if o.output_type == "execute_result":
                    o.execution_count = count
            cell.outputs = keep
        else:
            cell.execution_count = None
            cell.outputs = []
            if checked:
                problems.append(f"cell {index}: checked, but has no stored output (run it)")
    return nb, problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebooks (default: all in this folder)")
    parser.add_argument("--execute", action="store_true",
                        help="run each notebook in a fresh kernel before stripping")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if a notebook would change")
    args = parser.parse_args(argv)
    paths = [Path(p) if Path(p).exists() else HERE / p for p in args.notebooks] or \
        sorted(HERE.glob("*.ipynb"))
    status = 0
    for path in paths:
        if args.execute:
            from specviz.course import execute_notebook

            nb, seconds, error = execute_notebook(path)
            if error:
                print(f"{path.name}: FAILED after {seconds:.0f} s\n{error}", file=sys.stderr)
                status = 1
                continue
            print(f"{path.name}: executed in {seconds:.0f} s")
        else:
            nb = nbformat.read(path, as_version=4)
        before = nbformat.writes(nbformat.read(path, as_version=4))
        nb, problems = strip(nb)
        after = nbformat.writes(nb)
        for problem in problems:
            print(f"{path.name}: {problem}", file=sys.stderr)
            status = 1
        if args.check:
            if after != before:
                print(f"{path.name}: not stripped (run python notebooks/strip.py)", file=sys.stderr)
                status = 1
            continue
        if after != before:
            path.write_text(after, encoding="utf-8")
        print(f"{path.name}: {len(after.encode()) / 1024:.1f} KB stored")
    return status


if __name__ == "__main__":
    sys.exit(main())
