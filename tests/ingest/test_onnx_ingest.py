"""Ingest embeds through the shared ONNX export: no sentence-transformers on that path, an int8
variant recorded in the manifest, and `--portable` indexes that travel with their export.

Real parts: real DiffusionDB prompts, the real MiniLM export, the real CLI and onnxruntime. The
exports are written once into one promptrag home (tests/ingest/conftest.py), which each test copies.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import OnnxEmbedder, PromptIndex
from index.onnx_cache import DEFAULT_QUANTIZATION, INT8_MIN_COSINE, cache_dir, ingest_embedder
from index.onnx_export import MANIFEST_KEY, MIN_COSINE

REPO = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="module")
def source(shared_data, tmp_path_factory) -> Path:
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    path = tmp_path_factory.mktemp("source") / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": r["text"]}) + "\n" for r in rows[:200]))
    return path


def manifest_entry(index_dir: Path) -> dict:
    return json.loads((index_dir / "manifest.json").read_text())["extra"][MANIFEST_KEY]


def test_ingest_never_imports_sentence_transformers(home, source, tmp_path):
    code = (
        "import sys\n"
        "from ingest import run_ingest\n"
        "report = run_ingest(source=sys.argv[1], index=sys.argv[2], progress=False)\n"
        "heavy = sorted(m for m in ('sentence_transformers', 'torch', 'transformers') if m in sys.modules)\n"
        "print('HEAVY', heavy, report.embedded_with, report.final_rows)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(source), str(tmp_path / "index")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    heavy, rest = done.stdout.split("]", 1)
    assert heavy == "HEAVY [", done.stdout
    assert rest.split()[:2] == ["onnx", DEFAULT_QUANTIZATION] and int(rest.split()[2]) > 150


def test_int8_ingest_records_its_quantization_and_searches(home, source, tmp_path, promptrag_cli):
    done = promptrag_cli("ingest", source, "--index", tmp_path / "int8", "--quantize", "int8", "-q", "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["embedded_with"] == "onnx int8"
    entry = manifest_entry(tmp_path / "int8")
    assert entry["quantization"] == "int8" and entry["cache_key"] == cache_dir(MODEL, "int8").name
    assert INT8_MIN_COSINE <= entry["min_cosine"] < 1.0  # checked against torch, and not the fp32 export
    with PromptIndex.load(tmp_path / "int8") as index:
        embedder = index.embedder
        assert isinstance(embedder, OnnxEmbedder)
        stored = index.get([5])[0].prompt
        assert index.search(stored, k=1)[0].id == 5
        int8_vectors = index.vectors(list(range(len(index))))
        texts = [h.prompt for h in index.get(list(range(len(index))))]
    assert not (tmp_path / "int8" / "onnx").exists()  # the shared int8 export, not a copy
    cosines = np.sum(int8_vectors * ingest_embedder(MODEL, "none").embed(texts), axis=1)
    assert cosines.min() >= INT8_MIN_COSINE and np.median(cosines) > 0.98


def test_an_index_cannot_mix_quantizations(home, source, tmp_path, promptrag_cli):
    assert promptrag_cli("ingest", source, "--index", tmp_path / "idx", "--quantize", "int8", "-q").exit_code == 0
    error = promptrag_cli("ingest", source, "--index", tmp_path / "idx", "--quantize", "none", "-q").one_line_error()
    assert "'int8' export" in error and "--quantize int8" in error


def test_portable_index_carries_its_export_and_loads_without_the_cache(home, source, tmp_path, promptrag_cli,
                                                                        monkeypatch):
    done = promptrag_cli("ingest", source, "--index", tmp_path / "portable", "--portable", "--quantize", "none", "-q")
    assert done.exit_code == 0, done.stderr
    entry = manifest_entry(tmp_path / "portable")
    assert entry["location"] == "index" and entry["min_cosine"] >= MIN_COSINE
    for name, info in entry["files"].items():
        assert (tmp_path / "portable" / name).stat().st_size == info["size"]
    travelled = shutil.copytree(tmp_path / "portable", tmp_path / "elsewhere" / "portable")
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "another-machine"))  # no shared export there
    monkeypatch.setitem(sys.modules, "torch", None)  # and nothing is exported: the bundled copy is used
    with PromptIndex.load(travelled) as index:
        assert isinstance(index.embedder, OnnxEmbedder)
        assert index.search(index.get([2])[0].prompt, k=1)[0].id == 2
    assert not (tmp_path / "another-machine" / "onnx").exists()


def test_quantize_needs_the_onnx_path(home, source, tmp_path, promptrag_cli, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_ONNX_EXPORT", "0")
    error = promptrag_cli("ingest", source, "--index", tmp_path / "x", "--quantize", "int8", "-q").one_line_error()
    assert "PROMPTRAG_ONNX_EXPORT=0" in error and "--quantize none" in error
    bad = promptrag_cli("ingest", source, "--index", tmp_path / "x", "--quantize", "int4", "-q").one_line_error()
    assert "quantize" in bad
