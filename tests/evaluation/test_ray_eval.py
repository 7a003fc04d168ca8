"""An evaluation on a local Ray (`--executor ray`): the same rows and images as the thread pool;
an image worker killed mid-image is restarted; `promptrag eval --executor ray` killed mid-run
resumes to the same rows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from evaluation.runner import options_from, run_eval
from tests.campaign.test_ray_campaign import KILL_MARKER_ENV, local_ray, pixels, register_fakes  # noqa: F401
from tests.evaluation.eval_fixtures import compbench_set, eval_index  # noqa: F401 (fixtures)
from tests.evaluation.test_runner import rows_by_pair

# One torch thread here, as in a Ray worker (Ray sets OMP_NUM_THREADS=1 for a 1-CPU worker): the
# float sums, and so the pixels, then come out the same in both.
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir  # noqa: F401 (fixtures)

VARYING = ("latency_s",)  # what legitimately differs between two runs

register_fakes()


def rows(out: Path) -> dict[tuple[str, str], dict]:
    return {pair: {k: v for k, v in row.items() if k not in VARYING} for pair, row in rows_by_pair(out).items()}


def test_an_eval_with_retrieval_on_ray_matches_the_thread_pool(compbench_set, eval_index, local_ray, tmp_path,  # noqa: F811
                                                                monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    options = options_from(enhancers=["rules", "grounded"], index=str(eval_index), limit=6, seed=3, workers=2)
    threads = run_eval(compbench_set, tmp_path / "threads", options)
    events = []
    on_ray = run_eval(compbench_set, tmp_path / "ray", options, executor="ray", on_progress=events.append)
    assert (on_ray.written, on_ray.errors) == (threads.written, threads.errors) == (6 * 5, 0)
    assert rows(tmp_path / "ray") == rows(tmp_path / "threads")
    assert [e.done for e in events][-1] == 30 and events[-1].total == 30


def test_images_on_ray_match_and_a_worker_killed_mid_image_is_restarted(compbench_set, tiny_sd_dir, local_ray,  # noqa: F811
                                                                        tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    options = options_from(enhancers=["rules"], rag=False, images=True, image_backend="diffusers-kill-once",
                           image_model=str(tiny_sd_dir), width=64, height=64, steps=2, limit=3, seed=7, workers=2)
    run_eval(compbench_set, tmp_path / "threads", options)  # no marker set: nothing dies here
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(KILL_MARKER_ENV, str(marker))
    report = run_eval(compbench_set, tmp_path / "ray", options, executor="ray")
    assert marker.is_file() and int(marker.read_text()) != os.getpid()
    assert (report.written, report.errors) == (6, 0)
    ray_rows, thread_rows = rows(tmp_path / "ray"), rows(tmp_path / "threads")
    assert ray_rows == thread_rows
    for row in ray_rows.values():
        assert pixels(tmp_path / "ray" / row["image"]) == pixels(tmp_path / "threads" / row["image"])
        assert (tmp_path / "ray" / row["image"]).with_suffix(".json").is_file()


def test_eval_on_ray_killed_mid_run_resumes_to_the_same_rows(compbench_set, local_ray, tmp_path,  # noqa: F811
                                                             monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    options = options_from(enhancers=["rules", "grounded"], rag=False, limit=8, seed=5, workers=2)
    run_eval(compbench_set, tmp_path / "threads", options)
    out = tmp_path / "ray"
    command = [sys.executable, "-m", "cli.main", "eval", str(compbench_set), "-o", str(out), "--no-report",
               "--enhancers", "rules,grounded", "--no-rag", "--limit", "8", "--seed", "5", "--workers", "2",
               "--executor", "ray"]
    process = subprocess.Popen(command, env={**os.environ, "PROMPTRAG_TEST_PAUSE_AT": "row:5"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not (out / ".paused").exists():
        assert process.poll() is None, process.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "eval did not pause in time"
        time.sleep(0.05)
    process.kill()
    process.wait(timeout=30)
    process.stderr.close()
    assert len(rows_by_pair(out)) == 5
    report = run_eval(compbench_set, out, options, executor="ray")
    assert (report.skipped, report.written) == (5, 8 * 3 - 5)
    assert rows(out) == rows(tmp_path / "threads")
