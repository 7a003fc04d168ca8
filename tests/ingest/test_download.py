"""Downloading the DiffusionDB table through huggingface_hub from a local Hub (tests/servers/hub_server.py),
and any other URL over httpx, both over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import SourceError
from ingest import run_ingest
from ingest.download import cache_path, fetch, reachable
from tests.ingest.conftest import write_diffusiondb_parquet
from tests.servers.base import Recorded, Reply, ScriptedServer
from tests.servers.hub_server import COMMIT, HubServer


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


def hub_env(hub: HubServer, cache: Path, **extra: str) -> dict[str, str]:
    """A child process online against the local Hub (this test process stays offline: huggingface_hub
    fixed HF_HUB_OFFLINE=1 at its import, see tests/conftest.py)."""
    return {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "PROMPTRAG_HUB_CACHE": str(cache),
            **extra}


def promptrag(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=300)


FETCH = "import sys; from ingest.download import fetch_diffusiondb; print(fetch_diffusiondb(sys.argv[1]))"


def fetch_in_child(filename: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", FETCH, filename], env=env, capture_output=True, text=True,
                          timeout=300)


def resolve_gets(hub: HubServer) -> list:
    return [r for r in hub.gets() if "/resolve/" in r.path]


def test_default_source_downloads_through_the_hub_once_then_uses_its_cache(tmp_path, parquet_bytes):
    cache = tmp_path / "hf-cache"
    with HubServer({"metadata.parquet": parquet_bytes}) as hub:
        first = promptrag("ingest", "--index", str(tmp_path / "idx"), "--json", env=hub_env(hub, cache))
        assert first.returncode == 0, first.stderr
        # size / rate / ETA bar on stderr, drawn from the download's progress events
        assert "download" in first.stderr and "metadata.parquet" in first.stderr and "100%" in first.stderr
        report = json.loads(first.stdout)
        assert report["rows_read"] == 12
        assert report["source"] == f"{hub.url}/datasets/poloclub/diffusiondb/resolve/main/metadata.parquet"
        # in the Hub's cache layout (shared with every other Hugging Face tool)
        cached = cache / "datasets--poloclub--diffusiondb" / "snapshots" / COMMIT / "metadata.parquet"
        assert cached.read_bytes() == parquet_bytes
        assert len(resolve_gets(hub)) == 1
        # --hub-endpoint beats HF_ENDPOINT; the second run only revalidates (HEAD), no second GET
        elsewhere = hub_env(hub, cache, HF_ENDPOINT="http://127.0.0.1:9")
        again = promptrag("ingest", "--index", str(tmp_path / "idx2"), "--limit", "3", "--json", "-q",
                          "--hub-endpoint", hub.url, env=elsewhere)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout)["rows_read"] == 3
        assert len(resolve_gets(hub)) == 1 and hub.requests[-1].method == "HEAD"


def test_a_download_cut_off_mid_transfer_resumes_with_a_range_request(tmp_path):
    # huggingface_hub writes 10 MiB chunks: cut inside the second one, so one chunk is on disk.
    body = os.urandom(12 << 20)
    with HubServer({"metadata.parquet": body}) as hub:
        hub.cut_next_get_at = 11 << 20
        result = fetch_in_child("metadata.parquet", hub_env(hub, tmp_path / "hf-cache"))
        assert result.returncode == 0, result.stderr
        first, second = resolve_gets(hub)
    assert first.range is None and second.range == f"bytes={10 << 20}-"
    assert Path(result.stdout.strip()).read_bytes() == body


def test_offline_mode_uses_the_cached_table_without_a_request(tmp_path, parquet_bytes, monkeypatch):
    cache = tmp_path / "hf-cache"
    with HubServer({"metadata.parquet": parquet_bytes}) as hub:
        assert fetch_in_child("metadata.parquet", hub_env(hub, cache)).returncode == 0
        seen = len(hub.requests)
        # this process: HF_HUB_OFFLINE=1 (conftest), the mirror still configured
        monkeypatch.setenv("PROMPTRAG_HUB_CACHE", str(cache))
        report = run_ingest(index=tmp_path / "idx", hub_endpoint=hub.url, limit=5, progress=False)
        assert len(hub.requests) == seen  # not even a HEAD
    assert report.rows_read == 5


def test_offline_mode_without_the_table_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(SourceError) as err:
        run_ingest(index=tmp_path / "idx", progress=False)
    message = str(err.value)
    assert "\n" not in message and "HF_HUB_OFFLINE is set" in message and "metadata.parquet" in message
    assert "unset HF_HUB_OFFLINE" in message and "local file as SOURCE" in message
    assert not (tmp_path / "idx").exists()


def test_cli_offline_without_the_table_is_one_line(tmp_path):
    env = {**os.environ, "PROMPTRAG_HUB_CACHE": str(tmp_path / "empty-cache")}  # HF_HUB_OFFLINE=1 inherited
    result = promptrag("ingest", "--index", str(tmp_path / "idx"), env=env)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("promptrag: error: HF_HUB_OFFLINE is set and DiffusionDB's metadata.parquet")


def test_a_file_the_hub_does_not_have_is_a_clear_404(tmp_path, parquet_bytes):
    with HubServer({"metadata.parquet": parquet_bytes}) as hub:
        result = promptrag("ingest", "--large", "--index", str(tmp_path / "idx"), "-q",
                           env=hub_env(hub, tmp_path / "hf-cache"))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert lines[-1] == (
        f"promptrag: error: download of {hub.url}/datasets/poloclub/diffusiondb/resolve/main/"
        "metadata-large.parquet failed: HTTP 404 not found: no metadata-large.parquet in poloclub/diffusiondb "
        "(wrong file name, or a mirror without it?). Check the URL and your connection, or download the file "
        "yourself and pass its local path as SOURCE.")


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
        content_range = f"bytes 100-{len(parquet_bytes) - 1}/{len(parquet_bytes)}"
        server.queue(Reply(206, parquet_bytes[100:200], {"Content-Range": content_range}))
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
        run_ingest(source=url, index=tmp_path / "idx", progress=False)
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
