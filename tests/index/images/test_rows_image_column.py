"""The `image` column of an index's rows: written, searched, and absent in indexes from before it."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import numpy as np

from index import IndexWriter, PromptIndex, PromptRecord, SearchHit
from index.manifest import MANIFEST_NAME, file_info

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RECORDS = [
    PromptRecord("a red fox in the snow, golden hour", image="diffusiondb:2m:12:aa.png"),
    PromptRecord("a lighthouse in a storm, oil painting", image="https://example.org/lighthouse.webp"),
    PromptRecord("a bowl of ramen, studio photo"),
]


def _build(path) -> None:
    vectors = np.random.default_rng(0).normal(size=(len(RECORDS), 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with IndexWriter(path, model_id=MODEL, dimension=384) as writer:
        writer.add(RECORDS, vectors)
        writer.publish()


def test_images_are_stored_and_come_back_on_every_hit(tmp_path):
    _build(tmp_path / "idx")
    with PromptIndex.load(tmp_path / "idx") as index:
        assert [hit.image for hit in index.get([0, 1, 2])] == [r.image for r in RECORDS]
        assert index.keyword_search("fox", k=1)[0].image == "diffusiondb:2m:12:aa.png"
        stored = [record for batch in index.iter_records() for _id, record in batch]
    assert stored == RECORDS
    hit = SearchHit.from_row((0, *RECORDS[1].as_row()))
    assert hit.to_dict()["image"] == "https://example.org/lighthouse.webp"


def test_an_index_from_before_images_opens_and_reads_none(tmp_path):
    path = tmp_path / "old"
    _build(path)
    # Make it an index of an older version: no `image` column (and checksums to match).
    with sqlite3.connect(path / "rows.sqlite") as conn:
        conn.execute("ALTER TABLE prompts DROP COLUMN image")
    conn.close()
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    manifest["files"]["rows.sqlite"] = dataclasses.asdict(file_info(path / "rows.sqlite"))
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))

    with PromptIndex.load(path) as index:
        hits = index.get([0, 1])
        assert [hit.prompt for hit in hits] == [RECORDS[0].prompt, RECORDS[1].prompt]
        assert [hit.image for hit in hits] == [None, None]
        assert index.keyword_search("lighthouse", k=1)[0].image is None
