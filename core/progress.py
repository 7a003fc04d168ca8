"""Progress events and a cancel flag for long work (ingest, downloads, image generation).

Long-running library calls take `on_progress: ProgressCallback | None` and
`cancel: CancelToken | None`. They call `on_progress(Progress(...))` as work advances (cumulative
`done`, so a missed event loses nothing) and `cancel.raise_if_cancelled()` at safe points (between
batches, between denoising steps), which raises `core.errors.Cancelled`. The same callback feeds a
tqdm bar in the CLI (`cli.common.TqdmProgress`) and `st.progress` in the app.

`Stopwatch` is a small helper for callers that report one stage: it stamps `elapsed_s` on each
event, so `Progress.eta_s` needs no clock of its own. `TqdmProgress` is the one adapter from
events to terminal bars (tqdm on stderr, imported on first use): the CLI passes it, and
`run_ingest(progress=True)` without a callback uses it, as the ingest always has.

Deliberately not here: Streamlit widgets (pages draw `st.progress` from the same events),
threads, or rate limiting — a callback that wants fewer updates throttles itself.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from core.errors import Cancelled


@dataclass(frozen=True)
class Progress:
    """One progress report: `done` of `total` units of `stage` (total None when unknown)."""

    stage: str  # "download" | "stage" | "embed" | "fold" | "write" | "generate" ...
    done: int
    total: int | None
    elapsed_s: float = 0.0  # since the stage started
    message: str = ""

    @property
    def fraction(self) -> float | None:
        """done / total, clipped to [0, 1]; None when the total is unknown (or zero work)."""
        if not self.total or self.total <= 0:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the stage's average pace so far; None until there is a pace."""
        fraction = self.fraction
        if fraction is None or fraction <= 0 or self.elapsed_s <= 0:
            return None
        return self.elapsed_s * (1.0 - fraction) / fraction


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """A thread-safe "please stop" flag: the page (or a signal handler) sets it, the work checks it."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self, what: str = "the work", kept: str = "") -> None:
        """Raise Cancelled("<what> was cancelled; <kept>") when cancel() was called."""
        if self._event.is_set():
            raise Cancelled(f"{what} was cancelled" + (f"; {kept}" if kept else ""))

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.cancelled})"


class Stopwatch:
    """Reports one stage: `watch.report(done, total)` calls the callback with elapsed time filled in."""

    def __init__(self, stage: str, on_progress: ProgressCallback | None) -> None:
        self.stage = stage
        self.on_progress = on_progress
        self.started = time.perf_counter()

    def report(self, done: int, total: int | None, message: str = "") -> None:
        if self.on_progress is not None:
            elapsed = time.perf_counter() - self.started
            self.on_progress(Progress(self.stage, done, total, elapsed, message))


class TqdmProgress:
    """An on_progress callback drawing one tqdm bar per stage on stderr (nothing when disabled).

    Use as a context manager so the last bar is closed: `with TqdmProgress() as bars:
    run_ingest(..., on_progress=bars)`. Bars open on a stage's first event, so a command that
    fails before any progress prints nothing but its error line.
    """

    UNITS: ClassVar[dict[str, str]] = {
        "download": "B", "stage": "rows", "embed": "prompts", "fold": "prompts", "write": "rows",
        "generate": "steps",
    }

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None  # tqdm.tqdm, imported on first use
        self._stage: str | None = None

    def __call__(self, event: Progress) -> None:
        if not self.enabled:
            return
        if event.stage != self._stage:
            self.close()
            from tqdm import tqdm

            self._stage = event.stage
            self._bar = tqdm(total=event.total, desc=event.stage, unit=self.UNITS.get(event.stage, "it"),
                             unit_scale=event.stage == "download", file=sys.stderr, mininterval=0.5,
                             dynamic_ncols=True)
        bar = self._bar
        if event.total != bar.total:
            bar.total = event.total
        if event.message:
            bar.set_postfix_str(event.message, refresh=False)
        bar.update(event.done - bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        self._bar, self._stage = None, None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
