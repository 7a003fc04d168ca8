"""Every way an index directory can be wrong gives an IndexLoadError that names the fix."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import index.manifest as manifest_module
from core.errors import IndexLoadError
from index import Embedder, PromptIndex, PromptRecord
from tests.index.conftest import build_index


def _load_error(path, **kwargs) -> str:
    with pytest.raises(IndexLoadError) as info:
        PromptIndex.load(path, **kwargs)
    return str(info.value)


def _edit_manifest(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    manifest.update(changes)
    (path / "manifest.json").write_text(json.dumps(manifest))


def test_missing_directory(tmp_path):
    message = _load_error(tmp_path / "nope")
    assert "promptrag ingest" in message and "--index" in message


def test_directory_without_manifest(tmp_path):
    assert "manifest.json is missing" in _load_error(tmp_path)


def test_corrupted_manifest_json(literal_copy):
    (literal_copy / "manifest.json").write_text('{"format_version": 1, "dimension": ')
    message = _load_error(literal_copy)
    assert "not valid JSON" in message and "promptrag ingest" in message


def test_manifest_with_wrong_fields(literal_copy):
    _edit_manifest(literal_copy, dimension="384")
    assert "corrupted" in _load_error(literal_copy)
    _edit_manifest(literal_copy, dimension=384, surprise=1)
    assert "corrupted" in _load_error(literal_copy)


def test_newer_format_version(literal_copy):
    _edit_manifest(literal_copy, format_version=99)
    assert "upgrade promptrag" in _load_error(literal_copy)


def test_truncated_vectors(literal_copy):
    path = literal_copy / "vectors.npy"
    path.write_bytes(path.read_bytes()[:-100])
    message = _load_error(literal_copy)
    assert "vectors.npy" in message and "truncated" in message and "promptrag ingest" in message


@pytest.mark.parametrize("name", ["vectors.npy", "faiss.index", "rows.sqlite"])
def test_modified_file_same_size(literal_copy, name):
    path = literal_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip one byte in the middle: only the full sha256 sees it
    path.write_bytes(bytes(data))
    message = _load_error(literal_copy)
    assert name in message and "checksum" in message


def test_missing_data_file(literal_copy):
    (literal_copy / "faiss.index").unlink()
    assert "faiss.index is missing" in _load_error(literal_copy)


def test_row_count_and_dimension_mismatch(literal_copy):
    manifest = json.loads((literal_copy / "manifest.json").read_text())
    _edit_manifest(literal_copy, row_count=manifest["row_count"] + 1)
    assert "manifest says" in _load_error(literal_copy)
    _edit_manifest(literal_copy, row_count=manifest["row_count"], dimension=512)
    assert "manifest says" in _load_error(literal_copy)


class OtherModel(Embedder):
    model_id = "BAAI/bge-small-en-v1.5"
    dimension = 384

    def embed_batch(self, texts):
        v = np.ones((len(texts), self.dimension), dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_other_embedding_model(literal_index_dir):
    message = _load_error(literal_index_dir, embedder=OtherModel())
    assert "sentence-transformers/all-MiniLM-L6-v2" in message and "BAAI/bge-small-en-v1.5" in message


def test_short_alias_of_the_same_model_is_accepted(literal_index_dir):
    class Alias(OtherModel):
        model_id = "all-MiniLM-L6-v2"

    with PromptIndex.load(literal_index_dir, embedder=Alias()) as index:
        assert len(index) > 0


@pytest.fixture(scope="module")
def large_index_dir(tmp_path_factory, embedder):
    """An index whose vectors.npy (~2.3 MB) is longer than the quick digest's head + tail (2 MiB)."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((1500, embedder.dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    records = [PromptRecord(f"synthetic prompt number {i}", source="synthetic") for i in range(len(vectors))]
    return build_index(tmp_path_factory.mktemp("idx") / "large", records, vectors, embedder)


@pytest.fixture()
def large_copy_flipped_in_the_middle(large_index_dir, tmp_path):
    target = tmp_path / "large"
    shutil.copytree(large_index_dir, target)
    path = target / "vectors.npy"
    data = bytearray(path.read_bytes())
    assert len(data) > 2 * manifest_module._QUICK_SPAN  # the middle byte is outside the quick digest
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return target


def test_a_large_file_is_checked_quickly_on_load_and_fully_on_verify(large_copy_flipped_in_the_middle,
                                                                     monkeypatch):
    # Above FULL_CHECK_BYTES a load checks sizes and the head/tail digest only: the flip passes...
    monkeypatch.setattr(manifest_module, "FULL_CHECK_BYTES", 2 * manifest_module._QUICK_SPAN)
    with PromptIndex.load(large_copy_flipped_in_the_middle) as index:
        assert len(index) == 1500
        # ...and the full check on request names the file and the fix.
        with pytest.raises(IndexLoadError, match=r"vectors\.npy does not match its sha256 checksum.*rebuild"):
            index.verify(full=True)


def test_a_file_below_the_threshold_gets_the_full_checksum_on_load(large_copy_flipped_in_the_middle):
    size = (large_copy_flipped_in_the_middle / "vectors.npy").stat().st_size
    assert manifest_module.FULL_CHECK_BYTES > size
    assert "does not match its sha256 checksum" in _load_error(large_copy_flipped_in_the_middle)


def test_crash_between_the_two_renames_names_the_backup(literal_copy):
    # publish renames old -> .NAME.old-UUID, then new -> NAME; a crash in between leaves only the backup.
    backup = literal_copy.parent / f".{literal_copy.name}.old-0123"
    literal_copy.rename(backup)
    message = _load_error(literal_copy)
    assert str(backup) in message and "rename it" in message
