"""Drive the real promptrag app: a Streamlit server on 127.0.0.1 and Debian's headless Chromium.

Shared by the end-to-end test (tests/e2e/) and the app benchmark (benchmarks/bench_app.py):

- `ensure_chromium()`   Debian's /usr/bin/chromium, installed with apt-get when missing and we
                        are root (Playwright's own browser download cannot work here).
- `launch_chromium(p)`  Playwright's Chromium driver on that binary, with the flags this
                        sandbox needs (no sandbox, no background networking to unreachable hosts).
- `app_env(...)`        a clean environment for the server: no API keys, no AWS profile, a
                        temporary HOME and PROMPTRAG_HOME, offline model hubs.
- `StreamlitServer`     `python -m streamlit run streamlit_app.py` from a temporary working
                        directory (so a developer's .env is never read), health-checked, its
                        log kept, its resident memory measurable, always stopped.
- `wait_for_app_run(page)`  Streamlit publishes its state on the root element
                        (`data-test-connection-state`, `data-test-script-state`): wait for
                        "connected" and "script not running" rather than sleeping (page loads).
- `rerun(page, action)` do a click / key press and wait for the rerun it caused to be drawn,
                        timed with the page's own clock (`arm_round_trip` / `round_trip_ms`).
- `by_key(page, key)`   a widget by its `key=` (Streamlit renders the class `st-key-<key>`).

Deliberately not here: what the app's pages contain (the test and the benchmark say that).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
APP_SCRIPT = REPO_ROOT / "streamlit_app.py"
CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps dialling hosts this machine cannot reach.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class BrowserUnavailable(RuntimeError):
    """Chromium or Playwright cannot be had here; the message says why and what to do."""


def ensure_chromium(install: bool = True) -> Path:
    """Return Debian's Chromium, installing it (`apt-get install chromium`) when missing and root."""
    if CHROMIUM.exists():
        return CHROMIUM
    if not install:
        raise BrowserUnavailable(f"{CHROMIUM} not found: run `apt-get install chromium` as root")
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise BrowserUnavailable(f"{CHROMIUM} not found and not root: run `sudo apt-get install chromium`")
    if shutil.which("apt-get") is None:
        raise BrowserUnavailable(
            f"{CHROMIUM} not found and no apt-get here: install Debian's chromium package"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        try:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            raise BrowserUnavailable(
                f"`{' '.join(command)}` took over 15 minutes; install chromium by hand"
            ) from None
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise BrowserUnavailable(f"`{' '.join(command)}` exited {done.returncode}: {last}")
    if not CHROMIUM.exists():
        raise BrowserUnavailable(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def launch_chromium(playwright: Any, executable: Path = CHROMIUM):
    """A headless Chromium browser (Playwright `Browser`) on Debian's binary."""
    return playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_ARGS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def app_env(home: Path, **values: str) -> dict[str, str]:
    """A clean environment for the server: PATH and locale from ours, nothing secret, offline hubs.

    `home` becomes HOME (so ~/.aws, ~/.streamlit and ~/.cache of the developer are not read)
    and `home/promptrag` PROMPTRAG_HOME; `values` are added last (e.g. PROMPTRAG_IMAGE_MODEL).
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name in ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")
    }
    env.setdefault("LANG", "C.UTF-8")
    env.update(
        HOME=str(home),
        PROMPTRAG_HOME=str(home / "promptrag"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        PYTHONUNBUFFERED="1",
    )
    env.update(values)
    return env


class StreamlitServer:
    """`python -m streamlit run streamlit_app.py` on 127.0.0.1:<port>, from `workdir`, with `env`."""

    def __init__(
        self,
        workdir: Path,
        env: dict[str, str],
        *,
        port: int | None = None,
        log_path: Path | None = None,
        python: str = sys.executable,
        options: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or self.workdir / "streamlit.log"
        self.python = python
        self.options = dict(options or {})  # more Streamlit options, e.g. {"runner.postScriptGC": "false"}
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0

    def command(self) -> list[str]:
        return [
            self.python,
            "-m",
            "streamlit",
            "run",
            str(APP_SCRIPT),
            "--server.headless",
            "true",
            "--server.port",
            str(self.port),
            "--server.address",
            "127.0.0.1",
            "--server.fileWatcherType",
            "none",
            "--browser.gatherUsageStats",
            "false",
            *[arg for name, value in self.options.items() for arg in (f"--{name}", value)],
        ]

    def start(self) -> StreamlitServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Streamlit reads .streamlit/config.toml from the working directory: use the repo's
        # (never its secrets.toml), as a user starting the app from a checkout would.
        config = REPO_ROOT / ".streamlit" / "config.toml"
        if config.is_file():
            (self.workdir / ".streamlit").mkdir(exist_ok=True)
            shutil.copy(config, self.workdir / ".streamlit" / "config.toml")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()  # the child holds its own descriptor
        return self

    def wait_healthy(self, timeout_s: float = 120.0) -> float:
        """Block until /_stcore/health answers "ok"; returns seconds since start()."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(
                    f"streamlit exited with {self.process and self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as answer:
                    if answer.read().strip() == b"ok":
                        return time.perf_counter() - self.started_at
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(
            f"streamlit did not answer on {self.url} within {timeout_s:.0f}s:\n{self.log_tail()}"
        )

    def rss_bytes(self) -> int:
        """Resident memory of the server process and any children it started."""
        import psutil

        root = psutil.Process(self.process.pid)
        total = root.memory_info().rss
        for child in root.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return total

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None

    def __enter__(self) -> StreamlitServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- page helpers -----------------------------------------------------------------------------


def wait_for_app_run(page: Any, timeout_ms: float = 60_000, settle_ms: int = 150) -> None:
    """Wait until the app is connected and its script has finished running."""
    page.wait_for_timeout(settle_ms)  # let a rerun the last action triggered get going
    page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']").wait_for(
        state="attached", timeout=timeout_ms
    )
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(
        state="attached", timeout=timeout_ms
    )


def key_class(key: str) -> str:
    """The CSS class Streamlit gives the element with `key=key` (as its frontend spells it)."""
    return "st-key-" + re.sub(r"[^a-zA-Z0-9_-]", "-", key.strip())


def by_key(page: Any, key: str):
    """The element container of the widget created with `key=key`."""
    return page.locator(f".{key_class(key)}")


def choose(page: Any, key: str, option: str) -> None:
    """Pick `option` (its visible label) in the selectbox created with `key=key`."""
    by_key(page, key).get_by_role("combobox").click()
    page.get_by_role("option", name=option, exact=True).click()


def page_errors(page: Any) -> list[str]:
    """Texts of exception boxes (tracebacks must never reach the page) and of `st.error` messages."""
    return (
        page.locator("[data-testid='stException']").all_inner_texts()
        + page.locator("[data-testid='stAlertContentError']").all_inner_texts()
    )


# Armed before a user action: the page notes the time of the next click / key press (capture
# phase, so before any handler runs) and the time of every change to the page after it. The
# rerun is over when the app says its script is not running and the page has not changed for
# QUIET_MS (and, where given, the caller's `done` check passed); the figure runs to the last
# change. The script state alone is not enough: a page that calls st.rerun() passes through
# "notRunning" between its two runs, and a page behind others in Chromium can receive a whole
# run's messages in one task, so its state attribute never visibly leaves "notRunning".
# The page's own clock is used, so the figure has no Playwright round trip in it.
ARM_ROUND_TRIP_JS = """
() => {
  const rt = window.__promptragRoundTrip = {t0: null, last: null};
  const start = () => { if (rt.t0 === null) rt.t0 = performance.now(); };
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, start, {capture: true, once: true});
  }
  rt.observer = new MutationObserver(() => { if (rt.t0 !== null) rt.last = performance.now(); });
  rt.observer.observe(document.documentElement,
                      {subtree: true, childList: true, characterData: true, attributes: true});
}
"""
SETTLED_JS = """
([quietMs]) => {
  const rt = window.__promptragRoundTrip;
  const app = document.querySelector("[data-testid='stApp']");
  return rt && rt.last !== null && app && app.getAttribute("data-test-script-state") === "notRunning"
    && performance.now() - rt.last >= quietMs;
}
"""
QUIET_MS = 400


def arm_round_trip(page: Any) -> None:
    """Start timing at the page's next click or key press (see `round_trip_ms`)."""
    page.evaluate(ARM_ROUND_TRIP_JS)


def round_trip_ms(page: Any, timeout_ms: float = 120_000, done: Callable[[], Any] | None = None) -> float:
    """Milliseconds from the armed click / key press to the last change of the page it caused.

    Waits until the script has finished and the page stayed unchanged for QUIET_MS, then for
    `done()` (e.g. a Playwright `expect` of what the action must show) when given.
    """
    page.wait_for_function(SETTLED_JS, arg=[QUIET_MS], timeout=timeout_ms, polling=50)
    if done is not None:
        done()
        page.wait_for_function(SETTLED_JS, arg=[QUIET_MS], timeout=timeout_ms, polling=50)
    return float(
        page.evaluate(
            "() => { const rt = window.__promptragRoundTrip; rt.observer.disconnect();"
            " return rt.last - rt.t0; }"
        )
    )


def rerun(
    page: Any, action: Callable[[], Any], timeout_ms: float = 120_000, done: Callable[[], Any] | None = None
) -> float:
    """Do `action` (a click or key press that makes the app rerun) and wait until *that* rerun
    is over and drawn (and `done()` passes); returns its milliseconds. Unlike waiting for "not
    running" after a pause, this cannot mistake the state before the rerun started for its end."""
    arm_round_trip(page)
    action()
    return round_trip_ms(page, timeout_ms, done)
