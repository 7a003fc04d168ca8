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

`QueryEmbedding` is the one piece both stores share: the embedder (loaded on first use and
checked against the stored dimension), `embed_query`, `search` (embed, then `search_vector`),
`len` and the checks on a query's text, k, vector and row ids.

Deliberately not here: searching (each store), fusion and diversity (rag/), ingest (ingest/).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol, Self, TypeGuard, runtime_checkable

import numpy as np

from core.errors import IndexLoadError, InputError
from core.settings import get_settings
from index.embedder import load_embedder
from index.manifest import Manifest
from index.records import PromptRecord, SearchFilters, SearchHit

MILVUS_SCHEMES = ("milvus://", "milvus-lite://")
MAX_K = 10_000
MAX_QUERY_CHARS = 20_000


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

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


def check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise InputError(f"k must be an integer between 1 and {MAX_K}, got {k!r}")


def check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"search text must be non-empty, got {text!r}")
    if len(text) > MAX_QUERY_CHARS:
        raise InputError(f"search text must be at most {MAX_QUERY_CHARS} characters, got {len(text)}")
    return text


class QueryEmbedding:
    """Text queries for a store: subclasses set `manifest` and `_embedder` (None until first
    use), and say where they are (`_where`) and what to do when the model does not fit
    (`_rebuild_hint`); `_open_embedder` may pick a faster embedder of the same model."""

    manifest: Manifest
    _embedder: Any
    _rebuild_hint = "rebuild it with `promptrag ingest`"

    def _where(self) -> str:
        raise NotImplementedError

    def _open_embedder(self) -> Any:
        return load_embedder(self.manifest.embedding_model)

    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            embedder = self._open_embedder()
            if embedder.dimension != self.manifest.dimension:
                raise IndexLoadError(
                    f"model {embedder.model_id!r} makes {embedder.dimension}-d vectors but {self._where()} "
                    f"holds {self.manifest.dimension}-d ones; {self._rebuild_hint}"
                )
            self._embedder = embedder
        return self._embedder

    def embed_query(self, text: str) -> np.ndarray:
        return self.embedder.embed([check_text(text)])[0]

    def search(self, text: str, k: int = 10, filters: SearchFilters | None = None) -> list[SearchHit]:
        """The k stored prompts closest in meaning to `text` (score = cosine similarity)."""
        check_k(k)
        return self.search_vector(self.embed_query(text), k, filters)

    def search_vector(
        self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.manifest.row_count

    def _check_ids(self, ids: Sequence[int]) -> list[int]:
        """`ids` as ints, or InputError naming the first that is not a stored row's id."""
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(self):
                raise InputError(f"no prompt with id {i!r} in {self._where()} (ids run from 0 to {len(self) - 1})")
            out.append(int(i))
        return out

    def _check_vector(self, vector: np.ndarray) -> np.ndarray:
        """`vector` as a contiguous unit float32 row of the stored dimension, or InputError."""
        v = np.asarray(vector, dtype=np.float32)
        if v.ndim == 2 and v.shape[0] == 1:
            v = v[0]
        if v.shape != (self.manifest.dimension,):
            raise InputError(
                f"query vector must have shape ({self.manifest.dimension},), got {np.shape(vector)}"
            )
        norm = float(np.linalg.norm(v))
        if not np.isfinite(norm) or norm == 0.0:
            raise InputError("query vector must be finite and non-zero")
        return np.ascontiguousarray(v / norm, dtype=np.float32)


def is_milvus_uri(location: str | Path | None) -> TypeGuard[str]:
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
        location = get_settings().default_index
    if is_milvus_uri(location):
        from index.milvus_store import MilvusStore  # lazy: import cycle (milvus_store imports this)

        return MilvusStore.open(str(location), embedder=embedder)
    from index.store import PromptIndex  # lazy: import cycle (store imports this)

    return PromptIndex.load(Path(location), embedder=embedder)


def open_store_sharing(location: str | Path | None, wrap: Any) -> PromptStore:
    """Open the store at `location` with `wrap(embedder)` as its embedder, where embedder is a
    sentence-transformers embedder of the store's model: a run that embeds from many threads
    (campaigns, evaluations) shares one wrapped model. Opening twice is cheap (a FAISS index
    loads in under a second at 1M rows) and says what is wrong with a bad store first."""
    with open_store(location) as probe:
        model = probe.manifest.embedding_model
    return open_store(location, embedder=wrap(load_embedder(model)))
