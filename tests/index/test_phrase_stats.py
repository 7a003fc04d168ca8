"""index/phrase_stats.py: the tables stored with an index, their loaders and the scene rule."""

from __future__ import annotations

import sqlite3

import numpy as np

from index import IndexWriter, PromptIndex, PromptRecord
from index.phrase_stats import (
    ArtistMedium,
    PhraseStats,
    head_of,
    is_scene,
    load,
    load_artist_media,
    load_phrase_positions,
    load_scene_phrases,
    phrase_is_scene,
    write,
)

STATS = PhraseStats(
    artist_media={"greg rutkowski": ArtistMedium("digital", 0.8, 0.6, 20),
                  "annie leibovitz": ArtistMedium("photo", 0.9, 1.1, 12)},
    phrases={"a castle": (6, 1), "volumetric lighting": (0, 40), "forest": (2, 21)},
    heads={"castle": (9, 2), "lighting": (1, 80), "forest": (60, 70), "terrace": (8, 3)},
)


def _write_index(path, stats: PhraseStats | None):
    writer = IndexWriter(path, model_id="sentence-transformers/all-MiniLM-L6-v2", dimension=4)
    with writer:
        vectors = np.eye(4, dtype=np.float32)[:3]
        writer.add([PromptRecord(f"prompt {i}", count=1, source="test") for i in range(3)], vectors)
        if stats is not None:
            writer.add_phrase_stats(stats)
        writer.publish()
    return path


def test_head_nouns():
    assert head_of("a beautiful terrace") == "terrace"
    assert head_of("a castle on a hill") == "castle"
    assert head_of("portrait of a woman") == "woman"
    assert head_of("a close up photo of a cat") == "cat"
    assert head_of("volumetric lighting") == "lighting"
    assert head_of("8k") == ""


def test_scene_rule():
    assert is_scene(6, 1) is True and is_scene(0, 40) is False and is_scene(1, 1) is None
    assert phrase_is_scene("a castle", STATS) is True
    assert phrase_is_scene("volumetric lighting", STATS) is False
    assert phrase_is_scene("a beautiful terrace", STATS) is True  # unseen: its head decides
    assert phrase_is_scene("forest", STATS) is True  # trails after commas, but heads many subjects
    assert phrase_is_scene("soft lighting", STATS) is False
    assert phrase_is_scene("a mysterious zorgle", STATS) is None


def test_the_writer_stores_the_tables_and_the_loaders_read_them(tmp_path):
    path = _write_index(tmp_path / "index", STATS)
    assert load_artist_media(path) == {"greg rutkowski": "digital", "annie leibovitz": "photo"}
    assert load_phrase_positions(path)["a castle"] == (6, 1)
    assert load_scene_phrases(path) == {"a castle"}
    assert load_scene_phrases(path, ["a beautiful terrace", "volumetric lighting"]) == {"a beautiful terrace"}
    with PromptIndex.load(path) as index:
        assert load(index) == STATS
    conn = sqlite3.connect(path / "rows.sqlite")
    try:
        assert load(conn) == STATS
    finally:
        conn.close()


def test_an_index_without_the_tables_loads_and_reads_as_empty(tmp_path):
    path = _write_index(tmp_path / "old", None)  # what a writer before the tables wrote
    with PromptIndex.load(path) as index:
        assert len(index) == 3
        assert load_artist_media(index) == {} and load_scene_phrases(index) == set()
    assert load(object()) == PhraseStats()  # a store without rows.sqlite (Milvus): empty


def test_write_into_a_fresh_database():
    conn = sqlite3.connect(":memory:")
    write(conn, STATS)
    assert load(conn) == STATS
