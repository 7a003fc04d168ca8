"""PromptIndex: a published index directory opened for search.

Loading verifies the manifest (format version, model, dimension, row count, file sizes and
checksums; see manifest.py) and opens the three data files: vectors.npy as a read-only memmap,
faiss.index, and rows.sqlite read-only. Searches:

- `search(text)` / `search_vector(v)`: dense cosine search. With filters it first asks SQLite
  how many rows pass; when few do (≤ PREFILTER_LIMIT) it scores exactly those rows from the
  memmap, otherwise it over-fetches from FAISS (k·10, growing ×4) and filters the candidates in
  SQLite. Candidates from approximate types (hnsw, ivf_sq8) are re-scored exactly from
  vectors.npy, so scores are true cosine similarities whatever the index type.
- `keyword_search(text)`: BM25 over the same rows, filters applied: ranked by the index's tantivy
  keyword index where the manifest records one (index/keyword_index.py), else by SQLite FTS5.

The embedder is loaded lazily on the first text query (the ONNX export the manifest records:
the machine's shared copy under $PROMPTRAG_HOME/onnx/, checked against the index's checksums, or
one bundled in the index; else sentence-transformers for the manifest's model id), so
`search_vector`, `keyword_search` and `get` work without loading a model.

Deliberately not here: fusing dense and keyword results, diversity (MMR), re-ranking (rag/).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IndexLoadError, InputError
from index import ann, keyword_index, onnx_cache, rows
from index.embedder import Embedder, canonical_model_id, load_embedder
from index.manifest import REBUILD_HINT, Manifest, read_manifest, verify_files
from index.prompt_store import QueryEmbedding, check_k, check_text
from index.records import PromptRecord, SearchFilters, SearchHit

PREFILTER_LIMIT = 20_000


class PromptIndex(QueryEmbedding):
    """A loaded prompt index (FAISS + SQLite + vectors.npy), safe to share between threads."""

    _rebuild_hint = REBUILD_HINT

    def __init__(
        self,
        path: Path,
        manifest: Manifest,
        faiss_index: Any,
        vectors: np.ndarray,
        conn: Any,
        embedder: Embedder | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self._faiss: Any = faiss_index  # None once closed
        self._vectors: Any = vectors  # np.ndarray (a memmap); None once closed
        self._conn = conn
        self._embedder = embedder
        self._lock = threading.Lock()  # one SQLite connection, serialised; FAISS search is thread-safe
        self._keyword: keyword_index.KeywordIndex | None = None  # None: FTS5 ranks keyword search

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path, embedder: Embedder | None = None, keyword_ranking: str = "auto") -> PromptIndex:
        """Open and verify the index at `path`; `embedder` must use the model the index was built with.
        `keyword_ranking` "fts5" ranks keyword search with SQLite even where a keyword index exists."""
        path = Path(path).expanduser()
        if not path.exists():
            backups = sorted(path.parent.glob(f".{path.name}.old-*")) if path.parent.is_dir() else []
            if backups:
                raise IndexLoadError(
                    f"no index at {path}, but an interrupted publish left the previous index at "
                    f"{backups[-1]}: rename it to {path}, or re-run `promptrag ingest`"
                )
        manifest = read_manifest(path)
        if embedder is not None:
            asked = canonical_model_id(embedder.model_id)
            if asked != manifest.embedding_model:
                raise IndexLoadError(
                    f"index {path} was built with embedding model {manifest.embedding_model!r}, but "
                    f"{asked!r} was asked for: use {manifest.embedding_model!r} "
                    f"(PROMPTRAG_EMBEDDING_MODEL) or rebuild the index with `promptrag ingest`"
                )
            if embedder.dimension != manifest.dimension:
                raise IndexLoadError(
                    f"index {path} holds {manifest.dimension}-d vectors but the embedder makes "
                    f"{embedder.dimension}-d ones; {REBUILD_HINT}"
                )
        verify_files(path, manifest)
        vectors = _load_vectors(path / "vectors.npy", manifest)
        faiss_index = _load_faiss(path / "faiss.index", manifest)
        keyword = keyword_index.open_recorded(path, manifest, keyword_ranking)
        conn = rows.open_readonly(path / "rows.sqlite")
        stored = rows.count(conn)
        if stored != manifest.row_count:
            conn.close()
            raise IndexLoadError(
                f"{path / 'rows.sqlite'} holds {stored} rows but the manifest says "
                f"{manifest.row_count}; {REBUILD_HINT}"
            )
        index = cls(path, manifest, faiss_index, vectors, conn, embedder)
        index._keyword = keyword
        return index

    def verify(self, full: bool = True) -> None:
        """Re-check every file against the manifest (full=True: sha256 of every byte)."""
        verify_files(self.path, self.manifest, full=full)

    def __repr__(self) -> str:
        m = self.manifest
        return (
            f"PromptIndex({str(self.path)!r}, rows={m.row_count}, type={m.index_type!r}, "
            f"model={m.embedding_model!r})"
        )

    # ---- dense search --------------------------------------------------------------------
    def _where(self) -> str:
        return f"index {self.path}"

    def _open_embedder(self) -> Embedder:
        # The ONNX export the manifest records (the machine's shared copy, or one bundled in the
        # index) embeds queries without importing torch; sentence-transformers when it records
        # none (see index/onnx_cache.py).

        return onnx_cache.load_for_index(self.path, self.manifest) or load_embedder(self.manifest.embedding_model)

    def search_vector(
        self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        check_k(k)
        query = self._check_vector(vector)
        filters = filters or SearchFilters()
        if filters.active:
            with self._lock:
                few = rows.matching_ids(self._conn, filters, PREFILTER_LIMIT)
            if few is not None:
                return self._exact_over(np.asarray(few, dtype=np.int64), query, k)
        n = len(self)
        approximate = self.manifest.index_type != "flat"
        fetch = min(n, k * 10 if filters.active else (k * ann.RERANK_FACTOR if approximate else k))
        while True:
            scores, ids = self._faiss.search(query[None, :], fetch)
            ids = ids[0][ids[0] >= 0]
            if approximate:
                candidates = self._rescore(ids, query)
            else:
                candidates = list(zip(ids.tolist(), scores[0][: len(ids)].tolist(), strict=True))
            if filters.active:
                with self._lock:
                    kept = rows.filter_ids(self._conn, [i for i, _ in candidates], filters)
                candidates = [(i, s) for i, s in candidates if i in kept]
            if len(candidates) >= k or fetch >= n:
                return self._hits(candidates[:k])
            fetch = min(n, fetch * 4)

    def _exact_over(self, ids: np.ndarray, query: np.ndarray, k: int) -> list[SearchHit]:
        if len(ids) == 0:
            return []
        ids = np.sort(ids)  # memmap reads in row order are fastest
        scores = np.asarray(self._vectors[ids], dtype=np.float32) @ query
        top = np.argsort(-scores, kind="stable")[:k]
        return self._hits(list(zip(ids[top].tolist(), scores[top].tolist(), strict=True)))

    def _rescore(self, ids: np.ndarray, query: np.ndarray) -> list[tuple[int, float]]:
        if len(ids) == 0:
            return []
        ordered = np.sort(ids)
        scores = np.asarray(self._vectors[ordered], dtype=np.float32) @ query
        order = np.argsort(-scores, kind="stable")
        return list(zip(ordered[order].tolist(), scores[order].tolist(), strict=True))

    # ---- keyword search and row access ----------------------------------------------------
    def keyword_search(self, text: str, k: int = 10, filters: SearchFilters | None = None) -> list[SearchHit]:
        """BM25 (tantivy, or SQLite FTS5) over the prompts; any word matching counts (OR). Score: higher is better."""
        check_k(k)
        text = check_text(text)
        if self._keyword is not None:
            return self._hits(self._keyword.search(text, k, filters or SearchFilters()))
        with self._lock:
            return rows.keyword_search(self._conn, text, k, filters or SearchFilters())

    @property
    def keyword_engine(self) -> str:
        """What ranks keyword search: "tantivy" (the index's keyword index) or "fts5" (SQLite)."""
        return keyword_index.ENGINE if self._keyword is not None else "fts5"

    def get(self, ids: Sequence[int]) -> list[SearchHit]:
        """The stored prompts with these ids, in the order given (score 0.0)."""
        ids = self._check_ids(ids)
        with self._lock:
            found = rows.fetch(self._conn, ids)
        return [SearchHit.from_row(found[i]) for i in ids]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored L2-normalised vectors of `ids` (a copy, (len(ids), d) float32)."""
        ids = self._check_ids(ids)
        return np.array(self._vectors[np.asarray(ids, dtype=np.int64)], dtype=np.float32).reshape(
            -1, self.manifest.dimension
        )

    def stored_vectors(self) -> np.ndarray:
        """All vectors as a read-only memmap (n, d) float32; row i is id i."""
        return self._vectors

    def iter_records(self, batch_size: int = 10_000) -> Iterator[list[tuple[int, PromptRecord]]]:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        # A separate read-only connection: the caller may search between batches.
        conn = rows.open_readonly(self.path / "rows.sqlite")
        try:
            for batch in rows.iter_rows(conn, batch_size):
                yield [(row[0], SearchHit.from_row(row).record) for row in batch]
        finally:
            conn.close()

    def term_document_counts(self) -> dict[str, int]:
        """Each keyword-index token → the exact number of stored prompts containing it (fts5vocab)."""
        # A separate read-only connection, like iter_records: no lock held during the scan.
        conn = rows.open_readonly(self.path / "rows.sqlite")
        try:
            return dict(rows.term_document_counts(conn))
        finally:
            conn.close()

    def _hits(self, scored: list[tuple[int, float]]) -> list[SearchHit]:
        with self._lock:
            found = rows.fetch(self._conn, [i for i, _ in scored])
        return [SearchHit.from_row(found[i], score=s) for i, s in scored if i in found]

    def close(self) -> None:
        with self._lock:
            self._conn.close()
        self._faiss = None
        self._vectors = None
        self._keyword = None

    def __enter__(self) -> PromptIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _load_vectors(path: Path, manifest: Manifest) -> np.ndarray:
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise IndexLoadError(f"{path} cannot be read ({exc}); {REBUILD_HINT}") from None
    if vectors.dtype != np.float32 or vectors.shape != (manifest.row_count, manifest.dimension):
        raise IndexLoadError(
            f"{path} holds {vectors.dtype} vectors of shape {vectors.shape} but the manifest says "
            f"float32 ({manifest.row_count}, {manifest.dimension}); {REBUILD_HINT}"
        )
    return vectors


def _load_faiss(path: Path, manifest: Manifest) -> Any:
    import faiss

    try:
        index = faiss.read_index(str(path))
    except RuntimeError as exc:
        raise IndexLoadError(
            f"{path} cannot be read by FAISS ({str(exc).splitlines()[0]}); {REBUILD_HINT}"
        ) from None
    if index.ntotal != manifest.row_count or index.d != manifest.dimension:
        raise IndexLoadError(
            f"{path} holds {index.ntotal} vectors of dimension {index.d} but the manifest says "
            f"{manifest.row_count} of dimension {manifest.dimension}; {REBUILD_HINT}"
        )
    if not ann.check_loaded(index, manifest.index_type):
        raise IndexLoadError(
            f"{path} is not a {manifest.index_type!r} index as the manifest says; {REBUILD_HINT}"
        )
    ann.apply_params(index, manifest.index_type, manifest.index_params)
    return index
