"""Ctrl-C and SIGTERM cancel a long command cleanly: `with cancel_on_signals(cancel, "…"):`.

The first SIGINT (Ctrl-C) or SIGTERM (the app's Cancel button, a service manager) sets the run's
`CancelToken` and prints one line saying what happens now; the run stops at its next check,
keeping what it finished so the same command resumes. A second one stops at once
(KeyboardInterrupt). The previous handlers come back when the block ends.

Deliberately not here: what a run does when cancelled (each run checks its token), and threads:
Python delivers signals to the main thread only, where the CLI commands run.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from core.progress import CancelToken


@contextmanager
def cancel_on_signals(cancel: CancelToken, stopping: str) -> Iterator[CancelToken]:
    """Within the block SIGINT / SIGTERM set `cancel` and print `stopping` (e.g. "stopping after the
    rows in flight") to stderr, with how to stop at once; a second signal raises KeyboardInterrupt."""

    def on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 (signal handler signature)
        if cancel.cancelled:
            raise KeyboardInterrupt
        cancel.cancel()
        print(f"{stopping} (Ctrl-C again to stop now)...", file=sys.stderr, flush=True)

    previous = {signum: signal.signal(signum, on_signal) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
