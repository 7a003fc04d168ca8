"""The SQLite side of an index (`rows.sqlite`): prompt rows, filter indexes, FTS5 keyword search.

Table `prompts` (id INTEGER PRIMARY KEY = FAISS id = row of vectors.npy) holds each prompt and
its generation settings (and `image`, where its example image is: an index.images locator).
Indexes written before a column existed open with it read as NULL (`_add_missing_columns`). Keyword search is
SQLite FTS5 with its built-in `bm25()` ranking over an external-content table (`prompts_fts`, content='prompts'):
real BM25, persisted with the rows, no extra dependency and nothing pickled. Filter indexes and the FTS index are
built once at publish, which is much faster than maintaining them row by row.

Keyword queries are built from word tokens only, each quoted, joined with OR: user text can
never inject FTS5 syntax (`NEAR`, `*`, `"`, `:`, `^`, column filters) and partial matches count.

Deliberately not here: vectors and FAISS (store.py / ann.py), checksums (manifest.py).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.errors import IndexLoadError
from index.records import RECORD_COLUMNS, PromptRecord, SearchFilters, SearchHit

SCHEMA = """
CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    prompt TEXT NOT NULL,
    count INTEGER NOT NULL,
    seed INTEGER,
    steps INTEGER,
    cfg REAL,
    sampler TEXT,
    width INTEGER,
    height INTEGER,
    prompt_nsfw REAL,
    image_nsfw REAL,
    source TEXT NOT NULL,
    variants TEXT,
    image TEXT
)
"""
FINALIZE = """
CREATE INDEX prompts_count ON prompts(count);
CREATE INDEX prompts_size ON prompts(width, height);
CREATE INDEX prompts_sampler ON prompts(sampler);
CREATE VIRTUAL TABLE prompts_fts USING fts5(
    prompt, content='prompts', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
);
INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild');
CREATE VIRTUAL TABLE temp.prompts_vocab USING fts5vocab(main, prompts_fts, row);
CREATE TABLE prompt_vocabulary (term TEXT PRIMARY KEY, docs INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO prompt_vocabulary SELECT term, doc FROM temp.prompts_vocab;
ANALYZE;
"""
SELECT_COLUMNS = "p.id, " + ", ".join(f"p.{c}" for c in RECORD_COLUMNS)
MAX_QUERY_TOKENS = 64
STOP_WORDS = frozenset(
    "a an and are as at be by for from has in into is it its of on or that the this to was with".split()
)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # what FTS5's unicode61 tokenizer calls a token


def create(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    # The file lives in a temporary directory that is discarded on a crash and fsynced before
    # publish, so per-transaction syncs would only slow a multi-million-row ingest down.
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute(SCHEMA)
    return conn


def insert(conn: sqlite3.Connection, first_id: int, records: Sequence[PromptRecord]) -> None:
    placeholders = ", ".join("?" * (len(RECORD_COLUMNS) + 1))
    conn.executemany(
        f"INSERT INTO prompts (id, {', '.join(RECORD_COLUMNS)}) VALUES ({placeholders})",
        ((first_id + i, *record.as_row()) for i, record in enumerate(records)),
    )
    conn.commit()


def finalize(conn: sqlite3.Connection) -> None:
    """Build the filter and FTS5 indexes once all rows are in."""
    try:
        conn.executescript(FINALIZE)
    except sqlite3.OperationalError as exc:
        if "fts5" in str(exc).lower():
            raise IndexLoadError(
                f"this Python's SQLite ({sqlite3.sqlite_version}) lacks the FTS5 extension needed for "
                "keyword search: use a Python built with a standard SQLite (python.org, conda, Debian/Ubuntu)"
            ) from exc
        raise
    conn.commit()


def open_readonly(path: Path) -> sqlite3.Connection:
    # immutable=1: a published index is never modified in place (it is replaced by rename), so
    # SQLite may skip locking; it also guarantees we never write to a checksummed file.
    uri = f"file:{quote(path.resolve().as_posix())}?mode=ro&immutable=1"
    try:
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("SELECT count(*) FROM prompts_fts WHERE prompts_fts MATCH 'x'").fetchone()
    except sqlite3.DatabaseError as exc:
        raise IndexLoadError(
            f"{path} cannot be read as an index database ({exc}); re-run `promptrag ingest`"
        ) from None
    _add_missing_columns(conn)
    return conn


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Let an index written before a column existed (e.g. `variants`) read as if it had it.

    The file is immutable, so instead of ALTER TABLE a TEMP view named `prompts` (temp objects
    shadow main ones) adds the missing columns as NULL; every query here reads `prompts` by name.
    """
    present = {row[1] for row in conn.execute("PRAGMA main.table_info(prompts)")}
    missing = [c for c in RECORD_COLUMNS if c not in present]
    if missing:
        extra = ", ".join(f"NULL AS {c}" for c in missing)
        conn.execute(f"CREATE TEMP VIEW prompts AS SELECT *, {extra} FROM main.prompts")


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM prompts").fetchone()[0])


def fetch(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, tuple[Any, ...]]:
    """Rows for `ids` keyed by id (missing ids are simply absent)."""
    found: dict[int, tuple[Any, ...]] = {}
    for chunk in _chunks(ids, 500):
        sql = f"SELECT {SELECT_COLUMNS} FROM prompts p WHERE p.id IN ({', '.join('?' * len(chunk))})"
        found.update((row[0], row) for row in conn.execute(sql, chunk))
    return found


def filter_ids(conn: sqlite3.Connection, ids: Sequence[int], filters: SearchFilters) -> set[int]:
    """The subset of `ids` whose rows pass `filters`."""
    condition, params = filters.to_sql()
    kept: set[int] = set()
    for chunk in _chunks(ids, 500):
        sql = f"SELECT p.id FROM prompts p WHERE p.id IN ({', '.join('?' * len(chunk))}) AND {condition}"
        kept.update(row[0] for row in conn.execute(sql, [*chunk, *params]))
    return kept


def matching_ids(conn: sqlite3.Connection, filters: SearchFilters, limit: int) -> list[int] | None:
    """All ids passing `filters`, or None when more than `limit` rows pass (filter is not selective)."""
    condition, params = filters.to_sql()
    rows = conn.execute(
        f"SELECT p.id FROM prompts p WHERE {condition} LIMIT ?", [*params, limit + 1]
    ).fetchall()
    return None if len(rows) > limit else [row[0] for row in rows]


def iter_rows(conn: sqlite3.Connection, batch_size: int) -> Iterable[list[tuple[Any, ...]]]:
    last = -1
    while True:
        sql = f"SELECT {SELECT_COLUMNS} FROM prompts p WHERE p.id > ? ORDER BY p.id LIMIT ?"
        batch = conn.execute(sql, (last, batch_size)).fetchall()
        if not batch:
            return
        yield batch
        last = batch[-1][0]


def term_document_counts(conn: sqlite3.Connection) -> Iterable[tuple[str, int]]:
    """Every token of the keyword index with the exact number of rows containing it.

    Tokens are as FTS5 stores them: lower-case, without diacritics. `finalize` stores the counts
    in the `prompt_vocabulary` table (read in milliseconds); an index built before that table
    existed is counted from the FTS5 index itself (`scan_term_document_counts`: seconds at 1M).
    """
    stored = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'prompt_vocabulary'")
    if stored.fetchone() is None:
        yield from scan_term_document_counts(conn)
        return
    yield from conn.execute("SELECT term, docs FROM prompt_vocabulary")


def scan_term_document_counts(conn: sqlite3.Connection) -> Iterable[tuple[str, int]]:
    """The counts of `term_document_counts`, read through SQLite's fts5vocab over `prompts_fts`
    (one pass over the whole FTS5 index). The fts5vocab table lives in the connection's TEMP
    schema, so nothing is written to a read-only, checksummed index file."""
    conn.execute(
        "CREATE VIRTUAL TABLE IF NOT EXISTS temp.prompts_vocab USING fts5vocab(main, prompts_fts, row)"
    )
    yield from conn.execute("SELECT term, doc FROM temp.prompts_vocab")


def fts_query(text: str) -> str | None:
    """A safe FTS5 MATCH expression: quoted word tokens joined by OR (None when there are none).

    Stop words are dropped (unless nothing else is left): with OR semantics "a" or "the" would
    match almost every row and force FTS5 to rank the whole table, while their BM25 weight is ~0.
    """
    words = list(dict.fromkeys(token.lower() for token in _WORD.findall(text)))
    tokens = [w for w in words if w not in STOP_WORDS] or words
    tokens = tokens[:MAX_QUERY_TOKENS]
    if not tokens:
        return None
    return " OR ".join(f'"{token}"' for token in tokens)


def keyword_search(conn: sqlite3.Connection, text: str, k: int, filters: SearchFilters) -> list[SearchHit]:
    query = fts_query(text)
    if query is None:
        return []
    condition, params = filters.to_sql()
    # bm25() is lower-is-better (negative); we negate it so every score in promptrag is higher-is-better.
    sql = (
        f"SELECT {SELECT_COLUMNS}, -bm25(prompts_fts) AS score FROM prompts_fts "
        f"JOIN prompts p ON p.id = prompts_fts.rowid "
        f"WHERE prompts_fts MATCH ? AND {condition} ORDER BY bm25(prompts_fts) LIMIT ?"
    )
    rows = conn.execute(sql, [query, *params, k]).fetchall()
    return [SearchHit.from_row(row[:-1], score=row[-1]) for row in rows]


def _chunks(items: Sequence[int], size: int) -> Iterable[list[int]]:
    items = [int(i) for i in items]
    for start in range(0, len(items), size):
        yield items[start : start + size]
