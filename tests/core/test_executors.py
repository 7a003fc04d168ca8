"""The executor seam: the thread pool and Ray run the same work units with the same results,
errors, `then` callbacks, shared resources, rate limit, cancel and retries of a dead worker."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from core.errors import Cancelled, InputError
from core.executors import Pacer, forget, make_executor, parse_executor, provide, shared, worker_env
from core.progress import CancelToken

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- work units (module level: Ray imports them by name in its workers) -----------------------------
def where_and_square(x: int) -> tuple[int, int]:
    return os.getpid(), x * x


def refuse(idea: str) -> None:
    raise InputError(f"idea {idea!r} is empty after cleaning; write a few words")


def built_pipeline(key: str) -> tuple[int, int]:
    """(this process, the id of the one 'pipeline' it built for `key`)."""
    pipeline = shared(key, lambda: object())
    return os.getpid(), id(pipeline)


def die_once(marker: str) -> int:
    """SIGKILL this worker the first time (a crash mid-task), then answer."""
    path = Path(marker)
    if not path.exists():
        path.write_text(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def sleep_long(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


def paced_stamps(pacer, calls: int) -> list[float]:
    stamps = []
    for _ in range(calls):
        time.sleep(pacer.reserve())
        stamps.append(time.time())
    return stamps


# -- the thread pool ---------------------------------------------------------------------------------
def test_executor_names_are_checked():
    assert str(parse_executor(None)) == "thread" and parse_executor("ray").kind == "ray"
    assert parse_executor("ray://head:10001").address == "ray://head:10001"
    for bad in ("threads", "ray:/x", "ray://", "dask"):
        with pytest.raises(InputError, match=r"--executor must be thread, ray or ray://HOST:PORT.*" + bad.replace("/",
                                                                                                                  ".")):
            parse_executor(bad)


def test_worker_env_ships_settings_but_never_keys(monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", "/data/promptrag")
    monkeypatch.setenv("PROMPTRAG_ANTHROPIC_API_KEY", "sk-ant-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    env = worker_env()
    assert env["PROMPTRAG_HOME"] == "/data/promptrag"
    assert "sk-ant-secret" not in env.values() and "hf_secret" not in env.values()


def test_worker_env_carries_what_the_spend_caps_need_as_this_process_resolved_it(monkeypatch, tmp_path):
    from core import spend

    monkeypatch.chdir(tmp_path)  # a cap set in .env only, and the signed-in user set in code only
    (tmp_path / ".env").write_text("PROMPTRAG_SPEND_CAP_CAMPAIGN_USD=2.5\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_HOME", "~/promptrag-home")
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", "5")
    spend.use_account("alice@x.org", "run-7")
    try:
        env = worker_env()
    finally:
        spend.clear_account()
    assert env["PROMPTRAG_SPEND_CAP_CAMPAIGN_USD"] == "2.5" and env["PROMPTRAG_SPEND_CAP_USER_DAY_USD"] == "5.0"
    assert (env["PROMPTRAG_SPEND_USER"], env["PROMPTRAG_SPEND_CAMPAIGN"]) == ("alice@x.org", "run-7")
    assert env["PROMPTRAG_HOME"] == str(Path.home() / "promptrag-home")  # where the ledger is, spelled out
    assert worker_env()["PROMPTRAG_SPEND_USER"] == "local" and "PROMPTRAG_SPEND_CAMPAIGN" not in worker_env()


def test_thread_pool_runs_here_then_finishes_here_and_errors_come_back_as_raised():
    with make_executor("thread", workers=2) as executor:
        future = executor.submit(where_and_square, 7, then=lambda done: (threading.current_thread().name,
                                                                         done.result()))
        thread, (pid, value) = future.result(timeout=10)
        assert pid == os.getpid() and value == 49 and thread.startswith("run-finish")
        with pytest.raises(InputError, match="is empty after cleaning"):
            executor.submit(refuse, "   ").result(timeout=10)


def test_shared_builds_once_even_when_many_threads_ask_at_once():
    builds = []

    def build():
        time.sleep(0.05)
        builds.append(1)
        return object()

    try:
        with make_executor("thread", workers=8) as executor:
            got = [executor.submit(shared, "test:once", build) for _ in range(16)]
            assert len({id(f.result(timeout=10)) for f in got}) == 1 and len(builds) == 1
        provide("test:mine", "the runner's own")
        assert shared("test:mine", build) == "the runner's own" and len(builds) == 1
    finally:
        forget("test:")


def test_pacer_spaces_callers_evenly():
    pacer = Pacer(per_minute=600)  # one slot per 0.1 s
    delays = [pacer.reserve() for _ in range(5)]
    assert delays[0] == pytest.approx(0.0, abs=0.01)
    assert [round(b - a, 2) for a, b in zip(delays, delays[1:])] == [0.1] * 4


# -- Ray ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)}})
    yield ray
    ray.shutdown()


def test_ray_runs_tasks_in_other_processes_and_hands_back_results_and_errors(local_ray):
    with make_executor("ray", workers=2) as executor:
        here = os.getpid()
        futures = [executor.submit(where_and_square, x, then=lambda done: (os.getpid(), done.result()))
                   for x in range(6)]
        results = [f.result(timeout=120) for f in futures]
        assert [value for _, (_, value) in results] == [0, 1, 4, 9, 16, 25]
        assert {finisher for finisher, _ in results} == {here}  # `then` ran in this process
        assert here not in {pid for _, (pid, _) in results}  # the work did not
        with pytest.raises(InputError, match=r"^idea '   ' is empty after cleaning; write a few words$"):
            executor.submit(refuse, "   ").result(timeout=120)


def test_ray_model_pool_keeps_one_pipeline_per_worker(local_ray):
    with make_executor("ray", workers=2, model_workers=1) as executor:
        answers = [executor.submit_model(built_pipeline, "test:pipeline").result(timeout=120) for _ in range(4)]
    assert len(set(answers)) == 1  # one actor process, its pipeline built once and kept
    assert answers[0][0] != os.getpid()


def test_ray_retries_work_whose_worker_died(local_ray, tmp_path):
    with make_executor("ray", workers=2) as executor:
        task_pid = executor.submit(die_once, str(tmp_path / "task-died")).result(timeout=180)
        model_pid = executor.submit_model(die_once, str(tmp_path / "actor-died")).result(timeout=180)
    assert int((tmp_path / "task-died").read_text()) != task_pid  # a new worker did it
    assert int((tmp_path / "actor-died").read_text()) != model_pid  # the actor was restarted


def test_ray_cancel_stops_waiting_for_work_in_flight(local_ray):
    cancel = CancelToken()
    with make_executor("ray", workers=2, cancel=cancel) as executor:
        future = executor.submit(sleep_long, 60)
        time.sleep(1.0)
        started = time.monotonic()
        cancel.cancel()
        with pytest.raises(Cancelled):
            future.result(timeout=30)
        assert time.monotonic() - started < 5
        with pytest.raises(Cancelled):
            executor.submit(where_and_square, 1)


def test_ray_rate_limit_is_one_for_every_worker(local_ray):
    with make_executor("ray", workers=2) as executor:
        pacer = executor.pacer(per_minute=300)  # one call per 0.2 s, held by an actor
        futures = [executor.submit(paced_stamps, pacer, 3) for _ in range(2)]
        stamps = sorted(s for f in futures for s in f.result(timeout=120))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert len(stamps) == 6 and min(gaps) > 0.15, gaps
