"""The Campaign page's state and callbacks: the brief form, the attached run, review clicks.

Per-user state lives under one namespaced key, `CAMPAIGN` (a dict: the attached run id, the
last brief checked, a one-line notice from the last action). The form's widgets have keys
`campaign.f.<field>`; `form_values(brief)` turns a Brief into those values (to fill the form
from an uploaded YAML) and `brief_from_form(values)` turns them back into a Brief, through the
same validation as `promptrag batch` (`brief_from_dict`), so the form, its saved YAML and the
CLI can never disagree.

Runs themselves are not state: they live in `$PROMPTRAG_HOME/campaigns/<run_id>/` and are
read through `campaign.jobs`, so any session (or a page reloaded with `?run=<id>`)
reattaches to them. Click callbacks (approve, reject, re-roll, cancel, resume) act on disk and
leave a notice when they fail; the page shows it.

Deliberately not here: drawing (pages/campaign.py), running a batch (a detached process, see
campaign/jobs.py).
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TypedDict, get_args

import streamlit as st
import yaml

from app.widgets import format_duration, labelled_problem, one_line
from campaign import jobs
from campaign.brief import Brief, SeedPolicy, SubjectKind, brief_from_dict
from campaign.jobs import RunStatus
from campaign.review import approved_zip, reviews, set_review
from campaign.variant import Variant, read_variants
from core.errors import InputError, PromptragError
from core.settings import get_settings
from enhancers.base import ModelFamily

logger = logging.getLogger("promptrag.app")

CAMPAIGN = "campaign"
PICK = "campaign.run_pick"  # the run picker's widget key
FORM = "campaign.f."        # prefix of the form's widget keys
LIST_FIELDS = ("scenes", "moods", "compositions")  # one entry a line; empty = the built-in list
WORD_FIELDS = ("must_have", "must_not", "colours")  # brand words, comma separated
EXAMPLE_BRIEF = Path(__file__).resolve().parents[1] / "examples" / "brief.yaml"  # a checkout's, not a wheel's
# The form's label of each brief field: the page draws them, and a bad field is named by its label.
LABELS = {
    "name": "Campaign name",
    "subject": "Product or subject",
    "audience": "Audience",
    "message": "Message",
    "must_have": "Must have (comma separated)",
    "must_not": "Must not (comma separated)",
    "colours": "Brand colours (comma separated)",
    "no_text": "No text in the image",
    "artist_credits": "Allow artist credits",
    "subject_kind": "Subject kind",
    "variants": "How many",
    "styles": "Styles",
    "sizes": "Sizes",
    "backends": "Image backends",
    "enhancer": "Enhancer",
    "scenes": "Scenes (one a line)",
    "moods": "Moods (one a line)",
    "compositions": "Compositions (one a line)",
    "model": "Image model",
    "steps": "Steps",
    "guidance": "CFG",
    "seed": "Seed",
    "seed_policy": "Seed policy",
    "model_family": "Model family",
    "creativity": "Creativity",
    "similarity_threshold": "Max similarity",
    "examples_per_variant": "Examples per variant",
    "max_rerolls": "Re-plans of a near-duplicate",
    "requests_per_minute": "Enhancer calls per minute",
}


class CampaignState(TypedDict, total=False):
    """What `campaign()` holds for one user."""

    run_id: str | None      # the attached run
    brief_yaml: str | None  # the last brief checked, as YAML
    notice: str | None      # a one-line notice from the last action
    upload: str | None      # the last brief file read into the form
    loaded: str             # a brief file just loaded into the form (shown once)
    url_run: str            # a deep link's run, kept across the app shell's page switch


def campaign() -> CampaignState:
    """This user's Campaign state (created empty on first use)."""
    current: CampaignState | None = st.session_state.get(CAMPAIGN)
    if current is None:
        current = st.session_state[CAMPAIGN] = CampaignState(run_id=None, brief_yaml=None, notice=None,
                                                             upload=None)
    return current


# ---- the brief form ------------------------------------------------------------------------
def _split_words(text: str) -> list[str]:
    return [w.strip() for w in (text or "").split(",") if w.strip()]


def _split_lines(text: str) -> list[str] | None:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines or None


def form_values(brief: Brief | None = None) -> dict[str, object]:
    """Widget key -> value for the form, from `brief` (None: the Brief defaults)."""
    if brief is None:
        data = {name: f.get_default(call_default_factory=True) for name, f in Brief.model_fields.items()
                if not f.is_required()}
        data.update(subject="", brand=Brief.model_fields["brand"].get_default(call_default_factory=True))
    else:
        data = dict(brief)
    brand = data.pop("brand")
    values: dict[str, object] = {}
    for name, value in data.items():
        if name in LIST_FIELDS:
            value = "\n".join(value or [])
        elif name in ("model", "index"):
            value = value or ""
        values[FORM + name] = list(value) if isinstance(value, (list, tuple)) else value
    for name in WORD_FIELDS:
        values[FORM + name] = ", ".join(getattr(brand, name))
    values[FORM + "no_text"] = brand.no_text
    return values


def brief_from_form(values: Mapping[str, object] | None = None) -> Brief:
    """The form's values (default: this session's widgets) as a validated Brief (InputError
    listing every bad field, as for a YAML brief)."""
    source = st.session_state if values is None else values
    data: dict[str, object] = {}
    for name in Brief.model_fields:
        key = FORM + name
        if name == "brand" or key not in source:
            continue
        value = source[key]
        if name in LIST_FIELDS:
            value = _split_lines(str(value or ""))
        elif name in ("model", "index"):
            value = str(value or "").strip() or None
        elif isinstance(value, str):
            value = value.strip()
        data[name] = value
    brand: dict[str, object] = {name: _split_words(str(source.get(FORM + name) or "")) for name in WORD_FIELDS}
    brand["no_text"] = bool(source.get(FORM + "no_text", False))
    data["brand"] = brand
    try:
        return brief_from_dict(data, source="the brief")
    except InputError as exc:
        raise InputError(_labelled(str(exc))) from None


_PROBLEM = re.compile(r"^(\s+)([\w.]+): (.*)$")


def _labelled(text: str) -> str:
    """A brief's problems named as the form names its fields: "  subject: String should have at
    least 1 character (got '')" -> "  Product or subject: fill it in"."""
    lines = []
    for line in text.splitlines():
        match = _PROBLEM.match(line)
        field = match.group(2).removeprefix("brand.").split(".")[0] if match else ""
        if match and field in LABELS:
            line = match.group(1) + labelled_problem(LABELS[field], match.group(3))
        lines.append(line)
    return "\n".join(lines)


def fill_form(brief: Brief) -> None:
    """Put `brief` into the form's widgets (call before the form is drawn in this run)."""
    st.session_state.update(form_values(brief))


def ensure_form_defaults() -> None:
    """Give every form widget its Brief default once, so widgets need no `value=` of their own."""
    for key, value in form_values().items():
        st.session_state.setdefault(key, value)


def brief_from_upload(data: bytes, name: str) -> Brief:
    """An uploaded YAML file as a validated Brief."""
    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise InputError(f"{name} is not a UTF-8 YAML file: {one_line(exc)}") from None
    return brief_from_dict(parsed, source=f"brief {name}")


def load_example_clicked() -> None:
    """The "Load the example brief" button: examples/brief.yaml into the form."""
    try:
        fill_form(brief_from_upload(EXAMPLE_BRIEF.read_bytes(), EXAMPLE_BRIEF.name))
        campaign()["loaded"] = EXAMPLE_BRIEF.name
    except (OSError, PromptragError) as exc:
        campaign()["notice"] = f"Loading the example brief failed: {one_line(exc)}"


# ---- where a run runs ------------------------------------------------------------------------
RUN_ON = "campaign.run_on"  # the "Run on" radio's key; drawn only when a Ray cluster is configured
THIS_MACHINE = "thread"     # campaign.jobs' executor for this machine's thread pool


def executor_choices() -> dict[str, str]:
    """Where a new run may go, executor -> label: this machine, plus the Ray cluster of
    PROMPTRAG_RAY_ADDRESS when one is configured. Either way the run's process is on this machine
    (so it reattaches the same); with Ray it drives the cluster."""
    address = get_settings().ray_address
    choices = {THIS_MACHINE: "this machine"}
    if address:
        choices[address] = f"Ray cluster ({address})"
    return choices


def chosen_executor() -> str:
    """The "Run on" choice of this session (this machine when none is offered or it is stale)."""
    chosen = st.session_state.get(RUN_ON, THIS_MACHINE)
    return chosen if chosen in executor_choices() else THIS_MACHINE


def where_it_runs(executor: str) -> str:
    """A run's executor as the page says it: "this machine", "Ray cluster (ray://head:10001)"."""
    if executor in ("", THIS_MACHINE):
        return "this machine"
    return "Ray cluster" if executor == "ray" else f"Ray cluster ({executor})"


def show_where(executor: str, choices: dict[str, str]) -> bool:
    """Say where a run runs when it is not obvious: a Ray run, or any run once a cluster is offered."""
    return executor not in ("", THIS_MACHINE) or len(choices) > 1


# ---- what the run panel shows -----------------------------------------------------------------
FILTERS = {"all": "All", "todo": "To review", "approved": "Approved", "rejected": "Rejected",
           "problems": "Problems"}


def filter_variants(variants: list[Variant], verdicts: dict[str, str], which: str) -> list[Variant]:
    """The variants a filter of the grid shows (FILTERS' keys; "problems": brand or error)."""
    keep: dict[str, Callable[[Variant], bool]] = {
        "all": lambda v: True,
        "todo": lambda v: v.id not in verdicts,
        "approved": lambda v: verdicts.get(v.id) == "approved",
        "rejected": lambda v: verdicts.get(v.id) == "rejected",
        "problems": lambda v: v.status != "ok",
    }
    return [v for v in variants if keep[which](v)]


def progress_text(status: RunStatus) -> str:
    """The progress bar's line: done of total, and an ETA while the run goes on."""
    if status.alive and status.cancel_requested:
        return f"{status.done} of {status.total} variants · cancelling after the variants in flight…"
    if status.alive and (not status.total or status.stage == "loading"):
        return "Loading the prompt index and the enhancer…"
    line = f"{status.done} of {status.total} variants"
    if not status.alive:
        return line
    if status.done >= status.total:
        return line + " · writing the manifest, contact sheet and gallery…"
    if status.done and status.started_at and status.updated_at:
        # A resumed run counts variants made before it too, so this errs on the short side.
        elapsed = (datetime.fromisoformat(status.updated_at) - datetime.fromisoformat(status.started_at))
        seconds = elapsed.total_seconds()
        if seconds > 0:
            line += f" · about {format_duration(seconds / status.done * (status.total - status.done))} left"
    return line


def model_families() -> list[str]:
    return ["auto", *get_args(ModelFamily)]  # auto: follows the brief's image model


def subject_kinds() -> list[str]:
    return list(get_args(SubjectKind))


def seed_policies() -> list[str]:
    return list(get_args(SeedPolicy))


# ---- the attached run ----------------------------------------------------------------------
def attach(run_id: str | None) -> None:
    """Show run `run_id` on the page (and in the address bar, so a reload comes back to it)."""
    campaign()["run_id"] = run_id
    if run_id:
        st.query_params["run"] = run_id
    else:
        st.query_params.pop("run", None)


def attached() -> str | None:
    return campaign().get("run_id")


def sync_picker() -> None:
    """Before the run picker is drawn: show the attached run in it (a run just started, or
    one opened from the address bar)."""
    st.session_state[PICK] = attached()


def picked() -> None:
    """The run picker's callback."""
    attach(st.session_state.get(PICK))


def remember_url_run() -> None:
    """Call before `state.require_shell`: a deep link's `?run=<id>` is lost when the page is
    reopened inside the app shell (st.switch_page drops query parameters), so keep it."""
    wanted = st.query_params.get("run")
    if wanted:
        campaign()["url_run"] = wanted


def attach_from_url() -> None:
    """A page opened with `?run=<id>` (a reload, a shared link) reattaches to that run."""
    wanted = st.query_params.get("run") or campaign().pop("url_run", None)
    campaign().pop("url_run", None)
    if wanted and wanted != attached():
        jobs.run_dir(wanted)  # InputError for an odd id or a run that is not there
        attach(wanted)


# ---- actions on a run (widget callbacks) ---------------------------------------------------
def _act(action: str, fn: Callable[..., object], *args: object) -> None:
    """Run a click's action; a failure becomes the notice the page shows (never a traceback)."""
    try:
        fn(*args)
    except PromptragError as exc:
        campaign()["notice"] = f"{action} failed: {one_line(exc)}"
    except Exception:
        logger.exception("%s failed unexpectedly", action)
        campaign()["notice"] = f"{action} failed unexpectedly; details are in the server log."


def take_notice() -> str | None:
    return campaign().pop("notice", None)


def review_clicked(out_dir: str, variant_id: str, verdict: str, current: str | None) -> None:
    """Approve / reject one variant; clicking the verdict it already has clears it."""
    _act("Saving the review", set_review, out_dir, variant_id, None if verdict == current else verdict)


def reroll_clicked(run_id: str, variant_id: str) -> None:
    _act(f"Re-rolling {variant_id}", jobs.reroll, run_id, variant_id)


def cancel_clicked(run_id: str) -> None:
    _act("Cancelling the run", jobs.cancel_run, run_id)


def resume_clicked(run_id: str) -> None:
    _act("Resuming the run", jobs.resume_run, run_id)


def approved_download(out_dir: Path | str) -> bytes:
    """The "Download approved" ZIP: `campaign.review.approved_zip` (images and manifest) plus the
    approved prompts themselves — prompts.txt (one a line, ready for `promptrag generate` or a
    prompt set) and prompts/<id>.txt (prompt, then the negative) — so a prompts-only run's
    download holds what was approved, not only a manifest."""
    data = approved_zip(out_dir)
    verdicts = reviews(out_dir)
    approved = sorted((v for v in read_variants(Path(out_dir)) if verdicts.get(v.id) == "approved"), key=lambda v: v.id)
    buffer = io.BytesIO(data)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("prompts.txt", "".join(" ".join(v.prompt.split()) + "\n" for v in approved))
        for variant in approved:
            text = variant.prompt.strip() + "\n"
            if variant.negative_prompt:
                text += "\nNegative prompt: " + variant.negative_prompt.strip() + "\n"
            archive.writestr(f"prompts/{variant.id}.txt", text)
    return buffer.getvalue()
