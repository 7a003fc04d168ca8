"""Indexes as the app sees them: building a new one, and the few checks the build pages ask.

    diffusiondb_reachable(url)     `ingest.download.reachable`, cached for two minutes per URL
    interrupted_build(target)      a stopped build left a checkpoint the next build resumes
    save_upload(upload)            keep an st.file_uploader file on disk for the ingest to read
    build_index(kind, target, …)   run the starter build / ingest with a progress bar and ETA

The building itself is the library's (`ingest.starter.build_starter_index`,
`ingest.pipeline.run_ingest`); this module only draws its progress and keeps an uploaded file
on disk long enough for the ingest to read it. Listing the indexes on disk with their
manifests is `index.manifest.list_indexes`.

Building an index (from an upload, a server path or a download) is an admin action: both
calls refuse anyone else (`app.auth.require_admin`).

Deliberately not here: page layout (pages/first_run.py, pages/settings.py).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from app.auth import require_admin
from app.widgets import ProgressPanel
from core.settings import get_settings
from ingest.download import reachable
from ingest.options import IngestReport
from ingest.pipeline import run_ingest, work_dir_for
from ingest.starter import build_starter_index

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

UPLOAD_TYPES = ["csv", "tsv", "jsonl", "json", "txt", "parquet"]


@st.cache_data(ttl=120, show_spinner=False)
def diffusiondb_reachable(url: str) -> bool:
    """Whether `url`'s host answers (`ingest.download.reachable`); the page reruns on every
    click, so the answer is kept for two minutes rather than asked each time."""
    return reachable(url)


def interrupted_build(target: Path) -> bool:
    """A build into `target` was interrupted and left its checkpoint (the next run resumes)."""
    return work_dir_for(Path(target)).exists()


def save_upload(upload: UploadedFile, directory: Path | None = None) -> Path:
    """Write an st.file_uploader file to disk (keeping its suffix: the ingest reads by type); admins only."""
    require_admin("Uploading a prompt file")
    directory = Path(directory or get_settings().cache_dir / "uploads")
    directory.mkdir(parents=True, exist_ok=True)
    suffix = "".join(Path(upload.name).suffixes[-2:]) or ".txt"
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=suffix, dir=directory)
    with open(fd, "wb") as fh:
        fh.write(upload.getbuffer())
    return Path(name)


def build_index(kind: str, target: Path, *, source: str | None = None, sample: int | None = None,
                limit: int | None = None, fold_cosine: float | None = None) -> IngestReport:
    """Build the index at `target` drawing a progress bar; returns the IngestReport.

    kind: "starter" (the shipped set), "file" (`source` is a local path or a saved upload) or
    "diffusiondb" (download DiffusionDB's table and keep `sample` prompts). `fold_cosine` folds
    near-identical prompts into one row (IngestOptions.fold_cosine).
    """
    require_admin("Building an index")  # reads any file or URL the server can: admins only
    panel = ProgressPanel("Starting…")
    if kind == "starter":
        report = build_starter_index(target, on_progress=panel, limit=limit, fold_cosine=fold_cosine)
    else:
        report = run_ingest(on_progress=panel, index=Path(target), progress=False, fold_cosine=fold_cosine,
                            source=source if kind == "file" else None, sample=sample or None, limit=limit or None)
    folded = f" ({report.near_duplicates_folded:,} near-identical folded in)" if report.near_duplicates_folded else ""
    panel.done(f"Done: {report.final_rows:,} prompts{folded} in {report.seconds:.0f} s")
    return report
