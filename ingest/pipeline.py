"""`run_ingest`: source -> clean, de-duplicated, filtered, embedded prompts -> a published index.

The recipe (each numbered step below), and what makes it crash-safe:

1. check inputs: resolve the index path and the source (downloading DiffusionDB if none given),
   check the source's format and columns, and refuse to mix embedding models.
2. open the work directory `<index>.ingest-work/`; a checkpoint with other arguments is refused
   (`restart=True` discards it); a matching one is resumed.
3. stage: stream source batches, clean them, upsert into the SQLite staging table; each batch
   commits together with the number of source rows consumed, so a resumed run skips exactly
   those rows. With `--executor ray` (ingest/ray_steps.py) Ray workers read, clean and embed the
   same batches as blocks, kept as shards (a resumed run skips complete ones), then staged in
   block order.
4. finish staging in one transaction: NSFW thresholds, --sample, match prompts already in the
   index (their counts will grow; they are not re-embedded), plan the rest shortest-first.
5. embed the plan through the model's ONNX export (fp32 or --quantize int8; sentence-transformers
   with PROMPTRAG_ONNX_EXPORT=0: ingest/run_embedder.py), EMBED_WINDOW prompts at a time ordered
   by tokens; each batch's vectors land in their own .npy by atomic rename, so a resumed run
   re-embeds at most one window. With `--executor ray` the chunks are filled from the shards'
   vectors instead (ray_steps.py).
6. with --fold-cosine T: fold prompts within cosine T of an indexed row or of a more frequent
   new prompt into that row (near_duplicates.py); the fold map is committed once, so a resumed
   run reuses it.
7. write + publish, through the run's target (ingest/targets.py), chosen once from the options
   by `open_target`: an index directory (`IndexDirTarget`: copy the existing rows, with grown
   counts, and stored vectors, then the new rows with their chunk vectors, into an IndexWriter;
   publish by temp dir + rename) or a Milvus collection (`ingest.milvus_ingest.MilvusTarget`:
   upsert the rows seen again and the new ones; publish the row count). Then delete the work
   directory. A crash between publish and clean-up is detected by the target's changed digest.
   Steps 1, 2, 4 and 6 ask the same target for its published manifest, digest, stored prompts
   and vectors and export; the pipeline never checks which kind of target it holds.

Using the recipe from another module (e.g. a distributed ingest): `run_ingest(options)` runs it
all; `IngestPipeline(options, target=open_target(options), on_progress=..., cancel=...)()` is the
same run with the target chosen explicitly (any object following `ingest.targets.IngestTarget`).

Progress and cancellation: `on_progress` gets a `core.progress.Progress` per batch of each stage
(download, stage, embed, write); a set `CancelToken` raises `Cancelled` after the batch in hand
is committed, which leaves exactly what a crash at that point leaves, so the next run resumes.

Executors: a run started on Ray resumes on either executor; a run started on the thread executor
resumes on it only (ray_steps.check_executor says why).

Test hook (core/pause_hook.py): PROMPTRAG_TEST_PAUSE_AT=embed:N blocks the run right after it
commits its N-th embedded chunk (stage:N: its N-th staged source batch; shard:N: the N-th shard
this run wrote, with --executor ray), so a test can SIGKILL it at a known point mid-run instead
of racing it.

Deliberately not here: source parsing (sources.py), text rules (normalize.py), SQL (staging.py,
staged_rows.py), the steps on Ray (ray_steps.py), which embedder a run uses (run_embedder.py),
writing each kind of target (targets.py, milvus_ingest.py), index formats (index/), drawing
progress (core.progress.TqdmProgress, pages).
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

from core.errors import InputError, SourceError
from core.executors import RAY, THREAD, parse_executor
from core.pause_hook import pause_here
from core.progress import CancelToken, ProgressCallback, Stopwatch, TqdmProgress
from core.settings import get_settings
from index.embedder import canonical_model_id
from index.manifest import Manifest
from ingest.diffusiondb import file_url
from ingest.download import fetch, fetch_diffusiondb
from ingest.milvus_ingest import MilvusTarget
from ingest.near_duplicates import find_near_duplicates
from ingest.normalize import DROP_REASONS, TALLY_KEYS, clean_rows
from ingest.options import IngestOptions, IngestReport
from ingest.ray_steps import check_executor, fill_chunks_from_shards, stage_on_ray
from ingest.run_embedder import load_run_embedder, run_quantization
from ingest.sources import Source, open_source
from ingest.staging import WorkDir
from ingest.targets import MANIFEST, IndexDirTarget, IngestTarget, WriteJob, work_dir_for

__all__ = ["EMBED_WINDOW", "MANIFEST", "IngestPipeline", "open_target", "run_ingest", "work_dir_for"]
EMBED_WINDOW = 1024  # prompts embedded together, ordered by tokens: batches pad 1.36x → 1.06x (embedder.py)
COUNTER_KEYS = TALLY_KEYS


def open_target(options: IngestOptions) -> IngestTarget:
    """Where `options` publish: a Milvus collection for `store`, else an index directory."""
    settings = get_settings()
    if options.store is not None:
        return MilvusTarget(options, settings)
    return IndexDirTarget(options, settings)


class IngestPipeline:
    """One ingest run for `options` into `target` (default: `open_target(options)`); call it to run.
    See the module docstring for the recipe."""

    def __init__(self, options: IngestOptions, *, target: IngestTarget | None = None,
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> None:
        self.options = options
        self.settings = get_settings()
        self.target = target if target is not None else open_target(options)
        self.work_path = self.target.work_path
        self.embedded_now = 0
        self.embedded_with = ""  # which embedder this run used (IngestReport.embedded_with)
        self.on_ray = parse_executor(options.executor).kind == RAY
        self._embedder = None  # loaded once per run (on Ray: for the actors' recipe and the dimension)
        self.on_progress = on_progress
        self.cancel = cancel

    def _after_commit(self, stage: str, number: int) -> None:
        """After the `number`-th batch of `stage` is committed: the test hook, then a cancel."""
        pause_here(stage, number, self.work_path)  # the test hook (core/pause_hook.py)
        self._check_cancel()

    def _check_cancel(self) -> None:
        """Between batches: stop with Cancelled, keeping the work directory for the next run."""
        if self.cancel is not None:
            self.cancel.raise_if_cancelled(
                f"the ingest into {self.target.location}",
                f"{self.work_path} keeps the work done so far: run the same ingest again "
                "to resume it (or with restart / --restart to start over)",
            )

    def __call__(self) -> IngestReport:
        started = time.perf_counter()
        opts = self.options
        # 1. check inputs
        source, source_name = self._resolve_source()
        base_manifest = self.target.base_manifest()
        model_id = self._model_id(base_manifest)
        fingerprint = self._fingerprint(source, model_id)
        # 2. open (or resume) the work directory
        with WorkDir(self.work_path, fold=opts.fold) as work:
            resumed = self._prepare_work_dir(work, fingerprint)
            checkpoint = work.read_checkpoint()
            if checkpoint is None:
                checkpoint = {
                    "fingerprint": fingerprint, "model_id": model_id, "source": source_name,
                    "base_manifest": self.target.base_digest(), "options": opts.model_dump(mode="json"),
                    "executor": RAY if self.on_ray else THREAD,
                }
                work.write_checkpoint(checkpoint)
                work.set(phase="stage", rows_consumed=0)
            phase = work.get("phase", "stage")
            check_executor(work, checkpoint, phase, on_ray=self.on_ray, location=self.target.location)
            current = self.target.base_digest()
            if phase == "publishing" and current != checkpoint["base_manifest"]:
                # Killed after the rename but before clean-up: the new index is already live.
                return self._finish(work, source_name, model_id, started, resumed, published=True)
            if current != checkpoint["base_manifest"]:
                raise InputError(
                    f"{self._named()} changed since this interrupted ingest started; "
                    "run again with --restart to start over from the current index"
                )
            # 3. stage
            if phase == "stage":
                if self.on_ray:
                    self.embedded_now += stage_on_ray(
                        work, source, opts, on_progress=self.on_progress,
                        local_embedder=lambda: (self._load_embedder(model_id, base_manifest),
                                                self._quantization(base_manifest)),
                        after_shard=lambda written: self._after_commit("shard", written))
                else:
                    self._stage(work, source)
                # 4. filter, sample, match existing rows, plan
                work.finish_staging(
                    max_prompt_nsfw=opts.max_prompt_nsfw, max_image_nsfw=opts.max_image_nsfw,
                    sample=opts.sample, seed=opts.seed, existing=self.target.existing_prompts(base_manifest),
                    counters=work.get("counters", {}), embed_batch=opts.batch_size,
                )
            counters = work.get("counters", {})
            if counters["to_embed"] == 0 and counters["seen_again_prompts"] == 0:
                work.remove()
                if base_manifest is None:
                    raise SourceError(self._nothing_usable(source_name, counters))
                return self._report(counters, source_name, model_id, started, resumed, base_manifest)
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
            self.target.write(WriteJob(
                work=work, model_id=model_id, dimension=dimension, source_name=source_name,
                base_manifest=base_manifest, quantization=self._quantization(base_manifest),
                on_progress=self.on_progress, check_cancel=self._check_cancel,
            ))
            return self._finish(work, source_name, model_id, started, resumed, published=True)

    # -- 1. inputs -------------------------------------------------------------------------------
    def _named(self) -> str:
        """The target in messages: "index PATH" or "collection URI"."""
        return f"{self.target.noun} {self.target.location}"

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

    def _model_id(self, base_manifest: Manifest | None) -> str:
        asked = self.options.embedding_model
        if base_manifest is None:
            return canonical_model_id(asked or self.settings.embedding_model)
        if asked is not None and canonical_model_id(asked) != base_manifest.embedding_model:
            raise InputError(
                f"{self._named()} was built with embedding model {base_manifest.embedding_model!r}, "
                f"but --embedding-model {asked!r} was given; one {self.target.noun} cannot mix models: use "
                f"{base_manifest.embedding_model!r}, or {self.target.other_hint}"
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
                f"an interrupted ingest into {self.target.location} was started with other arguments or an "
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
            kept, tally = clean_rows(batch, opts.max_prompt_chars)
            for key, value in tally.items():
                counters[key] += value
            consumed += len(batch)
            work.stage(kept, consumed, counters)  # committed: a cancel or crash from here resumes after it
            watch.report(consumed, total)
            staged += 1
            self._after_commit("stage", staged)

    def _nothing_usable(self, source_name: str, counters: dict) -> str:
        dropped = ", ".join(f"{k[8:]} {v}" for k, v in counters.items() if k.startswith("dropped_") and v)
        return (
            f"no usable prompts in {source_name}: read {counters.get('rows_read', 0)} rows "
            f"(dropped: {dropped or 'none'}; NSFW-filtered prompts: {counters.get('nsfw_filtered_prompts', 0)}); "
            "check the file's prompt column, --limit, or the --max-*-nsfw thresholds"
        )

    # -- 5. embed -------------------------------------------------------------------------------
    def _load_embedder(self, model_id: str, base_manifest: Manifest | None):
        if self._embedder is None:
            self._embedder = self._loaded_embedder(model_id, base_manifest)
        return self._embedder

    def _loaded_embedder(self, model_id: str, base_manifest: Manifest | None):
        embedder, self.embedded_with = load_run_embedder(model_id, self._quantization(base_manifest), self.settings)
        if base_manifest is not None and embedder.dimension != base_manifest.dimension:
            raise InputError(
                f"model {model_id!r} makes {embedder.dimension}-d vectors but {self._named()} "
                f"holds {base_manifest.dimension}-d ones; {self.target.other_hint}"
            )
        if self.on_ray:  # the actors load the same embedder (ray_ingest.recipe_for)
            self.embedded_with += " on Ray"
        return embedder

    def _quantization(self, base_manifest: Manifest | None) -> str:
        """The export this run embeds through (run_embedder.run_quantization)."""
        return run_quantization(self.target, self.options.quantize, base_manifest, self.settings)

    def _embed(self, work: WorkDir, embedder, total: int) -> None:
        size = work.get("embed_batch")
        chunks = math.ceil(total / size)
        watch = Stopwatch("embed", self.on_progress)
        watch.report(0, total)
        if self.on_ray:  # the shards hold every vector: fill the chunks from them
            def after_chunk(number: int, done: int) -> None:
                watch.report(done, total)
                self._after_commit("embed", number + 1)

            fill_chunks_from_shards(work, total, embedder.dimension, after_chunk)
            return
        # Chunks are embedded EMBED_WINDOW prompts at a time, so the embedder can order them by
        # tokens across chunks (the plan is ordered by characters); each chunk is still saved on
        # its own, and a crash re-embeds at most one window.
        per_window = max(1, EMBED_WINDOW // size)
        for first in range(0, chunks, per_window):
            numbers = range(first, min(chunks, first + per_window))
            bounds = {n: (n * size, min(total, (n + 1) * size)) for n in numbers}
            todo = [n for n in numbers if work.load_chunk(n, bounds[n][1] - bounds[n][0], embedder.dimension) is None]
            texts = {n: work.plan_texts(*bounds[n]) for n in todo}
            vectors = embedder.embed([t for n in todo for t in texts[n]], batch_size=size) if todo else None
            offset = 0
            for number in numbers:
                if number in texts:
                    work.save_chunk(number, vectors[offset : offset + len(texts[number])])  # a later run skips it
                    offset += len(texts[number])
                    self.embedded_now += len(texts[number])
                watch.report(bounds[number][1], total)
                self._after_commit("embed", number + 1)

    # -- 6. fold by meaning ---------------------------------------------------------------------
    def _fold_near(self, work: WorkDir, dimension: int, total: int, base_manifest: Manifest | None) -> None:
        watch = Stopwatch("fold", self.on_progress)
        watch.report(0, total)
        with self.target.stored_vectors(base_manifest) as stored:
            counts, first_seen = work.plan_counts()
            folds = find_near_duplicates(work.plan_vectors(total, dimension), self.options.fold_cosine,
                                         counts=counts, first_seen=first_seen, stored=stored,
                                         on_progress=watch.report)
        work.save_near_folds(folds)
        self._check_cancel()

    # -- reporting ------------------------------------------------------------------------------
    def _finish(self, work: WorkDir, source_name: str, model_id: str, started: float, resumed: bool,
                published: bool) -> IngestReport:
        counters = work.get("counters", {})
        work.remove()
        manifest = self.target.published_manifest() if published else None
        return self._report(counters, source_name, model_id, started, resumed, manifest)

    def _report(self, counters: dict, source_name: str, model_id: str, started: float, resumed: bool,
                published: Manifest | None) -> IngestReport:
        """What the run did; `published` is the target's manifest after it."""
        seconds = time.perf_counter() - started
        final_rows = published.row_count if published is not None else 0
        seen_existing = counters.get("seen_again_prompts", 0)
        return IngestReport(
            index_path=self.target.location,
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
            index_type=self.target.report_type(published),
            resumed=resumed,
            seconds=round(seconds, 3),
            prompts_per_s=round(self.embedded_now / seconds, 1) if seconds > 0 else 0.0,
            embedded_with=self.embedded_with,
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
    if on_progress is not None:
        return IngestPipeline(options, on_progress=on_progress, cancel=cancel)()
    with TqdmProgress(enabled=options.progress) as bars:  # stderr bars, drawn from the same events
        return IngestPipeline(options, on_progress=bars, cancel=cancel)()
