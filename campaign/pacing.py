"""Pacing calls to an API enhancer: a shared rate limit, and retries on throttling — once.

`Throttle(per_minute, cancel)` spaces the workers' calls evenly (`requests_per_minute` of the
brief; no limit when None) and holds a cool-down any worker can start. `with_throttle_retries`
makes one call through it: the Anthropic SDK already retried a 429 / 529 itself (honouring
`retry-after`); only when the call *still* says it was throttled — the error, or a fallback
chain that answered with another member because of it — does this pause every worker for a
growing cool-down and try again, at most `THROTTLE_RETRIES` times. Any other error is raised
at once: no blind second retry loop.

Deliberately not here: HTTP-level retries (the SDKs do them), what a call does (plan.py).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from core.errors import BackendError
from core.progress import CancelToken

T = TypeVar("T")
THROTTLE_RETRIES = 3
THROTTLE_COOLDOWN_S = 1.0  # the first cool-down; it doubles on each further throttled try
_THROTTLED = re.compile(r"\b(429|529)\b|rate.?limit|overloaded|throttl|too many requests", re.IGNORECASE)


def is_throttling(text: str) -> bool:
    """Does an error message say the API throttled us (429, 529 overloaded, Bedrock throttling)?"""
    return bool(_THROTTLED.search(text or ""))


class Throttle:
    """A rate limit shared by the workers (evenly spaced calls) plus a cool-down anyone can start."""

    def __init__(self, per_minute: float | None, cancel: CancelToken) -> None:
        self.interval = 60.0 / per_minute if per_minute else 0.0
        self.cancel = cancel
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0

    def wait(self) -> None:
        """Block until this caller's slot (cancellable: raises Cancelled)."""
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next, self._paused_until)
            self._next = slot + self.interval
        while (left := slot - time.monotonic()) > 0:
            self.cancel.raise_if_cancelled("the campaign")
            time.sleep(min(left, 0.1))

    def cool_down(self, seconds: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


def with_throttle_retries(call: Callable[[], T], throttle: Throttle,
                          fell_back: Callable[[T], Iterable[str]] = lambda result: ()) -> tuple[T, int]:
    """(the call's result, how many throttled tries it took). `fell_back(result)` lists the
    reasons members of a chain were skipped; a throttling one counts as throttled."""
    for retry in range(THROTTLE_RETRIES + 1):
        throttle.cancel.raise_if_cancelled("the campaign")
        throttle.wait()
        last = retry == THROTTLE_RETRIES
        try:
            result = call()
        except BackendError as exc:
            if last or not is_throttling(str(exc)):
                raise
            throttle.cool_down(THROTTLE_COOLDOWN_S * 2**retry)
            continue
        if not last and any(is_throttling(reason) for reason in fell_back(result)):
            throttle.cool_down(THROTTLE_COOLDOWN_S * 2**retry)
            continue
        return result, retry
    raise AssertionError("unreachable: the last try returns or raises")
