"""Ingest into a Milvus collection: `MilvusTarget`, the pipeline's target for `--store`.

The recipe's shared steps (check inputs, work directory, stage, plan, embed, fold) are
`ingest.pipeline.IngestPipeline`'s; the work directory (`MilvusLocation.work_dir()`: beside a
Milvus Lite file, or under the home's indexes folder for a server) holds the staging table, the
embedded chunks and the checkpoint. What this target does differently from an index directory
(ingest/targets.py):

- the base "manifest" is the collection's `promptrag.*` properties, and its digest is the
  published row count plus generation id (it changes whenever an ingest publishes);
- `--fold-cosine` folds this run's new prompts into each other, not into rows already in the
  collection (their vectors live on the server);
- the write is incremental: only the prompts seen again and the new ones are written, never the
  whole collection. Every write is an upsert by a stable id (existing rows keep theirs; new
  prompt number i of those kept gets `base rows + i`), so a run killed at any point and run again
  rewrites the same rows with the same values: nothing is duplicated or lost.
  Counts of prompts seen again are planned once as absolute values (stored count + added) in the
  work directory before any is written, so re-applying them after a crash cannot add twice.
- "publish" is writing the row count and a new generation into the collection properties;
  until then `MilvusStore.open` refuses the collection (a first ingest) or sees the previous
  row count (an extension: new ids are past it, so searches never see half-written rows... they
  may see a grown count early, which is only a count).

Deliberately not here: the recipe's shared steps (pipeline.py), Milvus calls (index/milvus_*.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from core.errors import InputError
from core.progress import Stopwatch
from core.settings import Settings
from index import onnx_export
from index.manifest import Manifest
from index.milvus_location import collection_state, parse_uri
from index.milvus_store import MilvusStore
from index.milvus_writer import MilvusWriter
from index.records import RECORD_COLUMNS, PromptRecord, SearchHit
from ingest.options import IngestOptions
from ingest.staged_rows import existing_updates, merge_variants, new_rows
from ingest.staging import WorkDir, nsfw_max
from ingest.targets import WriteJob

if TYPE_CHECKING:
    import numpy as np

_UPDATES = """CREATE TABLE IF NOT EXISTS milvus_updates (id INTEGER PRIMARY KEY, row TEXT NOT NULL)"""


def _record_from_plan(row: tuple, source_name: str) -> PromptRecord:
    """A new prompt's PromptRecord from a staged plan row (the record's columns except `source`)."""
    names = [name for name in RECORD_COLUMNS if name != "source"]
    return PromptRecord(**dict(zip(names, row, strict=False)), source=source_name)


def _grown(record: PromptRecord, update: tuple) -> PromptRecord:
    """`record` (stored) after this ingest saw its prompt again: `update` as staged_rows.existing_updates."""
    changes = {
        "count": record.count + update[1],
        "prompt_nsfw": nsfw_max(record.prompt_nsfw, update[2]),
        "image_nsfw": nsfw_max(record.image_nsfw, update[3]),
    }
    if len(update) > 4:  # wordings folded into it (ingest/staged_rows.py)
        changes["variants"] = merge_variants(record.prompt, record.variants, update[4])
    if len(update) > 5 and record.image is None:  # an image for a row stored without one
        changes["image"] = update[5]
    return replace(record, **changes)


class MilvusTarget:
    """The Milvus collection named by `options.store` (the IngestTarget protocol, ingest/targets.py)."""

    noun = "collection"
    other_hint = "name another collection in --store"

    def __init__(self, options: IngestOptions, settings: Settings) -> None:
        assert options.store is not None
        self.options, self.settings = options, settings
        self.uri = options.store
        self.milvus = parse_uri(options.store)
        self.location = self.milvus.shown
        self.work_path = self.milvus.work_dir()
        self._state: tuple[Manifest | None, str | None] | None = None

    # -- the collection's identity instead of manifest.json --------------------------------------
    def _collection_state(self) -> tuple[Manifest | None, str | None]:
        if self._state is None:
            self._state = collection_state(self.uri)
        return self._state

    def base_manifest(self) -> Manifest | None:
        return self._collection_state()[0]

    def base_digest(self) -> str | None:
        return self._collection_state()[1]

    def published_manifest(self) -> Manifest | None:
        self._state = None  # read again: an ingest may have published since
        return self.base_manifest()

    def report_type(self, manifest: Manifest | None) -> str:
        return f"milvus {manifest.index_type}" if manifest is not None else "milvus"

    def existing_prompts(self, base_manifest: Manifest | None) -> Iterator[list[tuple[int, str]]]:
        if base_manifest is None:
            return
        with MilvusStore.open(self.uri) as store:
            for batch in store.iter_records(batch_size=10_000):
                yield [(id_, record.prompt) for id_, record in batch]

    @contextmanager
    def stored_vectors(self, base_manifest: Manifest | None) -> Iterator[np.ndarray | None]:
        """None: a collection's vectors live on the server (possibly tens of millions of them), so
        `--fold-cosine` folds new prompts into each other, not into rows already stored."""
        yield None

    def quantization(self, asked: str | None, base_manifest: Manifest | None, onnx: bool) -> str:
        """Always "none": a collection's queries embed with the machine's float32 export."""
        if asked not in (None, "none"):
            raise InputError(f"--quantize {asked} is for index directories (a Milvus collection's queries "
                             "embed with the machine's float32 export): use --quantize none")
        return "none"

    # -- write + publish ---------------------------------------------------------------------------
    def write(self, job: WriteJob) -> None:
        """Upsert the prompts seen again, then the new ones, chunk by chunk (resumable); publish."""
        base_manifest, work = job.base_manifest, job.work
        base = base_manifest.row_count if base_manifest is not None else 0
        counters = work.get("counters", {})
        total = job.total_rows()
        watch = Stopwatch("write", job.on_progress)
        writer = MilvusWriter(self.uri, model_id=job.model_id, dimension=job.dimension,
                              index_type=self.options.index_type)
        try:
            work.db.execute(_UPDATES)
            written = work.get("milvus_chunks_written")
            if written is None:  # this run writes nothing before this point
                writer.ensure_collection(fresh=base_manifest is None)
                writer.delete_from(base)  # rows of an earlier killed run whose work directory was lost
                self._plan_updates(work, writer)
                written = 0
                work.set(milvus_chunks_written=0)
            else:
                writer.ensure_collection(fresh=False)
            # a. prompts seen again: absolute values planned above, so re-applying is harmless.
            watch.report(0, counters["seen_again_prompts"] + counters["to_embed"])
            done = self._apply_updates(work, writer, job)
            # b. new prompts, chunk by chunk, ids base + rank among the rows kept (the fold map is
            #    fixed before any write); resumed after the last chunk written.
            size = work.get("embed_batch")
            chunks = work.plan_vectors(counters["to_embed"], job.dimension)
            first_id = base
            for number, (offsets, rows) in enumerate(new_rows(work, size)):
                if number >= written and rows:
                    records = [_record_from_plan(row, job.source_name) for row in rows]
                    writer.upsert(first_id, records, chunks[number][offsets])
                first_id += len(rows)
                if number >= written:
                    work.set(milvus_chunks_written=number + 1)
                    watch.report(done + min(counters["to_embed"], (number + 1) * size),
                                 counters["seen_again_prompts"] + counters["to_embed"])
                    job.check_cancel()
            watch.report(total, total, "publishing")
            work.set(phase="publishing")
            writer.publish(total)
        finally:
            writer.close()
        if self.settings.onnx_export:  # queries on this machine then embed without torch
            onnx_export.write_cached_export(job.model_id)
        self._state = None  # the digest changed

    def _plan_updates(self, work: WorkDir, writer: MilvusWriter) -> None:
        """Store the final row of every prompt seen again (stored values + this run's additions)."""
        work.db.execute("BEGIN IMMEDIATE")
        try:
            work.db.execute("DELETE FROM milvus_updates")
            batch: list[tuple] = []
            for update in [*existing_updates(work), None]:
                if update is not None:
                    batch.append(update)
                if batch and (update is None or len(batch) >= 1000):
                    stored = writer.rows([u[0] for u in batch])
                    for u in batch:
                        record = _grown(stored[u[0]][0], u)
                        work.db.execute("INSERT INTO milvus_updates VALUES (?, ?)",
                                        (u[0], json.dumps(dict(zip(RECORD_COLUMNS, record.as_row())))))
                    batch = []
            work.db.execute("COMMIT")
        except BaseException:
            work.db.execute("ROLLBACK")
            raise

    def _apply_updates(self, work: WorkDir, writer: MilvusWriter, job: WriteJob) -> int:
        cursor = work.db.execute("SELECT id, row FROM milvus_updates ORDER BY id")
        done = 0
        while planned := cursor.fetchmany(1000):
            stored = writer.rows([row[0] for row in planned])
            for id_, text in planned:
                values = json.loads(text)
                record = SearchHit.from_row((id_, *(values.get(name) for name in RECORD_COLUMNS))).record
                writer.upsert(id_, [record], stored[id_][1][None, :])
            done += len(planned)
            job.check_cancel()
        return done
