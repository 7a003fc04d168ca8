"""Milvus as a prompt store: a published collection opened for search (`MilvusStore`).

A collection holds one entity per prompt: `id` (INT64 primary key, the same dense 0..n-1 ids a
FAISS index uses), the record's columns as scalar fields (nullable where a record's are), the
L2-normalised embedding in `vector` (metric IP, so scores are cosine similarities) and a BM25
sparse field `sparse` that Milvus fills itself from `prompt` (a schema function), so keyword
search runs inside Milvus too and nothing lives beside the collection. A collection without a
published row count is one an interrupted ingest is still filling; opening it for search says so.

`MilvusStore` reads (the PromptStore protocol: dense and keyword search, rows, vectors);
text queries are embedded by `QueryEmbedding` (index/prompt_store.py).

Deliberately not here: URIs and connections (milvus_location.py), creating and writing a
collection (milvus_writer.py), the resumable ingest recipe (ingest/targets.py), fusion (rag/).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from core.errors import IndexLoadError, InputError
from index import onnx_export, rows
from index.embedder import Embedder, canonical_model_id
from index.manifest import FORMAT_VERSION, Manifest
from index.milvus_location import (
    MilvusLocation,
    collection_properties,
    connect,
    disconnect,
    manifest_from_properties,
    parse_uri,
    stored_columns,
)
from index.prompt_store import MAX_K, QueryEmbedding, check_k, check_text
from index.records import RECORD_COLUMNS, PromptRecord, SearchFilters, SearchHit


def filter_expression(filters: SearchFilters) -> str:
    """SearchFilters as a Milvus boolean expression (the same semantics as SearchFilters.to_sql)."""
    clauses = [f"count >= {int(filters.min_count)}"]
    for name in ("width", "height"):
        value = getattr(filters, name)
        if value is not None:
            clauses.append(f"{name} == {int(value)}")
    if filters.sampler is not None:
        clauses.append(f"sampler == {json.dumps(filters.sampler, ensure_ascii=False)}")
    # Rows without an NSFW score are kept, as in SQLite (see SearchFilters' field descriptions).
    for name, value in (("prompt_nsfw", filters.max_prompt_nsfw), ("image_nsfw", filters.max_image_nsfw)):
        if value is not None:
            clauses.append(f"({name} is null or {name} <= {float(value)!r})")
    return " and ".join(clauses)


def keyword_text(text: str) -> str | None:
    """The words the BM25 side searches for: the same tokens (stop words out) as the SQLite side."""
    words = list(dict.fromkeys(token.lower() for token in rows._WORD.findall(text)))
    tokens = [w for w in words if w not in rows.STOP_WORDS] or words
    return " ".join(tokens[: rows.MAX_QUERY_TOKENS]) or None


def hit_from_entity(entity: dict[str, Any], score: float = 0.0) -> SearchHit:
    # Entities hold a record's SQL row form (PromptRecord.as_row), so SearchHit.from_row reads them
    # exactly as it reads SQLite rows (e.g. variants stored as JSON text).
    return SearchHit.from_row((int(entity["id"]), *(entity.get(name) for name in RECORD_COLUMNS)), score)


class MilvusStore(QueryEmbedding):
    """A published Milvus collection opened for search (the PromptStore protocol)."""

    _rebuild_hint = "build another collection"

    def __init__(self, location: MilvusLocation, client: Any, manifest: Manifest,
                 embedder: Embedder | None = None) -> None:
        self.location = location
        self.manifest = manifest
        self._client: Any = client  # a pymilvus MilvusClient; None once closed
        self._embedder = embedder
        self._stored: list[str] | None = None

    @property
    def _columns(self) -> list[str]:
        if self._stored is None:
            self._stored = stored_columns(self._client, self.location.collection)
        return self._stored

    @classmethod
    def open(cls, uri: str, embedder: Embedder | None = None) -> MilvusStore:
        location = parse_uri(uri)
        client = connect(location)
        try:
            manifest = cls._check(client, location, embedder)
            client.load_collection(location.collection)
        except BaseException:
            disconnect(location, client)
            raise
        return cls(location, client, manifest, embedder)

    @staticmethod
    def _check(client: Any, location: MilvusLocation, embedder: Embedder | None) -> Manifest:
        """The collection's manifest, or IndexLoadError naming the fix."""
        name = location.collection
        if not client.has_collection(name):
            raise IndexLoadError(
                f"no collection {name!r} at {location.shown}: build it with "
                f"`promptrag ingest SOURCE --store {location.shown}`"
            )
        props = collection_properties(client, name)
        if "embedding_model" not in props:
            raise IndexLoadError(
                f"collection {name!r} at {location.shown} was not written by promptrag: "
                "choose another collection name in --store"
            )
        if int(props["format_version"]) > FORMAT_VERSION:
            raise IndexLoadError(
                f"collection {name!r} at {location.shown} has format version {props['format_version']}, "
                f"newer than this promptrag supports ({FORMAT_VERSION}): upgrade promptrag"
            )
        if "row_count" not in props:
            raise IndexLoadError(
                f"collection {name!r} at {location.shown} is still being filled by an interrupted ingest: "
                f"re-run the same `promptrag ingest ... --store {location.shown}` to finish it"
            )
        manifest = manifest_from_properties(props, location)
        if embedder is not None:
            asked = canonical_model_id(embedder.model_id)
            if asked != manifest.embedding_model:
                raise IndexLoadError(
                    f"collection {name!r} at {location.shown} was built with embedding model "
                    f"{manifest.embedding_model!r}, but {asked!r} was asked for: use "
                    f"{manifest.embedding_model!r} (PROMPTRAG_EMBEDDING_MODEL) or build another collection "
                    f"with `promptrag ingest --store`"
                )
        return manifest

    def __repr__(self) -> str:
        m = self.manifest
        return f"MilvusStore({self.location.shown!r}, rows={m.row_count}, model={m.embedding_model!r})"

    # ---- dense search (embedder, embed_query, search: QueryEmbedding) ---------------------
    def _where(self) -> str:
        return f"collection {self.location.shown}"

    def _open_embedder(self) -> Embedder:
        # This machine's ONNX export of the model (written by `promptrag ingest --store`) embeds
        # queries without importing torch; sentence-transformers when it has none.

        model = self.manifest.embedding_model
        return onnx_export.load_cached_export(model) or super()._open_embedder()

    def search_vector(
        self, vector: np.ndarray, k: int = 10, filters: SearchFilters | None = None
    ) -> list[SearchHit]:
        check_k(k)
        query = self._check_vector(vector)
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.manifest.index_type == "hnsw":
            params["params"] = {"ef": max(k, 128)}
        found = self._client.search(
            self.location.collection, data=[query.tolist()], anns_field="vector", limit=k,
            filter=self._filter(filters), output_fields=list(self._columns), search_params=params,
        )
        return [hit_from_entity({"id": h["id"], **h["entity"]}, h["distance"]) for h in found[0]]

    def _filter(self, filters: SearchFilters | None) -> str:
        # Only published rows: an ingest extending the collection writes ids past the row count
        # before it publishes the new count.
        return f"id < {len(self)} and {filter_expression(filters or SearchFilters())}"

    # ---- keyword search and row access ----------------------------------------------------
    def keyword_search(self, text: str, k: int = 10, filters: SearchFilters | None = None) -> list[SearchHit]:
        """BM25 (Milvus full-text search) over the prompts; any word matching counts. Higher is better."""
        check_k(k)
        words = keyword_text(check_text(text))
        if words is None:
            return []
        found = self._client.search(
            self.location.collection, data=[words], anns_field="sparse", limit=k,
            filter=self._filter(filters), output_fields=list(self._columns),
            search_params={"metric_type": "BM25"},
        )
        # Milvus Lite reports BM25 as a negated distance, a server as a positive score: BM25 is
        # never negative, so abs() gives the score either way.
        return [hit_from_entity({"id": h["id"], **h["entity"]}, abs(h["distance"])) for h in found[0]]

    def get(self, ids: Sequence[int]) -> list[SearchHit]:
        """The stored prompts with these ids, in the order given (score 0.0)."""
        found = self._fetch(ids, list(self._columns))
        return [hit_from_entity(found[i]) for i in self._check_ids(ids)]

    def vectors(self, ids: Sequence[int]) -> np.ndarray:
        """The stored L2-normalised vectors of `ids` ((len(ids), d) float32)."""
        found = self._fetch(ids, ["vector"])
        out = np.array([found[i]["vector"] for i in self._check_ids(ids)], dtype=np.float32)
        return out.reshape(-1, self.manifest.dimension)

    def iter_records(self, batch_size: int = 10_000) -> Iterator[list[tuple[int, PromptRecord]]]:
        """Every stored record as (id, record), in id order, `batch_size` at a time."""
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        for start in range(0, len(self), batch_size):
            batch = self._client.query(
                self.location.collection, filter=f"id >= {start} and id < {start + batch_size}",
                output_fields=list(self._columns), limit=batch_size,
            )
            yield sorted(((int(e["id"]), hit_from_entity(e).record) for e in batch), key=lambda pair: pair[0])

    def term_document_counts(self) -> dict[str, int]:
        """Each keyword token -> how many stored prompts contain it (as FTS5 tokenises: lower case,
        no diacritics). Milvus exposes no term dictionary, so this streams every prompt once."""
        import unicodedata
        from collections import Counter

        counts: Counter = Counter()
        for batch in self.iter_records():
            for _, record in batch:
                text = unicodedata.normalize("NFKD", record.prompt.lower())
                text = "".join(c for c in text if not unicodedata.combining(c))
                counts.update(set(rows._WORD.findall(text)))
        return dict(counts)

    def _fetch(self, ids: Sequence[int], fields: list[str]) -> dict[int, dict[str, Any]]:
        wanted = sorted(set(self._check_ids(ids)))
        found: dict[int, dict[str, Any]] = {}
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            found.update((int(e["id"]), e) for e in self._client.get(self.location.collection, ids=chunk,
                                                                         output_fields=fields))
        missing = [i for i in wanted if i not in found]
        if missing:
            raise InputError(
                f"no prompt with id {missing[0]} in collection {self.location.shown} "
                f"(ids run from 0 to {len(self) - 1})"
            )
        return found

    def close(self) -> None:
        if self._client is not None:
            disconnect(self.location, self._client)
            self._client = None

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["MAX_K", "MilvusStore", "filter_expression", "hit_from_entity", "keyword_text"]
