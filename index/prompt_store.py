"""`PromptStore`: what the retriever needs from a prompt store, and `open_store` to open one.

Two implementations satisfy the protocol structurally (no base class to inherit):

- `index.store.PromptIndex`: a published directory (FAISS vectors + SQLite rows + manifest);
- `index.milvus_store.MilvusStore`: a Milvus collection (dense vectors, scalar fields for the
  filters, BM25 full-text field), on a Milvus server or in a local Milvus Lite file.

A store location is either a directory path (FAISS) or a Milvus URI:

    milvus://HOST:PORT/COLLECTION                 a Milvus standalone / cluster (gRPC port)
    milvus://USER:PASSWORD@HOST:PORT/COLLECTION   ... with authentication
    milvus-lite://PATH/TO/FILE.db/COLLECTION      Milvus Lite in a local file (relative or
    milvus-lite:///ABS/PATH/FILE.db               absolute); COLLECTION defaults to "prompts"

Ids are the same in both: dense integers 0..n-1 in ingest order, so a hit's id means the same
row whichever store answered.

Deliberately not here: searching (each store), fusion and diversity (rag/), ingest (ingest/).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from index.manifest import Manifest
from index.records import PromptRecord, SearchFilters, SearchHit

MILVUS_SCHEMES = ("milvus://", "milvus-lite://")


@runtime_checkable
class PromptStore(Protocol):
    """A searchable set of stored prompts (read-only, safe to share between threads).

    Scores are higher-is-better: cosine similarity for dense search, BM25 for keyword search.
    `manifest` identifies what was stored: embedding model, dimension, row count, index type and
    (`manifest.extra["store"]`) where it lives.
    """

    manifest: Manifest

    def __len__(self) -> int: ...

    @property
    def embedder(self) -> Any:
        """The `index.embedder.Embedder` of the store's embedding model (loaded on first use)."""
        ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def search(self, text: str, k: int = 10, filters: SearchFilters | None = None) -> list[SearchHit]: ...

    def search_vector(
        self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]: ...

    def keyword_search(
        self, text: str, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]: ...

    def get(self, ids: Sequence[int]) -> list[SearchHit]: ...

    def vectors(self, ids: Sequence[int]) -> np.ndarray: ...

    def iter_records(self, batch_size: int = 10_000) -> Iterator[list[tuple[int, PromptRecord]]]: ...

    def term_document_counts(self) -> dict[str, int]:
        """Keyword token -> number of stored prompts containing it (the typo vocabulary's source)."""
        ...

    def close(self) -> None: ...


def is_milvus_uri(location: str | Path | None) -> bool:
    """Whether `location` names a Milvus collection rather than an index directory."""
    return isinstance(location, str) and location.strip().lower().startswith(MILVUS_SCHEMES)


def store_name(location: str | Path) -> str:
    """How a location is shown to the user (a URI as given, a path expanded)."""
    return location.strip() if is_milvus_uri(location) else str(Path(location).expanduser())


def open_store(location: str | Path | None = None, embedder: Any = None) -> PromptStore:
    """Open the store at `location` (a directory or a Milvus URI; default: the home's index).

    `embedder`, when given, must use the model the store was built with (IndexLoadError if not).
    """
    if location is None:
        from core.settings import get_settings

        location = get_settings().default_index
    if is_milvus_uri(location):
        from index.milvus_store import MilvusStore

        return MilvusStore.open(str(location), embedder=embedder)
    from index.store import PromptIndex

    return PromptIndex.load(Path(location), embedder=embedder)
