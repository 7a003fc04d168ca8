"""`promptrag batch --executor ray://HOST:PORT`: Ray Client against a real head node, started here with
`ray start --head` (its own session directory, ports and authentication token), as a team's cluster is.

The run's manifest matches the thread pool's. The brief's index is given as a relative --index: the
workers start in the head's directory, not the caller's, so the path must reach them made absolute.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from campaign.runner import run_campaign
from tests.campaign.conftest import brief_for, manifest_without_timings

pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
RAY_CLI = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ray_head():
    """A head node on 127.0.0.1 with token authentication; yields (client address, the client's env)."""
    if not RAY_CLI.is_file():
        pytest.skip(f"no `ray` command beside {sys.executable}")
    session = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))  # short: Ray's socket paths have a length limit
    client_port = free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    # gRPC's fork handlers can abort the client server's fork of a session server under load
    # ("Check failed: next_worker->state == KICKED"); it forks without them.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | auth | {"GRPC_ENABLE_FORK_SUPPORT": "0"}
    head = subprocess.Popen(
        [str(RAY_CLI), "start", "--head", "--block", f"--port={free_port()}", f"--ray-client-server-port={client_port}",
         "--node-ip-address=127.0.0.1", "--num-cpus=2", "--include-dashboard=false", "--disable-usage-stats",
         f"--temp-dir={session}"],
        cwd=session, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not listening(client_port):
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Ray head did not start (exit {head.returncode}); logs in {session}")
            time.sleep(0.5)
        yield f"ray://127.0.0.1:{client_port}", auth
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # `ray start --block` stops its node's processes on SIGTERM
        try:
            head.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_a_campaign_through_ray_client_matches_the_thread_pool(campaign_index, ray_head, tmp_path, monkeypatch):
    address, auth = ray_head
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    brief = brief_for(campaign_index, variants=4)
    run_campaign(brief, tmp_path / "threads", images=False, concurrency=2)
    brief_path = tmp_path / "brief.yaml"
    brief_path.write_text(brief.model_copy(update={"index": None}).to_yaml(), encoding="utf-8")
    relative_index = os.path.relpath(campaign_index, tmp_path)
    out = tmp_path / "cluster"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")} | auth
    result = subprocess.run(
        [sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(out), "--no-images",
         "--index", relative_index, "--executor", address],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert manifest_without_timings(out) == manifest_without_timings(tmp_path / "threads")
