"""Downloading the DiffusionDB table over real HTTP from a server on 127.0.0.1."""

from __future__ import annotations

import re
import socket
import time

import pytest

from core.errors import SourceError
from core.settings import get_settings
from ingest import run_ingest
from ingest.download import cache_path, fetch, reachable
from tests.ingest.conftest import write_diffusiondb_parquet
from tests.servers.base import Recorded, Reply, ScriptedServer


def range_responder(payload: bytes, path: str = "/metadata.parquet"):
    """Serve `payload` at `path` like a static file server (honours `Range: bytes=N-`)."""

    def respond(request: Recorded) -> Reply:
        if request.path != path:
            return Reply(404, b"Entry not found", {"Content-Type": "text/plain"})
        match = re.fullmatch(r"bytes=(\d+)-", request.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            if start >= len(payload):
                return Reply(416, b"", {"Content-Range": f"bytes */{len(payload)}"})
            return Reply(206, payload[start:], {"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"})
        return Reply(200, payload, {"Content-Type": "application/octet-stream"})

    return respond


@pytest.fixture
def parquet_bytes(tmp_path, dev_prompts) -> bytes:
    path = write_diffusiondb_parquet(tmp_path / "src.parquet", [{"prompt": p} for p in dev_prompts[:12]])
    return path.read_bytes()


def test_default_source_downloads_once_then_uses_cache(tmp_path, parquet_bytes, capfd):
    with ScriptedServer(responder=range_responder(parquet_bytes)) as server:
        report = run_ingest(index=tmp_path / "idx", base_url=server.url, progress=True)
        err = capfd.readouterr().err
        # size / rate / ETA bar on stderr, drawn from the download's progress events
        assert "download" in err and "metadata.parquet" in err and "100%" in err
        assert report.rows_read == 12 and report.source == f"{server.url}/metadata.parquet"
        cached = cache_path(f"{server.url}/metadata.parquet", get_settings().cache_dir)
        assert cached.read_bytes() == parquet_bytes
        gets = len(server.requests)
        again = run_ingest(index=tmp_path / "idx2", base_url=server.url, limit=3, progress=False)
        assert len(server.requests) == gets  # cache hit: no second request
        assert again.rows_read == 3


def test_partial_download_resumes_with_range(tmp_path, parquet_bytes):
    with ScriptedServer(responder=range_responder(parquet_bytes)) as server:
        url = f"{server.url}/metadata.parquet"
        target = cache_path(url, tmp_path)
        target.parent.mkdir(parents=True)
        half = len(parquet_bytes) // 2
        target.with_name(target.name + ".part").write_bytes(parquet_bytes[:half])
        path = fetch(url, tmp_path)
        assert server.requests[-1].headers.get("Range") == f"bytes={half}-"
    assert path == target and path.read_bytes() == parquet_bytes
    assert not target.with_name(target.name + ".part").exists()


def test_server_ignoring_range_restarts_cleanly(tmp_path, parquet_bytes):
    with ScriptedServer() as server:
        server.queue(Reply(200, parquet_bytes))
        url = f"{server.url}/metadata.parquet"
        target = cache_path(url, tmp_path)
        target.parent.mkdir(parents=True)
        target.with_name(target.name + ".part").write_bytes(b"stale bytes")
        assert fetch(url, tmp_path).read_bytes() == parquet_bytes


def test_truncated_body_keeps_part_and_says_to_rerun(tmp_path, parquet_bytes):
    with ScriptedServer() as server:
        server.queue(Reply(206, parquet_bytes[100:200], {"Content-Range": f"bytes 100-{len(parquet_bytes) - 1}/{len(parquet_bytes)}"}))
        url = f"{server.url}/metadata.parquet"
        target = cache_path(url, tmp_path)
        target.parent.mkdir(parents=True)
        target.with_name(target.name + ".part").write_bytes(parquet_bytes[:100])
        with pytest.raises(SourceError, match="run again to resume"):
            fetch(url, tmp_path)
    assert not target.exists()
    assert target.with_name(target.name + ".part").read_bytes() == parquet_bytes[:200]


def test_404_names_the_url(tmp_path, parquet_bytes):
    with ScriptedServer(responder=range_responder(parquet_bytes)) as server:
        url = f"{server.url}/nope/metadata.parquet"
        with pytest.raises(SourceError) as err:
            fetch(url, tmp_path)
    assert url in str(err.value) and "404" in str(err.value)
    assert not cache_path(url, tmp_path).exists()


def test_connection_refused_names_the_url(tmp_path):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/metadata.parquet"
    with pytest.raises(SourceError) as err:
        run_ingest(index=tmp_path / "idx", base_url=f"http://127.0.0.1:{port}", progress=False)
    assert url in str(err.value) and "cannot connect" in str(err.value)


def test_reachable_is_any_answer_and_a_closed_port_is_a_quick_no():
    with ScriptedServer(responder=lambda request: Reply(404, b"Entry not found")) as server:
        assert reachable(f"{server.url}/metadata.parquet") is True  # the host answers: reachable
        assert server.requests[0].method == "HEAD"
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    assert reachable(f"http://127.0.0.1:{port}/metadata.parquet", timeout_s=2.0) is False
    assert time.perf_counter() - started < 3
