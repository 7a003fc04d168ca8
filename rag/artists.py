"""The artist names an index's prompts credit most often, and which of them a user has blocked.

`top_artists(index, n=20)` reads every row once (`index.iter_records()`), finds the artist
credits with the grounded enhancer's own phrase reader (`grounded.modifier_phrases`, category
"artist": "by greg rutkowski", "art by x", "in the style of x"), and counts each name by the
prompt's occurrences in the gallery (its `count`). The answer is cached as JSON in
`$PROMPTRAG_HOME/cache/artists/` keyed by the index path and its manifest (creation time, row
count), so the Settings page pays the scan once per published index.

`with_blocked(artists, blocklist)` marks the names the user's blocklist blocks.

`artist_media_for(index, texts)` and `scene_phrases_for(index, texts)` read the statistics the
ingest stored with the index (index/phrase_stats.py: each artist's medium family, where phrases
sit) for just the artists and phrases of `texts` (an idea and its examples), so a request carries
a few entries, not the table. An index without the tables (older, or Milvus) gives empty answers.

Deliberately not here: the blocklist itself (enhancers/blocklist.py) and any UI.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from core.files import atomic_write
from core.settings import get_settings
from enhancers.grounded import modifier_phrases, split_phrases
from index.phrase_stats import load, load_artist_media, phrase_is_scene
from rag.guidance import credited_artists

CACHE_VERSION = 2  # 2: "by a and b and c" counts three artists
DEFAULT_TOP = 20


@dataclass(frozen=True)
class ArtistCount:
    name: str
    count: int  # prompt occurrences in the gallery that credit this artist
    prompts: int  # distinct prompts (rows) that credit them
    blocked: bool = False


def _name(phrase: str) -> str:
    return re.sub(r"^(?:art by|by|in the style of|style of)\s+", "", phrase).strip()


def _names(phrase: str) -> list[str]:
    """The artists one credit names: "by artgerm and greg rutkowski & alphonse mucha" is three."""
    return [name.strip() for name in re.split(r"\s+(?:and|&)\s+|\s*&\s*", _name(phrase))]


def count_artists(records: Any) -> tuple[Counter[str], Counter[str]]:
    """(occurrences, rows) per artist name over `records` (batches of (id, PromptRecord))."""
    occurrences: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    for batch in records:
        for _, record in batch:
            names = {n for p, category in modifier_phrases(record.prompt) if category == "artist" for n in _names(p)}
            for name in names - {""}:
                occurrences[name] += max(1, int(record.count))
                rows[name] += 1
    return occurrences, rows


def _cache_file(index: Any) -> Path:
    manifest = getattr(index, "manifest", None)
    key = json.dumps([CACHE_VERSION, str(Path(index.path).resolve()), getattr(manifest, "created_at", ""),
                      getattr(manifest, "row_count", len(index))])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
    return get_settings().cache_dir / "artists" / f"{digest}.json"


def top_artists(index: Any, n: int = DEFAULT_TOP) -> list[ArtistCount]:
    """The `n` most credited artists of `index` (a PromptIndex), most occurrences first; cached."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    path = _cache_file(index)
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("version") == CACHE_VERSION and cached.get("n", 0) >= n:
            return [ArtistCount(**item) for item in cached["artists"][:n]]
    except (OSError, ValueError, TypeError, KeyError):
        pass  # no cache yet, or one we cannot read: count again and rewrite it
    occurrences, rows = count_artists(index.iter_records())
    ranked = sorted(occurrences, key=lambda name: (-occurrences[name], -rows[name], name))[:n]
    artists = [ArtistCount(name, occurrences[name], rows[name]) for name in ranked]

    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"version": CACHE_VERSION, "n": n, "artists": [asdict(a) for a in artists]}
    atomic_write(path, json.dumps(payload))
    return artists


def with_blocked(artists: list[ArtistCount], blocklist: Any) -> list[ArtistCount]:
    """`artists` with `blocked` set where the blocklist blocks the name (or its "by NAME" credit)."""
    return [replace(a, blocked=bool(blocklist) and blocklist.blocks(a.name)) for a in artists]


def artist_media_for(index: Any, texts: Any) -> dict[str, str]:
    """Artist → medium family (as `EnhanceRequest.artist_media` wants) for the artists `texts` credit.

    Names are found as `rag.guidance.credited_artists` finds them ("by X", "art by X and Y", a
    known bare name), plus any later phrase of two or more words that is exactly a name of the index's
table (one word alone, "cyberpunk", is too often not a name).
    """

    table = load_artist_media(index) if index is not None else {}
    if not table:
        return {}
    texts = [t for t in texts if t and t.strip()]
    bare = {p for t in texts for p in split_phrases(t)[1:] if p in table and " " in p}  # "..., james jean, ..."
    names = credited_artists(texts) | bare
    return {name: table[name] for name in sorted(names) if name in table}


def scene_phrases_for(index: Any, texts: Any) -> set[str]:
    """The phrases of `texts` (split and normalised like `enhancers.grounded.split_phrases`) that the
    index's prompts use as scene rather than modifier (index.phrase_stats.phrase_is_scene)."""

    stats = load(index) if index is not None else None
    if stats is None or not (stats.phrases or stats.heads):
        return set()
    return {p for t in texts if t for p in split_phrases(t) if phrase_is_scene(p, stats)}
