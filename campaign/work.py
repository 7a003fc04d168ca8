"""A campaign's work units: one variant's draft (`draft_task`) and one variant's image (`render_task`).

They are module-level functions of plain-data arguments, so an executor may run them in another
process (core/executors.py: threads of the runner's process, or Ray tasks and actors). What they
need heavy — the index, the enhancer and the assistant (`load_drafter`), an image backend — they
get with `shared(...)` under the run's key: the very objects the runner built, on the thread pool;
built once per worker process, on Ray. They hand their results back by value (a `Draft`, a
`Rendered` holding the PNG and its sidecar as bytes) and write no file: the runner (runner.py)
writes everything, the same way whichever executor ran the work.

Deliberately not here: deciding what to draft, accepting or re-planning drafts, writing files,
progress and resume (runner.py, resume.py); planning and fusion (plan.py); throttling (pacing.py).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from campaign.brief import Brief
from campaign.pacing import Throttle, with_throttle_retries
from campaign.plan import Draft, SharedEmbedder, draft_variant
from campaign.render import render_image, size_for
from core.errors import Cancelled, PromptragError
from core.executors import run_cancel, shared
from core.settings import get_settings
from enhancers.chain import build_enhancer
from generate.output import make_recipe
from generate.registry import get_image_backend
from index.prompt_store import open_store_sharing
from rag.assistant import PromptAssistant
from rag.retriever import Retriever


@dataclass
class Drafter:
    """What drafting needs in a process: the assistant and the chain members it lacks."""

    assistant: Any
    unavailable: set[str]
    thread_safe: bool  # every member remote or pure Python (a local model is not, on threads)


@dataclass(frozen=True)
class Job:
    """What a work unit is told (plain data): the run's key, the brief, the shared rate limit."""

    key: str
    brief: Brief
    pacer: Any = None


@dataclass
class Rendered:
    """A variant's image as bytes (PNG and JSON sidecar), or the error that stopped it."""

    backend: str
    model: str | None
    name: str  # images/<name>.png
    png: bytes = b""
    sidecar: bytes = b""
    seconds: float = 0.0
    error: str | None = None


def load_drafter(brief: Brief) -> Drafter:
    """The index (every embedding through one SharedEmbedder), the enhancer and the assistant."""
    settings = get_settings()
    location = brief.index or settings.store or settings.default_index  # a directory or a Milvus URI
    index = open_store_sharing(location, SharedEmbedder)
    retriever = Retriever(index)
    if retriever.params.typo_tolerance:
        retriever.vocabulary()  # built once here, not by several workers at once
    enhancer = build_enhancer(brief.enhancer, grounded=True)
    return Drafter(PromptAssistant(retriever, enhancer, embedder=index.embedder),
                   set(getattr(enhancer, "unavailable", {})), enhancer.thread_safe)


def draft_task(job: Job, variant_id: str, index: int, attempt: int, angle: dict[str, str]) -> Draft:
    """One draft through the shared rate limit, retried (only) when it was throttled."""
    drafter = shared(f"{job.key}:drafter", partial(load_drafter, job.brief))
    throttle = Throttle(job.brief.requests_per_minute, run_cancel(job.key), pacer=job.pacer)
    draft, retries = with_throttle_retries(
        lambda: draft_variant(drafter.assistant, job.brief, variant_id, index, attempt, angle), throttle,
        lambda draft: [why for name, why in draft.fallback_reasons.items() if name not in drafter.unavailable])
    draft.timings["throttle_retries"] = retries
    return draft


def render_task(job: Job, draft: Draft) -> Rendered:
    """Make variant `draft`'s image with its backend (backends take turns; each built once here)."""
    started = time.perf_counter()
    cancel = run_cancel(job.key)
    cancel.raise_if_cancelled("the campaign")
    name = job.brief.backends[draft.index % len(job.brief.backends)]
    backend = shared(f"{job.key}:backend:{name}", partial(get_image_backend, name, model=job.brief.model))
    width, height = size_for(draft.angle.get("size", "1:1"), backend)
    options = {"seed": draft.seed, "width": width, "height": height, "steps": job.brief.steps,
               "guidance": job.brief.guidance}
    stem = draft.id if draft.attempt == 0 else f"{draft.id}-{draft.attempt}"
    try:
        recipe = make_recipe(idea=draft.idea, enhancer=draft.enhancer, style=draft.style,
                             example_ids=[e.get("id") for e in draft.examples])
        with tempfile.TemporaryDirectory(prefix="promptrag-render-") as tmp:
            png, saved = render_image(draft.prompt, draft.negative_prompt, options, backend, Path(tmp), stem,
                                      cancel, recipe)
            return Rendered(backend.name, saved.model, stem, png.read_bytes(), png.with_suffix(".json").read_bytes(),
                            round(time.perf_counter() - started, 4))
    except Cancelled:
        raise
    except PromptragError as exc:
        return Rendered(backend.name, getattr(backend, "model", None), stem, error=str(exc).splitlines()[0])
