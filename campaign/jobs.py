"""Campaign runs that outlive the page: each one is a detached `promptrag batch` process.

A Streamlit script reruns on every click and its session ends when the tab closes, so a page
never runs a batch itself. `start_run` writes the brief to a new run directory
`$PROMPTRAG_HOME/campaigns/<run_id>/` and starts

    python -m cli.main batch <OUT>/brief.yaml -o <OUT> [--no-images] [--concurrency N]

in its own session (`start_new_session=True`: closing the tab, a rerun, even stopping the
server leaves it running), with stdout / stderr appended to `OUT/run.log`. It is the very code
the CLI runs, so a run from the page and a run from a terminal leave the same files.

The run id is the directory name; any session (or a terminal) reattaches by it.
`run_status(run_id)` combines what the runner writes (`OUT/status.json`: state, done, total)
with what this module records (`OUT/job.json`: the pid, how it was started, whether a cancel
was asked for) and whether that pid is still alive:

    running       the process is alive
    finished / failed / cancelled    as the runner wrote it
    cancelled     the process is gone after `cancel_run` (even if it died before writing that)
    interrupted   the process is gone but status.json still says "running" (killed, crashed,
                  machine restarted); `resume_run` continues it — the runner skips finished
                  variants, so nothing is made twice
    failed        the process is gone without ever writing its status (see run.log)

`cancel_run` sends SIGTERM to the run's process group; the batch command turns that into its
cancel token, so the runner stops after the variant in hand and writes "cancelled".
`reroll(run_id, variant_id)` starts the same command with `--reroll ID` and clears
that variant's review verdict (its image is about to change).

Runs belong to the user who started them (`owner` in job.json; the acting user of
`core.spend.current_account`, "local" without sign-in; a run started by hand in a shell is the
local user's): `list_runs` lists the acting user's runs only, and every look-up by id
(`run_dir`, so status, cancel, resume, re-roll) answers "no such run" for another user's. The
batch process is told whose run it is (PROMPTRAG_SPEND_USER, PROMPTRAG_SPEND_CAMPAIGN), so
its paid calls count against that user's and that run's spend caps (core/spend.py).

Deliberately not here: a job queue shared between machines (Huey / Celery); the run list is
the campaigns directory itself, which is what survives a server restart.
"""

from __future__ import annotations

import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from campaign.review import check_variant_id, set_review
from core import background
from core.background import FINAL_STATES, JOB_FILE, JOB_LOCK, STATUS_FILE
from core.background import RUN_ID as _RUN_ID
from core.errors import InputError
from core.executors import parse_executor
from core.files import atomic_write, exclusive_lock
from core.settings import get_settings
from core.spend import LOCAL_USER, Ledger, current_account, estimate
from core.status import aws_status, secret_is_set
from enhancers.base import EnhanceRequest, Example
from enhancers.chat_base import max_tokens_for
from enhancers.prompting import build_messages
from enhancers.registry import parse_enhancer_spec, split_member

LOG_FILE = "run.log"
BRIEF_FILE = "brief.yaml"


@dataclass
class RunStatus:
    run_id: str
    out_dir: Path
    state: str                # running | finished | failed | cancelled | interrupted
    done: int
    total: int
    title: str                # what the brief is about, for the run picker
    started_at: str | None    # when the run was created (ISO, UTC)
    updated_at: str | None    # the runner's last status write
    pid: int | None
    alive: bool
    images: bool
    error: str | None = None
    cancel_requested: bool = False
    mode: str = "run"         # run | reroll (what the latest process was started for)
    max_similarity: float | None = None  # the finished set's max pairwise prompt similarity
    stage: str | None = None  # the runner's stage while running: loading | variants
    executor: str = "thread"  # where its work runs: thread (this machine), ray or ray://HOST:PORT
    owner: str = LOCAL_USER   # who started it (the signed-in user; "local" without sign-in)

    @property
    def active(self) -> bool:
        return self.alive

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0


# ---- where runs live ---------------------------------------------------------------------
def campaigns_dir() -> Path:
    return get_settings().home / "campaigns"


def run_dir(run_id: str) -> Path:
    """The directory of run `run_id` (InputError for an odd id or a run that does not exist)."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
        raise InputError("run id must be letters, digits, '-' or '_' (like 20250130-171200-a1b2), "
                         f"got {run_id!r}")
    path = campaigns_dir() / run_id
    if not _is_run(path) or _owner(_job(path)) != current_account().user:  # another user's: as if absent
        raise InputError(f"no campaign run {run_id!r} in {campaigns_dir()}; pick one from the list of runs")
    return path


def _owner(job: dict[str, Any]) -> str:
    return str(job.get("owner") or LOCAL_USER)


def _is_run(path: Path) -> bool:
    """A run directory: started here (job.json) or by `promptrag batch -o` into the folder (status.json)."""
    return path.is_dir() and ((path / JOB_FILE).is_file() or (path / STATUS_FILE).is_file())


def _job(out: Path) -> dict[str, Any]:
    """What this module recorded about the run; for a run the CLI started, what its files say."""
    job = background.read_json(out / JOB_FILE)
    if job:
        return job
    import yaml

    status = background.read_json(out / STATUS_FILE)
    try:
        brief = yaml.safe_load((out / BRIEF_FILE).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        brief = {}
    title = brief.get("name") if brief.get("name") not in (None, "", "campaign") else brief.get("subject")
    return {"run_id": out.name, "title": str(title or out.name), "created_at": status.get("started_at"),
            "pid": status.get("pid"), "images": True, "concurrency": 1}


def _write_text(path: Path, text: str) -> None:
    # ".part", not ".tmp": a starting runner sweeps OUT/.*.tmp (left by a killed run) and
    # must not take a file this process is still writing.
    atomic_write(path, text, tmp_suffix=".part")


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:24].strip("-")


def _brief_title(brief: Any) -> str:
    """The brief's name, or its subject while the name is still the default one."""
    name = str(getattr(brief, "name", "") or "").strip()
    subject = str(getattr(brief, "subject", "") or "").strip()
    return (name if name and name != "campaign" else subject) or name or "campaign"


# ---- is it alive? --------------------------------------------------------------------------
def _alive(pid: int | None, out_dir: Path) -> bool:
    """Whether `pid` is still our batch process for `out_dir` (also one started by hand with a
    relative `-o` path)."""
    return background.alive(pid, out_dir, started_by_hand=b"batch")


# ---- starting ------------------------------------------------------------------------------
def _command(out: Path, job: dict[str, Any], only: list[str] | None, reroll: bool) -> list[str]:
    command = [sys.executable, "-m", "cli.main", "batch", str(out / BRIEF_FILE), "-o", str(out)]
    if not job.get("images", True):
        command.append("--no-images")
    command += ["--concurrency", str(int(job.get("concurrency", 1)))]
    if job.get("executor", "thread") != "thread":
        command += ["--executor", str(job["executor"])]  # ray / ray://HOST:PORT, kept for resumes
    if reroll and only:
        command += ["--reroll", ",".join(only)]  # re-make just these; the others stay as they are
    return command


def _job_lock(out: Path):
    """One start / cancel at a time per run, across sessions and server processes (two tabs
    clicking Resume at once start one process, and job.json names the one that runs)."""
    return exclusive_lock(out / JOB_LOCK)


def _spawn(out: Path, only: list[str] | None = None, reroll: bool = False,
           new_job: dict[str, Any] | None = None) -> None:
    with _job_lock(out):
        job = new_job if new_job is not None else _job(out)  # read under the lock: the latest pid
        if _alive(job.get("pid"), out):
            raise InputError(f"campaign run {out.name} is still running; wait for it or cancel it first")
        spender = {"PROMPTRAG_SPEND_USER": _owner(job), "PROMPTRAG_SPEND_CAMPAIGN": out.name}  # core/spend.py
        pid = background.spawn(_command(out, job, only, reroll), out / LOG_FILE, env=spender)
        job.update(pid=pid, spawned_at=time.time(), cancel_requested=False,
                   mode="reroll" if reroll else "run", only=list(only or []))
        background.write_json(out / JOB_FILE, job)


def start_run(brief: Any, *, images: bool, concurrency: int = 1, index: Path | str | None = None,
              executor: str = "thread") -> str:
    """Write `brief` to a new run directory and start its batch in the background; the run id.

    `executor`: thread, ray or ray://HOST:PORT (`promptrag batch --executor`). `index`: the prompt index to use
    when the brief names none (the page passes the index its session has open); it is written into the saved brief,
    so a resumed run uses it too."""
    if concurrency < 1:
        raise InputError(f"concurrency must be at least 1, got {concurrency}")
    executor = str(parse_executor(executor))
    base = campaigns_dir()
    base.mkdir(parents=True, exist_ok=True)
    slug = _slug(_brief_title(brief))
    while True:
        run_id = "-".join(p for p in (time.strftime("%Y%m%d-%H%M%S"), slug, secrets.token_hex(2)) if p)
        out = base / run_id
        try:
            out.mkdir()
            break
        except FileExistsError:
            continue
    if index and getattr(brief, "index", None) is None:
        brief = brief.model_copy(update={"index": str(index)})
    _write_text(out / BRIEF_FILE, brief.to_yaml())
    job = {"run_id": run_id, "title": _brief_title(brief), "created_at": background.now(), "images": bool(images),
           "concurrency": int(concurrency), "executor": executor, "owner": current_account().user}
    _spawn(out, new_job=job)
    return run_id


def resume_run(run_id: str) -> None:
    """Start an interrupted (or cancelled, or failed) run again; finished variants are kept."""
    _spawn(run_dir(run_id))


def reroll(run_id: str, variant_id: str) -> None:
    """Re-make one variant (new seed / angle draw) in the background, keeping all the others."""
    out = run_dir(run_id)
    check_variant_id(variant_id)
    if not (out / "variants" / f"{variant_id}.json").is_file():
        raise InputError(f"variant {variant_id!r} is not part of campaign run {run_id}")
    _spawn(out, only=[variant_id], reroll=True)
    set_review(out, variant_id, None)  # the verdict was about the image that is being replaced


def cancel_run(run_id: str) -> None:
    """Ask a running batch to stop (SIGTERM to its process group); it writes "cancelled"."""
    out = run_dir(run_id)
    with _job_lock(out):
        job = _job(out)
        pid = job.get("pid")
        if not _alive(pid, out):
            return
        job["cancel_requested"] = True
        background.write_json(out / JOB_FILE, job)
        background.terminate(pid)  # ours (start_new_session) or a shell's job: the whole group


# ---- status ----------------------------------------------------------------------------------
def _status(out: Path) -> RunStatus:
    job = _job(out)
    status_path = out / STATUS_FILE
    status = background.read_json(status_path)
    pid = job.get("pid")
    alive = _alive(pid, out)
    state = status.get("state")
    error = status.get("error")
    # Did the latest process write status.json at all? (not, if it died while importing)
    fresh = status_path.is_file() and status_path.stat().st_mtime >= float(job.get("spawned_at", 0)) - 1
    if alive:
        state = "running"
    elif job.get("cancel_requested") and state not in ("finished", "failed"):
        state = "cancelled"
    elif not fresh:
        state, error = "failed", f"the batch process exited before it started; see {out / LOG_FILE}"
    elif state not in FINAL_STATES:
        state = "interrupted"
    return RunStatus(
        run_id=out.name, out_dir=out, state=state, done=int(status.get("done") or 0),
        total=int(status.get("total") or 0), title=str(job.get("title") or out.name),
        started_at=job.get("created_at"), updated_at=status.get("updated_at"), pid=pid, alive=alive,
        images=bool(job.get("images", True)), error=error, cancel_requested=bool(job.get("cancel_requested")),
        mode=str(job.get("mode") or "run"), max_similarity=status.get("max_pairwise_similarity"),
        stage=status.get("stage"), executor=str(job.get("executor") or "thread"), owner=_owner(job),
    )


def run_status(run_id: str) -> RunStatus:
    """Where run `run_id` stands now (see the module docstring for the states)."""
    return _status(run_dir(run_id))


def list_runs() -> list[RunStatus]:
    """Every run of the acting user in the campaigns directory, newest first."""
    base = campaigns_dir()
    if not base.is_dir():
        return []
    user = current_account().user
    found = [_status(path) for path in base.iterdir()
             if _RUN_ID.fullmatch(path.name) and _is_run(path) and _owner(_job(path)) == user]
    return sorted(found, key=lambda s: (s.started_at or "", s.run_id), reverse=True)


# ---- what a run may cost -----------------------------------------------------------------------
EXAMPLE_CHARS = 200  # a typical gallery prompt, for the estimate's input size


def paid_model(spec: str) -> tuple[str, str] | None:
    """(enhancer, model) of the first paid chat model the enhancer spec would call here, or None when
    the calls go to a free enhancer first (rules, grounded, a local model) or no paid one is configured."""
    settings = get_settings()
    names = parse_enhancer_spec(spec)
    if names == ["chain"]:
        names = list(settings.enhancer_chain)
    for member in names:
        name, model = split_member(member)
        if name == "anthropic" and secret_is_set("ANTHROPIC_API_KEY"):
            return name, settings.anthropic_model
        if name == "bedrock" and aws_status()[0]:
            return name, settings.bedrock_text_model
        if name == "langchain" and (model or settings.langchain_model):
            return name, str(model or settings.langchain_model)
        if name in ("rules", "grounded", "local"):
            return None  # it answers before any paid member is asked
    return None


def cost_estimate(brief: Any) -> Any:
    """`core.spend.Estimate` of the brief's paid calls (one per variant, each with its examples and the
    full output budget), or None when its enhancer makes no paid calls here."""
    paid = paid_model(brief.enhancer)
    if paid is None:
        return None
    examples = [Example(text="x" * EXAMPLE_CHARS)] * brief.examples_per_variant
    system, user = build_messages(EnhanceRequest(idea=brief.subject or "a subject", examples=examples,
                                                 context=(brief.message or None)))
    return estimate(paid[1], brief.variants, (len(system) + len(user)) // 4, max_tokens_for(1))


def cost_notice(brief: Any) -> str:
    """One line for the page before a run starts: the estimate, the caps that apply, what is spent today."""
    found = cost_estimate(brief)
    if found is None:
        return "No paid model calls: this brief's enhancer runs here for free."
    settings = get_settings()
    user = current_account().user
    line = (f"Estimated cost: {found.text()}; re-plans of near-duplicates (up to {brief.max_rerolls} a variant) "
            "add calls.")
    caps = []
    if settings.spend_cap_campaign_usd is not None:
        caps.append(f"${settings.spend_cap_campaign_usd:,.2f} per run")
    if settings.spend_cap_user_day_usd is not None:
        spent = Ledger(settings.spend_db).spent_today(user)
        caps.append(f"${settings.spend_cap_user_day_usd:,.2f} a day for you (${spent:,.2f} spent today)")
    if caps:
        line += " Spend caps: " + ", ".join(caps) + "; a run that reaches one stops, keeping what it made."
    return line


def read_log(run_id: str, *, limit: int = 4000) -> str:
    """The end of the run's log (what the batch process printed), for a failed run."""
    return background.read_tail(run_dir(run_id) / LOG_FILE, limit)
