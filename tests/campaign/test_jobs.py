"""Campaign runs as detached processes: start, status, SIGKILL → interrupted → resume, cancel, re-roll.

Every test starts the real `python -m cli.main batch` in its own session on a tiny real index
(prompts only, rules enhancer), exactly as the Campaign page does.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from campaign import jobs
from core.errors import InputError
from tests.app.conftest import PROMPTS, write_source

WAIT_S = 180


@pytest.fixture(scope="session")
def campaign_index(tmp_path_factory) -> Path:
    """A real index (MiniLM + FAISS + SQLite) of ~20 prompts, built once."""
    from ingest import run_ingest

    work = tmp_path_factory.mktemp("campaign-index")
    source = write_source(work / "prompts.jsonl", PROMPTS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(work / "home"))
        run_ingest(source=str(source), index=work / "index", progress=False)
    return work / "index"


def make_brief(variants: int = 8, **extra):
    from campaign.brief import Brief

    fields = dict(name="Bottle launch", subject="a reusable steel water bottle", audience="commuters",
                  message="hydration that goes where you go", variants=variants, backends=["none"],
                  enhancer="rules", seed=7, examples_per_variant=2)
    fields.update(extra)
    return Brief(**fields)


def wait_for(predicate, what: str, timeout: float = WAIT_S, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_stopped(run_id: str) -> jobs.RunStatus:
    status = wait_for(lambda: (s := jobs.run_status(run_id)) and not s.alive and s, f"run {run_id} to stop")
    return status


def log_of(run_id: str) -> str:
    return jobs.read_log(run_id, limit=20000)


def manifest_rows(out: Path) -> list[dict]:
    rows = json.loads((out / "manifest.json").read_text())
    rows = rows["variants"] if isinstance(rows, dict) else rows
    return [{k: v for k, v in row.items() if k != "timings"} for row in rows]


def test_a_run_goes_on_in_the_background_and_finishes(campaign_index):
    run_id = jobs.start_run(make_brief(6), images=False, index=campaign_index)
    out = jobs.campaigns_dir() / run_id
    assert run_id.split("-")[2:4] == ["bottle", "launch"], run_id
    assert (out / "brief.yaml").is_file() and (out / "run.log").is_file()
    assert f"index: {campaign_index}" in (out / "brief.yaml").read_text(), "the session's index is in the brief"
    assert jobs.run_status(run_id).alive
    status = wait_until_stopped(run_id)
    assert status.state == "finished", log_of(run_id)
    assert (status.done, status.total) == (6, 6)
    assert [s.run_id for s in jobs.list_runs()] == [run_id]
    assert len(manifest_rows(out)) == 6


def test_sigkill_mid_run_is_interrupted_and_resume_finishes_the_same_manifest(campaign_index, monkeypatch):
    from campaign.runner import read_variants
    from core.pause_hook import PAUSE_ENV

    brief = make_brief(12)
    reference = jobs.start_run(brief, images=False, index=campaign_index)
    assert wait_until_stopped(reference).state == "finished", log_of(reference)

    monkeypatch.setenv(PAUSE_ENV, "variant:5")  # the runner's test hook: it blocks after its 5th variant
    run_id = jobs.start_run(brief, images=False, index=campaign_index)
    out = jobs.campaigns_dir() / run_id
    wait_for(lambda: (out / ".paused").exists(), "the run to reach its 5th variant")
    status = jobs.run_status(run_id)
    assert (status.state, status.alive, status.done, status.total) == ("running", True, 5, 12)
    os.killpg(status.pid, signal.SIGKILL)
    status = wait_until_stopped(run_id)
    assert status.state == "interrupted", (status, log_of(run_id))
    kept = {v.id: v for v in read_variants(out)}
    assert len(kept) == 5

    monkeypatch.delenv(PAUSE_ENV)
    outcomes: list[str] = []

    def resume() -> None:  # two tabs click Resume at the same moment: one process starts
        try:
            jobs.resume_run(run_id)
            outcomes.append("started")
        except InputError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=resume) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes)[1] == "started" and "still running" in sorted(outcomes)[0], outcomes
    status = wait_until_stopped(run_id)
    assert status.state == "finished", log_of(run_id)
    assert (status.done, status.total) == (12, 12)
    assert manifest_rows(out) == manifest_rows(jobs.campaigns_dir() / reference)
    after = {v.id: v for v in read_variants(out)}
    assert len(after) == 12
    for vid, variant in kept.items():
        assert after[vid].prompt == variant.prompt, "a variant made before the kill is kept, not re-made"
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")], "nothing half-written is left"


def test_cancel_stops_the_run_cleanly(campaign_index):
    run_id = jobs.start_run(make_brief(500), images=False, index=campaign_index)
    wait_for(lambda: jobs.run_status(run_id).done >= 1, "the first variant", every=0.01)
    jobs.cancel_run(run_id)
    assert jobs.run_status(run_id).cancel_requested
    status = wait_until_stopped(run_id)
    assert status.state == "cancelled", log_of(run_id)
    assert status.done < 500
    status_file = json.loads((jobs.campaigns_dir() / run_id / "status.json").read_text())
    assert status_file["state"] == "cancelled", "the runner itself stopped cleanly and said so"
    jobs.cancel_run(run_id)  # a stopped run: nothing to do


def test_reroll_remakes_one_variant_and_clears_its_review(campaign_index):
    from campaign.review import reviews, set_review
    from campaign.runner import read_variants

    run_id = jobs.start_run(make_brief(4), images=False, index=campaign_index)
    assert wait_until_stopped(run_id).state == "finished", log_of(run_id)
    out = jobs.campaigns_dir() / run_id
    before = {v.id: v for v in read_variants(out)}
    target, other = list(before)[:2]
    set_review(out, target, "approved")
    set_review(out, other, "approved")

    jobs.reroll(run_id, target)
    assert jobs.run_status(run_id).mode == "reroll"
    assert reviews(out) == {other: "approved"}, "the re-rolled variant needs a new look"
    status = wait_until_stopped(run_id)
    assert status.state == "finished", log_of(run_id)
    after = {v.id: v for v in read_variants(out)}
    assert list(after) == list(before)
    assert (after[target].seed, after[target].prompt) != (before[target].seed, before[target].prompt)
    for vid in before:
        if vid != target:
            assert after[vid] == before[vid]


def test_a_running_run_refuses_a_second_process(campaign_index, monkeypatch):
    from core.pause_hook import PAUSE_ENV

    monkeypatch.setenv(PAUSE_ENV, "variant:1")
    run_id = jobs.start_run(make_brief(4), images=False, index=campaign_index)
    out = jobs.campaigns_dir() / run_id
    try:
        wait_for(lambda: (out / ".paused").exists(), "the first variant")
        with pytest.raises(InputError, match="still running"):
            jobs.resume_run(run_id)
        with pytest.raises(InputError, match="still running"):
            jobs.reroll(run_id, "v001")
    finally:
        os.killpg(jobs.run_status(run_id).pid, signal.SIGKILL)
        wait_until_stopped(run_id)


def test_a_process_that_dies_before_starting_is_failed(tmp_path, monkeypatch):
    brief = make_brief(2, index=str(tmp_path / "no-such-index"))
    monkeypatch.setattr(jobs.sys, "executable", "/bin/false")  # dies at once, writes nothing
    run_id = jobs.start_run(brief, images=False)
    status = wait_until_stopped(run_id)
    assert status.state == "failed"
    assert "run.log" in status.error


def test_runs_are_listed_newest_first_and_odd_ids_refused():
    assert jobs.list_runs() == []
    base = jobs.campaigns_dir()
    for i, stamp in enumerate(["2025-01-01T00:00:00+00:00", "2025-03-01T00:00:00+00:00", "2025-02-01T00:00:00+00:00"]):
        (base / f"run{i}").mkdir(parents=True)
        (base / f"run{i}" / "job.json").write_text(json.dumps({"created_at": stamp, "title": f"t{i}", "pid": None}))
        (base / f"run{i}" / "status.json").write_text(json.dumps({"state": "finished", "done": 2, "total": 2}))
    (base / "stray-folder").mkdir()
    runs = jobs.list_runs()
    assert [r.run_id for r in runs] == ["run1", "run2", "run0"]
    assert {r.state for r in runs} == {"finished"}
    for bad in ("../etc", "a/b", "", ".x"):
        with pytest.raises(InputError, match="run id"):
            jobs.run_status(bad)
    with pytest.raises(InputError, match="no campaign run 'nope'"):
        jobs.run_status("nope")


def test_a_run_started_from_the_terminal_is_listed_and_resumable(campaign_index, tmp_path):
    import subprocess
    import sys

    brief = make_brief(3, name="campaign", index=str(campaign_index))
    (tmp_path / "brief.yaml").write_text(brief.to_yaml())
    out = jobs.campaigns_dir() / "by-hand"
    done = subprocess.run([sys.executable, "-m", "cli.main", "batch", str(tmp_path / "brief.yaml"), "-o", str(out)],
                          capture_output=True, text=True, timeout=WAIT_S)
    assert done.returncode == 0, done.stderr
    [status] = jobs.list_runs()
    assert (status.run_id, status.title, status.state, status.done) == ("by-hand", brief.subject, "finished", 3)
    jobs.reroll("by-hand", "v002")  # the page can work on it like on its own runs
    assert wait_until_stopped("by-hand").state == "finished", log_of("by-hand")
