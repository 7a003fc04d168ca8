"""The ONNX query embedder: an index ingested with its export embeds queries without torch and
finds what the torch model finds; a damaged export is an error that names the fix; an index
without one (or a machine without onnxruntime) falls back to sentence-transformers.

Real parts throughout: real DiffusionDB prompts, the real MiniLM, a real `promptrag ingest`.
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

from core.errors import IndexLoadError
from index import PromptIndex, load_embedder
from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder
from index.onnx_export import MANIFEST_KEY, MIN_COSINE, WEIGHTS_FILE

REPO = Path(__file__).resolve().parents[2]
N_PROMPTS = 400


def real_prompts(shared_data: Path) -> list[str]:
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    seen, out = set(), []
    for row in rows:
        text = " ".join(row["text"].split())
        if text and text.lower() not in seen:
            seen.add(text.lower())
            out.append(text)
    return out


def ideas_from(prompts: list[str], n: int) -> list[str]:
    """Short, idea-like queries: the first words of prompts (the subject before the modifiers)."""
    return [" ".join(p.split(",")[0].split()[:6]) for p in prompts[:n]]


@pytest.fixture(scope="module")
def exported_index(shared_data, tmp_path_factory) -> Path:
    """A real ingest (ONNX export on, as for users) of real prompts."""
    from ingest import run_ingest

    work = tmp_path_factory.mktemp("onnx")
    source = work / "prompts.jsonl"
    source.write_text("".join(json.dumps({"prompt": p}) + "\n" for p in real_prompts(shared_data)[:N_PROMPTS]))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_ONNX_EXPORT", "1")
        mp.setenv("HF_HUB_OFFLINE", "1")
        # --portable: the export travels inside the index, so each test (its own PROMPTRAG_HOME)
        # finds it there (the shared cache: test_onnx_cache.py); fp32, the export checked against torch.
        run_ingest(source=str(source), index=work / "index", portable=True, quantize="none")
    return work / "index"


@pytest.fixture()
def exported_copy(exported_index, tmp_path) -> Path:
    target = tmp_path / "index"
    shutil.copytree(exported_index, target)
    return target


def test_ingest_records_a_checked_export_in_the_manifest(exported_index):
    manifest = json.loads((exported_index / "manifest.json").read_text())
    entry = manifest["extra"][MANIFEST_KEY]
    assert entry["min_cosine"] >= MIN_COSINE
    assert entry["model_id"] == manifest["embedding_model"] and entry["dimension"] == manifest["dimension"]
    for name, info in entry["files"].items():
        assert (exported_index / name).stat().st_size == info["size"]
        assert len(info["sha256"]) == 64


def test_onnx_vectors_match_torch_on_real_prompts(exported_index, shared_data):
    with PromptIndex.load(exported_index) as index:
        onnx = index.embedder
        assert isinstance(onnx, OnnxEmbedder)
        torch_model = load_embedder(index.manifest.embedding_model)
        assert isinstance(torch_model, SentenceTransformerEmbedder)
        texts = real_prompts(shared_data)[N_PROMPTS : N_PROMPTS + 200] + ideas_from(real_prompts(shared_data), 50)
        a, b = onnx.embed(texts), torch_model.embed(texts)
    cosines = np.sum(a * b, axis=1)
    assert cosines.min() >= MIN_COSINE, f"worst cosine {cosines.min():.5f} on {texts[int(cosines.argmin())]!r}"


def test_onnx_search_finds_the_same_top_10_as_torch(exported_index, shared_data):
    ideas = ideas_from(real_prompts(shared_data)[::7], 40)
    with PromptIndex.load(exported_index) as fast:
        assert isinstance(fast.embedder, OnnxEmbedder)
        torch_model = load_embedder(fast.manifest.embedding_model)
        with PromptIndex.load(exported_index, embedder=torch_model) as slow:
            for idea in ideas:
                ours, theirs = fast.search(idea, k=10), slow.search(idea, k=10)
                assert [h.prompt for h in ours] == [h.prompt for h in theirs], idea
                np.testing.assert_allclose([h.score for h in ours], [h.score for h in theirs], atol=1e-4)


@pytest.mark.parametrize("command", [["search"], ["enhance", "--rag", "-e", "rules"], ["enhance", "--rag", "-e",
                                                                                       "grounded"]])
def test_cli_on_an_exported_index_never_imports_torch(exported_index, command):
    code = (
        "import sys\n"
        "from cli.main import main\n"
        f"sys.argv = ['promptrag', *{command!r}, 'a frog dressed as a knight', '--json', '--index', sys.argv[1]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn', 'httpx',\n"
        "    'langchain_core', 'streamlit', 'anthropic', 'boto3', 'pandas', 'pyarrow') if m in sys.modules)\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code, str(exported_index)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "HEAVY []" in done.stderr, done.stderr
    answer = json.loads(done.stdout)
    if command == ["search"]:
        assert len(answer["results"]) == 10 and all(r["prompt"] for r in answer["results"])
    else:
        assert "frog" in answer["prompt"].lower() and answer["examples"]


def test_tampered_weights_are_an_error_naming_the_fix(exported_copy):
    weights = exported_copy / WEIGHTS_FILE
    with weights.open("r+b") as fh:  # one byte in the middle: only the full checksum sees it
        fh.seek(weights.stat().st_size // 2)
        byte = fh.read(1)
        fh.seek(-1, 1)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with PromptIndex.load(exported_copy) as index:
        assert index.keyword_search("portrait", k=3)  # the rest of the index still works
        with pytest.raises(IndexLoadError, match=r"model\.onnx\.data does not match its checksum.*index\.onnx_export"):
            index.search("a castle on a cliff")


def test_missing_export_file_is_an_error_naming_the_fix(exported_copy):
    (exported_copy / "onnx" / "tokenizer.json").unlink()
    with PromptIndex.load(exported_copy) as index:
        with pytest.raises(IndexLoadError, match=r"tokenizer\.json is missing.*python -m index\.onnx_export"):
            index.search("a castle on a cliff")


def test_without_onnxruntime_queries_fall_back_to_torch_with_a_warning(exported_index, monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # what `import onnxruntime` sees when absent
    with PromptIndex.load(exported_index) as index:
        assert isinstance(index.embedder, SentenceTransformerEmbedder)
        assert index.search("a castle on a cliff", k=3)
    assert "pip install onnxruntime" in caplog.text


def test_index_without_export_uses_sentence_transformers(literal_index_dir):
    with PromptIndex.load(literal_index_dir) as index:
        assert MANIFEST_KEY not in index.manifest.extra
        assert isinstance(index.embedder, SentenceTransformerEmbedder)


def test_export_can_be_added_to_an_existing_index(literal_copy):
    from index.onnx_export import add_to_index

    add_to_index(literal_copy)
    with PromptIndex.load(literal_copy) as index:
        assert isinstance(index.embedder, OnnxEmbedder)
        assert index.search("a fox in the snow", k=1)[0].prompt.startswith("a majestic red fox")
