"""`promptrag app`: starts the real Streamlit server, and fails in one line naming the fix."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from cli.app_cmd import config_flags, find_app_file, streamlit_command

REPO_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """Only what a fresh shell has: no keys, a throwaway home and promptrag home, offline hubs."""
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "PROMPTRAG_HOME": str(tmp_path / "promptrag-home"), "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1"}


def promptrag() -> list[str]:
    script = Path(sys.executable).with_name("promptrag")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "cli.main"]


def test_app_starts_a_real_server_that_answers_health(tmp_path):
    if not (REPO_ROOT / "streamlit_app.py").is_file():
        pytest.skip("streamlit_app.py is not written yet (the app helper's part)")
    pytest.importorskip("streamlit")
    port = free_port()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    server = subprocess.Popen([*promptrag(), "app", "--port", str(port), "--index", str(tmp_path / "idx")],
                              cwd=workdir, env=clean_env(tmp_path), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline, answer = time.monotonic() + 90, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                    answer = response.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert server.poll() is None, server.communicate()[1][-2000:]
        assert answer == "ok"
    finally:
        server.send_signal(signal.SIGTERM)  # the server is this very process (exec), so it stops
        out, err = server.communicate(timeout=30)
    assert f"starting the app at http://127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_without_streamlit_it_fails_in_one_line_naming_the_fix(tmp_path):
    code = ("import sys; sys.modules['streamlit'] = None; sys.argv = ['promptrag', 'app']; "
            "from cli.main import main; main()")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=clean_env(tmp_path),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip() == ("promptrag: error: the app needs Streamlit, which is not installed: "
                                   "pip install 'promptrag[app]'")


def test_the_command_line_carries_the_apps_config_and_our_port(tmp_path):
    app_file = tmp_path / "streamlit_app.py"
    app_file.write_text("")
    (tmp_path / ".streamlit").mkdir()
    (tmp_path / ".streamlit" / "config.toml").write_text(
        '[server]\nheadless = false\nport = 1\nmaxUploadSize = 500\n[client]\nshowErrorDetails = false\n'
        '[theme]\nprimaryColor = "#FF4B4B"\n', encoding="utf-8")
    command = streamlit_command(app_file, port=8600, host="0.0.0.0")
    assert command[:5] == [sys.executable, "-m", "streamlit", "run", str(app_file)]
    flags = command[5:]
    assert flags == ["--server.maxUploadSize", "500", "--client.showErrorDetails", "false",
                     "--theme.primaryColor", "#FF4B4B", "--server.port", "8600",
                     "--server.address", "0.0.0.0", "--server.headless", "true"]
    assert config_flags(tmp_path / "elsewhere" / "streamlit_app.py") == []


def test_the_app_file_is_found_in_this_checkout():
    if not (REPO_ROOT / "streamlit_app.py").is_file():
        pytest.skip("streamlit_app.py is not written yet (the app helper's part)")
    assert find_app_file() == REPO_ROOT / "streamlit_app.py"
