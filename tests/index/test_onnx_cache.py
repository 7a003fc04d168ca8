"""One copy of each model: indexes refer to the machine's shared ONNX export and check it on load.

Real parts throughout: real DiffusionDB prompts, the real MiniLM exported by torch, real
`run_ingest` runs, real onnxruntime. The machine (a promptrag home with the shared export and two
indexes that use it) is built once per module; tests that damage it work on a copy.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import IndexLoadError
from index import OnnxEmbedder, PromptIndex
from index.onnx_cache import CACHE_INFO, cache_dir
from index.onnx_export import MANIFEST_KEY, MIN_COSINE, WEIGHTS_FILE

MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class Machine:
    home: Path
    indexes: tuple[Path, Path]


def real_prompts(shared_data: Path) -> list[str]:
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    return list(dict.fromkeys(" ".join(r["text"].split()) for r in rows if r["text"].strip()))


@pytest.fixture(scope="module")
def machine(shared_data, tmp_path_factory) -> Machine:
    """A home whose first ingest wrote the shared export, and a second index ingested after it."""
    from ingest import run_ingest

    root = tmp_path_factory.mktemp("machine")
    prompts = real_prompts(shared_data)
    indexes = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(root / "home"))
        mp.setenv("PROMPTRAG_ONNX_EXPORT", "1")
        for number, chunk in enumerate((prompts[:150], prompts[150:300])):
            source = root / f"prompts-{number}.jsonl"
            source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in chunk))
            run_ingest(source=str(source), index=root / f"index-{number}", progress=False, quantize="none")
            indexes.append(root / f"index-{number}")
    return Machine(root / "home", tuple(indexes))


@pytest.fixture()
def copied(machine, tmp_path, monkeypatch) -> Machine:
    """A copy of the machine (home and indexes) this test may damage; PROMPTRAG_HOME points at it."""
    home = tmp_path / "home"
    shutil.copytree(machine.home, home)
    indexes = tuple(shutil.copytree(p, tmp_path / p.name) for p in machine.indexes)
    monkeypatch.setenv("PROMPTRAG_HOME", str(home))
    return Machine(home, indexes)


def entry(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text())["extra"][MANIFEST_KEY]


def size_of(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def test_two_indexes_share_one_export(machine, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(machine.home))
    first, second = (entry(p) for p in machine.indexes)
    assert first["location"] == second["location"] == "cache"
    assert first["cache_key"] == second["cache_key"] == cache_dir(MODEL).name
    assert first["files"] == second["files"] and first["min_cosine"] >= MIN_COSINE
    assert [p.name for p in (machine.home / "onnx").iterdir()] == [first["cache_key"]]  # one copy
    for index_dir in machine.indexes:
        assert not (index_dir / "onnx").exists()
        assert size_of(index_dir) < 5 * 2**20  # rows, vectors, FAISS: the ~90 MB model is not in here
        with PromptIndex.load(index_dir) as index:
            assert isinstance(index.embedder, OnnxEmbedder)
            top = index.search(index.get([7])[0].prompt, k=1)[0]
            assert top.id == 7 and top.score > 0.99


def test_a_missing_shared_export_is_exported_again(copied):
    shutil.rmtree(cache_dir(MODEL))
    with PromptIndex.load(copied.indexes[0]) as index:
        hits = index.search("a castle on a cliff above the sea", k=3)
        assert len(hits) == 3 and isinstance(index.embedder, OnnxEmbedder)
    rebuilt = json.loads((cache_dir(MODEL) / CACHE_INFO).read_text())
    assert rebuilt["files"] == entry(copied.indexes[0])["files"]  # the same bytes as at ingest


def test_a_missing_export_that_cannot_be_rebuilt_says_what_to_do(copied, monkeypatch):
    shutil.rmtree(cache_dir(MODEL))
    for module in ("torch", "sentence_transformers"):  # what `import` sees on a query-only install
        monkeypatch.setitem(sys.modules, module, None)
    with PromptIndex.load(copied.indexes[1]) as index:
        assert index.keyword_search("portrait", k=2)  # the rest of the index still works
        with pytest.raises(IndexLoadError) as raised:
            index.search("a castle on a cliff")
    message = str(raised.value)
    assert "missing" in message and str(cache_dir(MODEL)) in message
    assert "python -m index.onnx_export --cache sentence-transformers/all-MiniLM-L6-v2" in message
    assert "--portable" in message


def test_a_modified_shared_export_fails_its_checksum(copied):
    weights = cache_dir(MODEL) / WEIGHTS_FILE
    with weights.open("r+b") as fh:  # one byte in the middle: only the full checksum sees it
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with PromptIndex.load(copied.indexes[0]) as index:
        with pytest.raises(IndexLoadError, match=r"model\.onnx\.data does not match its checksum.*delete"):
            index.search("a castle on a cliff")


def test_an_index_that_carries_its_own_copy_still_loads(copied, monkeypatch):
    """Indexes from before the shared cache hold the export in onnx/ and record no location."""
    from index.onnx_export import add_to_index

    index_dir = copied.indexes[0]
    bundled = add_to_index(index_dir)  # `python -m index.onnx_export INDEX_DIR`
    assert bundled["location"] == "index" and (index_dir / WEIGHTS_FILE).is_file()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    old = {k: v for k, v in manifest["extra"][MANIFEST_KEY].items() if k not in ("location", "quantization")}
    manifest["extra"][MANIFEST_KEY] = old  # the entry as promptrag wrote it before issue 22
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    shutil.rmtree(copied.home / "onnx")
    monkeypatch.setitem(sys.modules, "torch", None)  # no export is made: the index's own copy is used
    with PromptIndex.load(index_dir) as index:
        assert isinstance(index.embedder, OnnxEmbedder)
        assert index.search(index.get([3])[0].prompt, k=1)[0].id == 3
    assert not (copied.home / "onnx").exists()
