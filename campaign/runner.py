"""run_campaign: one brief in, a folder of reviewable variants out — concurrent, resumable.

The recipe (`run_campaign`):
1. check inputs, take the folder's lock (one run per OUT), check OUT holds this brief or none;
2. read what is done (resume.py): finished variants, drafts accepted and waiting for their image,
   re-plans decided but not drafted yet;
3. load the index and the enhancer (one embedder shared by every thread); plan the angles;
4. draft the missing variants on the run's executor (`concurrency` workers, a shared rate limit, a
   cool-down on throttling) and decide them *in variant order*: a draft more similar than the
   threshold to an accepted variant is re-planned from a new angle, drafted at once and decided
   in the next round (at most `max_rerolls` times, then it is an `error`), so the decisions do
   not depend on how threads interleave;
5. each accepted variant: image (if any) made by a model worker, saved here first, then its JSON —
   both by atomic rename;
6. manifest.csv / manifest.json, contact_sheet.png, gallery.html, status.json "finished".

Crash safety: every file is written to a temporary name, fsync'ed and renamed, and a variant's
JSON is written only after its image, so a SIGKILL at any moment leaves finished variants whole
and nothing half-written; the next run skips them, and a variant redone after a kill
overwrites its own file rather than adding a second one. A kill costs at most the drafts in
flight. The folder lock (flock, released by the kernel when a process dies) keeps two runs
from working in one OUT.

Executors (core/executors.py): the thread pool of this process by default; `executor="ray"` or
"ray://HOST:PORT" runs the drafts as Ray tasks and the images on a Ray actor pool (one pipeline
per GPU). The work units (work.py) hand their results back by value, so every file is written
here, by this process, the same way whichever executor ran the work.

Stopping: a cancel, or a spend cap reached by a paid call (core/spend.py `SpendCapStop`), stops
the run with what is finished kept; status.json says "cancelled" and why (the cap, its amount and
whose it is), and the same call resumes.

Test hook (core/pause_hook.py): PROMPTRAG_TEST_PAUSE_AT=variant:N blocks the run right after it
writes its N-th variant, so a test can SIGKILL it at a known point mid-run.

Deliberately not here: the work units (work.py), what a folder holds and what is left (resume.py),
planning and fusion (plan.py), brand rules (brand.py), similarity (diversity.py), rate limit and
throttling (pacing.py), images (render.py), the folder's lock and leftovers (folder.py), output
formats (outputs.py), the variant record (variant.py), the app's background jobs and review.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from concurrent.futures import Future
from functools import partial
from pathlib import Path
from typing import Any

from campaign.brief import NO_IMAGES, Brief
from campaign.diversity import DiversityGuard, embed, max_pairwise_similarity
from campaign.folder import check_brief, folder_lock, remove_orphans, sweep
from campaign.outputs import write_contact_sheet, write_gallery, write_json, write_manifest
from campaign.plan import Draft, angle_idea, plan_angles, replan_candidates, variant_ids
from campaign.resume import read_leftover
from campaign.variant import STATUSES, CampaignReport, Variant, count_statuses, read_variants
from campaign.work import Job, Rendered, draft_task, load_drafter, render_task
from core.background import now
from core.errors import Cancelled, InputError, PromptragError
from core.executors import ExecutorSpec, make_executor, provide, release_shared, run_key
from core.files import atomic_write
from core.pause_hook import pause_here
from core.progress import CancelToken, Progress, ProgressCallback
from core.spend import stop_reason, stopped_words

MAX_CONCURRENCY = 32


class _Run:
    """The state of one run_campaign call (kept off module globals: runs may share a process)."""

    def __init__(self, brief: Brief, out_dir: Path, *, images: bool, concurrency: int,
                 on_progress: ProgressCallback | None, cancel: CancelToken,
                 executor: ExecutorSpec | str | None) -> None:
        self.brief = brief
        self.executor_spec = executor
        self.key = run_key("campaign")  # this run's objects in shared(...)
        self.out = out_dir
        self.want_images = images and brief.makes_images
        self.concurrency = concurrency
        self.on_progress = on_progress
        self.cancel = cancel
        self.ids = variant_ids(brief.variants)
        self.angles = plan_angles(brief)
        self.lock = threading.Lock()  # finished / status / counters
        self.finished: dict[str, Variant] = {}
        self.started_at = now()
        self.clock = time.perf_counter()
        self.work_total = 0
        self.work_done = 0
        self.written = 0
        self.assistant: Any = None
        self.executor: Any = None
        self.image_futures: list[Future] = []

    # -- files -----------------------------------------------------------------------------------
    def write_status(self, state: str, error: str | None = None, **extra: Any) -> None:
        with self.lock:
            done = sum(1 for i in self.ids if i in self.finished)
            write_json(self.out / "status.json", {
                "state": state, "done": done, "total": len(self.ids), "started_at": self.started_at,
                "updated_at": now(), "pid": os.getpid(), "error": error, **extra})

    # -- models ----------------------------------------------------------------------------------
    def load(self) -> None:
        drafter = load_drafter(self.brief)
        self.assistant = drafter.assistant
        # A local model on several threads at once is not safe (nor faster): one worker then
        # (a Ray worker is a process of its own, with its own model).
        if not drafter.thread_safe and str(self.executor_spec or "thread") == "thread":
            self.concurrency = 1
        provide(f"{self.key}:drafter", drafter)  # thread workers draft with these very objects
        provide(f"{self.key}:cancel", self.cancel)

    # -- step 4: drafts --------------------------------------------------------------------------
    def replan(self, attempts: dict[str, int], guard: DiversityGuard) -> dict[str, dict[str, str]]:
        """New angles for near-duplicates (id → its next attempt): for each, of several redraws the
        one whose idea is least like the prompts accepted now; one embedding call for them all."""
        ids = sorted(attempts)
        groups = [replan_candidates(self.brief, self.angles[self.ids.index(i)], i, attempts[i]) for i in ids]
        picks = guard.farthest_each([[angle_idea(self.brief, c) for c in group] for group in groups], ids)
        return {i: group[pick] for i, group, pick in zip(ids, groups, picks)}

    def save_plan(self, variant_id: str, attempt: int, angle: dict[str, str], replans: list[str]) -> None:
        """Record a re-plan (a resumed run drafts it instead of deciding the near-duplicate again)."""
        write_json(self.out / "plans" / f"{variant_id}.json", {"attempt": attempt, "angle": angle, "replans": replans})

    def decide(self, pending: dict[str, tuple[int, dict[str, str]]], base: dict[str, int],
               replans: dict[str, list[str]], guard: DiversityGuard) -> None:
        """Draft `pending` (id → (attempt, angle)) in parallel and decide each in id order: accept,
        re-plan a near-duplicate from a new angle, or fail it after `max_rerolls` re-plans.

        Decisions go in rounds by re-plan level (attempt − base): every first draft in id order,
        then every first re-plan in id order, ... so they do not depend on how the threads
        interleave, and a resumed run (re-plans are recorded in plans/) makes the same ones.
        Drafting does not wait for the rounds: a re-plan is drafted as soon as it is planned.
        """
        window = 2 * self.concurrency  # first drafts submitted ahead of the one being decided
        job = Job(self.key, self.brief, self.executor.pacer(self.brief.requests_per_minute))
        futures: dict[tuple[str, int], Future] = {}

        def submit(variant_id: str) -> None:
            attempt, angle = pending[variant_id]
            if (variant_id, attempt) not in futures:
                futures[(variant_id, attempt)] = self.executor.submit(
                    draft_task, job, variant_id, self.ids.index(variant_id), attempt, angle)

        while pending:
            level = min(attempt - base[i] for i, (attempt, _) in pending.items())
            jobs = sorted(i for i, (attempt, _) in pending.items() if attempt - base[i] == level)
            for at, variant_id in enumerate(jobs):
                for ahead in jobs[at: at + window]:
                    submit(ahead)
                attempt, angle = pending.pop(variant_id)
                try:
                    draft = futures.pop((variant_id, attempt)).result()
                except Cancelled:
                    raise
                except PromptragError as exc:
                    self.finish_error(variant_id, attempt, angle, str(exc).splitlines()[0])
                    continue
                vector = guard.vector(draft.prompt)
                closest, similarity = guard.closest_vector(vector, exclude=variant_id)
                notes = replans.setdefault(variant_id, [])
                if not guard.too_close(similarity):
                    guard.accept(variant_id, draft.prompt, vector)
                    draft.notes += [f"re-planned: {n}" for n in notes]
                    self.accept(draft, closest, similarity)
                    continue
                notes.append(f"attempt {attempt}: {similarity:.3f} similar to {closest}")
                if level < self.brief.max_rerolls:
                    new = self.replan({variant_id: attempt + 1}, guard)[variant_id]
                    self.save_plan(variant_id, attempt + 1, new, notes)
                    pending[variant_id] = (attempt + 1, new)
                    submit(variant_id)  # drafted now; decided in the next round
                    continue
                draft.notes += [f"re-planned: {n}" for n in notes]
                self.finish_error(variant_id, attempt, angle, (
                    f"near-duplicate of {closest} (similarity {similarity:.3f} > "
                    f"{self.brief.similarity_threshold}) after {self.brief.max_rerolls} re-plans; "
                    "add scenes / moods / compositions / lightings, or make fewer variants"), draft=draft)

    # -- step 5: finishing a variant -------------------------------------------------------------
    def accept(self, draft: Draft, closest: str | None, similarity: float) -> None:
        if self.want_images and not draft.problems:  # its image comes later: keep the decision meanwhile
            record = {**draft.to_dict(), "closest": closest, "similarity": similarity}
            write_json(self.out / "drafts" / f"{draft.id}.json", record)
        self.schedule(draft, closest, similarity)

    def schedule(self, draft: Draft, closest: str | None, similarity: float | None) -> None:
        status = "brand_violation" if draft.problems else "ok"
        if status == "ok" and self.want_images:
            self.image_futures.append(self.executor.submit_model(
                render_task, Job(self.key, self.brief), draft,
                then=partial(self.keep_image, draft, closest, similarity)))
        else:
            self.write_variant(self.variant_from(draft, status, closest, similarity))

    def variant_from(self, draft: Draft, status: str, closest: str | None, similarity: float | None,
                     **values: Any) -> Variant:
        fields = dict(id=draft.id, angle=draft.angle, prompt=draft.prompt, negative_prompt=draft.negative_prompt,
                      seed=draft.seed, backend=NO_IMAGES, model=None, image_path=None, status=status,
                      problems=list(draft.problems), timings=dict(draft.timings), attempt=draft.attempt,
                      enhancer=draft.enhancer, fallback_reasons=dict(draft.fallback_reasons), closest=closest,
                      similarity=similarity, idea=draft.idea, notes=list(draft.notes), examples=list(draft.examples),
                      steering=dict(draft.steering))
        return Variant(**{**fields, **values})

    def finish_error(self, variant_id: str, attempt: int, angle: dict[str, str], error: str,
                     draft: Draft | None = None) -> None:
        if draft is None:
            draft = Draft(id=variant_id, index=self.ids.index(variant_id), attempt=attempt, angle=angle, idea="",
                          prompt="", negative_prompt="", style=angle["style"], enhancer="", seed=0)
        self.write_variant(self.variant_from(draft, "error", None, None, error=error))

    def keep_image(self, draft: Draft, closest: str | None, similarity: float | None, done: Future) -> None:
        """Save a rendered image (images/<id>[-<attempt>].png: sidecar first, PNG last), then the variant."""
        rendered: Rendered = done.result()  # Cancelled and bugs propagate to whoever waits
        made = {"backend": rendered.backend, "model": rendered.model}
        if rendered.error is not None:
            self.write_variant(self.variant_from(draft, "error", closest, similarity, **made, error=rendered.error))
            return
        images = self.out / "images"
        images.mkdir(exist_ok=True)
        atomic_write(images / f"{rendered.name}.json", rendered.sidecar)
        atomic_write(images / f"{rendered.name}.png", rendered.png)  # its presence means the sidecar is there
        timings = {**draft.timings, "image_s": rendered.seconds}
        self.write_variant(self.variant_from(draft, "ok", closest, similarity, **made,
                                             image_path=f"images/{rendered.name}.png"), timings=timings)

    def write_variant(self, variant: Variant, timings: dict[str, float] | None = None) -> None:
        variant.timings = dict(timings or variant.timings)
        variant.timings["total_s"] = round(variant.timings.get("draft_s", 0.0) + variant.timings.get("image_s", 0.0), 4)
        old = self.finished.get(variant.id)
        write_json(self.out / "variants" / f"{variant.id}.json", variant.to_dict())
        if old is not None and old.image_path and old.image_path != variant.image_path:
            for suffix in (".png", ".json"):  # a re-roll replaced this variant: its old image goes
                (self.out / old.image_path).with_suffix(suffix).unlink(missing_ok=True)
        (self.out / "drafts" / f"{variant.id}.json").unlink(missing_ok=True)
        (self.out / "plans" / f"{variant.id}.json").unlink(missing_ok=True)
        with self.lock:
            self.finished[variant.id] = variant
            self.work_done += 1
            self.written += 1
            written = self.written
        self.write_status("running", stage="variants")
        if self.on_progress is not None:
            self.on_progress(Progress("variants", self.work_done, self.work_total,
                                      time.perf_counter() - self.clock, f"{variant.id} {variant.status}"))
        pause_here("variant", written, self.out)  # the test hook (core/pause_hook.py)

    # -- the whole run ---------------------------------------------------------------------------
    def execute(self, only: list[str] | None, reroll: bool) -> CampaignReport:
        # 2. what is done: finished variants, accepted drafts, re-plans decided
        sweep(self.out)
        left = read_leftover(self.out, self.ids, self.angles, only=only, reroll=reroll, want_images=self.want_images)
        done, base, first = left.done, left.base, left.first
        self.finished = dict(done)
        self.work_total = left.work
        self.write_status("running", stage="loading")
        # 3. the index (its embedder also measures diversity) and the enhancer
        self.load()
        guard = DiversityGuard(self.assistant.embedder, self.brief.similarity_threshold)
        for variant in done.values():
            if variant.status != "error" and variant.id not in base:
                guard.accept(variant.id, variant.prompt)
        for draft, _, _ in left.drafts.values():
            if draft.id not in base:
                guard.accept(draft.id, draft.prompt)
        rerolled = self.replan({i: base[i] for i, start in first.items() if start is None}, guard)
        pending = {i: start if start is not None else (base[i], rerolled[i]) for i, start in first.items()}
        if self.on_progress is not None:
            self.on_progress(Progress("variants", 0, self.work_total, 0.0, f"{len(done)} already done"))
        # 4 + 5. draft, decide in order, render and write (one image model at a time, unless remote)
        model_workers = self.concurrency if any(b == "bedrock" for b in self.brief.backends) else 1
        try:
            with make_executor(self.executor_spec, workers=self.concurrency, model_workers=model_workers,
                               cancel=self.cancel) as self.executor:
                for draft, closest, similarity in left.ready:
                    self.schedule(draft, closest, similarity)
                self.decide(pending, base, left.replans, guard)
                for future in self.image_futures:
                    future.result()
        finally:
            release_shared(self.key)  # the image models this process loaded, the drafter, the cancel flag
        # 6. the set's outputs
        return self.write_outputs(complete=True)

    def write_outputs(self, *, complete: bool) -> CampaignReport:
        variants = [self.finished[i] for i in self.ids if i in self.finished]
        kept = [v for v in variants if v.status != "error" and v.prompt]
        if kept and self.assistant is not None:
            figure = max_pairwise_similarity(embed(self.assistant.embedder, [v.prompt for v in kept]))
        else:
            figure = 0.0
        summary = {"name": self.brief.name, "brief": self.brief.model_dump(mode="json"),
                   "total": len(self.ids), "finished": len(variants),
                   "counts": count_statuses(variants),
                   "max_pairwise_similarity": figure, "similarity_threshold": self.brief.similarity_threshold,
                   "images": self.want_images}
        write_manifest(self.out, summary, variants)
        write_contact_sheet(self.out, variants)
        write_gallery(self.out, summary, variants)
        if complete:
            remove_orphans(self.out, [v.image_path for v in variants if v.image_path])
        return CampaignReport(self.out, variants, figure, round(time.perf_counter() - self.clock, 3))


def run_campaign(brief: Brief, out_dir: Path, *, images: bool = True, concurrency: int = 1,
                 on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None,
                 only: list[str] | None = None, reroll: bool = False,
                 executor: ExecutorSpec | str | None = None) -> CampaignReport:
    """Make (or finish) the campaign of `brief` in `out_dir`; see the module docstring for the steps.

    `images=False` makes prompts only (as does a brief with backends: [none]). `only` limits the
    work to those variant ids; with `reroll=True` they are re-made even if finished (a new angle
    draw and seed), keeping every other variant. `executor`: "thread" (default), "ray" or
    "ray://HOST:PORT" (core/executors.py; the same files either way). Raises Cancelled (status
    "cancelled", saying why) when `cancel` is set or a spend cap is reached: what is finished stays,
    and the same call resumes.
    """
    # 1. check inputs
    if not isinstance(brief, Brief):
        raise InputError(f"brief must be a campaign.brief.Brief (see load_brief), got {type(brief).__name__}")
    if not isinstance(concurrency, int) or not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(f"concurrency must be a whole number from 1 to {MAX_CONCURRENCY}, got {concurrency!r}")
    ids = variant_ids(brief.variants)
    if only is not None:
        unknown = [i for i in only if i not in ids]
        if unknown or not only:
            raise InputError(f"only must name variants of this campaign ({ids[0]} … {ids[-1]}), got {only!r}")
    if reroll and not only:
        raise InputError("reroll needs only=[variant ids] naming the variants to re-make")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create campaign folder {out_dir}: {exc.strerror or exc}") from None
    cancel = cancel or CancelToken()
    with folder_lock(out_dir):
        check_brief(out_dir, brief)
        run = _Run(brief, out_dir, images=images, concurrency=concurrency, on_progress=on_progress, cancel=cancel,
                   executor=executor)
        try:
            report = run.execute(list(dict.fromkeys(only)) if only else None, reroll)
        except Cancelled as exc:
            why = stop_reason(exc)  # "cancelled", or the spend cap that stopped it (which, whose, how much)
            run.write_outputs(complete=False)
            run.write_status("cancelled", f"{why}; run the same command again to finish the rest")
            raise Cancelled(f"the campaign {stopped_words(why)}; {len(run.finished)} of {len(ids)} variants are "
                            f"kept in {out_dir}; run the same command again to finish the rest") from None
        except BaseException as exc:
            with contextlib.suppress(OSError):  # the run's own error matters more than its status line
                run.write_status("failed", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            raise
        run.write_status("finished", max_pairwise_similarity=report.max_pairwise_similarity,
                         counts=report.counts, seconds=report.seconds)
        return report


__all__ = ["MAX_CONCURRENCY", "STATUSES", "CampaignReport", "Variant", "read_variants", "run_campaign"]
