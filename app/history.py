"""The history of every round: ideas, picked examples, prompts, who answered, images, timings.

`History(path=None)` is a SQLite file (default `Settings.history_db`) that several Streamlit
sessions (threads) and several server processes may write at once:
* a new connection per call, so one `History` object can be shared by every thread;
* WAL journal (readers never block the writer) and a busy timeout (a writer waits its turn);
* one short `BEGIN IMMEDIATE` transaction per write, so no transaction ever has to upgrade a
  read lock (the upgrade is what fails with "database is locked" under WAL).

A round stores the idea, prompt, negative prompt, enhancer, fallback reasons, feedback, the
examples used and the full `AssistantResult` JSON (`to_dict` / `from_dict`, the stable
contract); images store their path, seed, the generation parameters and timings. Search is a
case-insensitive substring match (LIKE, wildcards escaped) over idea, prompt and feedback.
Exports are CSV (cells that a spreadsheet would run as a formula are prefixed with ') or JSON.

Every round belongs to one user (`user_id`; "local" when the app runs without sign-in): a
`History` reads and writes as one user (`History(path, user=...)`, or `history.as_user(...)`
for the same file), and one user never sees, reopens, exports, deletes or adds images to
another's rounds. A database from before users (schema 1) is migrated on open: its rounds get
the column with 'local', so a single-user install sees exactly what it saw before.

Deliberately not here: image files themselves (deleting a round never deletes a file; a moved
or deleted file shows as `exists=False`), per-user UI state (st.session_state), and schema
migrations beyond adding the user column and refusing a newer schema than this code knows.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal, Protocol

from core.errors import ConfigError, InputError
from core.settings import get_settings
from core.spend import LOCAL_USER
from rag.assistant import AssistantResult

SCHEMA_VERSION = 2  # 2: rounds.user_id
BUSY_TIMEOUT_S = 30.0
_MAX_VARIABLES = 500  # prompts per IN (...) query, well under SQLite's limit
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idea TEXT NOT NULL,
    prompt TEXT NOT NULL,
    negative_prompt TEXT NOT NULL,
    enhancer TEXT NOT NULL,
    fallback_reasons TEXT NOT NULL,   -- JSON object
    feedback TEXT,
    examples TEXT NOT NULL,           -- JSON list of the examples used
    timings TEXT NOT NULL,            -- JSON object: the round's, plus image_* from generations
    result TEXT NOT NULL,             -- AssistantResult.to_dict() JSON
    user_id TEXT NOT NULL DEFAULT 'local'  -- who made it (app/auth.py), 'local' without sign-in
);
CREATE INDEX IF NOT EXISTS rounds_session ON rounds (session_id, id);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    round_id INTEGER NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    prompt TEXT NOT NULL,             -- the prompt the image was made from (may be hand-edited)
    path TEXT NOT NULL,
    seed INTEGER,
    backend TEXT,
    model TEXT,
    parameters TEXT NOT NULL,         -- JSON object
    timings TEXT NOT NULL             -- JSON object of the generation that made it
);
CREATE INDEX IF NOT EXISTS images_round ON images (round_id);
CREATE INDEX IF NOT EXISTS images_prompt ON images (prompt);
"""


class SavedImages(Protocol):
    """What `add_images` needs from generate's SavedGeneration (any object with these attributes)."""

    backend: str
    model: str | None
    paths: list[Path]
    seeds: list[int]
    parameters: dict[str, object]
    timings: dict[str, float]


@dataclass
class HistoryImage:
    path: str
    seed: int
    parameters: dict[str, object]
    exists: bool  # the file is still on disk (checked when read)


@dataclass
class HistoryRound:
    id: int
    session_id: str
    created_at: str  # ISO 8601, UTC
    idea: str
    prompt: str
    negative_prompt: str
    enhancer: str
    fallback_reasons: dict[str, str]
    feedback: str | None
    result: AssistantResult
    images: list[HistoryImage] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """JSON-safe: the row's fields, images, and `result` as AssistantResult.to_dict()."""
        data = {name: getattr(self, name) for name in (
            "id", "session_id", "created_at", "idea", "prompt", "negative_prompt", "enhancer",
            "fallback_reasons", "feedback", "timings")}
        data["images"] = [asdict(image) for image in self.images]
        data["result"] = self.result.to_dict()
        return data


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _json(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _safe_cell(value: object) -> object:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


class History:
    """The SQLite history; safe to share between threads and processes (a connection per call)."""

    def __init__(self, path: Path | None = None, *, user: str = LOCAL_USER) -> None:
        if not user:
            raise InputError("user must be a non-empty string (the signed-in user, or 'local'), got ''")
        self.user = user
        self.path = Path(path) if path is not None else get_settings().history_db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the history directory {self.path.parent}: {exc.strerror}; "
                              "set PROMPTRAG_HOME to a writable directory") from None
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")  # persistent: set once per file
        with self._write() as conn:
            for statement in filter(str.strip, _SCHEMA.split(";")):  # executescript would COMMIT first
                conn.execute(statement)
            row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
            if row[0] is not None and row[0] > SCHEMA_VERSION:
                raise ConfigError(f"the history database {self.path} has schema version {row[0]}, newer than "
                                  f"this promptrag ({SCHEMA_VERSION}); upgrade promptrag or point "
                                  "PROMPTRAG_HOME elsewhere")
            columns = {info[1] for info in conn.execute("PRAGMA table_info(rounds)")}
            if "user_id" not in columns:  # schema 1: every round so far was the local user's
                conn.execute("ALTER TABLE rounds ADD COLUMN user_id TEXT NOT NULL DEFAULT 'local'")
            conn.execute("CREATE INDEX IF NOT EXISTS rounds_user ON rounds (user_id, id)")
            if row[0] is None:
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            elif row[0] < SCHEMA_VERSION:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    def as_user(self, user: str) -> History:
        """The same database read and written as `user` (no schema work: cheap on every rerun)."""
        if not user:
            raise InputError("user must be a non-empty string (the signed-in user, or 'local'), got ''")
        clone = copy.copy(self)
        clone.user = user
        return clone

    def __repr__(self) -> str:
        return f"History({str(self.path)!r}, user={self.user!r})"

    # --- connections ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise ConfigError(f"cannot open the history database {self.path}: {exc}; "
                              "check the file's permissions or set PROMPTRAG_HOME") from None
        with closing(conn):
            try:
                conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
                conn.execute("PRAGMA foreign_keys = ON")
                yield conn
            except sqlite3.DatabaseError as exc:  # locked for > BUSY_TIMEOUT_S, disk full, not a database...
                raise ConfigError(f"the history database {self.path} failed: {exc}; check that the disk has "
                                  "space and the file is writable (move a damaged file away), "
                                  "then try again") from exc

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, holding the write lock from its start."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may already have rolled back (disk full, I/O error)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: rounds and their images come from the same snapshot."""
        with self._connect() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")

    # --- writes --------------------------------------------------------------------------------

    def add_round(self, *, session_id: str, result: AssistantResult, feedback: str | None = None) -> int:
        """Store one round (the result and the feedback that led to it); returns its id."""
        if not session_id:
            raise InputError("session_id must be a non-empty string, got ''")
        data = result.to_dict()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO rounds (session_id, created_at, idea, prompt, negative_prompt, enhancer, "
                "fallback_reasons, feedback, examples, timings, result, user_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (session_id, _now(), result.idea, result.prompt, result.negative_prompt, result.enhancer,
                 _json(result.fallback_reasons), feedback, _json(data["examples"]), _json(result.timings),
                 _json(data), self.user),
            )
            assert cursor.lastrowid is not None  # set by every INSERT
            return cursor.lastrowid

    def add_images(self, round_id: int, saved: SavedImages) -> None:
        """Store the images of one generation for round `round_id` (paths, seeds, parameters).

        The generation's timings are added to the round's as image_<name> (summed over generations).
        """
        if len(saved.paths) != len(saved.seeds):
            raise ValueError(f"{len(saved.paths)} image paths but {len(saved.seeds)} seeds")
        created = _now()
        timings = {key: float(value) for key, value in dict(saved.timings).items()}
        with self._write() as conn:
            row = conn.execute("SELECT prompt, timings FROM rounds WHERE id = ? AND user_id = ?",
                               (round_id, self.user)).fetchone()
            if row is None:
                raise InputError(f"history round {round_id} does not exist (deleted?); store the round first")
            prompt = str(saved.parameters.get("prompt") or row[0])
            for path, seed in zip(saved.paths, saved.seeds):
                parameters = {**saved.parameters, "seed": seed}
                parameters.setdefault("backend", saved.backend)
                parameters.setdefault("model", saved.model)
                conn.execute(
                    "INSERT INTO images (round_id, created_at, prompt, path, seed, backend, model, "
                    "parameters, timings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (round_id, created, prompt, os.path.abspath(path), seed, saved.backend, saved.model,
                     _json(parameters), _json(timings)),
                )
            round_timings = json.loads(row[1])
            for key, value in timings.items():
                round_timings[f"image_{key}"] = round_timings.get(f"image_{key}", 0.0) + value
            conn.execute("UPDATE rounds SET timings = ? WHERE id = ?", (_json(round_timings), round_id))

    def delete(self, round_id: int) -> None:
        """Delete round `round_id` and its image rows (the image files stay on disk)."""
        with self._write() as conn:
            if conn.execute("DELETE FROM rounds WHERE id = ? AND user_id = ?", (round_id, self.user)).rowcount == 0:
                raise InputError(f"history round {round_id} does not exist (already deleted?)")
            conn.execute("DELETE FROM images WHERE round_id = ?", (round_id,))

    # --- reads ---------------------------------------------------------------------------------

    def list_rounds(self, *, search: str | None = None, limit: int = 50,
                    offset: int = 0) -> list[HistoryRound]:
        """Rounds, newest first, optionally only those whose idea, prompt or feedback contain `search`."""
        if limit < 0 or offset < 0:
            raise InputError(f"limit and offset must be >= 0, got limit={limit}, offset={offset}")
        where, args = self._where(search)
        return self._rounds(f"{where} ORDER BY id DESC LIMIT ? OFFSET ?", (*args, limit, offset))

    def count(self, *, search: str | None = None) -> int:
        where, args = self._where(search)
        with self._read() as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM rounds {where}", args).fetchone()[0])

    def get(self, round_id: int) -> HistoryRound:
        found = self._rounds("WHERE id = ? AND user_id = ?", (round_id, self.user))
        if not found:
            raise InputError(f"history round {round_id} does not exist (deleted?); pick one from the list")
        return found[0]

    def session(self, session_id: str) -> list[HistoryRound]:
        """Every round of one session, oldest first."""
        return self._rounds("WHERE session_id = ? AND user_id = ? ORDER BY id", (session_id, self.user))

    def images_for_prompts(self, prompts: list[str]) -> dict[str, list[HistoryImage]]:
        """This user's images made from exactly these prompt texts, newest first (every prompt is a key)."""
        wanted = list(dict.fromkeys(prompts))
        found: dict[str, list[HistoryImage]] = {prompt: [] for prompt in wanted}
        with self._read() as conn:
            for start in range(0, len(wanted), _MAX_VARIABLES):
                chunk = wanted[start:start + _MAX_VARIABLES]
                marks = ", ".join("?" * len(chunk))
                rows = conn.execute("SELECT prompt, path, seed, parameters FROM images WHERE round_id IN "
                                    "(SELECT id FROM rounds WHERE user_id = ?) "
                                    f"AND prompt IN ({marks}) ORDER BY id DESC", (self.user, *chunk)).fetchall()
                for prompt, *image in rows:
                    found[prompt].append(self._image(*image))
        return found

    def export(self, fmt: Literal["csv", "json"], *, search: str | None = None) -> str:
        """All (matching) rounds, oldest first, as CSV or JSON text."""
        if fmt not in ("csv", "json"):
            raise InputError(f"export format must be 'csv' or 'json', got {fmt!r}")
        where, args = self._where(search)
        rounds = self._rounds(f"{where} ORDER BY id", args)
        if fmt == "json":
            return json.dumps([r.to_dict() for r in rounds], ensure_ascii=False, indent=2, default=str)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["id", "created_at", "session_id", "idea", "prompt", "negative_prompt", "enhancer",
                         "fallback_reasons", "feedback", "examples", "images", "seeds"])
        for r in rounds:
            writer.writerow([_safe_cell(cell) for cell in (
                r.id, r.created_at, r.session_id, r.idea, r.prompt, r.negative_prompt, r.enhancer,
                _json(r.fallback_reasons) if r.fallback_reasons else "", r.feedback or "",
                "\n".join(example.text for example in r.result.examples),
                "\n".join(image.path for image in r.images),
                " ".join(str(image.seed) for image in r.images),
            )])
        return out.getvalue()

    # --- helpers -------------------------------------------------------------------------------

    def _where(self, search: str | None) -> tuple[str, tuple]:
        if not search or not search.strip():
            return "WHERE user_id = ?", (self.user,)
        pattern = _like(search.strip())
        return ("WHERE user_id = ? AND (idea LIKE ? ESCAPE '\\' OR prompt LIKE ? ESCAPE '\\' "
                "OR feedback LIKE ? ESCAPE '\\')", (self.user, pattern, pattern, pattern))

    @staticmethod
    def _image(path: str, seed: int | None, parameters: str) -> HistoryImage:
        return HistoryImage(path=path, seed=int(seed) if seed is not None else -1,
                            parameters=json.loads(parameters), exists=Path(path).is_file())

    def _rounds(self, tail: str, args: tuple) -> list[HistoryRound]:
        columns = ("id, session_id, created_at, idea, prompt, negative_prompt, enhancer, fallback_reasons, "
                   "feedback, timings, result")
        with self._read() as conn:
            rows = conn.execute(f"SELECT {columns} FROM rounds {tail}", args).fetchall()
            images: dict[int, list[HistoryImage]] = {row[0]: [] for row in rows}
            ids = list(images)
            for start in range(0, len(ids), _MAX_VARIABLES):
                chunk = ids[start:start + _MAX_VARIABLES]
                marks = ", ".join("?" * len(chunk))
                for round_id, *image in conn.execute(
                        "SELECT round_id, path, seed, parameters FROM images "
                        f"WHERE round_id IN ({marks}) ORDER BY id",
                        chunk):
                    images[round_id].append(self._image(*image))
        return [
            HistoryRound(
                id=row[0], session_id=row[1], created_at=row[2], idea=row[3], prompt=row[4],
                negative_prompt=row[5], enhancer=row[6], fallback_reasons=json.loads(row[7]), feedback=row[8],
                result=AssistantResult.from_dict(json.loads(row[10])), images=images[row[0]],
                timings=json.loads(row[9]),
            )
            for row in rows
        ]
