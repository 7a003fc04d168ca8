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
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from core.errors import BackendError
from core.executors import Pacer
from core.progress import CancelToken

T = TypeVar("T")
THROTTLE_RETRIES = 3
THROTTLE_COOLDOWN_S = 1.0  # the first cool-down; it doubles on each further throttled try
_THROTTLED = re.compile(r"\b(429|529)\b|rate.?limit|overloaded|throttl|too many requests", re.IGNORECASE)


def is_throttling(text: str) -> bool:
    """Does an error message say the API throttled us (429, 529 overloaded, Bedrock throttling)?"""
    return bool(_THROTTLED.search(text or ""))


class Throttle:
    """A rate limit shared by the workers (evenly spaced calls) plus a cool-down anyone can start.

    Its state is a `core.executors.Pacer`; pass `pacer=executor.pacer(per_minute)` to share one
    limit between processes (a Ray actor), else it is this object's own."""

    def __init__(self, per_minute: float | None, cancel: CancelToken, pacer: Any = None) -> None:
        self.pacer = pacer if pacer is not None else Pacer(per_minute)
        self.cancel = cancel

    def wait(self) -> None:
        """Block until this caller's slot (cancellable: raises Cancelled)."""
        slot = time.monotonic() + self.pacer.reserve()
        while (left := slot - time.monotonic()) > 0:
            self.cancel.raise_if_cancelled("the campaign")
            time.sleep(min(left, 0.1))

    def cool_down(self, seconds: float) -> None:
        self.pacer.cool_down(seconds)


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
