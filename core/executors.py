"""Where a run's work units execute: a thread pool in this process (the default) or a Ray cluster.

One small seam for campaign/ and evaluation/, so the runners never branch on Ray:

- `executor.submit(fn, *args, then=None)`: CPU work (a variant's draft, an eval row's prompt);
- `executor.submit_model(fn, *args, then=None)`: work that needs a loaded model on an accelerator
  (image generation), run by a few long-lived workers that keep their pipeline loaded — with Ray an
  actor pool of one actor per GPU (`num_gpus=1`), or `model_workers` CPU actors when there is none;
- `then(future)` runs in *this* process once the work is done (writing files, progress, the
  judge), so results travel back by value and the workers need no shared filesystem;
- `executor.pacer(per_minute)`: one rate limit shared by every worker (a `Pacer` here; a Ray actor
  holding the `Pacer` with Ray);
- `executor.shutdown(cancel=...)`, or use it as a context manager.

Both return `concurrent.futures.Future`s. `fn` must be a module-level function and its arguments
plain data (Ray pickles them); heavy resources (an index, an enhancer, a pipeline) are built in the
worker with `shared(key, build)`, a per-process memo. The runner `provide`s its own objects under
the same key, so on the thread pool nothing is built twice; on Ray each worker process builds once.

Cancelling: a thread-pool worker checks the run's `CancelToken` itself; with Ray the executor
watches the token and cancels what is in flight (its futures raise `Cancelled`). A Ray worker that
dies is replaced and its work retried by Ray (tasks: `max_retries`, actors: `max_restarts`).

`ray` is imported only when a Ray executor is made (`pip install 'promptrag[ray]'`). Workers on a
cluster get this process's non-secret PROMPTRAG_* / HF_* variables and its spend account, caps and
home (`worker_env`); keys must be set on the cluster's nodes, never shipped.
Deliberately not here: Ray Data ingest, what a work unit does.
"""

from __future__ import annotations

import os
import re
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from core.errors import Cancelled, InputError
from core.progress import CancelToken
from core.spend import spend_env

THREAD, RAY = "thread", "ray"
_SECRET = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|CREDENTIAL", re.I)
_SHIPPED_PREFIXES = ("PROMPTRAG_", "HF_", "TRANSFORMERS_", "SENTENCE_TRANSFORMERS_")
EXECUTOR_HELP = ("Where the work runs: thread (this process, the default), ray (RAY_ADDRESS or a local Ray; "
                 "needs the ray extra of promptrag) or ray://HOST:PORT (a Ray cluster). Same files either way.")
RAY_RETRIES = 3  # a worker that dies: its task (or actor call) is tried again this many times


# ---- which executor ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = THREAD  # thread | ray
    address: str | None = None  # ray: None (RAY_ADDRESS or a new local Ray) or ray://HOST:PORT

    def __str__(self) -> str:
        return self.address or self.kind


def parse_executor(text: str | None) -> ExecutorSpec:
    """'thread' (default), 'ray' (RAY_ADDRESS, else a local Ray) or 'ray://HOST:PORT' (a cluster)."""
    value = (text or THREAD).strip()
    if value in (THREAD, RAY):
        return ExecutorSpec(value)
    if value.startswith("ray://") and len(value) > len("ray://"):
        return ExecutorSpec(RAY, value)
    raise InputError(f"--executor must be thread, ray or ray://HOST:PORT (a Ray cluster's client address), "
                     f"got {text!r}")


def worker_env() -> dict[str, str]:
    """The variables a Ray worker needs to see this process's settings (home, models, index): every
    PROMPTRAG_* / HF_* one whose name does not look like a secret (keys stay on the nodes), and what
    the spend caps need as this process resolved it (`core.spend.spend_env`: home, caps, who pays),
    so a worker's paid calls go to the same ledger, user and run and stop at the same caps."""
    shipped = {name: value for name, value in os.environ.items()
               if name.startswith(_SHIPPED_PREFIXES) and not _SECRET.search(name)}
    return {**shipped, **spend_env()}


def make_executor(spec: ExecutorSpec | str | None, *, workers: int, model_workers: int = 1,
                  finishers: int = 1, cancel: CancelToken | None = None) -> Executor:
    """The executor `spec` names: `workers` CPU work units and `model_workers` model workers at once
    (with Ray and GPUs: one model worker per GPU), `finishers` threads for the `then` callbacks."""
    spec = spec if isinstance(spec, ExecutorSpec) else parse_executor(spec)
    cancel = cancel or CancelToken()
    if spec.kind == RAY:
        from core.ray_executor import RayExecutor  # lazy: the Ray side: loaded (with ray) only when asked for

        return RayExecutor(spec.address, workers=workers, model_workers=model_workers, finishers=finishers,
                           cancel=cancel)
    return ThreadExecutor(workers=workers, model_workers=model_workers, finishers=finishers, cancel=cancel)


# ---- heavy resources, once per process -----------------------------------------------------------
_RESOURCES: OrderedDict[str, Any] = OrderedDict()
_RESOURCE_LOCK = threading.Lock()
_BUILD_LOCKS: dict[str, threading.Lock] = {}
MAX_RESOURCES = 16  # a long-lived Ray worker keeps at most this many (oldest dropped)


def shared(key: str, build: Callable[[], Any]) -> Any:
    """The object kept under `key` in this process, built by `build()` the first time (once, even
    when several threads ask at the same moment)."""
    with _RESOURCE_LOCK:
        if key in _RESOURCES:
            return _RESOURCES[key]
        lock = _BUILD_LOCKS.setdefault(key, threading.Lock())
    with lock:
        with _RESOURCE_LOCK:
            if key in _RESOURCES:
                return _RESOURCES[key]
        value = build()
        provide(key, value)
        return value


def provide(key: str, value: Any) -> None:
    """Keep `value` under `key` in this process (the runner's own objects, for thread workers)."""
    with _RESOURCE_LOCK:
        _RESOURCES[key] = value
        while len(_RESOURCES) > MAX_RESOURCES:
            _RESOURCES.popitem(last=False)


def peek(key: str) -> Any:
    """The object under `key` if this process has one (None otherwise); builds nothing."""
    with _RESOURCE_LOCK:
        return _RESOURCES.get(key)


def forget(prefix: str) -> list[Any]:
    """Drop every object whose key starts with `prefix`; the dropped objects (for the caller to release)."""
    with _RESOURCE_LOCK:
        keys = [k for k in _RESOURCES if k.startswith(prefix)]
        for key in keys:
            _BUILD_LOCKS.pop(key, None)
        return [_RESOURCES.pop(k) for k in keys]


def release_shared(prefix: str) -> None:
    """The end of a run in this process: forget its objects (keys starting with `prefix`) and call
    `release()` on those that hold memory (an image pipeline, the enhancers and index of a run)."""
    for value in forget(prefix):
        release = getattr(value, "release", None)
        if callable(release):
            release()


def run_key(kind: str) -> str:
    """A new run's prefix for `shared(...)` keys (runs may share a process: each keeps its own)."""
    return f"{kind}:{uuid.uuid4().hex}"


def run_cancel(key: str) -> CancelToken:
    """Run `key`'s cancel flag in this process: the runner's own on the thread pool (it `provide`s it
    under `key:cancel`), a worker's own on Ray (never set there: the Ray executor cancels tasks)."""
    return shared(f"{key}:cancel", CancelToken)


# ---- a shared rate limit -------------------------------------------------------------------------
class Pacer:
    """Evenly spaced call slots plus a cool-down any caller can start: the state of a rate limit.

    `reserve()` books the next slot and answers how many seconds the caller waits for it (a delay,
    not a time: callers on other machines need no common clock)."""

    def __init__(self, per_minute: float | None) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0

    def reserve(self) -> float:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next, self._paused_until)
            self._next = slot + self.interval
            return slot - now

    def cool_down(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


# ---- the seam --------------------------------------------------------------------------------------
class Executor:
    """Runs work units and hands back futures; `then` callbacks run on local finisher threads."""

    kind = "base"

    def __init__(self, *, workers: int, model_workers: int, finishers: int, cancel: CancelToken) -> None:
        if workers < 1 or model_workers < 1 or finishers < 1:
            raise InputError(f"workers must be at least 1, got {workers} / {model_workers} / {finishers}")
        self.workers, self.model_workers, self.cancel = workers, model_workers, cancel
        self._finish = ThreadPoolExecutor(max_workers=finishers, thread_name_prefix="run-finish")

    def submit(self, fn: Callable[..., Any], *args: Any, then: Callable[[Future], Any] | None = None) -> Future:
        return self._chain(self._submit(fn, args, model=False), then)

    def submit_model(self, fn: Callable[..., Any], *args: Any,
                     then: Callable[[Future], Any] | None = None) -> Future:
        return self._chain(self._submit(fn, args, model=True), then)

    def submit_local(self, fn: Callable[..., Any], *args: Any) -> Future:
        """`fn(*args)` on a finisher thread of this process (work that belongs to the driver)."""
        return self._finish.submit(fn, *args)

    def pacer(self, per_minute: float | None) -> Any:
        return Pacer(per_minute)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._finish.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self.shutdown(cancel=kind is not None)

    def _submit(self, fn: Callable[..., Any], args: tuple, *, model: bool) -> Future:
        raise NotImplementedError

    def _chain(self, inner: Future, then: Callable[[Future], Any] | None) -> Future:
        """A future of `then(inner)` run on a finisher thread (`inner` itself without `then`)."""
        if then is None:
            return inner
        outer: Future = Future()

        def finish(done: Future) -> None:
            try:
                outer.set_result(then(done))
            except BaseException as exc:  # noqa: BLE001 (handed to whoever waits on the future)
                outer.set_exception(exc)

        def hand_over(done: Future) -> None:
            try:
                self._finish.submit(finish, done)
            except RuntimeError as exc:  # shut down meanwhile (a cancelled run)
                outer.set_exception(Cancelled(f"the run stopped before its results were kept ({exc})"))

        inner.add_done_callback(hand_over)
        return outer


class ThreadExecutor(Executor):
    """The default: threads of this process (`workers` for CPU work, `model_workers` for models)."""

    kind = THREAD

    def __init__(self, *, workers: int, model_workers: int = 1, finishers: int = 1,
                 cancel: CancelToken | None = None) -> None:
        super().__init__(workers=workers, model_workers=model_workers, finishers=finishers,
                         cancel=cancel or CancelToken())
        self._cpu = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="run-work")
        self._model = ThreadPoolExecutor(max_workers=model_workers, thread_name_prefix="run-model")

    def _submit(self, fn: Callable[..., Any], args: tuple, *, model: bool) -> Future:
        return (self._model if model else self._cpu).submit(fn, *args)

    def shutdown(self, *, cancel: bool = False) -> None:
        self._cpu.shutdown(wait=True, cancel_futures=cancel)
        self._model.shutdown(wait=True, cancel_futures=cancel)
        super().shutdown(cancel=cancel)

__all__ = ["Executor", "ExecutorSpec", "Pacer", "ThreadExecutor", "forget", "make_executor",
           "parse_executor", "peek", "provide", "release_shared", "run_cancel", "run_key", "shared", "worker_env"]
