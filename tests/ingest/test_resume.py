"""Crash safety: SIGKILL a running `promptrag ingest`, run it again, get what an uninterrupted run gets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from core.errors import InputError
from core.pause_hook import PAUSE_ENV, PAUSED_FILE
from index import PromptIndex
from ingest import run_ingest
from tests.ingest.conftest import REFL


def _snapshot(path: Path):
    with PromptIndex.load(path) as idx:
        rows = [(i, rec) for batch in idx.iter_records(100) for i, rec in batch]
        return rows, np.array(idx.stored_vectors())


def _phase(work: Path) -> tuple[str | None, int]:
    try:
        db = sqlite3.connect(f"file:{work / 'staging.sqlite'}?mode=ro", uri=True, timeout=0.2)
        try:
            meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        finally:
            db.close()
    except sqlite3.Error:
        return None, 0
    return json.loads(meta.get("phase", "null")), json.loads(meta.get("rows_consumed", "0"))


def _kill_when_paused(cmd: list[str], work: Path, pause_after: str, timeout: float = 240.0) -> None:
    """Run `cmd` with the pipeline's test hook (PROMPTRAG_TEST_PAUSE_AT): it blocks at a known
    point mid-run and says so in `<work>/.paused`; SIGKILL it there (no race with the run)."""
    _kill_when(cmd, lambda: (work / PAUSED_FILE).is_file(), timeout, env={PAUSE_ENV: pause_after})


def _kill_when(cmd: list[str], ready, timeout: float = 240.0, env: dict[str, str] | None = None) -> None:
    proc = subprocess.Popen(cmd, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"ingest ended before it could be killed (rc {proc.returncode}): {err.decode()[-800:]}")
            if time.monotonic() > deadline:
                pytest.fail("ingest never reached the kill point")
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()  # killed already, or never got there (the test failed): never left blocked
        proc.wait(timeout=30)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("kill_during", ["staging", "embedding"])
def test_killed_ingest_resumes_to_the_same_index(tmp_path, shared_data, dev_prompts, kill_during):
    # Text source with a few duplicates, so a replayed batch would show up as a wrong count.
    source = tmp_path / "prompts.txt"
    prompts = (dev_prompts[:16] + [p.upper() for p in dev_prompts[:4]]) * 25
    source.write_text("\n".join(p.strip() for p in prompts) + "\n", encoding="utf-8")
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    work = killed.with_name("killed.ingest-work")
    args = ["--index", str(killed), "--batch-size", "2", "--read-batch-rows", "1", "--quiet"]
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(source), *args]

    if kill_during == "staging":
        _kill_when_paused(cmd, work, "stage:5")
        assert _phase(work) == ("stage", 5)  # one source row per batch: killed after the 5th
    else:
        _kill_when_paused(cmd, work, "embed:3")
        assert _phase(work)[0] == "embed"
        assert len(list((work / "chunks").glob("chunk-*.npy"))) == 3
    assert not killed.exists()  # nothing was published

    resumed = run_ingest(source=str(source), index=killed, batch_size=2, read_batch_rows=1, progress=False)
    assert resumed.resumed and resumed.rows_read == len(prompts)
    if kill_during == "embedding":
        assert 0 < resumed.new_prompts_embedded and not work.exists()
    run_ingest(source=str(source), index=reference, batch_size=2, read_batch_rows=1, progress=False)

    got_rows, got_vectors = _snapshot(killed)
    want_rows, want_vectors = _snapshot(reference)
    assert got_rows == want_rows
    np.testing.assert_allclose(got_vectors, want_vectors, atol=1e-5)
    counts = {rec.prompt.casefold(): rec.count for _, rec in got_rows}
    target = dev_prompts[3].strip().casefold()
    assert counts[target] == sum(p.strip().casefold() == target for p in prompts) == 50


def test_resume_with_other_arguments_is_refused_until_restart(tmp_path, shared_data):
    index = tmp_path / "idx"
    work = tmp_path / "idx.ingest-work"
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(shared_data / REFL), "--index", str(index),
           "--read-batch-rows", "1", "--quiet"]
    _kill_when_paused(cmd, work, "stage:3")
    assert _phase(work) == ("stage", 3)

    with pytest.raises(InputError, match="--restart"):
        run_ingest(source=str(shared_data / REFL), index=index, limit=30, progress=False)
    report = run_ingest(source=str(shared_data / REFL), index=index, limit=30, restart=True, progress=False)
    assert report.rows_read == 30 and not report.resumed and not work.exists()
