"""`promptrag ingest --executor ray`: the same index as the local ingest, through a dying actor and
a killed driver.

Real parts: a local Ray (2 CPUs, one per module), Ray Data's actor pool, real DiffusionDB prompts,
MiniLM's real int8 ONNX export (written once per module into one promptrag home), the real CLI. The
dying actor is a real subclass of EmbedActor that SIGKILLs its own process once (a marker file
says it did), put in place through RayEmbedder's `actor_class`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest

from index.onnx_cache import cache_dir
from ingest import run_ingest
from ingest.ray_ingest import EmbedActor, RayEmbedder
from tests.ingest.test_resume import _kill_when_paused, _snapshot

REPO = Path(__file__).resolve().parents[2]
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
KILL_MARKER_ENV = "PROMPTRAG_TEST_KILL_MARKER"  # PROMPTRAG_*: shipped to the Ray workers (worker_env)


class KillOnceEmbedActor(EmbedActor):
    """Kills its own process on its first batch, once per marker file: a worker lost mid-run."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        marker = os.environ.get(KILL_MARKER_ENV)
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().__call__(batch)


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is missing (pip install 'promptrag[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO)}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def exported_home(tmp_path_factory) -> Path:
    """A promptrag home whose shared cache holds MiniLM's int8 export (ingest's default)."""
    from index import onnx_export

    home = tmp_path_factory.mktemp("exported-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(home))
        assert onnx_export.main(["--cache", MODEL, "--quantize", "int8"]) == 0  # writes fp32 first
    return home


@pytest.fixture()
def home(exported_home, tmp_path, monkeypatch) -> Path:
    copy = shutil.copytree(exported_home, tmp_path / "home")
    monkeypatch.setenv("PROMPTRAG_HOME", str(copy))
    monkeypatch.setenv("PROMPTRAG_ONNX_EXPORT", "1")
    return copy


@pytest.fixture()
def source(tmp_path, dev_prompts) -> Path:
    """300 real prompts plus repeats, so a replayed chunk would show up as a wrong count."""
    path = tmp_path / "prompts.txt"
    prompts = dev_prompts + [p.upper() for p in dev_prompts[:20]]
    path.write_text("\n".join(p.strip().replace("\n", " ") for p in prompts) + "\n", encoding="utf-8")
    return path


def ingest(source: Path, index: Path, **options):
    return run_ingest(source=str(source), index=index, batch_size=32, progress=False, **options)


def assert_same_index(got: Path, want: Path) -> None:
    got_rows, got_vectors = _snapshot(got)
    want_rows, want_vectors = _snapshot(want)
    assert [(i, r.prompt, r.count) for i, r in got_rows] == [(i, r.prompt, r.count) for i, r in want_rows]
    np.testing.assert_allclose(got_vectors, want_vectors, atol=1e-5)


def test_ray_ingest_writes_the_rows_and_vectors_of_the_local_ingest(local_ray, home, source, tmp_path):
    local = ingest(source, tmp_path / "local")
    on_ray = ingest(source, tmp_path / "ray", executor="ray")

    # int8 quantizes activations per batch: equal vectors mean the actors embedded the local batches
    assert on_ray.embedded_with == "onnx int8 on Ray" and local.embedded_with == "onnx int8"
    assert on_ray.final_rows == local.final_rows > 250
    assert_same_index(tmp_path / "ray", tmp_path / "local")


def test_an_embedding_actor_killed_mid_run_is_replaced_and_the_rows_match(local_ray, home, source, tmp_path,
                                                                           monkeypatch):
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(KILL_MARKER_ENV, str(marker))
    monkeypatch.setattr(RayEmbedder, "actor_class", KillOnceEmbedActor)
    ingest(source, tmp_path / "ray", executor="ray")
    assert marker.is_file() and int(marker.read_text()) != os.getpid()  # a Ray worker died, not this process

    ingest(source, tmp_path / "local")
    assert_same_index(tmp_path / "ray", tmp_path / "local")


def test_a_killed_ray_ingest_resumes_with_the_cli_to_the_same_index(local_ray, home, source, tmp_path,
                                                                    promptrag_cli):
    killed = tmp_path / "killed"
    work = killed.with_name("killed.ingest-work")
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(source), "--index", str(killed), "--batch-size", "32",
           "--quantize", "none", "--executor", "ray", "--quiet"]
    # fp32 here: a resume re-batches the chunks left (on either executor), and int8 vectors move with their batch
    _kill_when_paused(cmd, work, "embed:3")  # a driver with its own local Ray, SIGKILLed after 3 of 10 chunks
    assert len(list((work / "chunks").glob("chunk-*.npy"))) == 3 and not killed.exists()

    resumed = promptrag_cli("ingest", *cmd[4:], "--json")  # in this process: on the test's Ray
    assert resumed.exit_code == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout)
    assert report["resumed"] and 0 < report["new_prompts_embedded"] and not work.exists()

    ingest(source, tmp_path / "local", quantize="none")
    assert_same_index(killed, tmp_path / "local")
    assert sorted(p.name for p in (home / "onnx").iterdir()) == sorted([cache_dir(MODEL).name,
                                                                      cache_dir(MODEL, "int8").name])


def test_a_bad_executor_is_refused_before_any_work(promptrag_cli, tmp_path, source):
    result = promptrag_cli("ingest", str(source), "--index", str(tmp_path / "idx"), "--executor", "spark")
    assert result.exit_code != 0 and "--executor must be thread, ray or ray://HOST:PORT" in result.one_line_error()
    assert not (tmp_path / "idx").exists() and not (tmp_path / "idx.ingest-work").exists()
    with pytest.raises(ValueError, match="--executor must be thread, ray or ray://HOST:PORT"):  # pydantic's
        ingest(source, tmp_path / "idx", executor="ray:/nowhere")
