"""The ingest work directory: an on-disk staging table, embedded vector chunks and a checkpoint.

Layout of `<index>.ingest-work/`:

- `checkpoint.json`  the run's fingerprint (source identity + result-changing options + the
                     base index's manifest digest), written once, atomically;
- `staging.sqlite`   WAL-mode SQLite: `staged` (one row per distinct prompt, keyed by a 16-byte
                     hash of its fold key -- or of its dedupe key with folding off -- with its
                     total count, one representative's settings and the max NSFW scores),
                     `variants` (each distinct wording of a staged prompt with its own count; the
                     most frequent becomes the stored text, the others its variants), `meta`
                     (phase, rows consumed, counters), `plan` (the prompts to embed, shortest
                     first), `existing` (keys already indexed) and `near_folds` (plan
                     positions folded by meaning into another planned prompt or into an
                     indexed row, with `--fold-cosine`) and, for `--executor ray`,
                     `shard_vectors` (where each distinct prompt text's vector lies: the
                     first shard and position holding it, ingest/shards.py);
- `chunks/chunk-NNNNNNN.npy`  the vectors of plan batch N, written to a temp file and renamed,
                     so a chunk either exists whole or not at all;
- `.lock`            flock'ed by the running ingest, so two runs never share a work directory.

Every source batch is staged in ONE transaction together with the count of source rows it
consumed, so after a crash the run resumes after the last committed batch: no row is lost or
counted twice. Memory stays bounded whatever the source size: de-duplication happens in
SQLite, not in a Python dict.

Deliberately not here: reading sources, embedding, writing the index (see pipeline.py), reading
the staged rows back for the targets to write (staged_rows.py).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from ingest.near_duplicates import NearDuplicates

from core.errors import ConfigError
from core.files import atomic_write
from ingest.normalize import dedupe_key, fold_key, key_hash, sample_rank

SETTINGS = ("seed", "steps", "cfg", "sampler", "width", "height")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS staged (
    kh BLOB PRIMARY KEY, prompt TEXT NOT NULL, count INTEGER NOT NULL,
    seed INTEGER, steps INTEGER, cfg REAL, sampler TEXT, width INTEGER, height INTEGER,
    prompt_nsfw REAL, image_nsfw REAL, existing_id INTEGER, image TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS plan (ord INTEGER PRIMARY KEY, kh BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS existing (kh BLOB PRIMARY KEY, id INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS variants (
    kh BLOB NOT NULL, vkh BLOB NOT NULL, text TEXT NOT NULL, count INTEGER NOT NULL, seq INTEGER NOT NULL,
    PRIMARY KEY (kh, vkh)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS near_folds (ord INTEGER PRIMARY KEY, into_ord INTEGER, into_id INTEGER);
CREATE INDEX IF NOT EXISTS near_folds_into ON near_folds (into_ord);
CREATE TABLE IF NOT EXISTS shard_vectors (th BLOB PRIMARY KEY, block INTEGER NOT NULL, pos INTEGER NOT NULL)
    WITHOUT ROWID;
"""
# th: key_hash of the exact prompt text; the first (block, pos) staged wins, as the first wording does.
# vkh: hash of the wording's dedupe key; seq: where it was first seen (ties go to the earliest).
_UPSERT_VARIANT = """
INSERT INTO variants (kh, vkh, text, count, seq) VALUES (?, ?, ?, ?, ?)
ON CONFLICT (kh, vkh) DO UPDATE SET count = count + excluded.count
"""
# NSFW scores keep the max over merged rows; NULL (no score) never hides a real score.
_UPSERT = """
INSERT INTO staged (kh, prompt, count, seed, steps, cfg, sampler, width, height, prompt_nsfw, image_nsfw, image)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (kh) DO UPDATE SET
    count = count + excluded.count,
    image = coalesce(image, excluded.image),
    prompt_nsfw = max(coalesce(prompt_nsfw, excluded.prompt_nsfw), coalesce(excluded.prompt_nsfw, prompt_nsfw)),
    image_nsfw = max(coalesce(image_nsfw, excluded.image_nsfw), coalesce(excluded.image_nsfw, image_nsfw))
"""


def nsfw_max(a: float | None, b: float | None) -> float | None:
    """The larger of two NSFW scores, either of which may be unknown (None)."""
    if a is None:
        return b
    return a if b is None else max(a, b)


class WorkDir:
    """One ingest's work directory (see the module docstring). Use as a context manager.

    `fold=True` merges prompts with the same fold key (same words in any order or punctuation);
    `fold=False` merges only copies that differ in case and spacing.
    """

    def __init__(self, path: Path, fold: bool = True) -> None:
        self.path = Path(path)
        self.fold = fold
        self.chunks = self.path / "chunks"
        self.db: sqlite3.Connection | None = None
        self._lock_fd: int | None = None

    # -- life cycle ----------------------------------------------------------------------------
    def open(self) -> WorkDir:
        self.chunks.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._connect()
        return self

    def _connect(self) -> None:
        self.db = sqlite3.connect(self.path / "staging.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache, whatever the source size
        self.db.executescript(_SCHEMA)
        if "image" not in {row[1] for row in self.db.execute("PRAGMA table_info(staged)")}:
            self.db.execute("ALTER TABLE staged ADD COLUMN image TEXT")  # a work dir of an older version

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock, single-run use assumed
            return
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise ConfigError(
                f"another ingest is already running on {self.path} (its work directory is locked); "
                "wait for it to finish or stop it first"
            ) from None
        self._lock_fd = fd

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.path, ignore_errors=True)

    def reset(self) -> None:
        """Empty the (locked, open) work directory: a fresh start keeping the lock."""
        self.db.close()
        for entry in self.path.iterdir():
            if entry.name == ".lock":
                continue
            if entry.is_dir():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        self.chunks.mkdir()
        self._connect()

    def __enter__(self) -> WorkDir:
        return self.open()

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- checkpoint and meta -------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.json"

    def read_checkpoint(self) -> dict | None:
        try:
            return json.loads(self.checkpoint_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def write_checkpoint(self, data: dict) -> None:
        atomic_write(self.checkpoint_path, json.dumps(data, indent=2, sort_keys=True))

    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def _set(self, key: str, value: Any) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))

    def set(self, **values: Any) -> None:
        with self._txn():
            for key, value in values.items():
                self._set(key, value)

    def _txn(self):
        db = self.db

        class _Txn:
            def __enter__(self_):
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self_, exc_type, *_):
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Txn()

    # -- 1. staging ---------------------------------------------------------------------------
    def stage(self, rows: list[dict], consumed: int, counters: dict[str, int],
              vectors_at: Iterable[tuple[str, int, int]] = ()) -> None:
        """Upsert cleaned rows; record `consumed` source rows and `counters` in the same commit, and
        `vectors_at`: (prompt text, shard block, position) of vectors already embedded (Ray shards)."""
        merged: dict[bytes, list] = {}
        wordings: dict[tuple[bytes, bytes], list] = {}
        first_seq = consumed - len(rows)  # the kept rows' positions are not known; order within is kept
        for position, row in enumerate(rows):
            dkey = dedupe_key(row["prompt"])
            vkh = key_hash(dkey)
            kh = key_hash(fold_key(row["prompt"])) if self.fold else vkh
            seen = merged.get(kh)
            if seen is None:
                merged[kh] = [kh, row["prompt"], 1, *(row[k] for k in SETTINGS), row["prompt_nsfw"], row["image_nsfw"],
                              row.get("image")]
            else:
                seen[2] += 1
                seen[9] = nsfw_max(seen[9], row["prompt_nsfw"])
                seen[10] = nsfw_max(seen[10], row["image_nsfw"])
                seen[11] = seen[11] or row.get("image")
            wording = wordings.get((kh, vkh))
            if wording is None:
                wordings[(kh, vkh)] = [kh, vkh, row["prompt"], 1, first_seq + position]
            else:
                wording[3] += 1
        with self._txn():
            self.db.executemany(_UPSERT, merged.values())
            self.db.executemany(_UPSERT_VARIANT, wordings.values())
            self.db.executemany("INSERT OR IGNORE INTO shard_vectors VALUES (?, ?, ?)",
                                ((key_hash(text), block, pos) for text, block, pos in vectors_at))
            self._set("rows_consumed", consumed)
            self._set("counters", counters)

    def distinct_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM staged").fetchone()[0]

    # -- 2. filter, sample, match the existing index, plan (one transaction) -------------------
    def finish_staging(
        self,
        *,
        max_prompt_nsfw: float,
        max_image_nsfw: float,
        sample: int | None,
        seed: int,
        existing: Iterable[list[tuple[int, str]]],
        counters: dict[str, int],
        embed_batch: int = 64,
    ) -> dict[str, int]:
        """Apply NSFW thresholds and --sample, mark prompts already indexed, plan the embedding."""
        db = self.db
        db.create_function("sample_rank", 1, lambda kh: sample_rank(kh, seed), deterministic=True)
        out = dict(counters)
        with self._txn():
            out["distinct"] = self.distinct_count()
            nsfw = "(prompt_nsfw > ? OR image_nsfw > ?)"
            prompts, rows = db.execute(
                f"SELECT count(*), coalesce(sum(count), 0) FROM staged WHERE {nsfw}", (max_prompt_nsfw, max_image_nsfw)
            ).fetchone()
            db.execute(f"DELETE FROM staged WHERE {nsfw}", (max_prompt_nsfw, max_image_nsfw))
            out["nsfw_filtered_prompts"], out["nsfw_filtered_rows"] = prompts, rows
            out["sampled_out_prompts"] = 0
            if sample is not None:
                before = self.distinct_count()
                db.execute(
                    "DELETE FROM staged WHERE kh NOT IN (SELECT kh FROM staged ORDER BY sample_rank(kh), kh LIMIT ?)",
                    (sample,),
                )
                out["sampled_out_prompts"] = before - self.distinct_count()
            # The stored text of a folded prompt is its most frequent wording (earliest on ties).
            db.execute(
                "UPDATE staged SET prompt = (SELECT v.text FROM variants v WHERE v.kh = staged.kh "
                "ORDER BY v.count DESC, v.seq LIMIT 1) "
                "WHERE kh IN (SELECT kh FROM variants GROUP BY kh HAVING count(*) > 1)"
            )
            key = fold_key if self.fold else dedupe_key
            for batch in existing:
                db.executemany(
                    "INSERT OR IGNORE INTO existing VALUES (?, ?)",
                    ((key_hash(key(prompt)), int(id_)) for id_, prompt in batch),
                )
            db.execute("UPDATE staged SET existing_id = e.id FROM existing AS e WHERE e.kh = staged.kh")
            out["seen_again_prompts"] = db.execute(
                "SELECT count(*) FROM staged WHERE existing_id IS NOT NULL"
            ).fetchone()[0]
            db.execute("DELETE FROM plan")
            db.execute(
                "INSERT INTO plan (kh) SELECT kh FROM staged WHERE existing_id IS NULL ORDER BY length(prompt), kh"
            )
            out["to_embed"] = db.execute("SELECT count(*) FROM plan").fetchone()[0]
            self._set("counters", out)
            self._set("embed_batch", embed_batch)  # fixed now: chunk N always holds the same prompts
            self._set("phase", "embed")
        return out

    # -- 3. embedding chunks ------------------------------------------------------------------
    def plan_texts(self, start: int, stop: int) -> list[str]:
        """Prompts of plan positions [start, stop) (0-based), in plan order."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT s.prompt FROM plan p JOIN staged s ON s.kh = p.kh "
                "WHERE p.ord > ? AND p.ord <= ? ORDER BY p.ord",
                (start, stop),
            )
        ]

    def shard_positions(self, texts: Sequence[str]) -> list[tuple[int, int]]:
        """(shard block, position) of each text's vector, as `stage(vectors_at=...)` recorded it."""
        hashes = [key_hash(text) for text in texts]
        found: dict[bytes, tuple[int, int]] = {}
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            found.update((th, (block, pos)) for th, block, pos in self.db.execute(
                f"SELECT th, block, pos FROM shard_vectors WHERE th IN ({', '.join('?' * len(part))})", part))
        missing = [text for text, th in zip(texts, hashes) if th not in found]
        if missing:
            raise RuntimeError(f"no shard in {self.path} holds the vector of {len(missing)} planned prompts "
                               f"(e.g. {missing[0][:60]!r}); run the ingest again with --restart")
        return [found[th] for th in hashes]

    def chunk_path(self, number: int) -> Path:
        return self.chunks / f"chunk-{number:07d}.npy"

    def load_chunk(self, number: int, rows: int, dimension: int) -> np.ndarray | None:
        """The saved vectors of chunk `number`, or None when missing or not the expected shape."""
        path = self.chunk_path(number)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None
        if array.shape != (rows, dimension) or array.dtype != np.float32:
            return None
        return array

    def save_chunk(self, number: int, vectors: np.ndarray) -> None:
        atomic_write(self.chunk_path(number),
                     lambda handle: np.save(handle, np.ascontiguousarray(vectors, dtype=np.float32),
                                            allow_pickle=False))

    def plan_vectors(self, total: int, dimension: int) -> Sequence[np.ndarray]:
        """The embedded chunks of a plan of `total` prompts, each loaded when accessed (none held)."""
        return _PlanVectors(self, total, dimension)

    # -- 4. folding by meaning (--fold-cosine) -------------------------------------------------
    def plan_counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(count, first seen source row) of each planned prompt, in plan order."""
        rows = self.db.execute(
            "SELECT s.count, (SELECT min(v.seq) FROM variants v WHERE v.kh = s.kh) "
            "FROM plan p JOIN staged s ON s.kh = p.kh ORDER BY p.ord"
        ).fetchall()
        return (np.array([r[0] for r in rows], dtype=np.int64),
                np.array([r[1] if r[1] is not None else 0 for r in rows], dtype=np.int64))

    def save_near_folds(self, folds: NearDuplicates) -> None:
        """Record where folded plan positions (0-based) go and count them, in one commit."""
        with self._txn():
            self.db.execute("DELETE FROM near_folds")
            self.db.executemany("INSERT INTO near_folds VALUES (?, ?, NULL)",
                                ((ord_ + 1, into + 1) for ord_, into in sorted(folds.into_new.items())))
            self.db.executemany("INSERT INTO near_folds VALUES (?, NULL, ?)",
                                ((ord_ + 1, into) for ord_, into in sorted(folds.into_stored.items())))
            counters = self.get("counters", {})
            self._set("counters", counters | {"near_folded_prompts": len(folds)})
            self._set("near_folds_done", True)


class _PlanVectors(Sequence):
    """The plan's embedded chunks as a sequence; each access loads one chunk (memory-mapped)."""

    def __init__(self, work: WorkDir, total: int, dimension: int) -> None:
        self.work, self.total, self.dimension = work, total, dimension
        self.size = work.get("embed_batch")

    def __len__(self) -> int:
        return -(-self.total // self.size)

    def __getitem__(self, number: int) -> np.ndarray:  # type: ignore[override]
        if not 0 <= number < len(self):
            raise IndexError(number)
        rows = min(self.size, self.total - number * self.size)
        chunk = self.work.load_chunk(number, rows, self.dimension)
        if chunk is None:
            raise RuntimeError(f"embedded chunk {number} is missing from {self.work.path}")
        return chunk
