"""Shared test set-up: an isolated promptrag home, offline model hubs, real data location."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))

# huggingface_hub reads these once, at import: set them before any session fixture loads a
# model, so nothing in the suite ever tries the network (and waits on its retries).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test gets its own PROMPTRAG_HOME, no real API keys, and offline model hubs."""
    home = tmp_path_factory.mktemp("promptrag-home")
    monkeypatch.setenv("PROMPTRAG_HOME", str(home))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "AWS_PROFILE", "PROMPTRAG_INDEX"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $PROMPTRAG_SHARED_DATA); tests needing real prompts skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real prompt data not found at {SHARED_DATA} (set PROMPTRAG_SHARED_DATA)")
    return SHARED_DATA
