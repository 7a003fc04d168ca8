"""`promptrag serve`, the container's entry point, run as the image runs it but without Docker:
the real Streamlit server on a free port, a fresh PROMPTRAG_HOME, the starter set built on first
start (into a directory, or into the Milvus collection of PROMPTRAG_STORE), `/_stcore/health`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.browser import app_env, free_port
from tests.index.test_milvus_store import milvus_server  # noqa: F401  (a real Milvus endpoint on 127.0.0.1)

pytest.importorskip("streamlit")
pytestmark = pytest.mark.slow

STARTER_ROWS = 25  # --starter-limit: the real build path, in seconds instead of a minute


def promptrag() -> list[str]:
    script = Path(sys.executable).with_name("promptrag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cli.main"]


def wait_healthy(server: subprocess.Popen, port: int, log: Path, timeout_s: float = 240) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                return response.read().decode()
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"no health answer (exit code {server.poll()}): {log.read_text()[-3000:]}")


def start_serve(tmp_path: Path, port: int, **env: str) -> tuple[subprocess.Popen, Path]:
    workdir = tmp_path / "cwd"
    workdir.mkdir(exist_ok=True)
    log = tmp_path / "serve.log"
    command = [*promptrag(), "serve", "--starter", "--starter-limit", str(STARTER_ROWS), "--port", str(port)]
    # PROMPTRAG_ONNX_EXPORT=0: the image writes the ONNX export too; the test skips those seconds of torch.
    environment = app_env(tmp_path / "user", PROMPTRAG_ONNX_EXPORT="0", **env)
    with log.open("wb") as sink:
        server = subprocess.Popen(command, cwd=workdir, env=environment, stdout=sink, stderr=subprocess.STDOUT)
    return server, log


def stop(server: subprocess.Popen) -> None:
    server.send_signal(signal.SIGTERM)  # the server is this very process (exec), as `docker stop` finds it
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def listening_addresses(pid: int, port: int) -> set[str]:
    import psutil

    return {c.laddr.ip for c in psutil.Process(pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


def test_a_fresh_home_gets_the_starter_index_and_the_server_answers_on_every_interface(tmp_path):
    from cli.serve_cmd import build_starter

    port = free_port()
    server, log = start_serve(tmp_path, port, PROMPTRAG_RAY_ADDRESS="ray://ray-head.invalid:10001")
    try:
        assert wait_healthy(server, port, log) == "ok"
        assert listening_addresses(server.pid, port) & {"0.0.0.0", "::"}, "binds every interface, as in a container"
    finally:
        stop(server)
    index = tmp_path / "user" / "promptrag" / "indexes" / "default"
    manifest = json.loads((index / "manifest.json").read_text())
    assert manifest["row_count"] == STARTER_ROWS
    text = log.read_text()
    assert f"starter index ready: {STARTER_ROWS} prompts" in text
    assert f"prompts from the index directory {index}" in text
    assert "Campaign page offers runs on the Ray cluster at ray://ray-head.invalid:10001" in text
    assert "Traceback" not in text
    # the next start finds the index and builds nothing
    assert build_starter(index, limit=STARTER_ROWS) is False
    assert json.loads((index / "manifest.json").read_text()) == manifest


def test_with_PROMPTRAG_STORE_the_starter_set_goes_to_milvus_and_the_app_reads_it(tmp_path, milvus_server):  # noqa: F811
    from index.milvus_location import collection_state

    browser_page = _browser_or_skip()
    uri = f"milvus://{milvus_server}/prompts"
    port = free_port()
    server, log = start_serve(tmp_path, port, PROMPTRAG_STORE=uri)
    try:
        assert wait_healthy(server, port, log) == "ok"
        manifest, _ = collection_state(uri)
        assert manifest is not None and manifest.row_count == STARTER_ROWS
        assert not (tmp_path / "user" / "promptrag" / "indexes" / "default").exists(), "no directory index made"
        sidebar = browser_page(f"http://127.0.0.1:{port}")
        assert f"prompts · {STARTER_ROWS} prompts" in sidebar, sidebar  # the collection's name and size
    finally:
        stop(server)
    assert f"prompts from the Milvus collection {uri}" in log.read_text()


def _browser_or_skip():
    """A function opening a URL in headless Chromium and answering the sidebar's text (skip without one)."""
    from tests.e2e.browser import BrowserUnavailable, ensure_chromium, launch_chromium, wait_for_app_run

    try:
        chromium = ensure_chromium()
    except BrowserUnavailable as exc:
        pytest.skip(f"no headless Chromium: {exc}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is missing: pip install -e '.[test]'")

    def sidebar_text(url: str) -> str:
        with sync_api.sync_playwright() as playwright:
            browser = launch_chromium(playwright, chromium)
            try:
                page = browser.new_page()
                page.goto(url)
                wait_for_app_run(page, timeout_ms=180_000)
                sidebar = page.get_by_test_id("stSidebar")
                sync_api.expect(sidebar).to_contain_text("prompts", timeout=120_000)
                return sidebar.inner_text()
            finally:
                browser.close()

    return sidebar_text


def test_a_home_it_cannot_write_is_one_line_naming_the_fix(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    env = app_env(tmp_path / "user", PROMPTRAG_HOME=str(blocker / "home"))
    done = subprocess.run([*promptrag(), "serve", "--port", str(free_port())], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"promptrag: error: PROMPTRAG_HOME {blocker / 'home'} is not "
                                                   "writable here"), done.stderr
    assert "chown -R" in lines[0]


def test_the_log_never_shows_a_milvus_password():
    from cli.serve_cmd import shown_target

    shown = shown_target("milvus://admin:s3cret@milvus.example.org:19530/gallery")
    assert "s3cret" not in shown and "milvus.example.org:19530/gallery" in shown


def test_an_unreachable_milvus_stops_serve_with_one_line_naming_the_fix(tmp_path):
    env = app_env(tmp_path / "user", PROMPTRAG_STORE=f"milvus://127.0.0.1:{free_port()}/prompts")
    done = subprocess.run([*promptrag(), "serve", "--starter", "--port", str(free_port())], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1  # the container's restart policy tries again
    assert done.stderr.strip().startswith("promptrag: error: cannot reach the Milvus server at http://127.0.0.1:")
    assert "Traceback" not in done.stderr
