"""Fixtures for the app's AppTest suites: a tiny real index built once, an empty working directory.

The tiny index is built by the real ingest pipeline from a JSONL file (so the prompts carry
seed / steps / CFG / sampler / size, and include hostile text). Tests point their session at it
through `app.state.INDEX` instead of copying it, so the cached retriever and embedder are
shared by every test in the process, as they are by every session of a real server.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "streamlit_app.py")

HOSTILE = [
    "<script>alert(1)</script> a lighthouse in a storm, oil painting",
    "**bold** lighthouse [click me](javascript:alert(1)) <img src=x onerror=alert(1)> :red[alarm] $x^2$",
]
PROMPTS = [
    {"prompt": "a lighthouse on a cliff in a storm, oil painting, by greg rutkowski, dramatic lighting",
     "seed": 1234, "step": 30, "cfg": 7.5, "sampler": "k_euler_ancestral", "width": 512, "height": 768},
    {"prompt": "lighthouse at night, digital painting, volumetric lighting, moody, artstation",
     "seed": 99, "step": 50, "cfg": 7.0, "sampler": "k_lms", "width": 512, "height": 512},
    {"prompt": "an oil painting of a lighthouse, crashing waves, by ivan aivazovsky, golden hour",
     "sampler": "k_lms", "width": 512, "height": 512},
    {"prompt": "lonely lighthouse in the fog, watercolor, serene, soft light"},
    {"prompt": "a red fox in a snowy forest, golden hour, highly detailed, 8k", "sampler": "k_euler"},
    {"prompt": "cyberpunk city street at night, neon signs, rain, cinematic lighting"},
    {"prompt": "portrait of an old fisherman, oil painting by rembrandt"},
    {"prompt": "medieval castle on a cliff above a stormy sea, matte painting, artstation"},
    {"prompt": "bowl of ramen with steam, food photography, shallow depth of field"},
    {"prompt": "underwater coral reef with colorful tropical fish, national geographic photo"},
    {"prompt": "a lonely astronaut sitting on the moon looking at earth, cinematic lighting"},
    {"prompt": "watercolor painting of cherry blossoms in kyoto, soft pastel colors"},
    {"prompt": "steampunk mechanical owl made of brass gears, intricate, octane render"},
    {"prompt": "cafe in paris at dawn, impressionist style, claude monet"},
    {"prompt": "a cozy cabin in the snowy mountains at dusk, warm light in the windows"},
    {"prompt": "a tiny dragon sleeping on a pile of books, fantasy illustration"},
    *({"prompt": text} for text in HOSTILE),
]
# The popular one: three more copies, so its card says "seen 4×".
POPULAR = PROMPTS[0]["prompt"]


def write_source(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_index(tmp_path_factory) -> Path:
    """A real index (MiniLM vectors, FAISS + SQLite + manifest) of ~20 prompts, built once."""
    from ingest import run_ingest

    work = tmp_path_factory.mktemp("app-index")
    source = write_source(work / "prompts.jsonl", [*PROMPTS, *[{"prompt": POPULAR}] * 3])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(work / "home"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        run_ingest(source=str(source), index=work / "index", progress=False)
    return work / "index"


@pytest.fixture(autouse=True)
def served_on_loopback():
    """The app as `promptrag app` serves it, on 127.0.0.1: app/auth.py turns admin actions off when
    the server listens beyond this machine (tests/app/test_auth.py covers that)."""
    from streamlit.testing.v1.util import patch_config_options

    with patch_config_options({"server.address": "127.0.0.1"}):
        yield


@pytest.fixture()
def workdir(tmp_path, monkeypatch) -> Path:
    """Run the app from an empty directory: no developer .env or .streamlit/secrets.toml."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


@pytest.fixture()
def make_app(workdir):
    """`make_app(index=None, session={...})` -> an AppTest of the whole app, not yet run."""

    def make(index: Path | None = None, session: dict | None = None) -> AppTest:
        from app import state

        at = AppTest.from_file(APP, default_timeout=120)
        if index is not None:
            at.session_state[state.INDEX] = str(index)
        for key, value in (session or {}).items():
            at.session_state[key] = value
        return at

    return make


@pytest.fixture()
def home_index(tiny_index, isolated_env) -> Path:
    """A copy of the tiny index as this test's default index (for pages that manage indexes)."""
    target = Path(isolated_env) / "indexes" / "default"
    shutil.copytree(tiny_index, target)
    return target
