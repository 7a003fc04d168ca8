"""IndexWriter: streaming adds, validation, and publish-by-rename safety."""

from __future__ import annotations

import os

import numpy as np
import pytest

from core.errors import InputError
from index import IndexWriter, PromptIndex, PromptRecord
from tests.index.conftest import LITERAL


def _writer(path, embedder, **kw):
    return IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension, **kw)


def _siblings(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name != path.name)


def test_manifest_describes_the_index(literal_index):
    m = literal_index.manifest
    assert m.embedding_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert (m.format_version, m.dimension, m.row_count, m.index_type) == (1, 384, len(LITERAL), "flat")
    assert set(m.files) == {"vectors.npy", "faiss.index", "rows.sqlite"}
    assert all(len(f.sha256) == 64 and f.size > 0 for f in m.files.values())
    assert m.created_at and m.promptrag_version


def test_vectors_file_is_plain_npy(literal_index_dir, literal_vectors):
    stored = np.load(literal_index_dir / "vectors.npy", mmap_mode="r", allow_pickle=False)
    np.testing.assert_array_equal(stored, literal_vectors)


def test_abort_leaves_old_index_intact(literal_copy, embedder, literal_vectors):
    before = PromptIndex.load(literal_copy).manifest
    writer = _writer(literal_copy, embedder)
    writer.add(LITERAL[:2], literal_vectors[:2])
    writer.abort()
    with PromptIndex.load(literal_copy) as index:
        assert index.manifest == before and len(index) == len(LITERAL)
    assert _siblings(literal_copy) == []  # temp dir removed


def test_exception_inside_with_block_discards_new_index(literal_copy, embedder, literal_vectors):
    with pytest.raises(KeyboardInterrupt):
        with _writer(literal_copy, embedder) as writer:
            writer.add(LITERAL[:3], literal_vectors[:3])
            raise KeyboardInterrupt  # a crash / Ctrl-C before publish
    with PromptIndex.load(literal_copy) as index:
        assert len(index) == len(LITERAL)
    assert _siblings(literal_copy) == []


def test_publish_replaces_existing_index(literal_copy, embedder, literal_vectors):
    writer = _writer(literal_copy, embedder)
    writer.add(LITERAL[:3], literal_vectors[:3])
    manifest = writer.publish()
    assert manifest.row_count == 3
    with PromptIndex.load(literal_copy, embedder=embedder) as index:
        assert len(index) == 3 and index.search(LITERAL[2].prompt, k=1)[0].id == 2
    assert _siblings(literal_copy) == []  # no temp or backup directory left behind
    with pytest.raises(RuntimeError):
        writer.add(LITERAL[:1], literal_vectors[:1])  # a published writer is closed


def test_reader_opened_before_publish_keeps_working(literal_copy, embedder, literal_vectors):
    with PromptIndex.load(literal_copy, embedder=embedder) as old:
        writer = _writer(literal_copy, embedder)
        writer.add(LITERAL[:2], literal_vectors[:2])
        writer.publish()
        assert len(old.search("a fox", k=20)) == len(LITERAL)  # still reads the files it opened


def test_refuses_to_replace_a_directory_that_is_not_an_index(tmp_path, embedder):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(InputError, match="not a promptrag index"):
        _writer(tmp_path / "photos", embedder)
    assert (tmp_path / "photos" / "holiday.jpg").exists()


def test_add_validates_its_input(tmp_path, embedder, literal_vectors):
    with _writer(tmp_path / "ix", embedder) as writer:
        with pytest.raises(InputError, match="shape"):
            writer.add(LITERAL[:2], literal_vectors[:3])
        with pytest.raises(InputError, match="normalised"):
            writer.add(LITERAL[:2], literal_vectors[:2] * 2)
        with pytest.raises(InputError, match="NaN"):
            writer.add(LITERAL[:1], np.full((1, 384), np.nan, dtype=np.float32))
        with pytest.raises(InputError, match="prompt"):
            writer.add([PromptRecord("   ")], literal_vectors[:1])
        with pytest.raises(InputError, match="count"):
            writer.add([PromptRecord("ok", count=0)], literal_vectors[:1])
        with pytest.raises(InputError, match="no prompts"):
            writer.publish()
    with pytest.raises(InputError, match="index_type"):
        _writer(tmp_path / "iy", embedder, index_type="annoy")


def test_many_small_chunks(tmp_path, embedder, literal_vectors):
    writer = _writer(tmp_path / "ix", embedder)
    for i, record in enumerate(LITERAL):
        writer.add([record], literal_vectors[i : i + 1])
    writer.add([], np.zeros((0, 384), dtype=np.float32))
    writer.publish()
    with PromptIndex.load(tmp_path / "ix") as index:
        np.testing.assert_array_equal(index.stored_vectors(), literal_vectors)
        assert [h.record for h in index.get(range(len(LITERAL)))] == LITERAL


def test_a_killed_writers_temp_dir_is_cleaned_by_the_next_writer(literal_copy, embedder, literal_vectors):
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)  # that process has exited: its leftovers are stale
    stale = literal_copy.parent / f".{literal_copy.name}.tmp-{dead_pid}-0123abcd"
    stale.mkdir()
    (stale / "vectors.npy").write_bytes(b"half-written")
    live = literal_copy.parent / f".{literal_copy.name}.tmp-{os.getpid()}-4567ef01"  # a running writer's
    live.mkdir()
    writer = _writer(literal_copy, embedder)
    writer.add(LITERAL[:2], literal_vectors[:2])
    writer.publish()
    assert not stale.exists()
    assert live.exists()
