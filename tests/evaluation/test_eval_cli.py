"""`promptrag eval` through the real entry point: SIGKILL mid-run and resume (no row lost, none
duplicated, the same rows as a run never killed), and one clear line for malformed input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluation.runner import options_from, run_eval
from evaluation.summary import read_jsonl
from tests.evaluation.eval_fixtures import IDEAS, compbench_set, eval_index  # noqa: F401 (fixtures)

REPO = Path(__file__).resolve().parents[2]
PAUSE_AFTER = 7
CONFIGS = 5  # raw, rules, rules+rag, grounded, grounded+rag


def promptrag(*args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=REPO, env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def comparable(row: dict) -> tuple:
    """A row without its timings (which differ between any two runs)."""
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in row.items() if k != "latency_s"))


def test_sigkill_mid_run_then_the_same_command_resumes(compbench_set, eval_index, tmp_path):
    out = tmp_path / "run"
    args = ["eval", str(compbench_set), "-o", str(out), "--index", str(eval_index), "--workers", "2", "-n", "2"]
    process = promptrag(*args, env={"PROMPTRAG_TEST_PAUSE_AT": f"row:{PAUSE_AFTER}"})
    deadline = time.monotonic() + 300
    while not (out / ".paused").exists():
        if process.poll() is not None:
            raise AssertionError(f"eval exited early ({process.returncode}): {process.stderr.read()[-2000:]}")
        assert time.monotonic() < deadline, "eval did not reach the pause point in time"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close(), process.stderr.close()
    before = (out / "results.jsonl").read_bytes()
    assert len(read_jsonl(out / "results.jsonl")) == PAUSE_AFTER and not (out / "summary.json").exists()
    # a kill in the middle of an append leaves half a line: the next run cuts it off
    with open(out / "results.jsonl", "ab") as handle:
        handle.write(b'{"idea_id": "0003", "config": "rul')

    resumed = promptrag(*args)
    stdout, stderr = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, stderr
    assert f"{IDEAS * CONFIGS - PAUSE_AFTER} rows written, {PAUSE_AFTER} already done, 0 errors" in stdout
    after = (out / "results.jsonl").read_bytes()
    assert after.startswith(before)  # append-only: the rows kept are untouched
    rows = read_jsonl(out / "results.jsonl")
    pairs = [(r["idea_id"], r["config"]) for r in rows]
    assert len(pairs) == len(set(pairs)) == IDEAS * CONFIGS  # nothing lost, nothing twice

    # the same rows as a run that was never killed (rules and grounded are deterministic)
    reference = tmp_path / "reference"
    run_eval(compbench_set, reference, options_from(enhancers=["rules", "grounded"], index=str(eval_index),
                                                    workers=2, candidates=2))
    assert sorted(map(comparable, rows)) == sorted(map(comparable, read_jsonl(reference / "results.jsonl")))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configs"]["raw"]["n"] == IDEAS and summary["cost"]["rows"] == IDEAS * CONFIGS


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("name", "content", "code", "message"), [
    ("empty.txt", "", 1, "holds no ideas: write one idea per line (.txt), a TSV/CSV with a Prompt column"),
    ("wrong.csv", "caption,kind\na fox,animal\n", 1, "has no Prompt column (a CSV (comma-separated) header with "
                                                     "columns 'caption', 'kind'): name the idea column Prompt"),
])
def test_malformed_promptsets_are_one_line_without_traceback(tmp_path, name, content, code, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    done = run_cli("eval", str(path), "-o", str(tmp_path / "out"))
    assert done.returncode == code and "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"promptrag: error: promptset {path} {message}")
    assert not (tmp_path / "out" / "results.jsonl").exists()


def test_bad_options_are_one_line(tmp_path, compbench_set, monkeypatch, capsys):
    from cli.main import main

    def promptrag_in_process(*args: str) -> tuple[int, str]:
        monkeypatch.setattr("sys.argv", ["promptrag", *args])
        with pytest.raises(SystemExit) as done:
            main()
        return done.value.code, capsys.readouterr().err

    cases = [
        (["eval", str(compbench_set)], 2, "-o DIR is required"),
        (["eval", str(compbench_set), "-o", str(tmp_path / "o"), "--enhancers", "rules,gpt5"], 2,
         "unknown enhancer 'gpt5' in 'rules,gpt5'; known enhancers: "),
        (["eval", str(compbench_set), "-o", str(tmp_path / "o"), "--judge", "anthropic"], 2,
         "--judge looks at images: add --images"),
        (["eval", str(compbench_set), "-o", str(tmp_path / "o"), "--rag", "--index", str(tmp_path / "none")], 1,
         str(tmp_path / "none")),
        (["eval", str(compbench_set), "--retrieval"], 2, "--retrieval measures the index and takes no PROMPTSET"),
    ]
    for args, code, message in cases:
        got, err = promptrag_in_process(*args)
        lines = err.strip().splitlines()
        assert (got, len(lines)) == (code, 1), (args, err)
        assert lines[0].startswith("promptrag: error: ") and message in lines[0], (args, err)


def test_a_run_with_an_output_folder_ends_with_its_report_and_status(tmp_path):
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("a red fox in snow\na lighthouse at dusk\n", encoding="utf-8")
    out = tmp_path / "run"
    done = run_cli("eval", str(ideas), "-o", str(out), "-e", "rules", "--no-rag", "-n", "1", "--workers", "1")
    assert done.returncode == 0, done.stderr
    assert (out / "report.html").is_file(), "report.html is written at the end by default"
    assert f"report: {out / 'report.html'}" in done.stdout
    status = json.loads((out / "status.json").read_text())
    assert (status["state"], status["done"], status["total"]) == ("finished", 4, 4)
    assert status["report"] == str(out / "report.html")

    skipped = tmp_path / "no-report"
    done = run_cli("eval", str(ideas), "-o", str(skipped), "-e", "rules", "--no-rag", "-n", "1", "--no-report")
    assert done.returncode == 0, done.stderr
    assert (skipped / "summary.json").is_file() and not (skipped / "report.html").exists()
    assert "report:" not in done.stdout


def test_a_failed_run_says_so_in_its_status(tmp_path):
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("a red fox in snow\n", encoding="utf-8")
    out = tmp_path / "run"
    done = run_cli("eval", str(ideas), "-o", str(out), "-e", "rules", "--judge", "anthropic")
    assert done.returncode == 2
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "failed" and "--judge looks at images" in status["error"]


def test_a_background_evaluation_cancels_and_resumes(tmp_path, isolated_env):
    """evaluation.jobs: start a detached `promptrag eval`, cancel it while it loads (SIGTERM: it
    stops cleanly and says "cancelled"), resume it, and it finishes with its report."""
    from evaluation import jobs
    from evaluation.runner import options_from

    ideas = tmp_path / "ideas.txt"
    ideas.write_text("".join(f"idea number {i} of a red fox\n" for i in range(6)), encoding="utf-8")
    options = options_from(enhancers=["rules"], rag=False, candidates=1, workers=1)
    run_id = jobs.start_eval(ideas, options, title="foxes")
    status = jobs.eval_status(run_id)
    assert status.alive and status.total == 12 and status.out_dir.parent == isolated_env / "evals"
    assert jobs.list_evals()[0].run_id == run_id
    with pytest.raises(Exception, match="still running"):
        jobs.resume_eval(run_id)
    jobs.cancel_eval(run_id)
    deadline = time.monotonic() + 120
    while jobs.eval_status(run_id).alive:
        assert time.monotonic() < deadline, jobs.read_log(run_id)
        time.sleep(0.2)
    status = jobs.eval_status(run_id)
    assert status.state == "cancelled" and status.report is None, jobs.read_log(run_id)

    jobs.resume_eval(run_id)
    deadline = time.monotonic() + 180
    while jobs.eval_status(run_id).alive:
        assert time.monotonic() < deadline, jobs.read_log(run_id)
        time.sleep(0.2)
    status = jobs.eval_status(run_id)
    assert (status.state, status.done, status.total) == ("finished", 12, 12), jobs.read_log(run_id)
    assert status.report == status.out_dir / "report.html"


def test_a_killed_background_evaluation_reads_as_interrupted(tmp_path, isolated_env):
    from evaluation import jobs
    from evaluation.runner import options_from

    ideas = tmp_path / "ideas.txt"
    ideas.write_text("a red fox\na lighthouse\n", encoding="utf-8")
    run_id = jobs.start_eval(ideas, options_from(enhancers=["rules"], rag=False, candidates=1))
    out = jobs.run_dir(run_id)
    deadline = time.monotonic() + 60
    while not (out / "status.json").is_file():
        assert time.monotonic() < deadline, jobs.read_log(run_id)
        time.sleep(0.05)
    os.killpg(jobs.eval_status(run_id).pid, signal.SIGKILL)
    while jobs.eval_status(run_id).alive:
        time.sleep(0.05)
    assert jobs.eval_status(run_id).state == "interrupted"
