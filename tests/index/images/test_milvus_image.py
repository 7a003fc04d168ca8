"""A Milvus collection keeps each prompt's image locator; one made before images reads None."""

from __future__ import annotations

import numpy as np
import pytest

from index import PromptRecord
from index.prompt_store import open_store

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RECORDS = [PromptRecord("a red fox in the snow", image="diffusiondb:2m:3:a.png"),
           PromptRecord("a lighthouse in a storm")]


def _vectors() -> np.ndarray:
    vectors = np.random.default_rng(2).normal(size=(len(RECORDS), 384)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _create_older_collection(writer) -> None:
    """What an older promptrag created: the same collection, but no `image` field in its schema."""
    from index.manifest import FORMAT_VERSION
    from index.milvus_location import PROPERTY
    from index.milvus_writer import _schema

    client = writer._client
    schema = _schema(client, 384)
    schema.fields[:] = [field for field in schema.fields if field.name != "image"]
    index_params = client.prepare_index_params()
    index_params.add_index("vector", index_type="FLAT", metric_type="IP")
    index_params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    props = {"format_version": str(FORMAT_VERSION), "embedding_model": MODEL, "dimension": "384",
             "index_type": "flat", "index_params": "{}"}
    client.create_collection(writer.location.collection, schema=schema, index_params=index_params,
                             properties={PROPERTY + k: v for k, v in props.items()})


def _write(uri: str, *, older: bool = False) -> None:
    from index.milvus_writer import MilvusWriter

    writer = MilvusWriter(uri, model_id=MODEL, dimension=384)
    try:
        if older:
            _create_older_collection(writer)
        writer.ensure_collection(fresh=False)
        writer.upsert(0, RECORDS, _vectors())
        writer.publish(len(RECORDS))
    finally:
        writer.close()


def test_images_round_trip_through_milvus(tmp_path):
    uri = f"milvus-lite://{tmp_path}/g.db/prompts"
    _write(uri)
    with open_store(uri) as store:
        assert [hit.image for hit in store.get([0, 1])] == ["diffusiondb:2m:3:a.png", None]
        assert store.keyword_search("fox", k=1)[0].image == "diffusiondb:2m:3:a.png"


def test_a_collection_from_before_images_opens_and_reads_none(tmp_path):
    uri = f"milvus-lite://{tmp_path}/old.db/prompts"
    _write(uri, older=True)  # the writer leaves the missing field out, too
    with open_store(uri) as store:
        hits = store.get([0, 1])
        assert [hit.prompt for hit in hits] == [r.prompt for r in RECORDS]
        assert [hit.image for hit in hits] == [None, None]
        assert [r.image for batch in store.iter_records() for _i, r in batch] == [None, None]
