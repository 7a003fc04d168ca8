"""Indexes as the app sees them: the ones on disk (with their manifests) and building a new one.

    list_indexes()                 every index under Settings.indexes_dir, with its manifest
    diffusiondb_reachable(url)     a quick (2 s) check that the DiffusionDB download can work
    build_index(kind, target, …)   run the starter build / ingest with a progress bar and ETA

The building itself is the library's (`ingest.starter.build_starter_index`,
`ingest.pipeline.run_ingest`); this module only draws its progress and keeps an uploaded file
on disk long enough for the ingest to read it.

Deliberately not here: page layout (pages/first_run.py, pages/settings.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from core.settings import get_settings

UPLOAD_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "parquet"]


@dataclass(frozen=True)
class IndexEntry:
    path: Path
    manifest: Any | None  # index.manifest.Manifest, None when unreadable
    problem: str = ""  # why the manifest could not be read


def index_entry(path: Path) -> IndexEntry:
    """The index at `path` with its manifest, or the reason the manifest cannot be read."""
    from core.errors import IndexLoadError
    from index.manifest import read_manifest

    try:
        return IndexEntry(Path(path), read_manifest(Path(path)))
    except IndexLoadError as exc:
        return IndexEntry(Path(path), None, str(exc))


def list_indexes(root: Path | None = None, *, include: Path | None = None) -> list[IndexEntry]:
    """Every directory under `root` (default: Settings.indexes_dir) that holds a manifest, plus
    `include` (e.g. the index in use, which PROMPTRAG_INDEX may put elsewhere) when it has one."""
    root = Path(root) if root is not None else get_settings().indexes_dir
    paths = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")) if root.is_dir() \
        else []
    if include is not None and Path(include) not in paths:
        paths.insert(0, Path(include))
    return [index_entry(p) for p in paths if (p / "manifest.json").is_file()]


@st.cache_data(ttl=120, show_spinner=False)
def diffusiondb_reachable(url: str, timeout_s: float = 2.0) -> bool:
    """True when `url`'s host answers within `timeout_s` (any HTTP status counts as an answer)."""
    import httpx

    try:
        with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
            client.head(url)
    except httpx.HTTPError:
        return False
    return True


def interrupted_build(target: Path) -> bool:
    """A build into `target` was interrupted and left its checkpoint (the next run resumes)."""
    from ingest.pipeline import work_dir_for

    return work_dir_for(Path(target)).exists()


def save_upload(upload: Any, directory: Path | None = None) -> Path:
    """Write an st.file_uploader file to disk (keeping its suffix: the ingest reads by type)."""
    directory = Path(directory or get_settings().cache_dir / "uploads")
    directory.mkdir(parents=True, exist_ok=True)
    suffix = "".join(Path(upload.name).suffixes[-2:]) or ".txt"
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=directory)
    with open(fd, "wb") as fh:
        fh.write(upload.getbuffer())
    return Path(name)


def build_index(kind: str, target: Path, *, source: str | None = None, sample: int | None = None,
                limit: int | None = None) -> Any:
    """Build the index at `target` drawing a progress bar; returns the IngestReport.

    kind: "starter" (the shipped set), "file" (`source` is a local path or a saved upload) or
    "diffusiondb" (download DiffusionDB's table and keep `sample` prompts).
    """
    from app.widgets import ProgressPanel

    panel = ProgressPanel("Starting…")
    if kind == "starter":
        from ingest.starter import build_starter_index

        report = build_starter_index(target, on_progress=panel, limit=limit)
    else:
        from ingest.pipeline import run_ingest

        values: dict[str, Any] = {"index": Path(target), "progress": False}
        if kind == "file":
            values["source"] = source
        if sample:
            values["sample"] = sample
        if limit:
            values["limit"] = limit
        report = run_ingest(on_progress=panel, **values)
    panel.done(f"Done: {report.final_rows:,} prompts in {report.seconds:.0f} s")
    return report
