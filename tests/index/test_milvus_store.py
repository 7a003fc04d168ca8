"""Milvus as a store, end to end through Milvus Lite: URIs, ingest (incremental, resumed after
SIGKILL), and the errors a user meets (another embedding model, an unreachable server)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import IndexLoadError, InputError
from index.prompt_store import is_milvus_uri, open_store
from ingest import run_ingest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

REPO = Path(__file__).resolve().parents[2]


def _snapshot(uri: str):
    with open_store(uri) as store:
        records = [pair for batch in store.iter_records(100) for pair in batch]
        return records, store.vectors([i for i, _ in records])


@pytest.fixture(scope="module")
def sources(tmp_path_factory, shared_data) -> tuple[Path, Path]:
    """Two text sources of real prompts; the second repeats part of the first (seen again)."""
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    by_words: dict[frozenset, str] = {}  # distinct word sets: ingest folds reorderings into one row
    for row in rows:
        text = " ".join(row["text"].split())
        if re.search(r"[^\W\d_]{3}", text):  # ingest drops prompts without words
            by_words.setdefault(frozenset(re.findall(r"\w+", text.lower())), text)
    prompts = list(by_words.values())[:90]
    root = tmp_path_factory.mktemp("milvus-sources")
    first, second = root / "first.txt", root / "second.txt"
    first.write_text("\n".join(prompts[:40] + prompts[:5]) + "\n", encoding="utf-8")
    second.write_text("\n".join(prompts[30:90] + prompts[30:33]) + "\n", encoding="utf-8")
    return first, second


# ---- URIs ------------------------------------------------------------------------------------
def test_uris_parse_to_a_server_or_a_lite_file(tmp_path):
    from index.milvus_location import parse_uri

    server = parse_uri("milvus://admin:s3cret@milvus.example.org:19530/gallery")
    assert (server.client_uri, server.collection, server.lite, server.token) == (
        "http://milvus.example.org:19530", "gallery", False, "admin:s3cret")
    assert "s3cret" not in server.shown
    lite = parse_uri(f"milvus-lite://{tmp_path}/g.db/prompts_v2")
    assert (lite.client_uri, lite.collection, lite.lite) == (str(tmp_path / "g.db"), "prompts_v2", True)
    assert parse_uri(f"milvus-lite://{tmp_path}/g.db").collection == "prompts"
    assert is_milvus_uri("milvus://h:1/c") and not is_milvus_uri(str(tmp_path))
    for bad in ("milvus://host/prompts", "milvus://host:19530", "milvus-lite://g.sqlite/p",
                "milvus://h:1/bad-name"):
        with pytest.raises(InputError, match="--store"):
            parse_uri(bad)


# ---- ingest ----------------------------------------------------------------------------------
def test_ingest_is_incremental_and_counts_prompts_seen_again(tmp_path, sources):
    first, second = sources
    from ingest.normalize import clean_prompt

    lines = (first.read_text(encoding="utf-8").splitlines()[:40]
             + second.read_text(encoding="utf-8").splitlines()[10:60])
    prompts = [clean_prompt(line, 2000)[0] for line in lines]  # as stored (e.g. NFKC-normalised)
    uri = f"milvus-lite://{tmp_path / 'g.db'}/prompts"
    report = run_ingest(source=str(first), store=uri, progress=False)
    assert report.final_rows == report.new_prompts_embedded == 40 and report.index_path == uri
    before, _ = _snapshot(uri)
    counts = {r.prompt: r.count for _, r in before}
    assert [counts[p] for p in prompts[:6]] == [2, 2, 2, 2, 2, 1]  # the first 5 are repeated in the source

    again = run_ingest(source=str(second), store=uri, progress=False)
    assert again.seen_again_prompts == 10 and again.new_prompts_embedded == 50
    after, vectors = _snapshot(uri)
    assert len(after) == 90 and [i for i, _ in after] == list(range(90))  # ids stay dense
    assert [r.prompt for _, r in after[:40]] == [r.prompt for _, r in before]  # old rows keep their ids
    counts = {r.prompt: r.count for _, r in after}
    assert sorted(counts) == sorted(prompts)
    assert [counts[p] for p in prompts[29:34]] == [1, 3, 3, 3, 2]  # seen again: counts added once
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with open_store(uri) as store:  # the new prompts are searchable
        assert store.search(after[80][1].prompt, k=1)[0].id == 80


def _chunks_written(work: Path) -> int:
    try:
        db = sqlite3.connect(f"file:{work / 'staging.sqlite'}?mode=ro", uri=True, timeout=0.2)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'milvus_chunks_written'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return 0
    return json.loads(row[0]) if row else 0


def test_killed_ingest_resumes_without_duplicates_or_losses(tmp_path, sources):
    first, second = sources
    killed, reference = (f"milvus-lite://{tmp_path / name}.db/prompts" for name in ("killed", "reference"))
    for uri in (killed, reference):
        run_ingest(source=str(first), store=uri, progress=False)
    work = tmp_path / "killed.db.prompts.ingest-work"
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(second), "--store", killed, "--batch-size", "2",
           "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=os.environ.copy(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    try:
        while _chunks_written(work) < 3:  # counts of seen-again prompts applied, some new rows written
            if proc.poll() is not None:
                err = proc.communicate()[1].decode()[-800:]
                pytest.fail(f"ingest ended before it could be killed: {err}")
            assert time.monotonic() < deadline, "ingest never reached the Milvus write phase"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    with open_store(killed) as store:  # the killed run published nothing: the old row count holds
        assert len(store) == 40

    resumed = run_ingest(source=str(second), store=killed, batch_size=2, progress=False)
    assert resumed.resumed and resumed.final_rows == 90
    run_ingest(source=str(second), store=reference, batch_size=2, progress=False)
    (got, got_vectors), (want, want_vectors) = _snapshot(killed), _snapshot(reference)
    assert got == want  # same ids, prompts, counts (seen-again counts added exactly once)
    np.testing.assert_allclose(got_vectors, want_vectors, atol=1e-6)
    assert not work.exists()


# ---- errors a user meets ---------------------------------------------------------------------
def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())


def test_another_embedding_model_is_one_clear_line(tmp_path, embedder):
    from index import PromptRecord
    from index.milvus_writer import MilvusWriter

    uri = f"milvus-lite://{tmp_path / 'other.db'}/prompts"
    writer = MilvusWriter(uri, model_id="someone/another-model", dimension=embedder.dimension)
    writer.ensure_collection(fresh=True)
    writer.upsert(0, [PromptRecord("a red fox")], embedder.embed(["a red fox"]))
    writer.publish(1)
    writer.close()
    with pytest.raises(IndexLoadError, match="another-model.*use 'someone/another-model'"):
        open_store(uri, embedder=embedder)
    source = tmp_path / "more.txt"
    source.write_text("a blue cat\n", encoding="utf-8")
    with pytest.raises(InputError, match="one collection cannot mix models"):
        run_ingest(source=str(source), store=uri, embedding_model=embedder.model_id, progress=False)


def test_unreachable_server_is_one_clear_line():
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _cli("search", "a red fox", "--store", f"milvus://127.0.0.1:{port}/prompts")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"cannot reach the Milvus server at http://127.0.0.1:{port}" in lines[0]
    assert "docker compose up -d" in lines[0]


def test_missing_or_unfinished_collections_name_the_fix(tmp_path, embedder):
    from index import PromptRecord
    from index.milvus_writer import MilvusWriter

    uri = f"milvus-lite://{tmp_path / 'g.db'}/prompts"
    with pytest.raises(IndexLoadError, match="no collection 'prompts'.*promptrag ingest SOURCE --store"):
        open_store(uri)
    writer = MilvusWriter(uri, model_id=embedder.model_id, dimension=embedder.dimension)
    writer.ensure_collection(fresh=True)
    writer.upsert(0, [PromptRecord("a red fox")], embedder.embed(["a red fox"]))
    writer.close()  # killed before publishing
    with pytest.raises(IndexLoadError, match="interrupted ingest: re-run the same"):
        open_store(uri)


# ---- the app over a Milvus store ---------------------------------------------------------------
def test_the_app_explores_a_milvus_store(tmp_path, sources, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.helpers import page_texts, run

    uri = f"milvus-lite://{tmp_path / 'app.db'}/gallery"
    run_ingest(source=str(sources[0]), store=uri, progress=False)
    monkeypatch.setenv("PROMPTRAG_STORE", uri)  # what `promptrag app --store URI` sets
    monkeypatch.chdir(tmp_path)
    at = run(AppTest.from_file(str(REPO / "streamlit_app.py"), default_timeout=180))
    assert any("gallery" in t and "40 prompts" in t for t in page_texts(at)), page_texts(at)
    at.text_input(key="explore.query").input("a portrait in oil")
    at.form_submit_button(key="explore.search").click()
    run(at)
    assert len(at.code) == 10 and not at.exception


# ---- queries embedded through this machine's ONNX export ------------------------------------------
def test_milvus_queries_embed_through_the_machines_onnx_export(tmp_path, sources, monkeypatch):
    from index import onnx_export
    from index.embedder import OnnxEmbedder, load_embedder

    monkeypatch.setenv("PROMPTRAG_ONNX_EXPORT", "1")  # as for users (the suite turns it off)
    uri = f"milvus-lite://{tmp_path / 'onnx.db'}/gallery"
    run_ingest(source=str(sources[0]), store=uri, progress=False)
    with open_store(uri) as store:
        model = store.manifest.embedding_model
        assert isinstance(store.embedder, OnnxEmbedder)
        torch_embedder = load_embedder(model)
        for _, record in _snapshot(uri)[0][::8]:  # same top 10 as the torch model's vectors
            idea = " ".join(record.prompt.split()[:5])
            expected = store.search_vector(torch_embedder.embed([idea])[0], 10)
            assert [h.id for h in store.search(idea, 10)] == [h.id for h in expected], idea
    code = ("import sys\nfrom cli.main import main\n"
            "sys.argv = ['promptrag', 'search', 'a portrait in oil', '--json', '--store', sys.argv[1]]\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
            "print('HEAVY', sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn')"
            " if m in sys.modules), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code, uri], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0 and "HEAVY []" in done.stderr, done.stderr
    assert len(json.loads(done.stdout)["results"]) == 10
    weights = onnx_export.cache_dir(model) / onnx_export.WEIGHTS_FILE
    with weights.open("r+b") as fh:  # a modified export is refused, naming the fix
        fh.seek(-1, 2)
        byte = fh.read(1)
        fh.seek(-1, 2)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with open_store(uri) as store, pytest.raises(IndexLoadError, match=r"delete .*onnx_export --cache"):
        store.embed_query("a red fox")
    # the fix the error names: delete the export and write it again
    import shutil

    shutil.rmtree(onnx_export.cache_dir(model))
    assert onnx_export.main(["--cache", model]) == 0
    with open_store(uri) as store:
        assert isinstance(store.embedder, OnnxEmbedder) and store.search("a portrait in oil", 10)


# ---- campaigns and evaluation over a Milvus store --------------------------------------------------
def test_a_campaign_batch_retrieves_from_a_milvus_store(tmp_path, sources):
    uri = f"milvus-lite://{tmp_path / 'campaign.db'}/gallery"
    run_ingest(source=str(sources[0]), store=uri, progress=False)
    brief = tmp_path / "brief.yaml"
    brief.write_text("name: milvus campaign\nsubject: a lighthouse on a cliff\nvariants: 3\nseed: 5\n"
                     "enhancer: rules\n", encoding="utf-8")
    result = _cli("batch", str(brief), "-o", str(tmp_path / "out"), "--no-images", "--store", uri, "--json")
    assert result.returncode == 0, result.stderr
    stored = {record.prompt for _, record in _snapshot(uri)[0]}
    variants = [json.loads(p.read_text()) for p in sorted((tmp_path / "out" / "variants").glob("v*.json"))]
    assert len(variants) == 3
    for variant in variants:  # each variant was fused from prompts the collection holds
        assert variant["examples"] and {e["text"] for e in variant["examples"]} <= stored


def test_eval_retrieval_measures_a_milvus_store_like_the_same_faiss_index(tmp_path, sources):
    uri = f"milvus-lite://{tmp_path / 'eval.db'}/gallery"
    run_ingest(source=str(sources[0]), store=uri, progress=False)
    run_ingest(source=str(sources[0]), index=tmp_path / "index", progress=False)
    figures = {}
    for where in (["--store", uri], ["--index", str(tmp_path / "index")]):
        result = _cli("eval", "--retrieval", *where, "--n", "20", "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        figures[where[0]] = {m["mode"]: m for m in report["modes"]}
        assert report["prompts"] == 40 and report["queries"] > 0
    # the same rows, vectors and exact (flat) search: dense retrieval scores the same in both stores
    assert figures["--store"]["dense"]["subject"] == figures["--index"]["dense"]["subject"]


# ---- a Milvus server over gRPC (milvus-lite's standalone server on 127.0.0.1) ------------------
@pytest.fixture()
def milvus_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    exe = Path(sys.executable).with_name("milvus-lite")
    command = [str(exe), "server", "--data-dir", str(tmp_path / "server-data"), "--host", "127.0.0.1",
               "--port", str(port)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while True:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"milvus-lite server did not start: {proc.stderr.read().decode()[-500:]}")
        time.sleep(0.1)
    yield f"127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=30)
    proc.stderr.close()


def test_ingest_and_search_through_a_milvus_server_uri(milvus_server, sources):
    uri = f"milvus://{milvus_server}/gallery"
    report = run_ingest(source=str(sources[0]), store=uri, progress=False)
    assert report.final_rows == 40 and report.index_type == "milvus hnsw"  # auto: HNSW on a server
    with open_store(uri) as store:
        assert store.manifest.index_type == "hnsw" and len(store) == 40
        records = [pair for batch in store.iter_records(16) for pair in batch]
        for id_, record in records[::7]:
            assert store.search(record.prompt, k=1)[0].id == id_
    result = _cli("search", records[0][1].prompt, "--store", uri, "-k", "3", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["results"][0]["id"] == records[0][0]
