"""Fixtures for the end-to-end test: Chromium + Playwright, a small index, a tiny image model, the server.

Everything is real: Debian's Chromium (installed with apt-get when missing and we are root),
Playwright's Python driver, an index written by the real ingest of the packaged starter set,
a tiny random-weight diffusers pipeline saved to disk, and `python -m streamlit run
streamlit_app.py` on 127.0.0.1 from a temporary working directory with a clean environment
(no API keys, no developer .env, offline model hubs).

Screenshots and the server log go to $PROMPTRAG_E2E_ARTIFACTS (default: a pytest temporary
directory); the path is printed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.browser import BrowserUnavailable, StreamlitServer, app_env, ensure_chromium, launch_chromium

STARTER_ROWS = 300  # enough for every idea to find examples; embeds in ~15 s on 2 shared cores


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        return ensure_chromium()
    except BrowserUnavailable as exc:
        pytest.skip(f"no headless Chromium for the end-to-end test: {exc}")


@pytest.fixture(scope="session")
def browser(chromium):
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright's Python package is missing: pip install -e '.[test]'"
    )
    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    configured = os.environ.get("PROMPTRAG_E2E_ARTIFACTS")
    directory = Path(configured) if configured else tmp_path_factory.mktemp("e2e-artifacts")
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nend-to-end screenshots and server log: {directory}")
    return directory


@pytest.fixture(scope="session")
def app_home(tmp_path_factory) -> Path:
    """HOME for the server; PROMPTRAG_HOME is app_home/promptrag and holds the default index."""
    return tmp_path_factory.mktemp("e2e-home")


@pytest.fixture(scope="session")
def starter_index(app_home) -> Path:
    """The default index of PROMPTRAG_HOME: the first STARTER_ROWS prompts of the starter set."""
    from core.settings import Settings
    from ingest.starter import build_starter_index

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(app_home / "promptrag"))
        path = Settings().default_index
        build_starter_index(path, limit=STARTER_ROWS)
    assert (path / "manifest.json").is_file()
    return path


@pytest.fixture(scope="session")
def tiny_image_model(tmp_path_factory) -> Path:
    """A tiny random-weight SD 1.x pipeline on disk (64x64 in a fraction of a second on CPU)."""
    pytest.importorskip("diffusers", reason="the [generate] extra is needed for the image step")
    from tests.generate.tiny_pipelines import build_tiny_sd

    return build_tiny_sd(tmp_path_factory.mktemp("tiny-sd") / "pipeline")


@pytest.fixture(scope="session")
def app_server(app_home, starter_index, tiny_image_model, artifacts, tmp_path_factory):
    pytest.importorskip("streamlit", reason="the [app] extra is needed: pip install -e '.[app]'")
    env = app_env(app_home, PROMPTRAG_IMAGE_MODEL=str(tiny_image_model), OMP_NUM_THREADS="1")
    server = StreamlitServer(tmp_path_factory.mktemp("e2e-cwd"), env, log_path=artifacts / "streamlit.log")
    server.start()
    try:
        server.wait_healthy(timeout_s=180)
        yield server
    finally:
        server.stop()
