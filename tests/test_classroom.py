"""The class image that repo2docker builds from binder/ (Binder, or a JupyterHub's singleuser image).

Docker cannot run in the tests, so they run the two scripts repo2docker runs: ``postBuild`` (at
build time, in the repository folder) and ``start`` (each time a student's server starts).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from specviz.models.bundled import BUNDLED_PAIRS, bundled_status

SMALL_PAIR = BUNDLED_PAIRS["small"]

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"


def _shim(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/bash\n{body}\n")
    path.chmod(0o755)


def _build_env(tmp_path: Path, specviz: str) -> tuple[dict, Path]:
    """PATH for postBuild: ``python -m pip`` only logs (specviz is installed here already), other
    python calls run this interpreter, and ``specviz`` runs the shell code ``specviz``."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls.log"
    bin_dir.mkdir()
    _shim(bin_dir, "python", f'if [ "$1 $2" = "-m pip" ]; then echo "pip ${{*:3}} in $PWD" >> {log}; '
                             f'exit 0; fi\nexec {sys.executable} "$@"')
    _shim(bin_dir, "specviz", specviz)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}",
           "NB_PYTHON_PREFIX": str(tmp_path / "prefix")}
    env.pop("SPECVIZ_CACHE", None)
    return env, log


def test_repo2docker_reads_binder_and_finds_what_it_needs():
    """With binder/ present repo2docker ignores the root's files: binder/ must hold them all."""
    assert (BINDER / "environment.yml").is_file()
    for script in ("postBuild", "start"):
        assert os.access(BINDER / script, os.X_OK), script
    assert "-e ." not in (BINDER / "environment.yml").read_text()  # the repo is not there yet


def test_post_build_installs_specviz_and_prepares_the_cache_that_start_points_to(tmp_path):
    log = tmp_path / "calls.log"
    env, _ = _build_env(tmp_path, f'echo "specviz $*" >> {log}')
    subprocess.run(["bash", BINDER / "postBuild"], cwd=REPO, env=env, check=True)
    cache = tmp_path / "prefix" / "share" / "specviz-cache"
    assert log.read_text().splitlines() == [f"pip install --no-cache-dir .[notebooks] in {REPO}",
                                            f"specviz prepare --cache-dir {cache}"]
    started = subprocess.run(["bash", BINDER / "start", "printenv", "SPECVIZ_CACHE"], env=env,
                             check=True, capture_output=True, text=True)
    assert started.stdout.strip() == str(cache)  # what cache_root() reads first
    env["SPECVIZ_CACHE"] = "/elsewhere"  # a hub that sets it keeps its own
    started = subprocess.run(["bash", BINDER / "start", "printenv", "SPECVIZ_CACHE"], env=env,
                             check=True, capture_output=True, text=True)
    assert started.stdout.strip() == "/elsewhere"


@pytest.mark.slow
def test_post_build_leaves_a_complete_shared_cache(tmp_path):
    """The real build step: download and convert both models (minutes), then check every hash."""
    specviz = Path(sys.executable).with_name("specviz")
    env, _ = _build_env(tmp_path, f'exec {specviz} "$@"')
    subprocess.run(["bash", BINDER / "postBuild"], cwd=REPO, env=env, check=True)
    cache = tmp_path / "prefix" / "share" / "specviz-cache"
    assert bundled_status(cache, verify=True, names=SMALL_PAIR) == {n: "ready" for n in SMALL_PAIR}
    for name in SMALL_PAIR:
        folder = cache / "models" / name
        assert folder.stat().st_mode & 0o777 == 0o755
        assert all(f.stat().st_mode & 0o777 == 0o644 for f in folder.iterdir())
