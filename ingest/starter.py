"""The starter set: ~3,000 real DiffusionDB prompts (CC0) shipped inside the package.

A first run with no index, no network and no keys builds a small, useful index from it:
`build_starter_index()` is `run_ingest` on `STARTER_FILE` (embedded with the configured
embedding model, which the package ships too), into the default index unless told otherwise.
`index_exists()` is the cheap check the app's first-run screen makes.

Deliberately not here: how the file was made (scripts/build_starter_set.py, see
starter_data/SOURCES.md), and any download.
"""

from __future__ import annotations

from pathlib import Path

from core.errors import SourceError
from core.progress import CancelToken, ProgressCallback
from core.settings import get_settings
from ingest.options import IngestReport
from ingest.pipeline import MANIFEST, run_ingest

STARTER_FILE: Path = Path(__file__).resolve().parent / "starter_data" / "diffusiondb_starter.jsonl"
STARTER_SIZE: int = 3000  # prompts in STARTER_FILE (one JSON object per line); a test keeps this true


def _index_path(index_path: Path | None) -> Path:
    return Path(index_path) if index_path is not None else get_settings().default_index


def index_exists(index_path: Path | None = None) -> bool:
    """True if an index has been published at `index_path` (default: the home's default index).

    Only looks for its manifest; loading the index checks the rest.
    """
    return (_index_path(index_path) / MANIFEST).is_file()


def build_starter_index(index_path: Path | None = None, *, on_progress: ProgressCallback | None = None,
                        cancel: CancelToken | None = None, limit: int | None = None,
                        fold_cosine: float | None = None) -> IngestReport:
    """Build (or extend) the index at `index_path` from the starter set; `limit` reads only the first N,
    `fold_cosine` folds near-identical prompts (IngestOptions.fold_cosine).

    `on_progress` and `cancel` go to run_ingest: a cancelled build raises core.errors.Cancelled and
    keeps its work directory, so calling this again resumes it. No tqdm bars are drawn.
    """
    if not STARTER_FILE.is_file():
        raise SourceError(f"the starter set {STARTER_FILE} is missing from this installation; "
                          "reinstall promptrag (pip install --force-reinstall promptrag)")
    return run_ingest(source=str(STARTER_FILE), index=_index_path(index_path), limit=limit, progress=False,
                      fold_cosine=fold_cosine, on_progress=on_progress, cancel=cancel)
