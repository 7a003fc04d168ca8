"""`promptrag ingest --executor ray`: blocks read, cleaned and embedded on Ray, kept as shards, merged
into the index the thread executor writes; through a dying actor, a killed driver and bad input.

Real parts: a local Ray (2 CPUs, one per module), Ray Data tasks and its actor pool, real DiffusionDB
prompts, MiniLM's real ONNX exports (written once per module into one promptrag home), the real CLI,
Milvus Lite. The dying and the counting actors are real subclasses of EmbedActor put in place through
ShardEmbedding's `actor_class`; they learn their marker files from PROMPTRAG_* variables, which Ray
workers get (core.executors.worker_env).
"""

from __future__ import annotations

import csv
import json
import os
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from core.errors import Cancelled, InputError, SourceError
from core.progress import CancelToken
from ingest import run_ingest
from ingest.ray_ingest import EmbedActor, ShardEmbedding
from tests.ingest.test_resume import _kill_when_paused, _snapshot

REPO = Path(__file__).resolve().parents[2]
KILL_MARKER_ENV = "PROMPTRAG_TEST_KILL_MARKER"
EMBEDDED_LOG_ENV = "PROMPTRAG_TEST_EMBEDDED_LOG"
REPORT_TIMINGS = ("seconds", "prompts_per_s", "embedded_with", "index_path", "resumed")


class KillOnceEmbedActor(EmbedActor):
    """Kills its own process on its first block, once per marker file: a worker lost mid-run."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        marker = os.environ.get(KILL_MARKER_ENV)
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


class CountingEmbedActor(EmbedActor):
    """Appends the number of every block it embeds to a log file."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with open(os.environ[EMBEDDED_LOG_ENV], "a", encoding="utf-8") as log:
            log.writelines(f"{int(block)}\n" for block in batch["block"])
        return super().__call__(batch)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is missing (pip install 'promptrag[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield ray
    ray.shutdown()


@pytest.fixture()
def csv_source(tmp_path, dev_prompts) -> Path:
    """150 rows: 120 real prompts, 20 of them again in other case and spacing in later blocks (so
    counts and the wording kept cross blocks), and 10 rows the cleaner drops."""
    path = tmp_path / "prompts.csv"
    rows = [{"prompt": p.replace("\n", " "), "seed": i, "cfg": 7.5} for i, p in enumerate(dev_prompts[:120])]
    rows += [{"prompt": "  " + p.upper().replace(" ", "  "), "seed": 900 + i, "cfg": ""}
             for i, p in enumerate(dev_prompts[:20])]
    rows += [{"prompt": "!!! 123", "seed": 0, "cfg": 1}] * 5 + [{"prompt": "  ", "seed": 0, "cfg": 1}] * 5
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["prompt", "seed", "cfg"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def ingest(source: Path, index: Path, **options):
    return run_ingest(source=str(source), index=index, batch_size=16, progress=False, **options)


def manifest(index: Path) -> dict:
    """manifest.json less what differs between two runs of the same ingest: time and checksums."""
    data = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    data.pop("created_at")
    data["files"] = {name: info["size"] for name, info in data["files"].items()}
    keyword = data["extra"].get("keyword_index")
    if keyword:  # tantivy names its segment files at random: their sizes, sorted
        keyword["files"] = sorted(info["size"] for info in keyword["files"].values())
    return data


def assert_same_ingest(got: Path, want: Path, got_report, want_report, atol: float = 1e-5) -> None:
    """Same rows (every field), same manifest and report (less timings), vectors within `atol`."""
    got_rows, got_vectors = _snapshot(got)
    want_rows, want_vectors = _snapshot(want)
    assert got_rows == want_rows
    assert manifest(got) == manifest(want)
    drop = dict.fromkeys(REPORT_TIMINGS)
    assert got_report.to_dict() | drop == want_report.to_dict() | drop
    np.testing.assert_allclose(got_vectors, want_vectors, atol=atol)


def test_a_parquet_source_on_ray_gives_the_thread_executors_index(local_ray, home, diffusiondb_parquet, tmp_path):
    events = []
    on_ray = run_ingest(source=str(diffusiondb_parquet), index=tmp_path / "ray", executor="ray", batch_size=16,
                        read_batch_rows=10, quantize="none", on_progress=events.append)
    local = ingest(diffusiondb_parquet, tmp_path / "local", read_batch_rows=10, quantize="none")

    assert on_ray.embedded_with == "onnx none on Ray" and local.embedded_with == "onnx none"
    assert on_ray.final_rows == local.final_rows > 40 and on_ray.nsfw_filtered_prompts == 2
    assert_same_ingest(tmp_path / "ray", tmp_path / "local", on_ray, local)
    blocks = [(e.done, e.total) for e in events if e.stage == "blocks"]
    assert blocks[0] == (0, 6) and blocks[-1] == (6, 6) and len(blocks) == 7  # one event per block
    assert not (tmp_path / "ray.ingest-work").exists()


def test_a_csv_source_with_int8_keeps_the_same_rows_and_near_vectors(local_ray, home, csv_source, tmp_path):
    on_ray = ingest(csv_source, tmp_path / "ray", executor="ray", read_batch_rows=40)
    local = ingest(csv_source, tmp_path / "local", read_batch_rows=40)

    assert on_ray.rows_read == 150 and on_ray.duplicates_merged == 20 and on_ray.dropped["empty"] == 5
    # int8 quantizes activations per batch, and a block's batches are not the plan's: near, not equal
    assert_same_ingest(tmp_path / "ray", tmp_path / "local", on_ray, local, atol=0.05)
    _, got = _snapshot(tmp_path / "ray")
    _, want = _snapshot(tmp_path / "local")
    cosines = np.sum(got * want, axis=1)  # measured: mean 0.99, lowest 0.966 (the shortest prompt)
    assert np.mean(cosines) > 0.985 and np.min(cosines) > 0.95


def test_an_embedding_actor_killed_mid_run_is_replaced_and_the_index_matches(local_ray, home, csv_source, tmp_path,
                                                                             monkeypatch):
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(KILL_MARKER_ENV, str(marker))
    monkeypatch.setattr(ShardEmbedding, "actor_class", KillOnceEmbedActor)
    on_ray = ingest(csv_source, tmp_path / "ray", executor="ray", read_batch_rows=40, quantize="none")
    assert marker.is_file() and int(marker.read_text()) != os.getpid()  # a Ray worker died, not this process

    local = ingest(csv_source, tmp_path / "local", read_batch_rows=40, quantize="none")
    assert_same_ingest(tmp_path / "ray", tmp_path / "local", on_ray, local)


def test_a_killed_ray_ingest_resumes_and_embeds_only_the_shards_left(local_ray, home, csv_source, tmp_path,
                                                                     monkeypatch):
    killed = tmp_path / "killed"
    work = killed.with_name("killed.ingest-work")
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(csv_source), "--index", str(killed), "--batch-size",
           "16", "--read-batch-rows", "30", "--quantize", "none", "--executor", "ray", "--quiet"]
    _kill_when_paused(cmd, work, "shard:2")  # a driver with its own local Ray, SIGKILLed after 2 of 5 shards
    assert len(list((work / "shards").glob("block-*.json"))) == 2 and not killed.exists()

    log = tmp_path / "embedded.log"
    monkeypatch.setenv(EMBEDDED_LOG_ENV, str(log))
    monkeypatch.setattr(ShardEmbedding, "actor_class", CountingEmbedActor)
    resumed = ingest(csv_source, killed, executor="ray", read_batch_rows=30, quantize="none")
    assert resumed.resumed and not work.exists()
    assert len(log.read_text().split()) == 3  # the 2 complete shards were not embedded again

    local = ingest(csv_source, tmp_path / "local", read_batch_rows=30, quantize="none")
    assert_same_ingest(killed, tmp_path / "local", resumed, local)


def test_a_ray_ingest_into_milvus_lite_writes_the_thread_executors_rows(local_ray, home, csv_source, tmp_path):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from index.prompt_store import open_store

    uris = {kind: f"milvus-lite://{tmp_path / kind}.db/prompts" for kind in ("ray", "thread")}
    reports = {kind: run_ingest(source=str(csv_source), store=uri, executor=kind, batch_size=16, read_batch_rows=40,
                                progress=False) for kind, uri in uris.items()}
    stored = {}
    for kind, uri in uris.items():
        with open_store(uri) as store:
            stored[kind] = [pair for batch in store.iter_records(100) for pair in batch]
    assert reports["ray"].final_rows == reports["thread"].final_rows > 100
    assert stored["ray"] == stored["thread"]


def test_a_bad_line_read_on_a_worker_comes_back_as_the_source_error(local_ray, home, tmp_path, dev_prompts):
    source = tmp_path / "prompts.jsonl"
    lines = [json.dumps({"prompt": p}) for p in dev_prompts[:130]]
    lines[114] = '{"prompt": "a cat'  # in the third block of 50 (past the 100 lines read for the columns)
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"prompts.jsonl line 115 is not valid JSON"):
        ingest(source, tmp_path / "idx", executor="ray", read_batch_rows=50)
    assert not (tmp_path / "idx").exists()


def test_a_run_staged_on_threads_is_not_resumed_on_ray(home, csv_source, tmp_path):
    cancel = CancelToken()

    def stop_after_first_batch(event) -> None:
        if event.stage == "stage" and event.done:
            cancel.cancel()

    with pytest.raises(Cancelled):
        run_ingest(source=str(csv_source), index=tmp_path / "idx", read_batch_rows=40, quantize="none",
                   on_progress=stop_after_first_batch, cancel=cancel)
    with pytest.raises(InputError, match="started without --executor ray"):
        ingest(csv_source, tmp_path / "idx", executor="ray", read_batch_rows=40, quantize="none")
    assert (tmp_path / "idx.ingest-work").is_dir()  # kept: the thread executor still resumes it


def test_a_bad_executor_is_refused_before_any_work(promptrag_cli, tmp_path, csv_source):
    result = promptrag_cli("ingest", str(csv_source), "--index", str(tmp_path / "idx"), "--executor", "spark")
    assert result.exit_code != 0 and "--executor must be thread, ray or ray://HOST:PORT" in result.one_line_error()
    assert not (tmp_path / "idx").exists() and not (tmp_path / "idx.ingest-work").exists()
    with pytest.raises(ValueError, match="--executor must be thread, ray or ray://HOST:PORT"):  # pydantic's
        ingest(csv_source, tmp_path / "idx", executor="ray:/nowhere")


# -- the shard files and the cleaning function, without Ray ------------------------------------------
def test_a_shard_counts_as_complete_only_whole(tmp_path):
    from ingest.shards import Block, ShardStore, npy_bytes, rows_text

    store, block = ShardStore(tmp_path / "shards"), Block(3, 300, 400)
    rows = [{"prompt": "a red fox"}, {"prompt": "a cat"}, {"prompt": "a red fox"}]
    assert not store.complete(block)
    vectors = np.eye(2, 4, dtype=np.float32)
    assert store.write(block, rows_text(rows), npy_bytes(vectors), {"rows_read": 3}) == 2
    assert store.complete(block) and store.rows(block) == rows
    np.testing.assert_array_equal(store.vectors(block), vectors)
    assert not store.complete(Block(3, 300, 350))  # a plan with other cuts: embedded again
    (store.path / "block-0000003.npy").write_bytes(npy_bytes(vectors[:1]))  # one vector short
    assert not store.complete(block)
    with pytest.raises(RuntimeError, match="block 4 came back with vectors of shape"):
        store.write(Block(4, 400, 500), rows_text(rows), npy_bytes(vectors[:1]), {})
    assert not (store.path / "block-0000004.json").exists()


def test_clean_rows_tallies_what_it_drops_and_leaves_its_input_alone():
    from ingest.normalize import clean_rows

    rows = [{"prompt": "  a   cat "}, {"prompt": "!!!"}, {"prompt": None}, {"prompt": "x" * 50}]
    kept, tally = clean_rows(rows, max_chars=20)
    assert kept == [{"prompt": "a cat"}] and rows[0] == {"prompt": "  a   cat "}
    assert tally == {"rows_read": 4, "kept": 1, "dropped_empty": 1, "dropped_no_letters": 1,
                     "dropped_too_long": 1, "dropped_bad_encoding": 0}
