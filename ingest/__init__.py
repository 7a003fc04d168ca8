"""Ingest: read a prompt source, clean / de-duplicate / filter it, embed it, publish an index.

Public API:
    run_ingest(options=None, *, on_progress=None, cancel=None, **values) -> IngestReport   ingest.pipeline
    IngestOptions, IngestReport                             ingest.options
Importing this package loads no model and reads no data.
"""

from ingest.options import IngestOptions, IngestReport
from ingest.pipeline import run_ingest

__all__ = ["IngestOptions", "IngestReport", "run_ingest"]
