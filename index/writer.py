"""IndexWriter: stream records and vectors into a new index, then publish it atomically.

Everything is written into a temporary directory next to the target
(`<parent>/.<name>.tmp-<uuid>`): rows go to SQLite and vectors are appended to `vectors.npy`
chunk by chunk (its header is patched with the final row count at publish), so no call ever
holds all vectors in RAM. `publish()` builds FAISS from the on-disk vectors, builds the SQLite
filter and FTS5 indexes and the tantivy keyword index, writes checksums into `manifest.json`,
fsyncs everything and swaps the directory into place by rename: the old index is renamed to
a backup, the new one renamed into place, the backup deleted. A reader therefore sees the
complete old or the complete new index, never a half-written one; a crash mid-swap leaves the
old index in the backup directory (PromptIndex.load names it).

Deliberately not here: reading sources, de-duplication, resuming a crashed ingest (ingest/).
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from core.errors import InputError
from index import ann, keyword_index, onnx_cache, onnx_export, phrase_stats, rows
from index.embedder import canonical_model_id
from index.manifest import (
    DATA_FILES,
    FORMAT_VERSION,
    MANIFEST_NAME,
    Manifest,
    file_info,
    fsync_path,
    promptrag_version,
)
from index.records import PromptRecord

NORM_TOLERANCE = 1e-3


def _npy_header(rows_: int, dimension: int) -> bytes:
    import io

    buffer = io.BytesIO()
    header = {"descr": "<f4", "fortran_order": False, "shape": (rows_, dimension)}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_tmp_dirs(path: Path) -> list[Path]:
    """Delete temp dirs of writers to `path` whose process is gone (killed mid-write).

    A live writer's dir (its pid still running) is left alone, so two processes never delete
    each other's work; dirs without a pid in the name (older versions) are left too.
    """
    removed = []
    for candidate in path.parent.glob(f".{path.name}.tmp-*"):
        pid_text = candidate.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if candidate.is_dir() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(candidate, ignore_errors=True)
            removed.append(candidate)
    return removed


class IndexWriter:
    """Writes a new index for `model_id` vectors of `dimension` and publishes it at `path`."""

    def __init__(
        self,
        path: Path,
        *,
        model_id: str,
        dimension: int,
        index_type: str = "auto",
        auto_threshold: int = ann.AUTO_THRESHOLD,
        onnx_export: bool = False,
        quantization: str = "none",
        portable: bool = False,
    ) -> None:
        if not isinstance(dimension, int) or dimension < 1:
            raise InputError(f"dimension must be a positive integer, got {dimension!r}")
        ann.choose_index_type(0, index_type)  # validates the name early
        self.path = Path(path)
        self.model_id = canonical_model_id(model_id)
        self.dimension = dimension
        self.index_type = index_type
        self.auto_threshold = auto_threshold
        # Record the model's ONNX export (the machine's shared copy, written if missing; with
        # `portable`, copied into the index) so queries need no torch (index/onnx_cache.py).
        self.onnx_export = onnx_export
        self.quantization = quantization  # "int8": the vectors come from the int8 export
        self.portable = portable
        self._check_target()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp_dirs(self.path)
        # The writer's pid is in the name so a later writer can tell a crashed one's leftovers.
        self.tmp_dir = self.path.parent / f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex}"
        self.tmp_dir.mkdir()
        self._rows = 0
        self._header_len = len(_npy_header(0, dimension))
        self._vectors = (self.tmp_dir / "vectors.npy").open("wb")
        self._vectors.write(_npy_header(0, dimension))
        self._db = rows.create(self.tmp_dir / "rows.sqlite")
        self._closed = False

    def _check_target(self) -> None:
        # Publishing replaces `path` wholesale: refuse to replace anything that is not an index.
        p = self.path
        if p.exists() and (not p.is_dir() or (any(p.iterdir()) and not (p / MANIFEST_NAME).is_file())):
            raise InputError(
                f"index path {p} exists and is not a promptrag index; refusing to replace it: "
                "choose another --index path or remove it yourself"
            )

    def __len__(self) -> int:
        return self._rows

    def add(self, records: Sequence[PromptRecord], vectors: np.ndarray) -> None:
        """Append one chunk: `vectors[i]` (L2-normalised float32) is the embedding of `records[i]`."""
        self._check_open()
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape != (len(records), self.dimension):
            raise InputError(
                f"vectors must have shape ({len(records)}, {self.dimension}) to match the records, "
                f"got {vectors.shape}"
            )
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not np.isfinite(vectors).all():
            raise InputError("vectors contain NaN or infinity; check the embedder output")
        norms = np.linalg.norm(vectors, axis=1)
        if len(norms) and np.abs(norms - 1.0).max() > NORM_TOLERANCE:
            raise InputError(
                f"vectors must be L2-normalised (norms between {norms.min():.3f} and {norms.max():.3f}); "
                "use an Embedder, which normalises"
            )
        for record in records:
            if not isinstance(record, PromptRecord):
                raise InputError(f"records must be PromptRecord objects, got {type(record).__name__}")
            record.check()
        rows.insert(self._db, self._rows, records)
        self._vectors.write(vectors.tobytes(order="C"))
        self._rows += len(records)

    def add_phrase_stats(self, stats: phrase_stats.PhraseStats) -> None:
        """Store the phrase statistics (artist media, phrase positions) computed over every row added;
        call once, before `publish` (index/phrase_stats.py; ingest/phrase_stats.py computes them)."""
        self._check_open()
        phrase_stats.write(self._db, stats)

    def publish(self, progress: Callable[[int], None] | None = None) -> Manifest:
        """Build FAISS and the keyword index, write the manifest and swap the new index into place."""
        self._check_open()
        if self._rows == 0:
            raise InputError("no prompts were added to the index; check the source and its filters")
        try:
            # 1. vectors.npy: patch the header with the final shape (same length by construction).
            header = _npy_header(self._rows, self.dimension)
            if len(header) != self._header_len:
                raise RuntimeError("npy header length changed; cannot patch in place")
            self._vectors.seek(0)
            self._vectors.write(header)
            self._vectors.flush()
            self._vectors.close()
            # 2. SQLite: filter indexes + FTS5, then close so no journal file remains.
            rows.finalize(self._db)
            self._db.close()
            # 3. FAISS from the on-disk vectors.
            import faiss

            vectors = np.load(self.tmp_dir / "vectors.npy", mmap_mode="r", allow_pickle=False)
            index_type = ann.choose_index_type(
                self._rows, self.index_type, self.auto_threshold, dimension=self.dimension
            )
            params = ann.default_params(index_type, self._rows)
            index = ann.build(vectors, index_type, params, progress=progress)
            del vectors
            faiss.write_index(index, str(self.tmp_dir / "faiss.index"))
            del index
            # 4. the embedding model's ONNX export, so queries need no torch (optional, checked).
            extra = self._record_onnx_export() if self.onnx_export else {}
            # 4b. the keyword index: BM25 ranking in tantivy over the finished rows (index/keyword_index.py).
            extra = {**extra, keyword_index.MANIFEST_KEY: keyword_index.build(self.tmp_dir)}
            # 5. manifest with checksums; fsync every file and the directory before the rename.
            for name in DATA_FILES:
                fsync_path(self.tmp_dir / name)
            manifest = Manifest(
                format_version=FORMAT_VERSION,
                embedding_model=self.model_id,
                dimension=self.dimension,
                row_count=self._rows,
                index_type=index_type,
                index_params=params,
                files={name: file_info(self.tmp_dir / name) for name in DATA_FILES},
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                promptrag_version=promptrag_version(),
                extra=extra,
            )
            manifest_path = self.tmp_dir / MANIFEST_NAME
            manifest_path.write_text(manifest.to_json(), encoding="utf-8")
            fsync_path(manifest_path)
            fsync_path(self.tmp_dir)
            # 6. swap by rename.
            self._swap_into_place()
        except BaseException:
            self.abort()
            raise
        self._closed = True
        return manifest

    def _record_onnx_export(self) -> dict:
        """{"onnx_embedder": ...} for the manifest, or {} (with a warning) when the model cannot
        be exported: the index is still complete, its queries are embedded with torch."""
        try:
            entry = onnx_cache.index_entry(self.model_id, self.quantization)
            if self.portable:
                entry = onnx_cache.bundle(entry, self.tmp_dir)
        except (onnx_export.UnsupportedModel, ImportError, RuntimeError) as exc:
            if self.quantization != "none":  # these vectors need this export to be searched
                raise
            logging.getLogger(__name__).warning(
                "no ONNX export of %s for the index (%s: %s); searches will load torch to embed queries",
                self.model_id, type(exc).__name__, exc,
            )
            return {}
        return {onnx_export.MANIFEST_KEY: entry}

    def _swap_into_place(self) -> None:
        self._check_target()  # the target may have changed while we were writing
        backup = self.path.parent / f".{self.path.name}.old-{uuid.uuid4().hex}"
        had_old = self.path.exists()
        if had_old:
            self.path.rename(backup)
        try:
            self.tmp_dir.rename(self.path)
        except BaseException:
            if had_old:
                backup.rename(self.path)
            raise
        fsync_path(self.path.parent)
        if had_old:
            shutil.rmtree(backup, ignore_errors=True)

    def abort(self) -> None:
        """Discard everything written so far; an existing index at `path` is left untouched."""
        if self._closed:
            return
        self._closed = True
        if not self._vectors.closed:
            self._vectors.close()
        try:
            self._db.close()
        except sqlite3.Error:  # closing a broken connection must not hide the error that got us here
            pass
        shutil.rmtree(self.tmp_dir, ignore_errors=True)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this IndexWriter was already published or aborted; create a new one")

    def __enter__(self) -> IndexWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Leaving the block without publishing (error or not) discards the temporary directory.
        self.abort()
