"""Evaluation runs that outlive the page: each one is a detached `promptrag eval` process.

The Evaluate page never runs an evaluation itself (a script reruns on every click and its
session ends with the tab). `start_eval` copies the prompt set into a new run folder
`<PROMPTRAG_HOME>/evals/<run_id>/` and starts

    python -m cli.main eval <OUT>/<promptset> -o <OUT> --enhancers ... [--images ...] [--judge ...]

in its own session (closing the tab, a rerun, even stopping the server leaves it running), with
its output appended to `OUT/eval.log`. It is the very command a terminal runs, so the folder is
an ordinary eval run: the same command resumes it, and `promptrag eval -o` writes report.html
at the end.

Where a run stands combines three files: `OUT/job.json` (this module: pid, options, how many
rows the whole run has, whether a cancel was asked for), `OUT/status.json` (`StatusFile`,
written by the eval command as it goes: state, stage, error) and `OUT/results.jsonl` (the rows
done, counted by (idea, configuration)), plus whether the pid is still alive:

    running       the process is alive
    finished / failed / cancelled    as the command wrote it
    cancelled     the process is gone after `cancel_eval`
    interrupted   the process is gone but status.json still says "running" (killed); `resume_eval`
                  continues it — the runner skips the rows already done
    failed        the process is gone without writing a status (see eval.log)

An evaluation belongs to the user who started it (`owner` in job.json, as for campaign runs in
campaign/jobs.py): `list_evals` and every look-up by id see the acting user's only, and the eval
process's paid calls count for that user and the run `eval-<run_id>` (core/spend.py).

Deliberately not here: the evaluation (evaluation/runner.py) and the process bookkeeping
(core/background.py, shared with campaign/jobs.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import background
from core.background import FINAL_STATES, JOB_FILE, JOB_LOCK, STATUS_FILE
from core.background import RUN_ID as _RUN_ID
from core.errors import Cancelled, InputError, PromptragError, one_line
from core.executors import parse_executor
from core.files import exclusive_lock
from core.spend import LOCAL_USER, current_account
from evaluation.compare import evals_dir
from evaluation.promptset import choose, load_promptset

LOG_FILE = "eval.log"
REPORT_FILE = "report.html"


@dataclass
class EvalStatus:
    run_id: str
    out_dir: Path
    state: str                 # running | finished | failed | cancelled | interrupted
    done: int                  # (idea, configuration) rows written, over every session
    total: int                 # rows the whole run has (0 until known)
    title: str
    started_at: str | None
    pid: int | None
    alive: bool
    stage: str | None = None   # while running: loading | rows | report
    error: str | None = None
    cancel_requested: bool = False
    report: Path | None = None  # report.html, once written

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


# ---- the eval command's side: status.json ----------------------------------------------------
class StatusFile:
    """What `promptrag eval -o DIR` writes to DIR/status.json as it goes (a progress callback and
    a context manager): "running" (stage loading, then rows), and at the end "finished",
    "cancelled" (with why: the cancel or the spend cap that stopped it) or "failed" with the error.
    Writes at most every `interval_s` while rows come."""

    def __init__(self, out: Path, *, interval_s: float = 0.5) -> None:
        self.path = Path(out) / STATUS_FILE
        self.interval_s = interval_s
        self.data: dict[str, Any] = {"state": "running", "stage": "loading", "pid": os.getpid(),
                                     "started_at": background.now(), "done": 0, "total": None, "error": None}
        self._last = 0.0

    def _write(self) -> None:
        self.data["updated_at"] = background.now()
        background.write_json(self.path, self.data)

    def __enter__(self) -> StatusFile:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()
        return self

    def __call__(self, event: Any) -> None:
        self.data.update(stage="rows", done=event.done, total=event.total)
        now = time.monotonic()
        if now - self._last >= self.interval_s or (event.total and event.done >= event.total):
            self._last = now
            self._write()

    def stage(self, stage: str, **values: Any) -> None:
        self.data.update(stage=stage, **values)
        self._write()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any) -> None:
        if kind is None:
            self.data.update(state="finished", stage=None)
        elif issubclass(kind, Cancelled):  # says why (a spend cap names itself) and what is kept
            self.data.update(state="cancelled", error=one_line(exc, limit=1000) if exc else None)
        elif issubclass(kind, KeyboardInterrupt):
            self.data.update(state="cancelled")
        else:
            self.data.update(state="failed", error=one_line(exc) if isinstance(exc, PromptragError)
                             else f"{kind.__name__}: {one_line(exc)}")
        self._write()


# ---- where runs live -------------------------------------------------------------------------
def run_dir(run_id: str) -> Path:
    """The folder of eval run `run_id` started here (InputError for an odd id or no such run)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError(f"eval run id must be letters, digits, '-' or '_', got {run_id!r}")
    path = evals_dir() / run_id
    if not (path / JOB_FILE).is_file() or _owner(background.read_json(path / JOB_FILE)) != current_account().user:
        raise InputError(f"no evaluation started here as {run_id!r} in {evals_dir()}; pick a run from the list")
    return path


def _owner(job: dict[str, Any]) -> str:
    """Who started the evaluation (core.spend's acting user; "local" without sign-in): only they see it."""
    return str(job.get("owner") or LOCAL_USER)


def _alive(pid: int | None, out: Path) -> bool:
    """Whether `pid` is still our eval process for `out` (not a zombie, not a reused pid)."""
    return background.alive(pid, out)


# ---- starting --------------------------------------------------------------------------------
def command(promptset: Path, out: Path, options: Any, executor: str = "thread") -> list[str]:
    """The `promptrag eval` command line that runs `options` (an EvalOptions) into `out` on `executor`."""
    o = options
    line = [sys.executable, "-m", "cli.main", "eval", str(promptset), "-o", str(out),
            "--enhancers", ",".join(o.enhancers), "--seed", str(o.seed), "--workers", str(o.workers),
            "--candidates", str(o.candidates), "-k", str(o.k), "--mode", o.mode, "--style", o.style,
            "--creativity", str(o.creativity), "--family", o.model_family]
    if o.rag is not None:
        line.append("--rag" if o.rag else "--no-rag")
    if executor != "thread":
        line += ["--executor", executor]
    if o.limit is not None:
        line += ["--limit", str(o.limit)]
    if o.index:
        line += ["--index", o.index]
    if o.images:
        line += ["--images", "--image-backend", o.image_backend]
        if o.image_model:
            line += ["--image-model", o.image_model]
        if o.steps:
            line += ["--steps", str(o.steps)]
        if o.width and o.height:
            line += ["--size", f"{o.width}x{o.height}"]
        if o.judge:
            line += ["--judge", o.judge]
    return line


def _spawn(out: Path, job: dict[str, Any]) -> None:
    with exclusive_lock(out / JOB_LOCK):
        if _alive(background.read_json(out / JOB_FILE).get("pid"), out):
            raise InputError(f"evaluation {out.name} is still running; wait for it or cancel it first")
        spender = {"PROMPTRAG_SPEND_USER": _owner(job), "PROMPTRAG_SPEND_CAMPAIGN": f"eval-{out.name}"}
        pid = background.spawn(job["command"], out / LOG_FILE, env=spender)  # its paid calls: core/spend.py
        job.update(pid=pid, spawned_at=time.time(), cancel_requested=False)
        background.write_json(out / JOB_FILE, job)


def start_eval(promptset: Path | str, options: Any, *, title: str | None = None, executor: str = "thread") -> str:
    """Copy `promptset` into a new run folder and start `promptrag eval` on it in the background;
    the run id. The prompt set and options are checked first (InputError before anything starts).
    `executor`: thread, ray or ray://HOST:PORT (`promptrag eval --executor`)."""
    source = Path(promptset).expanduser()
    ideas = choose(load_promptset(source), options.limit, options.seed)  # 1. a bad set fails here
    executor = str(parse_executor(executor))
    if options.judge and not options.images:
        raise InputError("the judge looks at images: tick Images (and pick an image backend)")
    base = evals_dir()
    base.mkdir(parents=True, exist_ok=True)
    slug = "-".join(re.findall(r"[a-z0-9]+", (title or source.stem).lower()))[:24].strip("-")
    while True:
        run_id = "-".join(p for p in (time.strftime("%Y%m%d-%H%M%S"), slug, secrets.token_hex(2)) if p)
        out = base / run_id
        try:
            out.mkdir()
            break
        except FileExistsError:
            continue
    copy = out / ("promptset" + source.suffix.lower())
    shutil.copyfile(source, copy)  # the run keeps its own copy: an upload's temp file may go
    job = {"run_id": run_id, "title": title or source.name, "created_at": background.now(),
           "total": len(ideas) * len(options.configs()), "options": options.model_dump(),
           "command": command(copy, out, options, executor), "owner": current_account().user}
    _spawn(out, job)
    return run_id


def resume_eval(run_id: str) -> None:
    """Start a cancelled, interrupted or failed evaluation again; the rows done are kept."""
    out = run_dir(run_id)
    _spawn(out, background.read_json(out / JOB_FILE))


def cancel_eval(run_id: str) -> None:
    """Ask a running evaluation to stop (SIGTERM: it stops after the rows in flight, keeps them)."""
    out = run_dir(run_id)
    with exclusive_lock(out / JOB_LOCK):
        job = background.read_json(out / JOB_FILE)
        pid = job.get("pid")
        if not _alive(pid, out):
            return
        job["cancel_requested"] = True
        background.write_json(out / JOB_FILE, job)
        background.terminate(pid)  # start_new_session: the pid leads its own group


# ---- status ----------------------------------------------------------------------------------
def _rows_done(out: Path) -> int:
    """(idea, configuration) pairs with a row in results.jsonl (a torn last line is not one)."""
    pairs = set()
    try:
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        pairs.add((row.get("idea_id"), row.get("config")))
    return len(pairs)


def eval_status(run_id: str) -> EvalStatus:
    """Where eval run `run_id` stands now (see the module docstring for the states)."""
    out = run_dir(run_id)
    job = background.read_json(out / JOB_FILE)
    status_path = out / STATUS_FILE
    status = background.read_json(status_path)
    pid = job.get("pid")
    alive = _alive(pid, out)
    state, error = status.get("state"), status.get("error")
    fresh = status_path.is_file() and status_path.stat().st_mtime >= float(job.get("spawned_at", 0)) - 1
    if alive:
        state = "running"
    elif job.get("cancel_requested") and state not in ("finished", "failed"):
        state = "cancelled"
    elif not fresh:
        state, error = "failed", f"the eval process exited before it started; see {out / LOG_FILE}"
    elif state not in FINAL_STATES:
        state = "interrupted"
    report = out / REPORT_FILE
    return EvalStatus(
        run_id=run_id, out_dir=out, state=state, done=_rows_done(out), total=int(job.get("total") or 0),
        title=str(job.get("title") or run_id), started_at=job.get("created_at"), pid=pid, alive=alive,
        stage=status.get("stage") if alive else None, error=error,
        cancel_requested=bool(job.get("cancel_requested")), report=report if report.is_file() else None)


def list_evals() -> list[EvalStatus]:
    """Every evaluation the acting user started here (a job.json in the evals folder), newest first."""
    base = evals_dir()
    if not base.is_dir():
        return []
    user = current_account().user
    found = [eval_status(p.name) for p in base.iterdir() if _RUN_ID.fullmatch(p.name) and (p / JOB_FILE).is_file()
             and _owner(background.read_json(p / JOB_FILE)) == user]
    return sorted(found, key=lambda s: (s.started_at or "", s.run_id), reverse=True)


def owned_runs(folders: list[Path]) -> list[Path]:
    """The run folders (e.g. `compare.find_runs()`) the acting user may open: theirs by job.json, and
    for the local user also those a shell's `promptrag eval -o` wrote (no job.json)."""
    user = current_account().user
    return [folder for folder in folders if _owner(background.read_json(folder / JOB_FILE)) == user]


def read_log(run_id: str, *, limit: int = 4000) -> str:
    """The end of the run's log (what the eval process printed), for a failed run."""
    return background.read_tail(run_dir(run_id) / LOG_FILE, limit)
