"""Progress events and cancellation of run_ingest: cancel in any stage, run again, get what an
uninterrupted run gets; a cancelled download resumes from its .part file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import Cancelled
from core.progress import CancelToken, Progress
from ingest import run_ingest
from ingest.download import cache_path, fetch
from ingest.pipeline import work_dir_for
from tests.ingest.test_download import range_responder
from tests.ingest.test_resume import _snapshot
from tests.servers.base import ScriptedServer


@pytest.fixture
def source(tmp_path, dev_prompts) -> Path:
    path = tmp_path / "prompts.txt"
    prompts = (dev_prompts[:14] + [p.upper() for p in dev_prompts[:3]]) * 2  # duplicates: counts must add up
    path.write_text("\n".join(p.strip() for p in prompts) + "\n", encoding="utf-8")
    return path


ARGS = {"batch_size": 4, "read_batch_rows": 5}


def test_progress_events_cover_every_stage(tmp_path, source):
    events: list[Progress] = []
    report = run_ingest(source=str(source), index=tmp_path / "idx", on_progress=events.append, **ARGS)
    stages = list(dict.fromkeys(e.stage for e in events))
    assert stages == ["stage", "embed", "write"]
    staged = [e for e in events if e.stage == "stage"]
    assert staged[-1].done == report.rows_read and staged[-1].total is None  # a text file's length is unknown
    embedded = [e for e in events if e.stage == "embed"]
    assert [e.done for e in embedded] == sorted(e.done for e in embedded)  # cumulative
    assert embedded[-1].done == embedded[-1].total == report.new_prompts_embedded
    assert len(embedded) == 1 + -(-report.new_prompts_embedded // ARGS["batch_size"])  # start + one per batch
    written = [e for e in events if e.stage == "write"]
    assert written[-1].done == written[-1].total == report.final_rows
    assert written[-1].message == "building the search index"
    assert all(e.fraction is None or 0.0 <= e.fraction <= 1.0 for e in events)


@pytest.mark.parametrize("stage", ["stage", "embed", "write"])
def test_cancelled_ingest_keeps_its_work_and_the_next_run_gets_the_same_index(tmp_path, source, stage):
    index, reference = tmp_path / "idx", tmp_path / "reference"
    token = CancelToken()

    def cancel_after_first_batch(event: Progress) -> None:
        if event.stage == stage and event.done > 0:
            token.cancel()

    with pytest.raises(Cancelled, match="run the same ingest again to resume"):
        run_ingest(source=str(source), index=index, on_progress=cancel_after_first_batch, cancel=token, **ARGS)
    work = work_dir_for(index)
    assert work.is_dir() and not index.exists()  # nothing published, the work is kept
    assert not list(tmp_path.glob(".idx.tmp-*"))  # a cancelled write leaves no half-written index
    if stage == "embed":
        assert len(list((work / "chunks").glob("chunk-*.npy"))) == 1  # stopped right after the first batch

    resumed = run_ingest(source=str(source), index=index, progress=False, **ARGS)
    assert resumed.resumed and not work.exists()
    full = run_ingest(source=str(source), index=reference, progress=False, **ARGS)
    assert resumed.final_rows == full.final_rows and resumed.rows_read == full.rows_read
    got_rows, got_vectors = _snapshot(index)
    want_rows, want_vectors = _snapshot(reference)
    assert got_rows == want_rows  # same prompts, same counts, same settings, same ids
    assert got_vectors.shape == want_vectors.shape and abs(got_vectors - want_vectors).max() < 1e-5


def test_cancelled_download_resumes_from_its_part_file(tmp_path):
    body = bytes(range(256)) * (3 * 4096 + 17)  # ~3 MiB: several 1 MiB chunks
    token = CancelToken()
    seen: list[Progress] = []

    def on_progress(event: Progress) -> None:
        seen.append(event)
        if event.done >= 1 << 20:
            token.cancel()

    with ScriptedServer(responder=range_responder(body)) as server:
        url = f"{server.url}/metadata.parquet"
        with pytest.raises(Cancelled, match="run again to resume"):
            fetch(url, tmp_path, on_progress=on_progress, cancel=token)
        part = cache_path(url, tmp_path).with_name("metadata.parquet.part")
        kept = part.stat().st_size
        assert 0 < kept < len(body)
        assert seen[-1].stage == "download" and seen[-1].total == len(body)
        path = fetch(url, tmp_path)
        assert server.requests[-1].headers.get("Range") == f"bytes={kept}-"
    assert path.read_bytes() == body
