"""Shared test set-up: an isolated promptrag home, offline model hubs, real data location.

Isolation (`isolated_env`, every test): a fresh empty working directory and HOME, so no `.env`,
`.streamlit/secrets.toml` or `~/.aws` of the developer's machine is read; every key and
PROMPTRAG_* knob removed from the environment. No test can reach a real service with a real key
(tests/core/test_secrets.py proves it).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
LAUNCH_DIR = Path.cwd()  # where pytest was started (usually the repo root, maybe with a .env)
# Tests import `tests.*` and run from a temporary directory: the repo must be on sys.path by name.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))
# HOME is replaced per test; model caches under the real home (subprocesses compute them from
# HOME) stay where they are.
_CACHE_HOME = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
os.environ.setdefault("HF_HOME", str(_CACHE_HOME / "huggingface"))

# huggingface_hub reads these once, at import: set them before any session fixture loads a
# model, so nothing in the suite ever tries the network (and waits on its retries).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


# Removed from every test's environment: keys, endpoints and profiles of real services, and every
# promptrag knob (a test sets what it needs).
_SCRUB_PREFIXES = ("PROMPTRAG_", "ANTHROPIC_", "AWS_", "LANGCHAIN_", "LANGSMITH_", "OPENAI_")
_SCRUB_SUFFIXES = ("_API_KEY",)
_SCRUB_NAMES = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT")
_KEEP = ("PROMPTRAG_SHARED_DATA", "PROMPTRAG_E2E_ARTIFACTS")  # where the suite reads and writes, not settings


def _scrubbed(name: str) -> bool:
    return name not in _KEEP and (name.startswith(_SCRUB_PREFIXES) or name.endswith(_SCRUB_SUFFIXES)
                                  or name in _SCRUB_NAMES)


# Session and module fixtures run before `isolated_env`: scrub the process now, and give them a
# clean working directory and HOME too (`_session_isolation`).
for _name in [_name for _name in os.environ if _scrubbed(_name)]:
    del os.environ[_name]


@pytest.fixture(scope="session", autouse=True)
def _session_isolation(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROMPTRAG_HOME", str(tmp_path_factory.mktemp("session-promptrag-home")))
        patch.setenv("PROMPTRAG_ONNX_EXPORT", "0")  # see isolated_env
        patch.setenv("HOME", str(tmp_path_factory.mktemp("session-user-home")))
        patch.chdir(tmp_path_factory.mktemp("session-cwd"))
        yield


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """Every test gets its own PROMPTRAG_HOME, an empty working directory and HOME, no keys or
    promptrag settings from the environment, and offline model hubs."""
    for name in [name for name in os.environ if _scrubbed(name)]:
        monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("promptrag-home")
    monkeypatch.setenv("PROMPTRAG_HOME", str(home))
    monkeypatch.setenv("PROMPTRAG_HUB_CACHE", str(home / "hub-cache"))  # downloads never reach ~/.cache
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    # An ingest exports the embedding model to ONNX (seconds of torch work); the tests that
    # check that path turn it back on (tests/index/test_onnx_embedder.py).
    monkeypatch.setenv("PROMPTRAG_ONNX_EXPORT", "0")
    monkeypatch.setenv("HOME", str(tmp_path_factory.mktemp("user-home")))
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    return home


@pytest.fixture(scope="session")
def embedder():
    """The real MiniLM embedder (the packaged model), loaded once per test session."""
    # Session fixtures are set up before the function-scoped `isolated_env`, and huggingface_hub
    # reads HF_HUB_OFFLINE once at import: set it here or hub calls retry against the network.
    from index import load_embedder

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("TRANSFORMERS_OFFLINE", "1")
        return load_embedder()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (or $PROMPTRAG_SHARED_DATA); tests needing real prompts skip without it."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real prompt data not found at {SHARED_DATA} (set PROMPTRAG_SHARED_DATA)")
    return SHARED_DATA


@dataclass(frozen=True)
class CliRun:
    """What a user saw from one `promptrag ...` command."""

    exit_code: int
    stdout: str
    stderr: str

    def one_line_error(self) -> str:
        """The error line; asserts a failure shown as one `promptrag: error: ...` line, no traceback."""
        lines = [line for line in self.stderr.splitlines() if line.strip()]
        assert self.exit_code != 0, (self.exit_code, self.stdout, self.stderr)
        assert "Traceback" not in self.stderr, self.stderr
        assert len(lines) == 1 and lines[0].startswith("promptrag: error: "), self.stderr
        return lines[0]


@pytest.fixture
def promptrag_cli(monkeypatch, capsys):
    """Run `promptrag ARGS...` in this process through the real entry point (`cli.main.main`, which
    turns user errors into one line and an exit code) and return a CliRun."""

    def run(*args: object) -> CliRun:
        from cli.main import main

        monkeypatch.setattr(sys, "argv", ["promptrag", *(str(arg) for arg in args)])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return CliRun(code if isinstance(code, int) else (0 if code is None else 1), out, err)

    return run
