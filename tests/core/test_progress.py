"""Progress arithmetic and the cancel flag, as a page's progress bar and Cancel button use them."""

from __future__ import annotations

import threading

import pytest

from core.errors import Cancelled, PromptragError
from core.progress import CancelToken, Progress


def test_fraction_and_eta():
    half = Progress("embed", 50, 200, elapsed_s=10.0)
    assert half.fraction == 0.25 and half.eta_s == pytest.approx(30.0)
    assert Progress("stage", 5, None, elapsed_s=3.0).fraction is None  # a text file's length is unknown
    assert Progress("stage", 5, None, elapsed_s=3.0).eta_s is None
    assert Progress("embed", 0, 10, elapsed_s=1.0).eta_s is None  # no pace yet
    assert Progress("write", 12, 10).fraction == 1.0  # clipped, never past the end


def test_cancel_from_another_thread_raises_a_user_facing_error():
    token = CancelToken()
    token.raise_if_cancelled()  # not cancelled: nothing happens
    worker = threading.Thread(target=token.cancel)
    worker.start()
    worker.join()
    assert token.cancelled
    with pytest.raises(Cancelled, match="the ingest was cancelled; run it again to resume") as info:
        token.raise_if_cancelled("the ingest", "run it again to resume")
    assert isinstance(info.value, PromptragError) and info.value.exit_code == 130
