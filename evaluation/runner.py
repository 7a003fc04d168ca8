"""run_eval: every idea of a prompt set × every configuration → one results row each, resumable.

The configurations and options are in options.py ("raw", each enhancer without and/or with
retrieval); the work units that make a row's prompt and image in rows.py.

The recipe (`run_eval`):
1. check inputs: options (pydantic), the prompt set, the run folder (one run at a time: a
   lock; a folder holding another set, seed or options is refused, naming what differs);
2. read what is done: the rows of results.jsonl (a torn last line of a killed run is cut off);
   a pair whose last row has no error is skipped, a failed one is tried again;
3. build the parts once (rows.py `build_parts`): one embedder shared by the threads (the index's
   model), the index and retriever (only for "+rag"), the enhancers; and the judge (if asked);
4. each remaining (idea, configuration) as a work unit on the run's executor (core/executors.py:
   `workers` threads by default, Ray tasks with executor="ray"): prompt → text metrics; then, with
   images, its image on a model worker (one at a time on the thread pool, one per GPU on Ray; the
   same seed and settings for every configuration) handed back as bytes and saved here as
   `images/<idea_id>/<config>.png` (an image already on disk is kept) → the judge's verdict; the
   row is appended to results.jsonl (flushed and fsync'ed) only after its image is on disk, so a
   kill loses at most the rows in flight and never leaves a row without its image;
5. with a judge: a preference between the raw idea's image and each configuration's, in a
   per-pair seeded order, appended to pairs.jsonl;
6. summary.json (summary.py) and the session's wall time in run.json.

Stopping: a cancel, or a spend cap reached by a paid call (core/spend.py `SpendCapStop`: an
enhancer's or the judge's), keeps every row written and raises `Cancelled` naming why ("the
evaluation stopped (spend cap reached: the daily spend cap of $X for USER ...); rows written so
far are kept in ... (N of M rows)"); the session in run.json and summary.json say `stopped` too,
and the same call resumes.

Errors a user can cause (an idea the enhancer refuses, a failing image backend, a judge that
answers nonsense) are recorded in the row's `error`; bugs propagate. Test hook
(core/pause_hook.py): PROMPTRAG_TEST_PAUSE_AT=row:N blocks the run after it appends its N-th row,
so a test can SIGKILL it at a known point.

Deliberately not here: the work units (rows.py), the metrics themselves (metrics.py), aggregation
(summary.py), the judge's prompts and parsing (judge.py), comparing runs and the HTML report
(compare.py, report.py), the background job and its status.json (jobs.py).
"""

from __future__ import annotations

import json
import random
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from core.background import now
from core.errors import Cancelled, InputError, PromptragError, one_line
from core.executors import ExecutorSpec, make_executor, provide, release_shared, run_key
from core.files import atomic_write
from core.pause_hook import pause_here
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.spend import stop_reason, stopped_words
from evaluation.judge import get_judge
from evaluation.options import RAW, RUN_OPTIONS, EvalOptions, options_from
from evaluation.promptset import Idea, choose, load_promptset
from evaluation.rows import Job, Made, Parts, build_parts, image_task, text_row
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
        except Cancelled as exc:  # a cancel or a spend cap: the rows written are kept (summarized below)
            run.stopped = stop_reason(exc)
        finally:
            run.release()
            # 6. the session's time (also when stopped: the rows it wrote are kept)
            run.end_session(time.perf_counter() - started)
        summary = json.loads(write_summary(out).read_text(encoding="utf-8"))
        if run.stopped is not None:
            raise Cancelled(run.stopped_message()) from None
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
        self.key = run_key("eval")  # this run's objects in shared(...)
        self.watch = Stopwatch("eval", on_progress)
        self.judge = judge
        self.configs = options.configs()
        self.done: set[tuple[str, str]] = set()
        self.written = self.skipped = self.errors = self.pairs_written = 0
        self.parts: Parts | None = None
        self.judge_calls_before = 0
        self.stopped: str | None = None  # why the run stopped early: "cancelled" or the spend cap reached

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
            self.meta = {**wanted, "configs": self.configs, "created": now(), "sessions": []}

    def start_session(self) -> None:
        """Record this session in run.json (after the parts loaded: a run that cannot start leaves none)."""
        self.meta.setdefault("sessions", []).append({"started": now(), "wall_s": 0.0, "rows": 0})
        self.write_meta()

    def end_session(self, seconds: float) -> None:
        calls = getattr(self.judge, "calls", 0) if self.judge is not None else 0
        self.meta["sessions"][-1].update({"wall_s": round(seconds, 3), "rows": self.written,
                                          "judge_calls": calls - self.judge_calls_before,
                                          **({"stopped": self.stopped} if self.stopped else {})})
        self.write_meta()

    def write_meta(self) -> None:
        atomic_write(self.out / RUN, json.dumps(self.meta, indent=2, ensure_ascii=False) + "\n")

    def stopped_message(self) -> str:
        """What a stopped run tells its user: why, and how many rows are kept where."""
        wanted = {(idea.id, config) for idea in self.ideas for config in self.configs}
        kept = sum(1 for row in read_results(self.out) if (row["idea_id"], row["config"]) in wanted
                   and not row.get("error"))
        return (f"the evaluation {stopped_words(self.stopped or 'cancelled')}; rows written so far are kept in "
                f"{self.out / RESULTS} ({kept} of {len(wanted)} rows); run the same command again to resume")

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
        release_shared(self.key)  # the parts (enhancers, index) and an image model this process loaded

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
        job = Job(self.key, self.options, tuple(self.configs))
        workers = self.options.workers
        with open(self.out / RESULTS, "ab") as results, make_executor(
                self.executor_spec, workers=workers, finishers=workers, cancel=self.cancel) as executor:
            pending = {executor.submit(text_row, job, idea, config): (idea, "text") for idea, config in todo}
            self.collect(executor, job, pending, results, total)

    def collect(self, executor: Any, job: Job, pending: dict[Future, tuple[Idea, str]], results: Any,
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

    def image_stage(self, executor: Any, job: Job, idea: Idea, row: dict[str, Any], made: Made) -> Future:
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
            try:
                for number, future in enumerate(as_completed(futures), start=1):
                    record = future.result()
                    if record is not None:
                        append_row(pairs, record)
                        self.pairs_written += 1
                    self.watch.report(number, len(todo))
            except Cancelled:  # a cancel or a spend cap: no further paid call for pairs not started
                pool.shutdown(wait=True, cancel_futures=True)
                raise

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


__all__ = ["EvalOptions", "EvalReport", "RAW", "options_from", "run_eval"]
