"""Writing a Milvus collection: create it (schema, indexes, properties), upsert rows, publish.

`MilvusWriter` upserts rows by id (idempotent, so a resumed ingest neither duplicates nor loses
rows) and publishes by writing the row count and a new generation id into the collection's
`promptrag.*` properties; until then `MilvusStore.open` refuses the collection (a first
ingest) or sees the previous row count (an extension).

Deliberately not here: URIs and connections (milvus_location.py), searching (milvus_store.py),
the resumable ingest recipe (ingest/targets.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from core.errors import InputError
from index.embedder import canonical_model_id
from index.manifest import FORMAT_VERSION, Manifest, promptrag_version
from index.milvus_location import (
    PROPERTY,
    collection_properties,
    connect,
    disconnect,
    manifest_from_properties,
    parse_uri,
    stored_columns,
)
from index.milvus_store import hit_from_entity
from index.records import RECORD_COLUMNS, PromptRecord

MAX_VARCHAR = 65_535  # Milvus' VARCHAR limit, in bytes
HNSW_PARAMS = {"M": 32, "efConstruction": 200}
_NULLABLE_INT = ("seed", "steps", "width", "height")
_NULLABLE_FLOAT = ("cfg", "prompt_nsfw", "image_nsfw")


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
            props = collection_properties(client, name)
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
                found[int(e["id"])] = (hit_from_entity(e).record, np.asarray(e["vector"], dtype=np.float32))
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
        return manifest_from_properties(collection_properties(self._client, name), self.location)

    def close(self) -> None:
        if self._client is not None:
            disconnect(self.location, self._client)
            self._client = None


__all__ = ["HNSW_PARAMS", "MAX_VARCHAR", "MilvusWriter", "milvus_index_type"]
