"""An evaluation's work units: one row's prompt and text metrics (`text_row`), one row's image (`image_task`).

They are module-level functions of plain-data arguments (`Job`: the run's key, options and
configurations), so an executor may run them in another process (core/executors.py: threads of the
runner's process, or Ray tasks and actors). What they need heavy — the embedder, the index, the
enhancers and assistants (`Parts`, `build_parts`), an image backend — they get with `shared(...)`
under the run's key: the runner's own objects on the thread pool, built once per worker process on
Ray. A local model is used by one thread of a process at a time (`Parts.model_lock`). The ideas of
a "+rag" configuration are retrieved once per process and shared by every "+rag" configuration, so
they fuse the same examples. Results come back by value (the row as a dict, the image as bytes);
nothing here writes a file.

An enhancer other than the rules runs as a chain ending in the rules (`build_chain([name, "rules"])`),
so a failing LLM shows up as a fallback with its reason, as a user would see it. Errors a user can
cause are recorded in the row's `error`; a cancel or a spend cap (`Cancelled`) propagates.

Deliberately not here: which rows to make, appending them, images on disk, the judge, resuming
(runner.py); the metrics themselves (metrics.py).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from core.errors import Cancelled, PromptragError, one_line
from core.executors import peek, run_cancel, shared
from core.settings import get_settings
from core.validation import validated
from enhancers.base import EnhanceRequest
from enhancers.chain import build_chain
from enhancers.registry import get_enhancer
from evaluation.metrics import RunEmbedder, craft_figures, text_metrics
from evaluation.options import FALLBACK, NOT_LLM, RAG_SUFFIX, RAW, EvalOptions
from evaluation.promptset import Idea
from generate.output import make_recipe
from generate.registry import get_image_backend
from generate.saving import generate_and_save
from index.embedder import load_embedder
from index.prompt_store import open_store_sharing
from rag.assistant import PromptAssistant, default_picks, to_examples
from rag.retriever import Retriever


@dataclass
class Made:
    """The prompt a configuration made for an idea, and how (who answered, fallbacks, candidates)."""

    prompt: str
    negative: str
    answered_by: str | None
    fallback_reasons: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    llm_calls: int = 0
    seconds: float = 0.0  # retrieval + enhancing, not time spent waiting for a lock or a thread


@dataclass
class Parts:
    """What a row's prompt needs in a process: enhancers, assistants ("+rag"), the embedder, the index."""

    enhancers: dict[str, Any]
    assistants: dict[str, Any]
    embedder: Any
    index: Any = None
    model_lock: Any = field(default_factory=threading.Lock)  # a local model: one thread at a time
    memo_lock: Any = field(default_factory=threading.Lock)
    retrieved: dict[str, tuple[list[Any], float]] = field(default_factory=dict)

    def release(self) -> None:
        for enhancer in self.enhancers.values():
            enhancer.release()
        if self.index is not None:
            self.index.close()


@dataclass(frozen=True)
class Job:
    """What a work unit is told (plain data): the run's key, its options and configurations."""

    key: str
    options: EvalOptions
    configs: tuple[str, ...]


def build_parts(options: EvalOptions, configs: tuple[str, ...]) -> Parts:
    """One embedder shared by the threads (the index's model), the index and retriever (only for
    "+rag"), the enhancers (each LLM as a chain ending in the rules)."""
    wants_rag = any(c.endswith(RAG_SUFFIX) for c in configs)
    parts = Parts({}, {}, None)
    if wants_rag:
        settings = get_settings()
        parts.index = open_store_sharing(options.index or settings.store or settings.default_index, RunEmbedder)
        parts.embedder = parts.index.embedder
        retriever = Retriever(parts.index)
        if retriever.params.typo_tolerance:
            retriever.vocabulary()  # built once here, not by several workers at once
    else:
        parts.embedder = RunEmbedder(load_embedder())
    for name in options.enhancers:
        if name == FALLBACK:
            parts.enhancers[name] = get_enhancer(name)
        else:
            member_options = {"local": {"seed": options.seed}}.get(name, {})
            parts.enhancers[name] = build_chain([name, FALLBACK], **({name: member_options} if member_options else {}))
        if wants_rag:
            parts.assistants[name] = PromptAssistant(retriever, parts.enhancers[name], embedder=parts.embedder)
    return parts


def _parts(job: Job) -> Parts:
    return shared(f"{job.key}:parts", partial(build_parts, job.options, job.configs))


def text_row(job: Job, idea: Idea, config: str) -> tuple[dict[str, Any], Made | None]:
    """(the row of `idea` × `config` without its image, the prompt made): prompt → text metrics."""
    run_cancel(job.key).raise_if_cancelled(
        "the evaluation", "rows written so far are kept; run the same command again to resume")
    parts = _parts(job)
    started = time.perf_counter()
    row: dict[str, Any] = {
        "idea_id": idea.id, "idea": idea.text, "category": idea.category, "config": config,
        "answered_by": None, "fallback": False, "fallback_reasons": [], "prompt": "", "negative_prompt": "",
        "tokens": 0, "token_budget": 0, "over_budget": False, "consistency": None, "example_similarity": None,
        "diversity": None, "latency_s": 0.0, "image": None, "verdict": None, "error": None, "llm_calls": 0,
        "contradictions": [], "broken_joins": [], "scene_leaks": [],
    }
    try:
        made = make_prompt(parts, job.options, idea, config)
        row["latency_s"] = round(made.seconds, 4)
        row.update(answered_by=made.answered_by, fallback=bool(made.fallback_reasons),
                   fallback_reasons=made.fallback_reasons, prompt=made.prompt, negative_prompt=made.negative,
                   llm_calls=made.llm_calls)
        m = text_metrics(idea.text, made.prompt, candidates=made.candidates, examples=made.examples,
                         embedder=parts.embedder, model_family=job.options.model_family)
        row.update(tokens=m.tokens, token_budget=m.token_budget, over_budget=m.over_budget,
                   consistency=m.consistency, example_similarity=m.example_similarity, diversity=m.diversity)
        craft = craft_figures(idea.text, made.prompt, made.negative, examples=made.examples)
        row.update(contradictions=craft.contradictions, broken_joins=craft.broken_joins,
                   scene_leaks=craft.scene_leaks)
    except Cancelled:
        raise
    except PromptragError as exc:
        row["error"] = one_line(exc)
        row["latency_s"] = row["latency_s"] or round(time.perf_counter() - started, 4)
        return row, None
    return row, made


def make_prompt(parts: Parts, o: EvalOptions, idea: Idea, config: str) -> Made:
    """The prompt `config` makes for `idea` (raw: the idea itself)."""
    if config == RAW:
        return Made(idea.text, "", None, seconds=0.0)
    name = config.removesuffix(RAG_SUFFIX)
    enhancer = parts.enhancers[name]
    lock = parts.model_lock if not enhancer.thread_safe else None  # a local model takes turns
    if config.endswith(RAG_SUFFIX):
        retrieved, retrieve_s = _retrieve(parts, o, idea)
        examples = to_examples(retrieved, default_picks(len(retrieved)))
        with lock or contextlib.nullcontext():
            started = time.perf_counter()
            result = parts.assistants[name].fuse(idea.text, examples, style=o.style, creativity=o.creativity,
                                                 n_candidates=o.candidates, model_family=o.model_family)
            seconds = retrieve_s + time.perf_counter() - started
        return Made(result.prompt, result.negative_prompt, result.enhancer, _reasons(result.fallback_reasons),
                     [c.prompt for c in result.candidates], [e.text for e in result.examples],
                     _llm_calls(enhancer, result.enhancer), seconds)

    request = validated(EnhanceRequest, f"request for idea {idea.id}", idea=idea.text, style=o.style,
                        creativity=o.creativity, n_candidates=o.candidates, model_family=o.model_family)
    with lock or contextlib.nullcontext():
        started = time.perf_counter()
        result = enhancer.enhance(request)
        seconds = time.perf_counter() - started
    return Made(result.prompt, result.negative_prompt, result.enhancer, _reasons(result.fallback_reasons),
                 [c.prompt for c in result.candidates], [], _llm_calls(enhancer, result.enhancer), seconds)


def _retrieve(parts: Parts, o: EvalOptions, idea: Idea) -> tuple[list[Any], float]:
    """The idea's retrieved prompts, searched once (per process) and shared by every "+rag" configuration."""
    with parts.memo_lock:
        found = parts.retrieved.get(idea.id)
    if found is None:
        started = time.perf_counter()
        assistant = next(iter(parts.assistants.values()))
        hits = assistant.retrieve(idea.text, k=o.k, mode=o.mode)
        found = (hits, time.perf_counter() - started)
        with parts.memo_lock:
            found = parts.retrieved.setdefault(idea.id, found)
    return found


def _release_enhancers(key: str) -> None:
    """before_load of the image backend: a local LLM in this process leaves its memory to the image model."""
    parts = peek(f"{key}:parts")
    if parts is not None:
        for enhancer in parts.enhancers.values():
            enhancer.release()


def image_task(job: Job, idea_text: str, made: Made) -> tuple[bytes, bytes]:
    """(PNG, JSON sidecar) of one row's image: the same seed and settings for every configuration."""
    o = job.options
    backend = shared(f"{job.key}:backend", partial(get_image_backend, o.image_backend, model=o.image_model,
                                                   before_load=partial(_release_enhancers, job.key)))
    settings = {"seed": o.seed, "steps": o.steps, "width": o.width, "height": o.height}
    recipe = make_recipe(idea=idea_text, enhancer=made.answered_by, style=o.style)
    with tempfile.TemporaryDirectory(prefix="promptrag-eval-image-") as tmp:
        saved = generate_and_save(made.prompt, made.negative, settings, backend, None, Path(tmp) / "out",
                                  cancel=run_cancel(job.key), recipe=recipe)
        return saved.paths[0].read_bytes(), saved.paths[0].with_suffix(".json").read_bytes()


def _llm_calls(enhancer: Any, answered_by: str) -> int:
    """LLM calls a chain made: its LLM members asked up to the one that answered."""
    members = getattr(enhancer, "enhancers", [enhancer])
    unavailable = getattr(enhancer, "unavailable", {})
    calls = 0
    for member in members:
        if member.name not in NOT_LLM and member.name not in unavailable:
            calls += 1
        if member.name == answered_by:
            break
    return calls


def _reasons(reasons: dict[str, str]) -> list[str]:
    return [f"{name}: {why}" for name, why in reasons.items()]
