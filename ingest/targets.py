"""Where an ingest publishes: the `IngestTarget` protocol and its index-directory implementation.

`ingest.pipeline.IngestPipeline` runs the shared recipe (stage, plan, embed, fold) and asks its
target, chosen once from the options by `ingest.pipeline.open_target`, everything that depends on
where the prompts end up:

- `IndexDirTarget` (here): a published index directory (FAISS + SQLite + manifest.json), written
  whole into an `index.IndexWriter` and published by rename;
- `ingest.milvus_ingest.MilvusTarget`: a Milvus collection, written incrementally by upsert.

A target names itself in messages (`noun`, `location`, `other_hint`), says where the run's work
directory lives (`work_path`), what is already published (`base_manifest`, and `base_digest`,
which changes whenever the target is published, so a resumed run can tell that it was), the
stored prompts and vectors the plan matches against, which ONNX export the run embeds through,
and finally writes and publishes the run's rows (`write`, given a `WriteJob`). The pipeline calls
these methods and never checks which kind of target it holds.

Deliberately not here: the recipe (pipeline.py), SQL of the work directory (staging.py,
staged_rows.py), index formats (index/).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.errors import InputError
from core.progress import ProgressCallback, Stopwatch
from core.settings import Settings
from index import IndexWriter, PromptIndex, PromptRecord, onnx_cache, onnx_export
from index.manifest import Manifest, read_manifest
from ingest.options import IngestOptions
from ingest.phrase_stats import PhraseStatsCounter
from ingest.staged_rows import existing_updates, merge_variants, new_rows
from ingest.staging import WorkDir, nsfw_max

if TYPE_CHECKING:
    import numpy as np

MANIFEST = "manifest.json"


def work_dir_for(index_path: Path) -> Path:
    """The work directory of an ingest into the index directory `index_path`."""
    return index_path.with_name(index_path.name + ".ingest-work")


@dataclass(frozen=True)
class WriteJob:
    """What step 7 (write + publish) gets from the pipeline."""

    work: WorkDir
    model_id: str
    dimension: int
    source_name: str
    base_manifest: Manifest | None  # what was published when the run started; None: nothing yet
    quantization: str  # the ONNX export the run embedded through ("none": float32 or sentence-transformers)
    on_progress: ProgressCallback | None
    check_cancel: Callable[[], None]  # raises Cancelled between batches when the run is cancelled

    def total_rows(self) -> int:
        """Rows published at the end: those already there, plus new prompts not folded into others."""
        counters = self.work.get("counters", {})
        base = self.base_manifest.row_count if self.base_manifest is not None else 0
        return base + counters["to_embed"] - counters.get("near_folded_prompts", 0)


class IngestTarget(Protocol):
    """Where one ingest run publishes (see the module docstring)."""

    noun: str  # "index" or "collection", in messages
    location: str  # the path or URI, as shown to the user (IngestReport.index_path)
    other_hint: str  # how to start afresh elsewhere, e.g. "pass another --index to build a new one"
    work_path: Path

    def base_manifest(self) -> Manifest | None: ...

    def base_digest(self) -> str | None: ...

    def existing_prompts(self, base_manifest: Manifest | None) -> Iterator[list[tuple[int, str]]]: ...

    def stored_vectors(self, base_manifest: Manifest | None) -> AbstractContextManager[np.ndarray | None]: ...

    def quantization(self, asked: str | None, base_manifest: Manifest | None, onnx: bool) -> str: ...

    def write(self, job: WriteJob) -> None: ...

    def published_manifest(self) -> Manifest | None: ...

    def report_type(self, manifest: Manifest | None) -> str: ...


class IndexDirTarget:
    """An index directory: rewritten whole into an IndexWriter, published by rename."""

    noun = "index"
    other_hint = "pass another --index to build a new one"

    def __init__(self, options: IngestOptions, settings: Settings) -> None:
        self.options, self.settings = options, settings
        self.path = Path(options.index or settings.default_index).expanduser()
        self.location = str(self.path)
        self.work_path = work_dir_for(self.path)

    def base_manifest(self) -> Manifest | None:
        return read_manifest(self.path) if (self.path / MANIFEST).is_file() else None

    def base_digest(self) -> str | None:
        """The sha256 of manifest.json: it changes whenever the index is (re)published."""
        try:
            return hashlib.sha256((self.path / MANIFEST).read_bytes()).hexdigest()
        except FileNotFoundError:
            return None

    def existing_prompts(self, base_manifest: Manifest | None) -> Iterator[list[tuple[int, str]]]:
        if base_manifest is None:
            return
        with PromptIndex.load(self.path) as idx:
            for batch in idx.iter_records(batch_size=10_000):
                yield [(id_, record.prompt) for id_, record in batch]

    @contextmanager
    def stored_vectors(self, base_manifest: Manifest | None) -> Iterator[np.ndarray | None]:
        """The index's stored vectors (row id i = row i; memory-mapped), None for a new index."""
        if base_manifest is None:
            yield None
            return
        with PromptIndex.load(self.path) as idx:
            yield idx.stored_vectors()

    def quantization(self, asked: str | None, base_manifest: Manifest | None, onnx: bool) -> str:
        """--quantize, else the index's export, else the default; one index never mixes exports."""
        recorded = None
        if base_manifest is not None:
            extra = base_manifest.extra if isinstance(base_manifest.extra, dict) else {}
            recorded = onnx_cache.quantization_of(extra.get(onnx_export.MANIFEST_KEY))
        if asked is not None and recorded is not None and asked != recorded:
            raise InputError(
                f"index {self.path} holds vectors of the {recorded!r} export, but --quantize {asked} was "
                f"given; one index cannot mix them: use --quantize {recorded}, or pass another --index"
            )
        return asked or recorded or (onnx_cache.DEFAULT_QUANTIZATION if onnx else "none")

    def published_manifest(self) -> Manifest | None:
        return self.base_manifest()

    def report_type(self, manifest: Manifest | None) -> str:
        return manifest.index_type if manifest is not None else ""

    def _portable(self, base_manifest: Manifest | None) -> bool:
        """--portable, or an index that already carries its export (it keeps travelling)."""
        extra = base_manifest.extra if base_manifest is not None and isinstance(base_manifest.extra, dict) else {}
        return self.options.portable or (extra.get(onnx_export.MANIFEST_KEY) or {}).get("location") == "index"

    def write(self, job: WriteJob) -> None:
        """Copy the index's rows (with grown counts) and vectors, then the new rows; publish."""
        stats = PhraseStatsCounter()  # over every row written, old and new, so it matches the index
        total = job.total_rows()
        watch = Stopwatch("write", job.on_progress)
        watch.report(0, total)
        writer = IndexWriter(self.path, model_id=job.model_id, dimension=job.dimension,
                             index_type=self.options.index_type, onnx_export=self.settings.onnx_export,
                             quantization=job.quantization, portable=self._portable(job.base_manifest))
        with writer:  # leaving it early (a cancel, a crash) discards the half-written index, not the work dir
            if job.base_manifest is not None:
                self._copy_existing(job, writer, stats, watch, total)
            counters = job.work.get("counters", {})
            chunks = job.work.plan_vectors(counters["to_embed"], job.dimension)
            for number, (offsets, rows) in enumerate(new_rows(job.work, job.work.get("embed_batch"))):
                if not rows:  # every prompt of this chunk folded into another
                    continue
                records = [PromptRecord(*row[:-2], source=job.source_name, variants=row[-2], image=row[-1])
                           for row in rows]
                writer.add(records, chunks[number][offsets])
                stats.add_many(r.prompt for r in records)
                watch.report(len(writer), total)
                job.check_cancel()
            watch.report(len(writer), total, "building the search index")
            writer.add_phrase_stats(stats.result())
            job.work.set(phase="publishing")
            writer.publish()

    def _copy_existing(self, job: WriteJob, writer: IndexWriter, stats: PhraseStatsCounter,
                       watch: Stopwatch, total: int) -> None:
        """The published rows and vectors, each prompt seen again with its count (etc.) grown."""
        with PromptIndex.load(self.path) as idx:
            vectors = idx.stored_vectors()
            updates = existing_updates(job.work)
            pending = next(updates, None)
            for batch in idx.iter_records(batch_size=10_000):
                records = []
                for id_, record in batch:
                    if pending is not None and pending[0] == id_:
                        record = replace(
                            record, count=record.count + pending[1],
                            prompt_nsfw=nsfw_max(record.prompt_nsfw, pending[2]),
                            image_nsfw=nsfw_max(record.image_nsfw, pending[3]),
                            variants=merge_variants(record.prompt, record.variants, pending[4]),
                            image=record.image or pending[5],  # fills rows indexed before images
                        )
                        pending = next(updates, None)
                    records.append(record)
                first, last = batch[0][0], batch[-1][0]
                writer.add(records, vectors[first : last + 1])
                stats.add_many(r.prompt for r in records)
                watch.report(len(writer), total)
                job.check_cancel()
            del vectors
