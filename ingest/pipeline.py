"""`run_ingest`: source -> clean, de-duplicated, filtered, embedded prompts -> a published index.

The recipe (each numbered step below), and what makes it crash-safe:

1. check inputs: resolve the index path and the source (downloading DiffusionDB if none given),
   check the source's format and columns, and refuse to mix embedding models.
2. open the work directory `<index>.ingest-work/`; a checkpoint with other arguments is refused
   (`restart=True` discards it); a matching one is resumed.
3. stage: stream source batches, clean them, upsert into the SQLite staging table; each batch
   commits together with the number of source rows consumed, so a resumed run skips exactly
   those rows.
4. finish staging in one transaction: NSFW thresholds, --sample, match prompts already in the
   index (their counts will grow; they are not re-embedded), plan the rest shortest-first.
5. embed the plan batch by batch; each batch's vectors land in their own .npy by atomic rename,
   so a resumed run re-embeds at most the one batch it was killed in.
6. with --fold-cosine T: fold prompts within cosine T of an indexed row or of a more frequent
   new prompt into that row (near_duplicates.py); the fold map is committed once, so a resumed
   run reuses it.
7. write: copy the existing index's rows (with grown counts) and stored vectors, then the new
   rows with their chunk vectors, into an IndexWriter; publish (temp dir + rename); delete the
   work directory. A crash between publish and clean-up is detected by the changed manifest.

Progress and cancellation: `on_progress` gets a `core.progress.Progress` per batch of each stage
(download, stage, embed, write); a set `CancelToken` raises `Cancelled` after the batch in hand
is committed, which leaves exactly what a crash at that point leaves, so the next run resumes.

Test hook: with PROMPTRAG_TEST_PAUSE_AFTER_CHUNK=N the run blocks right after committing its N-th
embedded chunk ("stage:N": its N-th staged source batch) and writes `<work dir>/paused`, so a test
can SIGKILL it at a known point mid-run instead of racing it.

Deliberately not here: source parsing (sources.py), text rules (normalize.py), SQL (staging.py),
FAISS/SQLite index formats (index/), drawing progress (core.progress.TqdmProgress, pages).
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import InputError, SourceError
from core.progress import CancelToken, ProgressCallback, Stopwatch, TqdmProgress
from core.settings import get_settings
from ingest.diffusiondb import file_url
from ingest.download import fetch, fetch_diffusiondb
from ingest.normalize import DROP_REASONS, clean_prompt
from ingest.options import IngestOptions, IngestReport
from ingest.sources import Source, open_source
from ingest.staging import WorkDir, _nsfw_max, merge_variants

if TYPE_CHECKING:
    import numpy as np

MANIFEST = "manifest.json"
PAUSE_ENV = "PROMPTRAG_TEST_PAUSE_AFTER_CHUNK"  # test hook, see the module docstring
COUNTER_KEYS = ("rows_read", "kept", *(f"dropped_{r}" for r in DROP_REASONS))


def work_dir_for(index_path: Path) -> Path:
    return index_path.with_name(index_path.name + ".ingest-work")


def _manifest_digest(index_path: Path) -> str | None:
    try:
        return hashlib.sha256((index_path / MANIFEST).read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


class IngestPipeline:
    """One ingest run for `options`; call it to run. See the module docstring for the recipe."""

    def __init__(self, options: IngestOptions, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> None:
        self.options = options
        settings = get_settings()
        self.settings = settings
        self.index_path = Path(options.index or settings.default_index).expanduser()
        self.work_path = work_dir_for(self.index_path)  # a Milvus ingest (milvus_ingest.py) keeps its own
        self.embedded_now = 0
        self.on_progress = on_progress
        self.cancel = cancel
        stage, _, number = os.environ.get(PAUSE_ENV, "").rpartition(":")
        self.pause_at = (stage or "embed", int(number)) if number.isdigit() else None

    def _pause_for_tests(self, stage: str, number: int) -> None:
        if self.pause_at == (stage, number):
            (self.work_path / "paused").write_text(str(os.getpid()))
            threading.Event().wait()  # the test hook: stay here until the test kills the process

    def _check_cancel(self) -> None:
        """Between batches: stop with Cancelled, keeping the work directory for the next run."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled(
                f"the ingest into {self.index_path}",
                f"{self.work_path} keeps the work done so far: run the same ingest again "
                "to resume it (or with restart / --restart to start over)",
            )

    def __call__(self) -> IngestReport:
        started = time.perf_counter()
        opts = self.options
        # 1. check inputs
        source, source_name = self._resolve_source()
        base_manifest = self._base_manifest()
        model_id = self._model_id(base_manifest)
        fingerprint = self._fingerprint(source, model_id)
        # 2. open (or resume) the work directory
        with WorkDir(self.work_path, fold=opts.fold) as work:
            resumed = self._prepare_work_dir(work, fingerprint)
            checkpoint = work.read_checkpoint()
            if checkpoint is None:
                checkpoint = {
                    "fingerprint": fingerprint, "model_id": model_id, "source": source_name,
                    "base_manifest": self._base_digest(), "options": opts.model_dump(mode="json"),
                }
                work.write_checkpoint(checkpoint)
                work.set(phase="stage", rows_consumed=0)
            phase = work.get("phase", "stage")
            current = self._base_digest()
            if phase == "publishing" and current != checkpoint["base_manifest"]:
                # Killed after the rename but before clean-up: the new index is already live.
                return self._finish(work, source_name, model_id, started, resumed, published=True)
            if current != checkpoint["base_manifest"]:
                raise InputError(
                    f"index {self.index_path} changed since this interrupted ingest started; "
                    "run again with --restart to start over from the current index"
                )
            # 3. stage
            if phase == "stage":
                self._stage(work, source)
                # 4. filter, sample, match existing rows, plan
                work.finish_staging(
                    max_prompt_nsfw=opts.max_prompt_nsfw, max_image_nsfw=opts.max_image_nsfw,
                    sample=opts.sample, seed=opts.seed, existing=self._existing_prompts(base_manifest),
                    counters=work.get("counters", {}), embed_batch=opts.batch_size,
                )
            counters = work.get("counters", {})
            if counters["to_embed"] == 0 and counters["seen_again_prompts"] == 0:
                work.remove()
                if base_manifest is None:
                    raise SourceError(self._nothing_usable(source_name, counters))
                return self._report(counters, source_name, model_id, started, resumed, base_manifest.row_count)
            # 5. embed
            embedder, dimension = None, base_manifest.dimension if base_manifest else None
            if counters["to_embed"]:
                embedder = self._load_embedder(model_id, base_manifest)
                dimension = embedder.dimension
                self._embed(work, embedder, counters["to_embed"])
                # 6. fold near-duplicates by meaning (--fold-cosine), once: the map is committed
                if opts.fold_cosine is not None and not work.get("near_folds_done"):
                    self._fold_near(work, dimension, counters["to_embed"], base_manifest)
            # 7. write + publish
            self._write(work, model_id, dimension, source_name, base_manifest)
            return self._finish(work, source_name, model_id, started, resumed, published=True)

    # -- 1. inputs -------------------------------------------------------------------------------
    def _base_digest(self) -> str | None:
        """Changes whenever the target is (re)published: the sha256 of its manifest.json."""
        return _manifest_digest(self.index_path)

    def _resolve_source(self) -> tuple[Source, str]:
        opts = self.options
        raw = opts.source
        if raw is None:  # DiffusionDB through huggingface_hub (its cache, mirrors, offline mode)
            endpoint = opts.hub_endpoint or self.settings.hub_endpoint
            path = fetch_diffusiondb(opts.diffusiondb_file, endpoint=endpoint, on_progress=self.on_progress,
                                     cancel=self.cancel)
            return open_source(path), file_url(opts.diffusiondb_file, endpoint)
        if raw.startswith(("http://", "https://")):
            path = fetch(raw, self.settings.cache_dir, timeout_s=self.settings.request_timeout_s,
                         on_progress=self.on_progress, cancel=self.cancel)
            return open_source(path), raw
        path = Path(raw).expanduser()
        return open_source(path), path.name

    def _base_manifest(self):
        if not (self.index_path / MANIFEST).is_file():
            return None
        from index.manifest import read_manifest

        return read_manifest(self.index_path)

    def _model_id(self, base_manifest) -> str:
        from index.embedder import canonical_model_id

        asked = self.options.embedding_model
        if base_manifest is None:
            return canonical_model_id(asked or self.settings.embedding_model)
        if asked is not None and canonical_model_id(asked) != base_manifest.embedding_model:
            raise InputError(
                f"index {self.index_path} was built with embedding model {base_manifest.embedding_model!r}, "
                f"but --embedding-model {asked!r} was given; one index cannot mix models: use "
                f"{base_manifest.embedding_model!r}, or pass another --index to build a new one"
            )
        return base_manifest.embedding_model

    def _fingerprint(self, source: Source, model_id: str) -> str:
        stat = source.path.stat()
        data = {
            "source": str(source.path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "model": model_id, **self.options.fingerprint_fields(),
        }
        return hashlib.sha256(repr(sorted(data.items())).encode()).hexdigest()

    # -- 2. work directory -----------------------------------------------------------------------
    def _prepare_work_dir(self, work: WorkDir, fingerprint: str) -> bool:
        checkpoint = work.read_checkpoint()
        if checkpoint is None or self.options.restart:
            work.reset()  # without a checkpoint nothing in it is worth keeping
            return False
        if checkpoint.get("fingerprint") != fingerprint:
            raise InputError(
                f"an interrupted ingest into {self.index_path} was started with other arguments or an "
                f"earlier version of the source file "
                f"(source {checkpoint.get('source')!r}, options {checkpoint.get('options')}); run the same "
                f"command again to resume it, or add --restart to discard it ({work.path})"
            )
        return True

    # -- 3. stage -------------------------------------------------------------------------------
    def _stage(self, work: WorkDir, source: Source) -> None:
        opts = self.options
        consumed = work.get("rows_consumed", 0)
        counters = {key: 0 for key in COUNTER_KEYS} | work.get("counters", {})
        total = source.total_rows
        if opts.limit is not None:
            total = min(total, opts.limit) if total is not None else opts.limit
        watch = Stopwatch("stage", self.on_progress)
        watch.report(consumed, total)
        staged = 0
        for batch in source.batches(skip=consumed, limit=opts.limit, batch_rows=opts.read_batch_rows):
            kept = []
            for row in batch:
                text, reason = clean_prompt(row["prompt"], opts.max_prompt_chars)
                if reason is not None:
                    counters[f"dropped_{reason}"] += 1
                    continue
                row["prompt"] = text
                kept.append(row)
            consumed += len(batch)
            counters["rows_read"] += len(batch)
            counters["kept"] += len(kept)
            work.stage(kept, consumed, counters)  # committed: a cancel or crash from here resumes after it
            watch.report(consumed, total)
            staged += 1
            self._pause_for_tests("stage", staged)
            self._check_cancel()

    def _existing_prompts(self, base_manifest):
        if base_manifest is None:
            return
        from index import PromptIndex

        with PromptIndex.load(self.index_path) as idx:
            for batch in idx.iter_records(batch_size=10_000):
                yield [(id_, record.prompt) for id_, record in batch]

    def _nothing_usable(self, source_name: str, counters: dict) -> str:
        dropped = ", ".join(f"{k[8:]} {v}" for k, v in counters.items() if k.startswith("dropped_") and v)
        return (
            f"no usable prompts in {source_name}: read {counters.get('rows_read', 0)} rows "
            f"(dropped: {dropped or 'none'}; NSFW-filtered prompts: {counters.get('nsfw_filtered_prompts', 0)}); "
            "check the file's prompt column, --limit, or the --max-*-nsfw thresholds"
        )

    # -- 5. embed -------------------------------------------------------------------------------
    def _load_embedder(self, model_id: str, base_manifest):
        from index import load_embedder

        embedder = load_embedder(model_id)
        if base_manifest is not None and embedder.dimension != base_manifest.dimension:
            raise InputError(
                f"model {model_id!r} makes {embedder.dimension}-d vectors but index {self.index_path} "
                f"holds {base_manifest.dimension}-d ones; pass another --index to build a new index"
            )
        return embedder

    def _embed(self, work: WorkDir, embedder, total: int) -> None:
        size = work.get("embed_batch")
        chunks = math.ceil(total / size)
        watch = Stopwatch("embed", self.on_progress)
        watch.report(0, total)
        for number in range(chunks):
            start, stop = number * size, min(total, (number + 1) * size)
            if work.load_chunk(number, stop - start, embedder.dimension) is None:
                texts = work.plan_texts(start, stop)
                work.save_chunk(number, embedder.embed_batch(texts))  # saved: a later run skips it
                self.embedded_now += len(texts)
            watch.report(stop, total)
            self._pause_for_tests("embed", number + 1)
            self._check_cancel()

    # -- 6. fold by meaning ---------------------------------------------------------------------
    def _fold_near(self, work: WorkDir, dimension: int, total: int, base_manifest) -> None:
        from ingest.near_duplicates import find_near_duplicates

        watch = Stopwatch("fold", self.on_progress)
        watch.report(0, total)
        with self._stored_vectors(base_manifest) as stored:
            counts, first_seen = work.plan_counts()
            folds = find_near_duplicates(work.plan_vectors(total, dimension), self.options.fold_cosine,
                                         counts=counts, first_seen=first_seen, stored=stored,
                                         on_progress=watch.report)
        work.save_near_folds(folds)
        self._check_cancel()

    @contextmanager
    def _stored_vectors(self, base_manifest) -> Iterator[np.ndarray | None]:
        """The index's stored vectors (row id i = row i; memory-mapped), None for a new index."""
        if base_manifest is None:
            yield None
            return
        from index import PromptIndex

        with PromptIndex.load(self.index_path) as idx:
            yield idx.stored_vectors()

    # -- 7. write + publish ---------------------------------------------------------------------
    def _write(self, work: WorkDir, model_id: str, dimension: int, source_name: str, base_manifest) -> None:
        from index import IndexWriter, PromptIndex, PromptRecord
        from ingest.phrase_stats import PhraseStatsCounter

        stats = PhraseStatsCounter()  # over every row written, old and new, so it matches the index

        size = work.get("embed_batch")
        counters = work.get("counters", {})
        total = ((base_manifest.row_count if base_manifest is not None else 0) + counters["to_embed"]
                 - counters.get("near_folded_prompts", 0))
        watch = Stopwatch("write", self.on_progress)
        watch.report(0, total)
        writer = IndexWriter(self.index_path, model_id=model_id, dimension=dimension, index_type=self.options.index_type,
                             onnx_export=self.settings.onnx_export)
        with writer:  # leaving it early (a cancel, a crash) discards the half-written index, not the work dir
            if base_manifest is not None:
                with PromptIndex.load(self.index_path) as idx:
                    vectors = idx.stored_vectors()
                    updates = work.existing_updates()
                    pending = next(updates, None)
                    for batch in idx.iter_records(batch_size=10_000):
                        records = []
                        for id_, record in batch:
                            if pending is not None and pending[0] == id_:
                                record = replace(
                                    record, count=record.count + pending[1],
                                    prompt_nsfw=_nsfw_max(record.prompt_nsfw, pending[2]),
                                    image_nsfw=_nsfw_max(record.image_nsfw, pending[3]),
                                    variants=merge_variants(record.prompt, record.variants, pending[4]),
                                )
                                pending = next(updates, None)
                            records.append(record)
                        first, last = batch[0][0], batch[-1][0]
                        writer.add(records, vectors[first : last + 1])
                        stats.add_many(r.prompt for r in records)
                        watch.report(len(writer), total)
                        self._check_cancel()
                    del vectors
            chunks = work.plan_vectors(counters["to_embed"], dimension)
            for number, (offsets, rows) in enumerate(work.new_rows(size)):
                if not rows:  # every prompt of this chunk folded into another
                    continue
                records = [PromptRecord(*row[:-1], source=source_name, variants=row[-1]) for row in rows]
                writer.add(records, chunks[number][offsets])
                stats.add_many(r.prompt for r in records)
                watch.report(len(writer), total)
                self._check_cancel()
            watch.report(len(writer), total, "building the search index")
            writer.add_phrase_stats(stats.result())
            work.set(phase="publishing")
            writer.publish()

    def _finish(self, work: WorkDir, source_name: str, model_id: str, started: float, resumed: bool,
                published: bool) -> IngestReport:
        counters = work.get("counters", {})
        work.remove()
        from index.manifest import read_manifest

        final = read_manifest(self.index_path).row_count if published else 0
        return self._report(counters, source_name, model_id, started, resumed, final)

    def _report(self, counters: dict, source_name: str, model_id: str, started: float, resumed: bool,
                final_rows: int) -> IngestReport:
        seconds = time.perf_counter() - started
        index_type = ""
        if (self.index_path / MANIFEST).is_file():
            from index.manifest import read_manifest

            index_type = read_manifest(self.index_path).index_type
        seen_existing = counters.get("seen_again_prompts", 0)
        return IngestReport(
            index_path=str(self.index_path),
            source=source_name,
            embedding_model=model_id,
            rows_read=counters.get("rows_read", 0),
            dropped={r: counters.get(f"dropped_{r}", 0) for r in DROP_REASONS},
            duplicates_merged=counters.get("kept", 0) - counters.get("distinct", 0),
            nsfw_filtered_prompts=counters.get("nsfw_filtered_prompts", 0),
            nsfw_filtered_rows=counters.get("nsfw_filtered_rows", 0),
            sampled_out_prompts=counters.get("sampled_out_prompts", 0),
            existing_rows=max(0, final_rows - counters.get("to_embed", 0) + counters.get("near_folded_prompts", 0)),
            seen_again_prompts=seen_existing,
            new_prompts_embedded=counters.get("to_embed", 0),
            near_duplicates_folded=counters.get("near_folded_prompts", 0),
            final_rows=final_rows,
            index_type=index_type,
            resumed=resumed,
            seconds=round(seconds, 3),
            prompts_per_s=round(self.embedded_now / seconds, 1) if seconds > 0 else 0.0,
        )


def run_ingest(options: IngestOptions | None = None, *, on_progress: ProgressCallback | None = None,
               cancel: CancelToken | None = None, **values) -> IngestReport:
    """Ingest a source into an index (see IngestOptions); `run_ingest(source=..., index=...)` works too.

    `on_progress` receives Progress events for the stages "download" (bytes), "stage" (source
    rows), "embed" (prompts) and "write" (index rows); without one, `options.progress` draws
    them as tqdm bars on stderr. Setting `cancel` stops the run between batches with
    core.errors.Cancelled; the work directory is kept, so the same call resumes.
    """
    if options is None:
        options = IngestOptions(**values)
    elif values:
        options = IngestOptions(**{**options.model_dump(), **values})  # re-validated
    pipeline = IngestPipeline
    if options.store is not None:  # a Milvus collection instead of an index directory
        from ingest.milvus_ingest import MilvusIngestPipeline as pipeline
    if on_progress is not None:
        return pipeline(options, on_progress=on_progress, cancel=cancel)()
    with TqdmProgress(enabled=options.progress) as bars:  # stderr bars, drawn from the same events
        return pipeline(options, on_progress=bars, cancel=cancel)()
