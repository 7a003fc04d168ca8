"""run_eval: every idea of a prompt set × every configuration → one results row each, resumable.

Configurations: "raw" (the idea itself is the prompt) plus one per enhancer, without and/or with
retrieval: `rules`, `grounded+rag`, `local+rag`, ... An enhancer other than the rules runs as a
chain ending in the rules (`build_chain([name, "rules"])`), so a failing LLM shows up as a
fallback with its reason, as a user would see it; "+rag" runs `PromptAssistant` (retrieve →
pick the top examples → fuse → checks). The ideas of a "+rag" configuration are retrieved once
and shared by every "+rag" configuration, so they fuse the same examples.

The recipe (`run_eval`):
1. check inputs: options (pydantic), the prompt set, the run folder (one run at a time: a
   lock; a folder holding another set, seed or options is refused, naming what differs);
2. read what is done: the rows of results.jsonl (a torn last line of a killed run is cut off);
   a pair whose last row has no error is skipped, a failed one is tried again;
3. build the parts once: one embedder shared by the threads (the index's model), the index
   and retriever (only for "+rag"), the enhancers and the judge (if asked);
4. each remaining (idea, configuration) as a work unit on the run's executor (core/executors.py:
   `workers` threads by default, Ray tasks with executor="ray"; a local model is used by one
   thread of a process at a time): prompt → text metrics (metrics.py); then, with images, its image
   on a model worker (one at a time on the thread pool, one per GPU on Ray; the same seed and
   settings for every configuration) handed back as bytes and saved here as
   `images/<idea_id>/<config>.png` (an image already on disk is kept) → the judge's verdict; the
   row is appended to results.jsonl (flushed and fsync'ed) only after its image is on disk, so a
   kill loses at most the rows in flight and never leaves a row without its image;
5. with a judge: a preference between the raw idea's image and each configuration's, in a
   per-pair seeded order, appended to pairs.jsonl;
6. summary.json (summary.py) and the session's wall time in run.json.

Errors a user can cause (an idea the enhancer refuses, a failing image backend, a judge that
answers nonsense) are recorded in the row's `error`; bugs propagate. Test hook
(core/pause_hook.py): PROMPTRAG_TEST_PAUSE_AT=row:N blocks the run after it appends its N-th row,
so a test can SIGKILL it at a known point.

Deliberately not here: the metrics themselves (metrics.py), aggregation (summary.py), the
judge's prompts and parsing (judge.py), comparing runs and the HTML report (compare.py, report.py).
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import Cancelled, InputError, PromptragError, one_line
from core.executors import ExecutorSpec, forget, make_executor, peek, provide, shared
from core.files import atomic_write
from core.pause_hook import pause_here
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import get_settings
from core.validation import validated
from enhancers.base import EnhanceRequest, ModelFamily, Style
from enhancers.chain import build_chain
from enhancers.registry import enhancer_names, get_enhancer
from evaluation.judge import get_judge
from evaluation.metrics import RunEmbedder, craft_figures, text_metrics
from evaluation.promptset import Idea, choose, load_promptset
from evaluation.summary import (
    PAIRS,
    RESULTS,
    RUN,
    append_row,
    cut_torn_tail,
    folder_lock,
    read_jsonl,
    read_results,
    read_run,
    write_summary,
)
from generate.base import MAX_SEED
from generate.output import make_recipe
from generate.registry import get_image_backend
from generate.saving import generate_and_save
from index.embedder import load_embedder
from index.prompt_store import open_store_sharing
from rag.assistant import PromptAssistant, default_picks, to_examples
from rag.retriever import Mode, Retriever

RAW = "raw"
RAG_SUFFIX = "+rag"
FALLBACK = "rules"
NOT_LLM = ("rules", "grounded")
# Options that change what a row means: a resumed run must use the same ones.
RUN_OPTIONS = ("candidates", "k", "mode", "style", "creativity", "model_family", "image_backend", "image_model",
               "steps", "width", "height")


class EvalOptions(BaseModel):
    """How an evaluation runs (the CLI's options; descriptions double as its help)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enhancers: list[str] = Field(["rules", "grounded"], min_length=1,
                                 description="Enhancers to compare with the raw idea, e.g. rules,grounded,local.")
    rag: bool | None = Field(None, description="With retrieval only (True), without only (False), or both (None).")
    images: bool = Field(False, description="Make one image per idea and configuration (same seed and settings).")
    image_backend: str = Field("diffusers", description="Image backend for --images: diffusers or bedrock.")
    image_model: str | None = Field(None, description="Image model id or local path (default: the settings').")
    steps: int | None = Field(None, ge=1, le=150,
                              description="Denoising steps for the images (default: the backend's).")
    width: int | None = Field(None, ge=64, le=2048, description="Image width (default: the model's native size).")
    height: int | None = Field(None, ge=64, le=2048, description="Image height (default: the model's native size).")
    judge: str | None = Field(None, description="Judge the images with a multimodal Claude: anthropic or bedrock.")
    limit: int | None = Field(None, ge=1, description="Evaluate N ideas spread over the set (seeded).")
    seed: int = Field(1, ge=0, le=MAX_SEED, description="Seed of the idea sample, the images and the local model.")
    workers: int = Field(4, ge=1, le=32, description="Ideas worked on at once (threads).")
    candidates: int = Field(3, ge=1, le=8,
                            description="Candidate prompts per idea (diversity is measured across them).")
    k: int = Field(8, ge=1, le=100, description="With retrieval: how many prompts to retrieve per idea.")
    mode: Mode = Field("hybrid", description="With retrieval: dense, keyword or hybrid.")
    style: Style = Field("auto", description="Visual style asked of every enhancer.")
    creativity: float = Field(0.7, ge=0.0, le=1.0, description="Creativity asked of every enhancer.")
    model_family: ModelFamily = Field("sdxl", description="Target model family (sets the CLIP token budget).")
    index: str | None = Field(None, description="Index for retrieval (default: the home's default index).")

    @field_validator("enhancers")
    @classmethod
    def _known_enhancers(cls, names: list[str]) -> list[str]:
        known = enhancer_names()
        names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown enhancer(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if not names:
            raise ValueError(f"name at least one enhancer, e.g. rules,grounded (known: {', '.join(known)})")
        return names

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, name: str | None) -> str | None:
        if name is not None and name not in ("anthropic", "bedrock"):
            raise ValueError(f"judge must be anthropic or bedrock, got {name!r}")
        return name

    def configs(self) -> list[str]:
        """raw first, then each enhancer without and/or with retrieval."""
        names = [RAW]
        for name in self.enhancers:
            if self.rag is not True:
                names.append(name)
            if self.rag is not False:
                names.append(name + RAG_SUFFIX)
        return names


@dataclass
class EvalReport:
    """What run_eval did: the folder, rows written now, pairs skipped as done, the summary."""

    out_dir: Path
    configs: list[str]
    written: int
    skipped: int
    errors: int
    summary: dict[str, Any]
    seconds: float
    pairs_written: int = 0


@dataclass
class _Made:
    prompt: str
    negative: str
    answered_by: str | None
    fallback_reasons: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    llm_calls: int = 0
    seconds: float = 0.0  # retrieval + enhancing, not time spent waiting for a lock or a thread


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def options_from(**values: Any) -> EvalOptions:
    """EvalOptions from keyword values; a bad value is one InputError naming the field."""
    return validated(EvalOptions, "evaluation options", **values)


def run_eval(promptset: Path | str, out_dir: Path | str, options: EvalOptions | None = None, *,
             on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
             judge: Any = None, executor: ExecutorSpec | str | None = None) -> EvalReport:
    """Evaluate every chosen idea of `promptset` under each configuration into `out_dir`.

    `judge`: a ready judge (evaluation.judge.Judge); by default one is built from
    `options.judge`. `executor`: "thread" (default), "ray" or "ray://HOST:PORT" (core/executors.py;
    the same rows either way). Re-running with the same folder resumes.
    """
    started = time.perf_counter()
    options = options or EvalOptions()
    # 1. check inputs
    if (options.judge or judge is not None) and not options.images:
        raise InputError("--judge looks at images: add --images (and an image backend)")
    promptset = Path(promptset).expanduser()
    ideas = choose(load_promptset(promptset), options.limit, options.seed)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"-o {out} is a file; name a folder for the run")
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out):
        run = _Run(promptset, ideas, out, options, on_progress, cancel or CancelToken(), judge, executor)
        run.check_folder()
        # 2. what is done
        run.read_done()
        # 3. the parts
        run.load()
        run.start_session()
        try:
            # 4. + 5.
            run.evaluate_all()
            run.prefer_all()
        finally:
            run.release()
            # 6. the session's time (also when cancelled: the rows it wrote are kept)
            run.end_session(time.perf_counter() - started)
        summary = json.loads(write_summary(out).read_text(encoding="utf-8"))
    return EvalReport(out, run.configs, run.written, run.skipped, run.errors, summary,
                      time.perf_counter() - started, run.pairs_written)


class _Run:
    """The state of one run_eval call (kept off module globals: runs may share a process)."""

    def __init__(self, promptset: Path, ideas: list[Idea], out: Path, options: EvalOptions,
                 on_progress: ProgressCallback | None, cancel: CancelToken, judge: Any,
                 executor: ExecutorSpec | str | None = None) -> None:
        self.promptset, self.ideas, self.out, self.options = promptset, ideas, out, options
        self.cancel = cancel
        self.executor_spec = executor
        self.key = f"eval:{uuid.uuid4().hex}"  # this run's objects in shared(...)
        self.watch = Stopwatch("eval", on_progress)
        self.judge = judge
        self.configs = options.configs()
        self.done: set[tuple[str, str]] = set()
        self.written = self.skipped = self.errors = self.pairs_written = 0
        self.parts: _Parts | None = None
        self.judge_calls_before = 0

    # -- 1. the folder -----------------------------------------------------------------------------
    def check_folder(self) -> None:
        o = self.options
        wanted = {"promptset": str(self.promptset.resolve()), "seed": o.seed, "images": o.images,
                  "judge": o.judge, "options": {name: getattr(o, name) for name in RUN_OPTIONS}}
        if (self.out / RUN).is_file():
            run = read_run(self.out)
            before = run.get("options") or {}
            differ = [name for name in ("promptset", "seed", "images", "judge") if run.get(name) != wanted[name]]
            differ += [f"options.{n}" for n, v in wanted["options"].items() if before.get(n) != v]
            if differ:
                raise InputError(f"{self.out} holds another evaluation ({', '.join(differ)} differ from this one's); "
                                 "use a new -o folder, or repeat the first run's options to resume it")
            self.meta = run
            self.meta["configs"] = list(dict.fromkeys([*run["configs"], *self.configs]))
        else:
            self.meta = {**wanted, "configs": self.configs, "created": _now(), "sessions": []}

    def start_session(self) -> None:
        """Record this session in run.json (after the parts loaded: a run that cannot start leaves none)."""
        self.meta.setdefault("sessions", []).append({"started": _now(), "wall_s": 0.0, "rows": 0})
        atomic_write(self.out / RUN, json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n")

    def end_session(self, seconds: float) -> None:
        calls = getattr(self.judge, "calls", 0) if self.judge is not None else 0
        self.meta["sessions"][-1].update({"wall_s": round(seconds, 3), "rows": self.written,
                                          "judge_calls": calls - self.judge_calls_before})
        atomic_write(self.out / RUN, json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n")

    # -- 2. what is done ---------------------------------------------------------------------------
    def read_done(self) -> None:
        path = self.out / RESULTS
        for leftover in [*self.out.glob("images/*/.tmp-*"), *self.out.glob("images/*/.*.tmp")]:
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink(missing_ok=True)
        cut_torn_tail(path)
        cut_torn_tail(self.out / PAIRS)
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for row in read_jsonl(path):
            last[(row["idea_id"], row["config"])] = row
        self.done = {pair for pair, row in last.items() if not row.get("error")}

    # -- 3. the parts ---------------------------------------------------------------------------------
    def load(self) -> None:
        self.parts = build_parts(self.options, tuple(self.configs))
        provide(f"{self.key}:parts", self.parts)  # thread workers use these very objects
        provide(f"{self.key}:cancel", self.cancel)
        if self.judge is None and self.options.judge is not None:
            self.judge = get_judge(self.options.judge)  # a missing key fails now, not at the first image
        if self.judge is not None:
            self.judge_calls_before = getattr(self.judge, "calls", 0)

    def release(self) -> None:
        if self.parts is not None:
            self.parts.release()
        for backend in forget(f"{self.key}:backend"):  # an image model this process loaded
            backend.release()
        forget(self.key)

    # -- 4. rows -----------------------------------------------------------------------------------
    def evaluate_all(self) -> None:
        """Each row's prompt and metrics as a work unit, then (with images) its image on a model
        worker; the image is saved and judged here, and the row appended once it is whole."""
        todo = [(idea, config) for idea in self.ideas for config in self.configs if (idea.id, config) not in self.done]
        self.skipped = len(self.ideas) * len(self.configs) - len(todo)
        total = len(todo)
        self.watch.report(0, total, f"{self.skipped} done before")
        if not todo:
            return
        job = _Job(self.key, self.options, tuple(self.configs))
        workers = self.options.workers
        with open(self.out / RESULTS, "ab") as results, make_executor(
                self.executor_spec, workers=workers, finishers=workers, cancel=self.cancel) as executor:
            pending = {executor.submit(text_row, job, idea, config): (idea, "text") for idea, config in todo}
            try:
                self.collect(executor, job, pending, results, total)
            except Cancelled:
                raise Cancelled(f"the evaluation was cancelled; rows written so far are kept in {self.out / RESULTS}; "
                                "run the same command again to resume") from None

    def collect(self, executor: Any, job: _Job, pending: dict[Future, tuple[Idea, str]], results: Any,
                total: int) -> None:
        """Append each row once it is whole: its text stage done, then (with images) its image stage."""
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                idea, stage = pending.pop(future)
                if stage == "text":
                    row, made = future.result()
                    if self.options.images and row["error"] is None:
                        pending[self.image_stage(executor, job, idea, row, made)] = (idea, "image")
                        continue
                else:
                    row = future.result()
                append_row(results, row)
                self.written += 1
                self.errors += bool(row["error"])
                self.watch.report(self.written, total, f"{self.errors} errors" if self.errors else "")
                pause_here("row", self.written, self.out)  # the test hook (core/pause_hook.py)

    def image_stage(self, executor: Any, job: _Job, idea: Idea, row: dict[str, Any], made: _Made) -> Future:
        """images/<idea_id>/<config>.png made by a model worker, unless a killed run already saved it."""
        relative = f"images/{idea.id}/{row['config']}.png"
        if (self.out / relative).is_file():
            return executor.submit_local(self.finish_row, idea, row, relative, None)
        return executor.submit_model(image_task, job, idea.text, made,
                                     then=partial(self.finish_row, idea, row, relative))

    def finish_row(self, idea: Idea, row: dict[str, Any], relative: str, made: Future | None) -> dict[str, Any]:
        """Save the row's image (the sidecar first, the PNG last), then the judge's verdict."""
        try:
            if made is not None:
                png, sidecar = made.result()
                path = self.out / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path.with_suffix(".json"), sidecar)
                atomic_write(path, png)  # a PNG under its final name has its sidecar beside it
            row["image"] = relative
            if self.judge is not None:
                verdict = self.judge.verdict(idea.text, (self.out / relative).read_bytes())
                row["verdict"] = {"reasoning": verdict.reasoning, "score": verdict.score, "correct": verdict.correct}
        except Cancelled:
            raise
        except PromptragError as exc:
            row["error"] = one_line(exc)
        return row

    # -- 5. preferences ----------------------------------------------------------------------------
    def prefer_all(self) -> None:
        """The judge's preference between the raw idea's image and each configuration's."""
        if self.judge is None:
            return

        images = {(r["idea_id"], r["config"]): r["image"] for r in read_results(self.out) if r.get("image")}
        done = {(p["idea_id"], p["a"], p["b"]) for p in read_jsonl(self.out / PAIRS)}
        todo = [(idea, config) for idea in self.ideas for config in self.configs[1:]
                if (idea.id, RAW) in images and (idea.id, config) in images and (idea.id, RAW, config) not in done]
        if not todo:
            return
        self.watch = Stopwatch("judge pairs", self.watch.on_progress)
        with open(self.out / PAIRS, "ab") as pairs, ThreadPoolExecutor(self.options.workers) as pool:
            futures = [pool.submit(self.prefer, idea, config, images) for idea, config in todo]
            for number, future in enumerate(as_completed(futures), start=1):
                record = future.result()
                if record is not None:
                    append_row(pairs, record)
                    self.pairs_written += 1
                self.watch.report(number, len(todo))

    def prefer(self, idea: Idea, config: str, images: dict[tuple[str, str], str]) -> dict[str, Any] | None:
        self.cancel.raise_if_cancelled("the evaluation", "run the same command again to resume")
        raw_png = (self.out / images[(idea.id, RAW)]).read_bytes()
        other_png = (self.out / images[(idea.id, config)]).read_bytes()
        rng = random.Random(f"{self.options.seed}:{idea.id}:{config}")  # the same order on a re-run
        try:
            return self.judge.prefer(idea.text, raw_png, other_png, rng).record(idea.id, RAW, config)
        except Cancelled:
            raise
        except PromptragError as exc:
            return {"idea_id": idea.id, "a": RAW, "b": config, "shown_first": None, "faithful": None,
                    "aesthetic": None, "reasoning": "", "error": one_line(exc)}


# -- the work units (module-level: an executor may run them in another process) ---------------------
@dataclass
class _Parts:
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
class _Job:
    """What a work unit is told (plain data): the run's key, its options and configurations."""

    key: str
    options: EvalOptions
    configs: tuple[str, ...]


def build_parts(options: EvalOptions, configs: tuple[str, ...]) -> _Parts:
    """One embedder shared by the threads (the index's model), the index and retriever (only for
    "+rag"), the enhancers (each LLM as a chain ending in the rules)."""

    wants_rag = any(c.endswith(RAG_SUFFIX) for c in configs)
    parts = _Parts({}, {}, None)
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


def _parts(job: _Job) -> _Parts:
    return shared(f"{job.key}:parts", partial(build_parts, job.options, job.configs))


def text_row(job: _Job, idea: Idea, config: str) -> tuple[dict[str, Any], _Made | None]:
    """(the row of `idea` × `config` without its image, the prompt made): prompt → text metrics."""
    shared(f"{job.key}:cancel", CancelToken).raise_if_cancelled(
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


def make_prompt(parts: _Parts, o: EvalOptions, idea: Idea, config: str) -> _Made:
    """The prompt `config` makes for `idea` (raw: the idea itself)."""
    if config == RAW:
        return _Made(idea.text, "", None, seconds=0.0)
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
        return _Made(result.prompt, result.negative_prompt, result.enhancer, _reasons(result.fallback_reasons),
                     [c.prompt for c in result.candidates], [e.text for e in result.examples],
                     _llm_calls(enhancer, result.enhancer), seconds)

    request = validated(EnhanceRequest, f"request for idea {idea.id}", idea=idea.text, style=o.style,
                        creativity=o.creativity, n_candidates=o.candidates, model_family=o.model_family)
    with lock or contextlib.nullcontext():
        started = time.perf_counter()
        result = enhancer.enhance(request)
        seconds = time.perf_counter() - started
    return _Made(result.prompt, result.negative_prompt, result.enhancer, _reasons(result.fallback_reasons),
                 [c.prompt for c in result.candidates], [], _llm_calls(enhancer, result.enhancer), seconds)


def _retrieve(parts: _Parts, o: EvalOptions, idea: Idea) -> tuple[list[Any], float]:
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


def image_task(job: _Job, idea_text: str, made: _Made) -> tuple[bytes, bytes]:
    """(PNG, JSON sidecar) of one row's image: the same seed and settings for every configuration."""

    o = job.options
    backend = shared(f"{job.key}:backend", partial(get_image_backend, o.image_backend, model=o.image_model,
                                                   before_load=partial(_release_enhancers, job.key)))
    settings = {"seed": o.seed, "steps": o.steps, "width": o.width, "height": o.height}
    recipe = make_recipe(idea=idea_text, enhancer=made.answered_by, style=o.style)
    with tempfile.TemporaryDirectory(prefix="promptrag-eval-image-") as tmp:
        saved = generate_and_save(made.prompt, made.negative, settings, backend, None, Path(tmp) / "out",
                                  cancel=shared(f"{job.key}:cancel", CancelToken), recipe=recipe)
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



__all__ = ["EvalOptions", "EvalReport", "RAW", "options_from", "run_eval"]
