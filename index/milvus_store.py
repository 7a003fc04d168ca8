"""Milvus as a prompt store: one collection per gallery, on a Milvus server or in Milvus Lite.

A collection holds one entity per prompt: `id` (INT64 primary key, the same dense 0..n-1 ids a
FAISS index uses), the record's columns as scalar fields (nullable where a record's are), the
L2-normalised embedding in `vector` (metric IP, so scores are cosine similarities) and a BM25
sparse field `sparse` that Milvus fills itself from `prompt` (a schema function), so keyword
search runs inside Milvus too and nothing lives beside the collection.

What a FAISS index keeps in manifest.json lives in collection properties (`promptrag.*`):
format version, embedding model, dimension, index type and parameters, and, written only when
an ingest completes, the row count and a generation id. A collection without a row count is
one an interrupted ingest is still filling; opening it for search says so.

Locations (see index/prompt_store.py): `milvus://[USER:PASSWORD@]HOST:PORT/COLLECTION` for a
server, `milvus-lite://PATH/FILE.db[/COLLECTION]` for a local Milvus Lite file (a directory
that one process at a time may open).

`MilvusStore` reads (the PromptStore protocol); `MilvusWriter` creates a collection, upserts
rows by id (idempotent, so a resumed ingest neither duplicates nor loses rows) and publishes.

Deliberately not here: the resumable ingest recipe (ingest/milvus_ingest.py), fusion (rag/).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import BackendError, IndexLoadError, InputError
from index import rows
from index.embedder import Embedder, canonical_model_id
from index.manifest import FORMAT_VERSION, Manifest, promptrag_version
from index.prompt_store import MAX_K, QueryEmbedding, check_k, check_text
from index.records import RECORD_COLUMNS, PromptRecord, SearchFilters, SearchHit

DEFAULT_COLLECTION = "prompts"
PROPERTY = "promptrag."
MAX_VARCHAR = 65_535  # Milvus' VARCHAR limit, in bytes
CONNECT_TIMEOUT_S = 10.0
HNSW_PARAMS = {"M": 32, "efConstruction": 200}
_NULLABLE_INT = ("seed", "steps", "width", "height")
_NULLABLE_FLOAT = ("cfg", "prompt_nsfw", "image_nsfw")
SERVER_HINT = (
    "start it (docker compose up -d, see docs/milvus.md) "
    "or fix HOST:PORT in --store"
)


@dataclass(frozen=True)
class MilvusLocation:
    """A parsed Milvus store URI."""

    uri: str  # as the user wrote it (shown in messages; the password is masked)
    client_uri: str  # what MilvusClient gets: a .db path (Lite) or http://HOST:PORT
    collection: str
    lite: bool
    token: str = ""  # USER:PASSWORD for a server with authentication

    @property
    def shown(self) -> str:
        return self.uri if not self.token else self.uri.replace(self.token.split(":", 1)[-1] + "@", "***@")

    def work_dir(self) -> Path:
        """Where a local ingest keeps its work directory (staging, vector chunks, checkpoint)."""
        if self.lite:
            return Path(f"{self.client_uri}.{self.collection}.ingest-work")
        from core.settings import get_settings

        host = self.client_uri.split("://", 1)[1].replace(":", "-").replace("/", "-")
        return get_settings().indexes_dir / f".milvus-{host}-{self.collection}.ingest-work"


def parse_uri(text: str) -> MilvusLocation:
    """`milvus://HOST:PORT/COLLECTION` or `milvus-lite://PATH/FILE.db[/COLLECTION]` -> a location."""
    raw = text.strip()
    scheme, _, rest = raw.partition("://")
    scheme = scheme.lower()
    if scheme == "milvus-lite":
        if not rest:
            raise InputError(f"--store {raw!r} names no file: use milvus-lite://PATH/FILE.db/COLLECTION")
        path, collection = rest, DEFAULT_COLLECTION
        if not rest.endswith(".db"):
            path, _, collection = rest.rpartition("/")
        if not path.endswith(".db"):
            raise InputError(
                f"--store {raw!r}: a Milvus Lite file name must end in .db, "
                "e.g. milvus-lite://gallery.db/prompts or milvus-lite:///abs/path/gallery.db"
            )
        file = Path(path).expanduser().resolve()
        return MilvusLocation(raw, str(file), _check_collection(collection, raw), lite=True)
    if scheme == "milvus":
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(f"http://{rest}")
        try:
            port = parts.port
        except ValueError:
            port = None
        collection = parts.path.strip("/")
        if not parts.hostname or port is None or not collection:
            raise InputError(
                f"--store {raw!r} must look like milvus://HOST:PORT/COLLECTION, e.g. "
                "milvus://127.0.0.1:19530/prompts"
            )
        token = ""
        if parts.username:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return MilvusLocation(
            raw, f"http://{parts.hostname}:{port}", _check_collection(collection, raw), lite=False,
            token=token,
        )
    raise InputError(
        f"--store {raw!r} is not a Milvus URI (milvus://HOST:PORT/COLLECTION or milvus-lite://FILE.db)"
    )


def _check_collection(name: str, raw: str) -> str:
    ok = name and len(name) <= 255 and (name[0].isalpha() or name[0] == "_")
    if not ok or not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        raise InputError(
            f"--store {raw!r}: collection name {name!r} must start with a letter or _ and hold only "
            "letters, digits and _"
        )
    return name


# Milvus Lite runs in this process, one server per file, and holds the file's lock until that
# server stops; pymilvus' client.close() leaves it running. Count our clients per file and stop
# the server when the last one closes, so another process (an ingest, the app) can open it.
_lite_clients: dict[str, int] = {}
_lite_lock = threading.Lock()


def disconnect(location: MilvusLocation, client: Any) -> None:
    """Close a client from `connect`; the last client of a Milvus Lite file releases the file."""
    client.close()
    if not location.lite:
        return
    with _lite_lock:
        left = _lite_clients.get(location.client_uri, 1) - 1
        if left > 0:
            _lite_clients[location.client_uri] = left
            return
        _lite_clients.pop(location.client_uri, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(location.client_uri)


class _Guarded:
    """A MilvusClient whose failures (server gone, timeout, rejected request) surface as one
    BackendError line naming the store, instead of a pymilvus traceback."""

    def __init__(self, client: Any, location: MilvusLocation) -> None:
        self._client, self._location = client, location

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            from pymilvus.exceptions import MilvusException

            try:
                return method(*args, **kwargs)
            except MilvusException as exc:
                where = self._location.shown
                hint = "check the collection" if self._location.lite else SERVER_HINT
                message = exc.message or exc
                raise BackendError(f"Milvus at {where} failed in {name}: {message}; {hint}") from None

        return call


def connect(location: MilvusLocation) -> Any:
    """A `pymilvus.MilvusClient` for `location`; IndexLoadError naming the fix when it cannot be had."""
    if location.lite and "grpc" not in sys.modules:
        # pymilvus talks gRPC to the in-process Lite server; gRPC's C core would print its
        # keepalive chatter ("GOAWAY too_many_pings") on stderr during long ingests. Read at import.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise IndexLoadError(
            "Milvus stores need pymilvus and milvus-lite: pip install 'promptrag[milvus]'"
        ) from None
    # pymilvus logs every failed RPC at ERROR level; we raise one clear error instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        if location.lite:
            # Milvus Lite serves pymilvus in-process; it lacks AllocTimestamp, which pymilvus calls
            # (and falls back from) after creating an index, and grpc logs that as an ERROR.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
            logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)  # a locked file: we say it once
            Path(location.client_uri).parent.mkdir(parents=True, exist_ok=True)
            with _lite_lock:
                client = MilvusClient(location.client_uri)
                _lite_clients[location.client_uri] = _lite_clients.get(location.client_uri, 0) + 1
            return _Guarded(client, location)
        client = MilvusClient(uri=location.client_uri, token=location.token, timeout=CONNECT_TIMEOUT_S)
        return _Guarded(client, location)
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, or RuntimeError for Lite
        text = str(getattr(exc, "message", "") or exc).strip()
        reason = (text.splitlines() or [""])[0] or type(exc).__name__
        if location.lite:
            raise IndexLoadError(
                f"cannot open Milvus Lite file {location.client_uri} ({reason}); another process may have "
                "it open (one at a time): stop it, or serve the file with `milvus-lite server --data-dir "
                f"{location.client_uri}` and use --store milvus://127.0.0.1:19530/{location.collection}"
            ) from None
        raise IndexLoadError(
            f"cannot reach the Milvus server at {location.client_uri} ({reason}): {SERVER_HINT}"
        ) from None


def _properties(client: Any, collection: str) -> dict[str, str]:
    info = client.describe_collection(collection)
    props = info.get("properties") or {}
    return {k[len(PROPERTY):]: str(v) for k, v in props.items() if k.startswith(PROPERTY)}


def stored_columns(client: Any, collection: str) -> list[str]:
    """The record columns the collection has: one created before a column existed (e.g. `image`)
    lacks it; reads then see None there and writes leave it out."""
    fields = {field.get("name") for field in client.describe_collection(collection).get("fields") or []}
    return [name for name in RECORD_COLUMNS if name in fields]


def manifest_from_properties(props: dict[str, str], location: MilvusLocation) -> Manifest:
    return Manifest(
        format_version=int(props["format_version"]),
        embedding_model=props["embedding_model"],
        dimension=int(props["dimension"]),
        row_count=int(props.get("row_count", 0)),
        index_type=props.get("index_type", "flat"),
        index_params=json.loads(props.get("index_params", "{}")),
        files={},
        created_at=props.get("published_at", ""),
        promptrag_version=props.get("promptrag_version", ""),
        extra={"store": "milvus", "uri": location.shown, "generation": props.get("generation", "")},
    )


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


ROW_FIELDS = ["id", *RECORD_COLUMNS]


def _hit(entity: dict[str, Any], score: float = 0.0) -> SearchHit:
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
        props = _properties(client, name)
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

    def __len__(self) -> int:
        return self.manifest.row_count

    def __repr__(self) -> str:
        m = self.manifest
        return f"MilvusStore({self.location.shown!r}, rows={m.row_count}, model={m.embedding_model!r})"

    # ---- dense search (embedder, embed_query, search: QueryEmbedding) ---------------------
    def _where(self) -> str:
        return f"collection {self.location.shown}"

    def _open_embedder(self) -> Embedder:
        # This machine's ONNX export of the model (written by `promptrag ingest --store`) embeds
        # queries without importing torch; sentence-transformers when it has none.
        from index import onnx_export

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
        return [_hit({"id": h["id"], **h["entity"]}, h["distance"]) for h in found[0]]

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
        return [_hit({"id": h["id"], **h["entity"]}, abs(h["distance"])) for h in found[0]]

    def get(self, ids: Sequence[int]) -> list[SearchHit]:
        """The stored prompts with these ids, in the order given (score 0.0)."""
        found = self._fetch(ids, list(self._columns))
        return [_hit(found[i]) for i in self._check_ids(ids)]

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
            yield sorted(((int(e["id"]), _hit(e).record) for e in batch), key=lambda pair: pair[0])

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

    def _check_ids(self, ids: Sequence[int]) -> list[int]:
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < len(self):
                raise InputError(
                    f"no prompt with id {i!r} in collection {self.location.shown} "
                    f"(ids run from 0 to {len(self) - 1})"
                )
            out.append(int(i))
        return out

    def close(self) -> None:
        if self._client is not None:
            disconnect(self.location, self._client)
            self._client = None

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---- writing ---------------------------------------------------------------------------------
def _schema(client: Any, dimension: int) -> Any:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("prompt", DataType.VARCHAR, max_length=MAX_VARCHAR, enable_analyzer=True)
    schema.add_field("count", DataType.INT64)
    for name in _NULLABLE_INT:
        schema.add_field(name, DataType.INT64, nullable=True)
    for name in _NULLABLE_FLOAT:
        schema.add_field(name, DataType.DOUBLE, nullable=True)
    schema.add_field("sampler", DataType.VARCHAR, max_length=1024, nullable=True)
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR)
    # Any other record column (e.g. `variants`, JSON text) is stored as nullable text.
    typed = {"prompt", "count", "sampler", "source", *_NULLABLE_INT, *_NULLABLE_FLOAT}
    for name in RECORD_COLUMNS:
        if name not in typed:
            schema.add_field(name, DataType.VARCHAR, max_length=MAX_VARCHAR, nullable=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dimension)
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(Function(name="prompt_bm25", function_type=FunctionType.BM25,
                                 input_field_names=["prompt"], output_field_names=["sparse"]))
    return schema


def milvus_index_type(index_type: str, lite: bool) -> str:
    """promptrag's --index-type for a Milvus collection: auto = exact in Lite, HNSW on a server."""
    if index_type == "auto":
        return "flat" if lite else "hnsw"
    if index_type not in ("flat", "hnsw"):
        raise InputError(f"--index-type for a Milvus store must be auto, flat or hnsw, got {index_type!r}")
    return index_type


class MilvusWriter:
    """Creates (or reopens) a collection, upserts rows by id and publishes the row count."""

    def __init__(self, uri: str, *, model_id: str, dimension: int, index_type: str = "auto") -> None:
        self.location = parse_uri(uri)
        self.model_id = canonical_model_id(model_id)
        self.dimension = dimension
        self.index_type = milvus_index_type(index_type, self.location.lite)
        self._client: Any = connect(self.location)  # a pymilvus MilvusClient; None once closed
        self._stored: list[str] | None = None

    @property
    def _columns(self) -> list[str]:
        if self._stored is None:  # read once the collection exists (after ensure_collection)
            self._stored = stored_columns(self._client, self.location.collection)
        return self._stored

    def ensure_collection(self, *, fresh: bool) -> None:
        """Create the collection if missing. `fresh`: an unpublished leftover of a killed first ingest
        is dropped (nothing published can be lost: it has no row count yet)."""
        self._stored = None
        client, name = self._client, self.location.collection
        if client.has_collection(name):
            props = _properties(client, name)
            if "embedding_model" not in props:
                raise InputError(
                    f"collection {name!r} at {self.location.shown} exists and was not written by promptrag; "
                    "refusing to write into it: choose another collection name in --store"
                )
            if props["embedding_model"] != self.model_id:
                raise InputError(
                    f"collection {name!r} at {self.location.shown} holds {props['embedding_model']!r} "
                    "vectors; "
                    f"one collection cannot mix models: build another collection for {self.model_id!r}"
                )
            if not (fresh and "row_count" not in props):
                client.load_collection(name)
                return
            client.drop_collection(name)
        index_params = client.prepare_index_params()
        if self.index_type == "hnsw":
            index_params.add_index("vector", index_type="HNSW", metric_type="IP", params=dict(HNSW_PARAMS))
        else:
            index_params.add_index("vector", index_type="FLAT", metric_type="IP")
        # k1 and b as SQLite FTS5's bm25(), so both stores rank words alike.
        index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                               params={"bm25_k1": 1.2, "bm25_b": 0.75})
        props = {
            "format_version": str(FORMAT_VERSION), "embedding_model": self.model_id,
            "dimension": str(self.dimension), "index_type": self.index_type,
            "index_params": json.dumps(HNSW_PARAMS if self.index_type == "hnsw" else {}),
        }
        client.create_collection(name, schema=_schema(client, self.dimension), index_params=index_params,
                                 properties={PROPERTY + k: v for k, v in props.items()})
        client.load_collection(name)

    def upsert(self, first_id: int, records: Sequence[PromptRecord], vectors: np.ndarray) -> None:
        """Write rows first_id, first_id+1, ...: a row already there is replaced, never duplicated."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape != (len(records), self.dimension):
            raise InputError(
                f"vectors must have shape ({len(records)}, {self.dimension}), got {vectors.shape}"
            )
        if not np.isfinite(vectors).all():
            raise InputError("vectors contain NaN or infinity; check the embedder output")
        entities = []
        for offset, (record, vector) in enumerate(zip(records, vectors, strict=True)):
            record.check()
            if len(record.prompt.encode("utf-8")) > MAX_VARCHAR:
                raise InputError(
                    f"a prompt of {len(record.prompt)} characters is longer than a Milvus VARCHAR holds "
                    f"({MAX_VARCHAR} bytes): lower --max-prompt-chars"
                )
            row = dict(zip(RECORD_COLUMNS, record.as_row(), strict=True))
            entity = {name: row[name] for name in self._columns}
            for name in _NULLABLE_FLOAT:
                if entity[name] is not None:
                    entity[name] = float(entity[name])
            entity["id"] = first_id + offset
            entity["vector"] = vector.tolist()
            entities.append(entity)
        if entities:
            self._client.upsert(self.location.collection, entities)

    def rows(self, ids: Sequence[int]) -> dict[int, tuple[PromptRecord, np.ndarray]]:
        """The stored (record, vector) of `ids` that exist."""
        found: dict[int, tuple[PromptRecord, np.ndarray]] = {}
        ids = [int(i) for i in ids]
        for start in range(0, len(ids), 1000):
            for e in self._client.get(self.location.collection, ids=ids[start : start + 1000],
                                      output_fields=[*self._columns, "vector"]):
                found[int(e["id"])] = (_hit(e).record, np.asarray(e["vector"], dtype=np.float32))
        return found

    def delete_from(self, first_id: int) -> None:
        """Delete rows with id >= first_id (leftovers of an ingest killed before it published)."""
        self._client.delete(self.location.collection, filter=f"id >= {int(first_id)}")

    def publish(self, row_count: int) -> Manifest:
        """Make the rows count: record the row count and a new generation in the properties."""
        name = self.location.collection
        if hasattr(self._client, "flush"):
            self._client.flush(name)
        props = {
            "row_count": str(row_count), "generation": uuid.uuid4().hex,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "promptrag_version": promptrag_version(),
        }
        self._client.alter_collection_properties(name, properties={PROPERTY + k: v for k, v in props.items()})
        return manifest_from_properties(_properties(self._client, name), self.location)

    def close(self) -> None:
        if self._client is not None:
            disconnect(self.location, self._client)
            self._client = None


def collection_state(uri: str) -> tuple[Manifest | None, str | None]:
    """(manifest, digest) of a published collection at `uri`, or (None, None) when there is none.

    The digest changes whenever an ingest publishes (row count + generation id), as the sha256
    of manifest.json does for a FAISS index.
    """
    location = parse_uri(uri)
    client = connect(location)
    try:
        if not client.has_collection(location.collection):
            return None, None
        props = _properties(client, location.collection)
        if "embedding_model" not in props:
            raise InputError(
                f"collection {location.collection!r} at {location.shown} exists and was not written by "
                "promptrag; choose another collection name in --store"
            )
        if "row_count" not in props:
            return None, None
        digest = f"{props['row_count']}:{props.get('generation', '')}"
        return manifest_from_properties(props, location), digest
    finally:
        disconnect(location, client)


__all__ = [
    "MAX_K", "MilvusLocation", "MilvusStore", "MilvusWriter", "collection_state", "connect",
    "filter_expression", "keyword_text", "milvus_index_type", "parse_uri",
]
