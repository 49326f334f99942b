"""Where results are written: check the path before the work, and write a result folder whole.

A benchmark that runs for an hour and then finds its output folder unwritable has lost an hour, so
the commands check their output paths first (``check_file``, ``check_folder``). And a folder of
results is written beside its final place and moved there in one rename (``folder_written_whole``),
so that an interruption leaves the previous run's files, never a mix of two runs.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path


def _try_writing(folder: Path, target: Path) -> None:
    """Create and delete a file in ``folder``: the only check that is right for every user,
    file system and mount option."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        raise ValueError(f"cannot write {target}: {folder} is not writable ({err.strerror}). "
                         "Choose another path.") from None


def check_file(path: str | Path) -> Path:
    """Fail now if a file cannot be written at ``path`` (a folder there, a missing or read-only
    parent folder)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a file name, e.g. {path / 'trace.json'}")
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"cannot write {path}: the folder {parent} does not exist. Create it "
                         "first or choose another path.")
    _try_writing(parent, path)
    return path


def check_folder(path: str | Path, replaceable: Collection[str]) -> Path:
    """Fail now if a result folder cannot be written at ``path``: a file in the way, a place that
    is not writable, or an existing folder holding anything but ``replaceable`` names (the files
    of an earlier run, which a new run replaces; anything else would be lost with them)."""
    path = Path(path)
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise ValueError(f"cannot write the folder {path}: {existing} is a file. Choose a folder.")
    if existing == path:
        others = sorted(p.name for p in path.iterdir() if p.name not in replaceable)
        if others:
            raise ValueError(f"{path} holds other files ({', '.join(others[:5])}), which writing the "
                             "results there would delete. Choose a new or empty folder.")
        existing = path.parent
    _try_writing(existing, path)
    return path


@contextmanager
def folder_written_whole(path: str | Path, replaceable: Collection[str]) -> Iterator[Path]:
    """Yield an empty folder to write results into; when the block ends without error, it takes
    the place of ``path`` (see ``check_folder``). On error ``path`` is left as it was."""
    path = check_folder(path, replaceable).resolve()  # '.' has no name to put beside it
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.writing-", dir=path.parent))
    try:
        yield staging
        staging.chmod(0o755)  # mkdtemp's folders are private; results are not
        if path.exists():  # a folder cannot be renamed over a non-empty one: move it aside first
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            path.replace(old / path.name)
            staging.replace(path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.replace(path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
