"""index.manifest.list_indexes: the index directories under a folder, with their manifests."""

from __future__ import annotations

import shutil

from index.manifest import list_indexes


def test_lists_indexes_by_name_with_manifests_and_says_why_one_is_unreadable(literal_index_dir, tmp_path):
    root = tmp_path / "indexes"
    for name in ("b-index", "a-index", "damaged", ".tmp-writer-123"):
        shutil.copytree(literal_index_dir, root / name)
    (root / "damaged" / "manifest.json").write_text("{ not json", encoding="utf-8")
    (root / "empty").mkdir()  # no manifest: not an index
    (root / "notes.txt").write_text("not a directory", encoding="utf-8")

    entries = list_indexes(root)
    assert [e.path.name for e in entries] == ["a-index", "b-index", "damaged"]
    assert entries[0].manifest.row_count == entries[1].manifest.row_count > 0 and not entries[0].problem
    assert entries[2].manifest is None and "not valid JSON" in entries[2].problem


def test_include_puts_an_index_elsewhere_first_and_root_defaults_to_the_home(literal_index_dir, tmp_path,
                                                                              isolated_env):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(literal_index_dir, elsewhere)
    assert list_indexes() == []  # a fresh home has no indexes folder yet
    shutil.copytree(literal_index_dir, isolated_env / "indexes" / "default")
    entries = list_indexes(include=elsewhere)
    assert [e.path for e in entries] == [elsewhere, isolated_env / "indexes" / "default"]
    assert list_indexes(include=tmp_path / "missing") == list_indexes()  # no manifest, not listed
