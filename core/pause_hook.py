"""One test hook for long runs: stop at a known point so a test can kill the process right there.

With PROMPTRAG_TEST_PAUSE_AT="STEP:N" in the environment, a run blocks for good when it reaches its
N-th STEP, after writing its pid to FOLDER/.paused, so a crash-safety test can SIGKILL it mid-run
instead of racing it. The steps: campaign runs count "variant"s written (in the campaign folder),
evaluations "row"s appended (in the run folder), ingests "stage" source batches staged and "embed"
chunks committed (in the ingest's work directory).

Unset, as it always is outside tests, a call costs one environment read. Deliberately not here:
any other debugging switch; the runs' own resume logic (what the tests then check).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from core.errors import ConfigError

PAUSE_ENV = "PROMPTRAG_TEST_PAUSE_AT"
PAUSED_FILE = ".paused"


def pause_here(step: str, number: int, folder: Path) -> None:
    """Block for good if PROMPTRAG_TEST_PAUSE_AT names this `step` and `number` (see the module docstring)."""
    wanted = os.environ.get(PAUSE_ENV)
    if not wanted:
        return
    name, _, count = wanted.rpartition(":")
    if not name or not count.isdigit():
        raise ConfigError(f"{PAUSE_ENV} must be STEP:N (e.g. variant:3, row:5, embed:2), got {wanted!r}")
    if (name, int(count)) == (step, number):
        (folder / PAUSED_FILE).write_text(str(os.getpid()))
        threading.Event().wait()  # stay here until the test kills the process
