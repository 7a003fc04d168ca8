"""The Evaluate page's state and callbacks: the new-evaluation form, the evaluation it started.

Per-user state lives under one namespaced key, `EVALUATE` (a dict: the id of the evaluation
this session watches, whether its finished run was opened yet, a one-line notice from the last
click). The evaluations themselves are not state: each is a detached `promptrag eval` process
with its folder under `<PROMPTRAG_HOME>/evals/<run_id>/` (evaluation/jobs.py), so any session,
or the page reloaded with `?eval=<id>`, reattaches to it.

`options_from_form(values)` turns the form's widgets into `EvalOptions` through the same
validation as `promptrag eval`; a bad field is named by its label on the page.

Deliberately not here: drawing (pages/evaluate.py), running an evaluation (evaluation/jobs.py).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import streamlit as st
from pydantic import ValidationError

from app.widgets import labelled_problem, one_line
from core.errors import InputError, PromptragError
from evaluation import jobs
from evaluation.compare import find_runs
from evaluation.jobs import EvalStatus, run_dir, start_eval
from evaluation.runner import EvalOptions
from evaluation.summary import read_run

if TYPE_CHECKING:
    from streamlit.runtime.uploaded_file_manager import UploadedFile

logger = logging.getLogger("promptrag.app")

EVALUATE = "evaluate.state"
RUN = "evaluate.run"     # the run picker's widget key
PATH = "evaluate.path"   # the run-folder box's widget key
FORM = "evaluate.f."     # prefix of the form's widget keys
NO_JUDGE = "no judge"
SOURCES = {"upload": "Upload a file", "earlier": "Pick one used before", "typed": "Type the ideas"}
RAG = {"both": "with and without retrieval", "with": "with retrieval only", "without": "without retrieval only"}
# What the form calls each option (an error names the field the user sees, not the option's name).
LABELS = {"enhancers": "Enhancers", "rag": "Retrieval", "limit": "Ideas to sample", "seed": "Seed",
          "candidates": "Candidates per idea", "workers": "Ideas at once", "images": "Images",
          "image_backend": "Image backend", "judge": "Judge", "promptset": "Prompt set"}


class EvaluateState(TypedDict, total=False):
    """What `evaluate()` holds for one user."""

    job: str | None     # the watched evaluation's run id
    opened: str | None  # the finished run already opened in the viewer
    notice: str | None  # a one-line notice from the last click
    url_job: str        # a deep link's run, kept across the app shell's page switch


def evaluate() -> EvaluateState:
    """This user's Evaluate state (created empty on first use)."""
    current: EvaluateState | None = st.session_state.get(EVALUATE)
    if current is None:
        current = st.session_state[EVALUATE] = EvaluateState(job=None, opened=None, notice=None)
    return current


# ---- the form ------------------------------------------------------------------------------
def options_from_form(values: Mapping[str, object] | None = None) -> EvalOptions:
    """The form's widgets (default: this session's) as validated EvalOptions; InputError names
    each bad field by its label."""
    source = st.session_state if values is None else values
    data: dict[str, object] = {}
    for name in ("enhancers", "limit", "seed", "candidates", "workers", "images", "image_backend", "judge"):
        if FORM + name in source:
            data[name] = source[FORM + name]
    data["rag"] = {"both": None, "with": True, "without": False}[str(source.get(FORM + "rag", "both"))]
    if data.get("judge") == NO_JUDGE or not data.get("images"):
        data["judge"] = None
    data["images"] = bool(data.get("images"))
    data = {k: v for k, v in data.items() if v is not None or k in ("rag", "judge")}
    try:
        return EvalOptions.model_validate(data)
    except ValidationError as exc:
        lines = [labelled_problem(LABELS.get(str(e["loc"][0]) if e["loc"] else "", "Options"), e["msg"])
                 for e in exc.errors()]
        raise InputError("\n".join(lines)) from None


def earlier_promptsets() -> list[str]:
    """Prompt sets of earlier runs that are still on disk (newest run first), for the picker."""

    found: list[str] = []
    for run in find_runs():
        try:
            path = Path(str(read_run(run).get("promptset") or ""))
        except PromptragError:
            continue
        if path.is_file() and str(path) not in found:
            found.append(str(path))
    return found


def promptset_file(kind: str, *, upload: UploadedFile | None = None, picked: str | None = None,
                   typed: str = "") -> tuple[Path, str]:
    """The prompt set the form names, as a file (an upload or typed ideas go to a temporary
    file that `start_eval` copies), and a title for the run."""
    if kind == "upload":
        if upload is None:
            raise InputError(f"{LABELS['promptset']}: upload a .txt, .tsv, .csv or .jsonl file of ideas")
        suffix = Path(upload.name).suffix.lower() or ".txt"
        with tempfile.NamedTemporaryFile("wb", suffix=suffix, delete=False) as handle:
            handle.write(upload.getvalue())
        return Path(handle.name), Path(upload.name).stem
    if kind == "typed":
        lines = [line.strip() for line in (typed or "").splitlines() if line.strip()]
        if not lines:
            raise InputError(f"{LABELS['promptset']}: type at least one idea, one a line")
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return Path(handle.name), "typed ideas"
    if not picked:
        raise InputError(f"{LABELS['promptset']}: pick a prompt set used before, or upload one")
    return Path(picked), Path(picked).stem


def start(kind: str, options: EvalOptions, *, upload: UploadedFile | None = None, picked: str | None = None,
          typed: str = "") -> str:
    """Start an evaluation of the form's prompt set in the background and watch it; its run id."""
    path, title = promptset_file(kind, upload=upload, picked=picked, typed=typed)
    try:
        run_id = start_eval(path, options, title=title)
    finally:
        if kind != "earlier":
            path.unlink(missing_ok=True)
    attach(run_id)
    return run_id


# ---- the evaluation this session watches -----------------------------------------------------
def attach(run_id: str | None) -> None:
    evaluate().update(job=run_id, opened=None)
    if run_id:
        st.query_params["eval"] = run_id
    else:
        st.query_params.pop("eval", None)


def attached() -> str | None:
    return evaluate().get("job")


def remember_url_job() -> None:
    """Call before `state.require_shell` (it drops query parameters when it reopens the page)."""
    wanted = st.query_params.get("eval")
    if wanted:
        evaluate()["url_job"] = wanted


def attach_from_url() -> None:
    """A page opened with `?eval=<id>` reattaches to that evaluation."""
    wanted = st.query_params.get("eval") or evaluate().pop("url_job", None)
    evaluate().pop("url_job", None)
    if wanted and wanted != attached():
        run_dir(wanted)  # InputError for an odd id or an evaluation that is not there
        attach(wanted)


def open_when_finished(status: EvalStatus) -> None:
    """Before the run picker is drawn: a watched evaluation that has just finished opens in
    the viewer below (once; the user may pick another run afterwards)."""
    current = evaluate()
    if status.state == "finished" and current.get("opened") != status.run_id:
        current["opened"] = status.run_id
        st.session_state[RUN] = str(status.out_dir)
        st.session_state[PATH] = ""


def progress_text(status: EvalStatus) -> str:
    if status.alive and status.cancel_requested:
        return f"{status.done} of {status.total} rows · stopping after the rows in flight…"
    if status.alive and status.stage == "loading":
        return "Loading the enhancers, the index and the models…"
    if status.alive and status.stage == "report":
        return f"{status.done} of {status.total} rows · writing report.html…"
    return f"{status.done} of {status.total} rows (ideas × configurations)"


# ---- clicks ----------------------------------------------------------------------------------
def _act(action: str, fn: Callable[..., object], *args: object) -> None:
    """Run a click's action; a failure becomes the notice the page shows (never a traceback)."""
    try:
        fn(*args)
    except PromptragError as exc:
        evaluate()["notice"] = f"{action} failed: {one_line(exc)}"
    except Exception:
        logger.exception("%s failed unexpectedly", action)
        evaluate()["notice"] = f"{action} failed unexpectedly; details are in the server log."


def take_notice() -> str | None:
    return evaluate().pop("notice", None)


def cancel_clicked(run_id: str) -> None:
    _act("Cancelling the evaluation", jobs.cancel_eval, run_id)


def resume_clicked(run_id: str) -> None:
    _act("Resuming the evaluation", jobs.resume_eval, run_id)
