"""Ingest: read a prompt source, clean / de-duplicate / filter it, embed it, publish an index.

Public API:
    run_ingest(options=None, *, on_progress=None, cancel=None, **values) -> IngestReport   ingest.pipeline
    IngestOptions, IngestReport                             ingest.options
Importing this package loads no model and reads no data.
"""

from typing import Any

from ingest.options import IngestOptions, IngestReport

__all__ = ["IngestOptions", "IngestReport", "run_ingest"]


def __getattr__(name: str) -> Any:
    # The pipeline (httpx, pyarrow, the writers) loads on first use: the CLI reads IngestOptions'
    # help texts at start-up, and `promptrag search` should not pay for ingest's imports.
    if name == "run_ingest":
        from ingest.pipeline import run_ingest  # lazy: httpx, pyarrow and the writers, off the CLI's start-up

        return run_ingest
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
