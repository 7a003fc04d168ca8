"""The Ray side of core/executors.py: work units as Ray tasks, model work on an actor pool.

`RayExecutor(address, ...)` joins the Ray that this process already started (a test's
`ray.init`), else calls `ray.init(address)`: None means RAY_ADDRESS or a new local Ray on this
machine, `ray://HOST:PORT` a cluster through Ray Client. It then runs

- `submit(fn, *args)` as a Ray task (`num_cpus=1`, retried `RAY_RETRIES` times when its worker
  dies; an exception raised by `fn` itself is not retried and comes back as itself, not wrapped);
- `submit_model(fn, *args)` on an actor pool: one actor per GPU of the cluster (`num_gpus=1`), else
  `model_workers` CPU actors. An actor is one long-lived process, so the pipeline its work builds
  with `shared(...)` stays loaded for every call it gets; a call goes to the actor with the fewest
  calls in flight. An actor that dies is restarted and its call tried again (`max_restarts`);
- `pacer(per_minute)`: a `Pacer` inside an actor, so every task on every node keeps one rate limit.

The executor watches the run's CancelToken: once set, everything in flight is cancelled and its
futures raise `Cancelled`. On shutdown its actors are killed, and a Ray it started is shut down.
Workers get `worker_env()` as their runtime environment (the settings, the spend account and caps; no keys).

Deliberately not here: placement groups, autoscaling, Ray Data; the thread pool (core/executors.py).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from functools import partial
from typing import Any

from core.errors import Cancelled, ConfigError
from core.executors import RAY, RAY_RETRIES, Executor, Pacer, worker_env
from core.progress import CancelToken

CANCEL_POLL_S = 0.1


def _run(fn: Callable[..., Any], args: tuple) -> Any:
    return fn(*args)


class _ModelWorker:
    """One actor of the model pool: runs what it is given in its own long-lived process."""

    def run(self, fn: Callable[..., Any], args: tuple) -> Any:
        return fn(*args)


class _RemotePacer:
    """A Pacer living in a Ray actor (picklable: workers on every node share the one limit)."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor

    def reserve(self) -> float:
        import ray

        return ray.get(self.actor.reserve.remote())

    def cool_down(self, seconds: float) -> None:
        import ray

        ray.get(self.actor.cool_down.remote(seconds))


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray: pip install 'promptrag[ray]' "
                          "(or run without --executor to use the thread pool)") from None
    return ray


def _connect(ray: Any, address: str | None) -> bool:
    """Join Ray (True when this call started it, so shutdown stops it again)."""
    if ray.is_initialized():
        return False
    # ray.init puts its own SIGTERM handler in place (exit at once): keep ours, which cancels cleanly.
    main = threading.current_thread() is threading.main_thread()
    on_term = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as exc:
        where = address or "RAY_ADDRESS"
        raise ConfigError(f"cannot reach the Ray cluster at {where} ({exc}); start one with `ray start --head` "
                          "and pass its client address (ray://HOST:10001), or use --executor ray for a local Ray. "
                          "A cluster with token authentication also needs RAY_AUTH_MODE=token and its token "
                          "(RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) here"
                          ) from None
    finally:
        if main and on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return True


class RayExecutor(Executor):
    """Tasks for CPU work, an actor pool (one per GPU) for models; see the module docstring."""

    kind = RAY

    def __init__(self, address: str | None = None, *, workers: int, model_workers: int = 1, finishers: int = 1,
                 cancel: CancelToken | None = None, env: dict[str, str] | None = None) -> None:
        super().__init__(workers=workers, model_workers=model_workers, finishers=finishers,
                         cancel=cancel or CancelToken())
        ray = self.ray = _import_ray()
        self.owns_ray = _connect(ray, address)
        env = worker_env() if env is None else env
        self.runtime_env = {"env_vars": env} if env else None
        self.gpus = int(ray.cluster_resources().get("GPU", 0))
        self._task = ray.remote(_run).options(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False,
                                              runtime_env=self.runtime_env)
        self._actors: list[Any] = []
        self._calls: list[int] = []  # calls in flight per actor
        self._helpers: list[Any] = []  # pacer actors
        self._inflight: dict[int, tuple[Future, Any]] = {}
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="ray-cancel-watch", daemon=True)
        self._watcher.start()

    # -- work ---------------------------------------------------------------------------------------
    def _submit(self, fn: Callable[..., Any], args: tuple, *, model: bool) -> Future:
        self.cancel.raise_if_cancelled("the run")
        slot = None
        if model:
            slot = self._pick_actor()
            ref = self._actors[slot].run.remote(fn, args)
        else:
            ref = self._task.remote(fn, args)
        outer: Future = Future()
        with self._lock:
            self._inflight[id(outer)] = (outer, ref)
        ref.future().add_done_callback(partial(self._settle, outer, slot))
        return outer

    def _pick_actor(self) -> int:
        with self._lock:
            if not self._actors:
                resources = {"num_gpus": 1} if self.gpus else {"num_cpus": 1}
                worker = self.ray.remote(_ModelWorker).options(
                    **resources, max_restarts=RAY_RETRIES, max_task_retries=RAY_RETRIES, runtime_env=self.runtime_env)
                self._actors = [worker.remote() for _ in range(self.gpus or self.model_workers)]
                self._calls = [0] * len(self._actors)
            slot = min(range(len(self._actors)), key=self._calls.__getitem__)
            self._calls[slot] += 1
            return slot

    def _settle(self, outer: Future, slot: int | None, done: Future) -> None:
        with self._lock:
            self._inflight.pop(id(outer), None)
            if slot is not None and slot < len(self._calls):
                self._calls[slot] -= 1
        try:
            error = done.exception()
            if error is None:
                outer.set_result(done.result())
            else:
                outer.set_exception(self._unwrap(error))
        except InvalidStateError:
            pass  # already failed as cancelled

    def _unwrap(self, error: BaseException) -> BaseException:
        """The work's own exception (Ray wraps it), Cancelled for a cancelled task."""
        exceptions = self.ray.exceptions
        if isinstance(error, exceptions.TaskCancelledError):
            return Cancelled("the run was cancelled")
        cause = getattr(error, "cause", None) if isinstance(error, exceptions.RayTaskError) else None
        return cause if isinstance(cause, BaseException) else error

    def pacer(self, per_minute: float | None) -> Any:
        actor = self.ray.remote(Pacer).options(num_cpus=0).remote(per_minute)
        self._helpers.append(actor)
        return _RemotePacer(actor)

    # -- stopping -----------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopped.wait(CANCEL_POLL_S):
            if self.cancel.cancelled:
                self._cancel_all("the run was cancelled")
                return

    def _cancel_all(self, why: str) -> None:
        with self._lock:
            flying = list(self._inflight.values())
            self._inflight.clear()
        for outer, ref in flying:
            # an actor call that is running cannot be stopped by Ray: it finishes and its result is dropped
            with contextlib.suppress(ValueError, TypeError, self.ray.exceptions.RayError):
                self.ray.cancel(ref)
            try:
                outer.set_exception(Cancelled(why))
            except InvalidStateError:
                pass

    def shutdown(self, *, cancel: bool = False) -> None:
        self._stopped.set()
        if cancel:
            self._cancel_all("the run stopped")
        for actor in [*self._actors, *self._helpers]:
            self.ray.kill(actor)
        self._actors, self._helpers = [], []
        super().shutdown(cancel=cancel)
        if self.owns_ray:
            self.ray.shutdown()
            self.owns_ray = False
