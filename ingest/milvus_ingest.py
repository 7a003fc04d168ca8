"""Ingest into a Milvus collection: the same resumable recipe as an index directory, another step 6.

Steps 1-6 (check inputs, work directory, stage, plan, embed, fold) are `IngestPipeline`'s:
the work directory (`MilvusLocation.work_dir()`: beside a Milvus Lite file, or under the home's
indexes folder for a server) holds the staging table, the embedded chunks and the checkpoint.
What differs:

- the base "manifest" is the collection's `promptrag.*` properties, and its digest is the
  published row count plus generation id (it changes whenever an ingest publishes);
- `--fold-cosine` folds this run's new prompts into each other, not into rows already in the
  collection (their vectors live on the server);
- step 7 is incremental: only the prompts seen again and the new ones are written, never the
  whole collection. Every write is an upsert by a stable id (existing rows keep theirs; new
  prompt number i of those kept gets `base rows + i`), so a run killed at any point and run again
  rewrites the same rows with the same values: nothing is duplicated or lost.
  Counts of prompts seen again are planned once as absolute values (stored count + added) in the
  work directory before any is written, so re-applying them after a crash cannot add twice.
- "publish" is writing the row count and a new generation into the collection properties;
  until then `MilvusStore.open` refuses the collection (a first ingest) or sees the previous
  row count (an extension: new ids are past it, so searches never see half-written rows... they
  may see a grown count early, which is only a count).

Deliberately not here: the recipe's shared steps (pipeline.py), Milvus calls (index/milvus_store.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from core.errors import InputError
from core.progress import Stopwatch
from ingest.options import IngestReport
from ingest.pipeline import IngestPipeline
from ingest.staging import WorkDir, _nsfw_max

_UPDATES = """CREATE TABLE IF NOT EXISTS milvus_updates (id INTEGER PRIMARY KEY, row TEXT NOT NULL)"""


def _record_from_plan(row: tuple, source_name: str):
    """A new prompt's PromptRecord from a staged plan row (the record's columns except `source`)."""
    from index.records import RECORD_COLUMNS, PromptRecord

    names = [name for name in RECORD_COLUMNS if name != "source"]
    return PromptRecord(**dict(zip(names, row, strict=False)), source=source_name)


def _grown(record, update: tuple):
    """`record` (stored) after this ingest saw its prompt again: `update` as WorkDir.existing_updates."""
    changes = {
        "count": record.count + update[1],
        "prompt_nsfw": _nsfw_max(record.prompt_nsfw, update[2]),
        "image_nsfw": _nsfw_max(record.image_nsfw, update[3]),
    }
    if len(update) > 4 and hasattr(record, "variants"):  # wordings folded into it (ingest/staging.py)
        from ingest.staging import merge_variants

        changes["variants"] = merge_variants(record.prompt, record.variants, update[4])
    if len(update) > 5 and getattr(record, "image", None) is None:  # an image for a row stored without one
        changes["image"] = update[5]
    return replace(record, **changes)


class MilvusIngestPipeline(IngestPipeline):
    """`IngestPipeline` writing into the Milvus collection named by `options.store`."""

    def __init__(self, options, **kwargs) -> None:
        super().__init__(options, **kwargs)
        from index.milvus_store import parse_uri

        self.location = parse_uri(options.store)
        self.work_path = self.location.work_dir()
        self.index_path = Path(str(self.work_path).removesuffix(".ingest-work"))  # no manifest.json here
        self._state = None

    # -- the collection's identity instead of manifest.json --------------------------------------
    def _collection_state(self):
        if self._state is None:
            from index.milvus_store import collection_state

            self._state = collection_state(self.options.store)
        return self._state

    def _base_manifest(self):
        return self._collection_state()[0]

    def _base_digest(self) -> str | None:
        return self._collection_state()[1]

    def _existing_prompts(self, base_manifest):
        if base_manifest is None:
            return
        from index.milvus_store import MilvusStore

        with MilvusStore.open(self.options.store) as store:
            for batch in store.iter_records(batch_size=10_000):
                yield [(id_, record.prompt) for id_, record in batch]

    # -- 6. fold by meaning: among this run's new prompts only --------------------------------
    @contextmanager
    def _stored_vectors(self, base_manifest) -> Iterator[None]:
        """None: a collection's vectors live on the server (possibly tens of millions of them), so
        `--fold-cosine` folds new prompts into each other, not into rows already stored."""
        yield None

    # -- 7. write + publish ---------------------------------------------------------------------
    def _write(self, work: WorkDir, model_id: str, dimension: int, source_name: str, base_manifest) -> None:
        from index.milvus_store import MilvusWriter

        base = base_manifest.row_count if base_manifest is not None else 0
        counters = work.get("counters", {})
        total = base + counters["to_embed"] - counters.get("near_folded_prompts", 0)
        watch = Stopwatch("write", self.on_progress)
        writer = MilvusWriter(self.options.store, model_id=model_id, dimension=dimension,
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
            done = self._apply_updates(work, writer)
            # b. new prompts, chunk by chunk, ids base + rank among the rows kept (the fold map is
            #    fixed before any write); resumed after the last chunk written.
            size = work.get("embed_batch")
            chunks = work.plan_vectors(counters["to_embed"], dimension)
            first_id = base
            for number, (offsets, rows) in enumerate(work.new_rows(size)):
                if number >= written and rows:
                    records = [_record_from_plan(row, source_name) for row in rows]
                    writer.upsert(first_id, records, chunks[number][offsets])
                first_id += len(rows)
                if number >= written:
                    work.set(milvus_chunks_written=number + 1)
                    watch.report(done + min(counters["to_embed"], (number + 1) * size),
                                 counters["seen_again_prompts"] + counters["to_embed"])
                    self._check_cancel()
            watch.report(total, total, "publishing")
            work.set(phase="publishing")
            writer.publish(total)
        finally:
            writer.close()
        if self.settings.onnx_export:  # queries on this machine then embed without torch
            from index import onnx_export

            onnx_export.write_cached_export(model_id)
        self._state = None  # the digest changed

    def _plan_updates(self, work: WorkDir, writer) -> None:
        """Store the final row of every prompt seen again (stored values + this run's additions)."""
        from index.records import RECORD_COLUMNS

        work.db.execute("BEGIN IMMEDIATE")
        try:
            work.db.execute("DELETE FROM milvus_updates")
            batch: list[tuple] = []
            for update in [*work.existing_updates(), None]:
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

    def _apply_updates(self, work: WorkDir, writer) -> int:
        from index.records import RECORD_COLUMNS, SearchHit

        cursor = work.db.execute("SELECT id, row FROM milvus_updates ORDER BY id")
        done = 0
        while planned := cursor.fetchmany(1000):
            stored = writer.rows([row[0] for row in planned])
            for id_, text in planned:
                values = json.loads(text)
                record = SearchHit.from_row((id_, *(values.get(name) for name in RECORD_COLUMNS))).record
                writer.upsert(id_, [record], stored[id_][1][None, :])
            done += len(planned)
            self._check_cancel()
        return done

    # -- reporting ------------------------------------------------------------------------------
    def _finish(self, work: WorkDir, source_name: str, model_id: str, started: float, resumed: bool,
                published: bool) -> IngestReport:
        counters = work.get("counters", {})
        work.remove()
        self._state = None
        manifest = self._base_manifest()
        final = manifest.row_count if manifest is not None else 0
        return self._report(counters, source_name, model_id, started, resumed, final)

    def _report(self, counters: dict, source_name: str, model_id: str, started: float, resumed: bool,
                final_rows: int) -> IngestReport:
        report = super()._report(counters, source_name, model_id, started, resumed, final_rows)
        manifest = self._base_manifest()
        kind = f"milvus {manifest.index_type}" if manifest is not None else "milvus"
        return replace(report, index_path=self.location.shown, index_type=kind)

    def _model_id(self, base_manifest) -> str:
        try:
            return super()._model_id(base_manifest)
        except InputError:
            raise InputError(
                f"collection {self.location.shown} was built with embedding model "
                f"{base_manifest.embedding_model!r}, but --embedding-model "
                f"{self.options.embedding_model!r} was given; one collection cannot mix models: use "
                f"{base_manifest.embedding_model!r}, or name "
                "another collection in --store"
            ) from None
