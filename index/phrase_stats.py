"""Phrase statistics stored with an index: each credited artist's medium, and where phrases sit.

Two facts learned from the index's own prompts (computed at ingest by `ingest/phrase_stats.py`,
which may read the enhancers' lexicons; this floor may not) and kept in `rows.sqlite`:

- `artist_media(artist, family, share, pmi, n)`: the medium family (`enhancers.media`) an
  artist's credits go with, for artists where one family clearly dominates ("greg rutkowski" →
  digital, a photographer → photo). A writer uses it to leave painters out of photographs.
- `phrase_positions(phrase, as_subject, as_modifier)` and `head_positions(head, ...)`: in how
  many prompts a normalised comma phrase (or its head noun) is the subject (first clause) and
  in how many a later phrase. A phrase that is often a subject elsewhere ("a castle") is scene;
  one that mostly trails after commas ("volumetric lighting") is a modifier (`is_scene`).

The loaders take a `PromptIndex` (its `rows.sqlite`), an index directory or an open SQLite
connection. An index written before these tables existed, or a store without SQLite rows (Milvus),
reads as empty: the index files are immutable and checksummed, and `promptrag ingest` (any
incremental ingest) rebuilds them. Reads are cached per index path and manifest creation time.

Deliberately not here: extracting artists, media and phrases from text (ingest/phrase_stats.py,
which may import enhancers/) and what a writer does with the answers (enhancers/).
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index import rows

SCHEMA = """
CREATE TABLE artist_media (
    artist TEXT PRIMARY KEY, family TEXT NOT NULL, share REAL NOT NULL, pmi REAL NOT NULL, n INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE phrase_positions (
    phrase TEXT PRIMARY KEY, as_subject INTEGER NOT NULL, as_modifier INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE head_positions (
    head TEXT PRIMARY KEY, as_subject INTEGER NOT NULL, as_modifier INTEGER NOT NULL
) WITHOUT ROWID;
"""
TABLES = ("artist_media", "phrase_positions", "head_positions")
# A phrase is scene when at least this share of the prompts that use it open with it. A prompt
# has one subject and ~8 later phrases, so a phrase placed at random opens ~1/9 of the prompts
# it is in; a quarter is over twice that. Below MODIFIER_SHARE it is firmly a modifier
# ("volumetric lighting" opens 0 of 232), whatever its head noun says.
SCENE_SHARE = 0.25
MODIFIER_SHARE = 0.05
MIN_SCENE_COUNT = 3  # fewer sightings say nothing either way (the tables keep nothing rarer)

_LEADING_RE = re.compile(r"^(?:(?:a|an|the|some|two|three|many|one)\s+)+")
# Where a noun phrase's head ends: "a castle on a hill" → "a castle"; "portrait of a woman" → "portrait".
_HEAD_CUT_RE = re.compile(
    r"\s+(?:of|on|in|at|by|with|from|under|over|near|above|below|behind|inside|into|and|&|wearing|holding|"
    r"sitting|standing|made|covered|surrounded|looking|during|for|while|that|which|who|as)\b.*$"
)
# Nouns that frame a picture of something else ("portrait of a knight"): not the subject's head.
FRAME_WORDS = frozenset(
    "portrait portraits photo photograph photography picture image painting drawing illustration render "
    "sketch artwork art still shot view closeup close-up poster cover screenshot scene concept statue "
    "sculpture print engraving photoshoot selfie headshot study depiction".split()
)
_WORD_RE = re.compile(r"^[^\W\d_][\w'-]*$")
_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArtistMedium:
    """The dominant medium family of one artist's credits (see ingest/phrase_stats.py for the rule)."""

    family: str
    share: float  # of the artist's medium mentions, the part this family is compatible with
    pmi: float  # log P(family | artist) / P(family), over prompts that name a medium
    n: int  # prompts crediting the artist that name this family


@dataclass(frozen=True)
class PhraseStats:
    """Everything the tables hold, as written at ingest."""

    artist_media: dict[str, ArtistMedium] = field(default_factory=dict)
    phrases: dict[str, tuple[int, int]] = field(default_factory=dict)  # phrase → (as_subject, as_modifier)
    heads: dict[str, tuple[int, int]] = field(default_factory=dict)  # head noun → (as_subject, as_modifier)


def head_of(phrase: str) -> str:
    """The head noun of a normalised phrase, or "" when it has no plain word for one.

    "a beautiful terrace" → "terrace", "a castle on a hill" → "castle", "volumetric lighting" →
    "lighting"; a picture of something is headed by the something: "portrait of a woman" →
    "woman", "a photo of a cat" → "cat". A cheap rule (no tagger): the last word before the first
    preposition or participle.
    """
    text = phrase.strip()
    for _ in range(3):  # "a close up photo of a portrait of a cat" → "cat"
        head, _, rest = text.partition(" of ")
        if not rest or _plain_head(head) not in FRAME_WORDS:
            break
        text = rest
    return _plain_head(text)


def _plain_head(text: str) -> str:
    words = _HEAD_CUT_RE.sub("", _LEADING_RE.sub("", text)).split()
    return words[-1] if words and _WORD_RE.match(words[-1]) else ""


def is_scene(as_subject: int, as_modifier: int) -> bool | None:
    """True (scene), False (modifier) or None (seen too rarely to say)."""
    total = as_subject + as_modifier
    if total < MIN_SCENE_COUNT:
        return None
    return as_subject >= SCENE_SHARE * total


def phrase_is_scene(phrase: str, stats: PhraseStats) -> bool | None:
    """The verdict for `phrase`: scene when its own counts say so, a modifier when they firmly
    do (opens under MODIFIER_SHARE of its prompts), else its head noun's verdict ("forest" trails
    after commas but heads many subjects), else its own; None when neither was seen enough.
    """
    own = stats.phrases.get(phrase)
    own_verdict = is_scene(*own) if own else None
    if own_verdict:
        return True
    if own and own_verdict is False and own[0] < MODIFIER_SHARE * (own[0] + own[1]):
        return False
    head = stats.heads.get(head_of(phrase))
    head_verdict = is_scene(*head) if head else None
    return head_verdict if head_verdict is not None else own_verdict


# --- storage ------------------------------------------------------------------------------------


def write(conn: sqlite3.Connection, stats: PhraseStats) -> None:
    """Create the tables in a new `rows.sqlite` and fill them (the writer calls this before publish)."""
    conn.executescript(SCHEMA)
    conn.executemany(
        "INSERT INTO artist_media VALUES (?, ?, ?, ?, ?)",
        ((a, m.family, m.share, m.pmi, m.n) for a, m in sorted(stats.artist_media.items())),
    )
    conn.executemany("INSERT INTO phrase_positions VALUES (?, ?, ?)",
                     ((p, s, m) for p, (s, m) in sorted(stats.phrases.items())))
    conn.executemany("INSERT INTO head_positions VALUES (?, ?, ?)",
                     ((h, s, m) for h, (s, m) in sorted(stats.heads.items())))
    conn.commit()


def has_tables(conn: sqlite3.Connection) -> bool:
    names = {row[0] for row in conn.execute("SELECT name FROM main.sqlite_master WHERE type = 'table'")}
    return all(t in names for t in TABLES)


def read(conn: sqlite3.Connection) -> PhraseStats:
    """All three tables (empty when the index predates them)."""
    if not has_tables(conn):
        return PhraseStats()
    media = {a: ArtistMedium(f, float(s), float(p), int(n))
             for a, f, s, p, n in conn.execute("SELECT artist, family, share, pmi, n FROM artist_media")}
    phrases = {p: (int(s), int(m)) for p, s, m in conn.execute("SELECT * FROM phrase_positions")}
    heads = {h: (int(s), int(m)) for h, s, m in conn.execute("SELECT * FROM head_positions")}
    return PhraseStats(media, phrases, heads)


# --- loaders ------------------------------------------------------------------------------------

_cache: dict[tuple[str, str], PhraseStats] = {}
_cache_lock = threading.Lock()


def load(index_or_conn: Any) -> PhraseStats:
    """The stored statistics of a PromptIndex, an index directory or a SQLite connection.

    Empty for an index written before the tables existed (logged once per index) and for a
    store without `rows.sqlite` (Milvus keeps no statistics).
    """
    if isinstance(index_or_conn, sqlite3.Connection):
        return read(index_or_conn)
    path = Path(index_or_conn) if isinstance(index_or_conn, (str, Path)) else getattr(index_or_conn, "path", None)
    if path is None or not (Path(path) / "rows.sqlite").is_file():
        return PhraseStats()
    path = Path(path).resolve()
    manifest = getattr(index_or_conn, "manifest", None)
    key = (str(path), str(getattr(manifest, "created_at", "")) or str((path / "rows.sqlite").stat().st_mtime_ns))
    with _cache_lock:
        if key in _cache:
            return _cache[key]

    conn = rows.open_readonly(path / "rows.sqlite")
    try:
        stats = read(conn)
        if not has_tables(conn):
            _log.info("index %s predates the phrase statistics (artist media, scene phrases); "
                      "re-run `promptrag ingest` on it to add them", path)
    finally:
        conn.close()
    with _cache_lock:
        _cache[key] = stats
    return stats


def load_artist_media(index_or_conn: Any) -> dict[str, str]:
    """Artist name (lower case, no "by ") → its medium family; only artists with a clear one."""
    return {artist: m.family for artist, m in load(index_or_conn).artist_media.items()}


def load_phrase_positions(index_or_conn: Any) -> dict[str, tuple[int, int]]:
    """Normalised phrase → (prompts it opens, prompts it follows a comma in)."""
    return dict(load(index_or_conn).phrases)


def load_scene_phrases(index_or_conn: Any, phrases: Iterable[str] | None = None) -> set[str]:
    """The scene phrases of the table, or of `phrases` (judged through their head noun when unseen)."""
    stats = load(index_or_conn)
    if phrases is None:
        return {p for p, counts in stats.phrases.items() if is_scene(*counts)}
    return {p for p in phrases if phrase_is_scene(p, stats)}


def top_positions(positions: Mapping[str, tuple[int, int]], n: int = 20) -> list[tuple[str, int, int]]:
    """The `n` most used phrases with their counts, for reports."""
    ranked = sorted(positions.items(), key=lambda kv: (-(kv[1][0] + kv[1][1]), kv[0]))[:n]
    return [(p, s, m) for p, (s, m) in ranked]
