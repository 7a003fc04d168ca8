"""The index manifest (`manifest.json`): what an index directory holds and how to check it.

An index directory is self-describing: format version, embedding model, dimension, row count,
FAISS index type and parameters, and per-file sizes and checksums. `read_manifest` and
`verify_files` turn every way a directory can be wrong into an IndexLoadError naming the fix.

Checksums: sha256 of a multi-GB vectors file costs seconds on every load, so each file records
its size, a full sha256 (computed once at publish) and a cheap "quick" sha256 over the size and
the first and last MiB. On load we always check sizes and the quick digest (catches truncation,
replacement and edits at either end in milliseconds) and the full sha256 only for files below
FULL_CHECK_BYTES; `PromptIndex.verify(full=True)` checks every byte on request.

`list_indexes(root)` lists the index directories under a folder (default: Settings.indexes_dir)
with their manifests, or the reason a manifest cannot be read, without loading any index.

Deliberately not here: reading vectors, FAISS or SQLite (see store.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import IndexLoadError
from core.settings import get_settings

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA_FILES = ("vectors.npy", "faiss.index", "rows.sqlite")
FULL_CHECK_BYTES = 200 * 1024 * 1024
_QUICK_SPAN = 1024 * 1024
REBUILD_HINT = "re-run `promptrag ingest` to rebuild the index"


@dataclass(frozen=True)
class FileInfo:
    size: int
    sha256: str
    quick_sha256: str


@dataclass(frozen=True)
class Manifest:
    format_version: int
    embedding_model: str
    dimension: int
    row_count: int
    index_type: str  # "flat" | "hnsw" | "ivf_sq8"
    index_params: dict[str, Any]
    files: dict[str, FileInfo]
    created_at: str
    promptrag_version: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def promptrag_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("promptrag")
    except PackageNotFoundError:
        return "0.0.0+source"


def _sha256(path: Path, start: int = 0, length: int | None = None) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        fh.seek(start)
        remaining = length
        while remaining is None or remaining > 0:
            block = fh.read(8 * 1024 * 1024 if remaining is None else min(remaining, 8 * 1024 * 1024))
            if not block:
                break
            digest.update(block)
            if remaining is not None:
                remaining -= len(block)
    return digest


def quick_sha256(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    digest.update(_sha256(path, 0, _QUICK_SPAN).digest())
    digest.update(_sha256(path, max(0, size - _QUICK_SPAN), _QUICK_SPAN).digest())
    return digest.hexdigest()


def file_info(path: Path) -> FileInfo:
    return FileInfo(path.stat().st_size, _sha256(path).hexdigest(), quick_sha256(path))


def read_manifest(directory: Path) -> Manifest:
    """Parse and sanity-check `directory/manifest.json` (IndexLoadError on any problem)."""
    path = directory / MANIFEST_NAME
    if not directory.exists():
        raise IndexLoadError(
            f"no index at {directory}: run `promptrag ingest` first, "
            "or pass --index PATH to an existing index"
        )
    if not directory.is_dir():
        raise IndexLoadError(f"index path {directory} is a file, not an index directory: pass --index DIR")
    if not path.is_file():
        raise IndexLoadError(
            f"{directory} is not a promptrag index ({MANIFEST_NAME} is missing): "
            f"run `promptrag ingest` to build one there, or pass --index PATH to an existing index"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexLoadError(f"{path} is corrupted (not valid JSON: {exc}); {REBUILD_HINT}") from None
    if not isinstance(data, dict):
        raise IndexLoadError(f"{path} is corrupted (expected a JSON object); {REBUILD_HINT}")
    version = data.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise IndexLoadError(f"{path} has an invalid format_version {version!r}; {REBUILD_HINT}")
    if version > FORMAT_VERSION:
        raise IndexLoadError(
            f"index {directory} has format version {version}, newer than this promptrag supports "
            f"({FORMAT_VERSION}): upgrade promptrag (pip install -U promptrag) or rebuild with this version"
        )
    try:
        files = {name: FileInfo(**info) for name, info in data.pop("files").items()}
        manifest = Manifest(files=files, **data)
        ok = (
            isinstance(manifest.dimension, int)
            and manifest.dimension > 0
            and isinstance(manifest.row_count, int)
            and manifest.row_count >= 0
            and isinstance(manifest.embedding_model, str)
            and isinstance(manifest.index_params, dict)
            and set(DATA_FILES) <= set(files)
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise IndexLoadError(
            f"{path} is corrupted (missing or unexpected field: {exc}); {REBUILD_HINT}"
        ) from None
    if not ok:
        raise IndexLoadError(
            f"{path} is corrupted (field of the wrong type or file list incomplete); {REBUILD_HINT}"
        )
    return manifest


@dataclass(frozen=True)
class IndexEntry:
    """An index directory as a listing sees it: its manifest, or why that cannot be read."""

    path: Path
    manifest: Manifest | None  # None when unreadable
    problem: str = ""  # why the manifest could not be read


def index_entry(path: Path) -> IndexEntry:
    """The index at `path` with its manifest, or the reason the manifest cannot be read."""
    try:
        return IndexEntry(Path(path), read_manifest(Path(path)))
    except IndexLoadError as exc:
        return IndexEntry(Path(path), None, str(exc))


def list_indexes(root: Path | None = None, *, include: Path | None = None) -> list[IndexEntry]:
    """Every directory under `root` (default: Settings.indexes_dir) that holds a manifest, by
    name, plus `include` first (e.g. the index in use, which PROMPTRAG_INDEX may put elsewhere)
    when it has one. Hidden directories (a writer's temporary ones) are left out."""
    if root is None:
        root = get_settings().indexes_dir
    root = Path(root)
    paths: list[Path] = []
    if root.is_dir():
        paths = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if include is not None and Path(include) not in paths:
        paths.insert(0, Path(include))
    return [index_entry(p) for p in paths if (p / MANIFEST_NAME).is_file()]


def verify_files(directory: Path, manifest: Manifest, *, full: bool = False) -> None:
    """Check each data file's size and checksum against the manifest (IndexLoadError naming the file)."""
    for name in DATA_FILES:
        expected = manifest.files[name]
        path = directory / name
        if not path.is_file():
            raise IndexLoadError(f"index {directory} is incomplete: {name} is missing; {REBUILD_HINT}")
        size = path.stat().st_size
        if size != expected.size:
            raise IndexLoadError(
                f"index file {path} has {size} bytes but the manifest says {expected.size} "
                f"(truncated or modified); {REBUILD_HINT}"
            )
        if quick_sha256(path) != expected.quick_sha256:
            raise IndexLoadError(f"index file {path} does not match its checksum (modified); {REBUILD_HINT}")
        if (full or size < FULL_CHECK_BYTES) and _sha256(path).hexdigest() != expected.sha256:
            raise IndexLoadError(
                f"index file {path} does not match its sha256 checksum (modified); {REBUILD_HINT}"
            )


def fsync_path(path: Path) -> None:
    """fsync a file or directory so a rename that follows cannot publish unwritten data."""
    flags = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)) if path.is_dir() else os.O_RDONLY
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
