"""Models on first use, measured (part of bench_app.py; `--only first-image` runs it alone).

1. Download → first image, in a real browser against a fresh `streamlit run`: the starter index
   (its first 300 prompts), an empty Hugging Face cache, and the local Hub stand-in
   (tests/servers/hub_server.py) serving the tiny random-weight pipeline as the catalogue's
   sd-turbo. Timed inside the page: Refine → Download click → Generate enabled (the pull), then
   Generate click → image shown (pipeline load + 2 steps at 64×64). The tiny model makes the
   figure the app's own overhead (progress, reruns, cache checks, load), not a GPU's.
2. Download throughput: `promptrag models pull` (generate.models.pull: Range-resumable blob
   stream with progress and cancel) against plain `huggingface_hub.hf_hub_download` of the same
   file from the same local server, each in a fresh child process and cache, alternating, so
   what the pull adds per byte shows. The file is random bytes (--pull-mb) named as sd-turbo's
   UNet; the other catalogue files are a few bytes each.

Both need the [generate] and [test] extras (diffusers, Playwright, Debian's Chromium).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.browser import StreamlitServer, app_env, by_key, rerun, wait_for_app_run  # noqa: E402
from tests.servers.hub_server import HubServer  # noqa: E402

UNET = "unet/diffusion_pytorch_model.fp16.safetensors"
REPO = "stabilityai/sd-turbo"
STEP_MS = 300_000


def model_hub(files: dict[str, bytes]) -> HubServer:
    hub = HubServer(files, repo_id=REPO)
    hub.prefix = f"/{REPO}/resolve/"  # model repos have no /models/ prefix
    return hub


# ---- 1. Download → first image in the browser -----------------------------------------------
def download_to_first_image(browser, out: Path) -> dict:
    """Seconds from the Download click to Generate enabled, and from Generate to the image shown."""
    from playwright.sync_api import expect

    from ingest.starter import build_starter_index
    from tests.generate.tiny_pipelines import tiny_sd_turbo_repo

    with tempfile.TemporaryDirectory(prefix="promptrag-first-image-") as tmp:
        tmp_path = Path(tmp)
        files = tiny_sd_turbo_repo(tmp_path / "tiny")
        home = tmp_path / "home"
        os.environ["PROMPTRAG_HOME"] = str(home / "promptrag")
        from core.settings import Settings

        build_starter_index(Settings().default_index, limit=300)
        with model_hub(files) as hub:
            env = app_env(home, HF_HUB_OFFLINE="0", HF_ENDPOINT=hub.url, PROMPTRAG_HUB_CACHE=str(home / "hf"),
                          PROMPTRAG_IMAGE_MODEL=REPO, OMP_NUM_THREADS="1")
            server = StreamlitServer(tmp_path / "cwd", env, log_path=out / "first_image-streamlit.log")
            server.start()
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            try:
                server.wait_healthy(timeout_s=300)
                page = context.new_page()
                page.set_default_timeout(STEP_MS)
                expect.set_options(timeout=STEP_MS)
                page.goto(f"{server.url}/refine")
                wait_for_app_run(page, timeout_ms=STEP_MS)
                by_key(page, "refine-idea").locator("textarea").fill("a lighthouse in a storm at night")
                rerun(page, by_key(page, "refine-write-now").get_by_role("button").click, STEP_MS)
                generate = by_key(page, "refine-generate").get_by_role("button")
                expect(generate).to_be_disabled()
                started = time.perf_counter()
                rerun(page, by_key(page, "refine-gen-download").get_by_role("button").click, STEP_MS)
                expect(generate).to_be_enabled()
                downloaded = time.perf_counter()
                for key, value in (("refine-gen-steps", 2), ("refine-gen-width", 64), ("refine-gen-height", 64)):
                    field = by_key(page, key).locator("input")
                    field.fill(str(value))
                    rerun(page, lambda f=field: f.press("Enter"))
                before_generate = time.perf_counter()
                rerun(page, generate.click, STEP_MS)
                expect(page.get_by_test_id("stImage").locator("img").first).to_be_visible()
                shown = time.perf_counter()
            finally:
                context.close()
                server.stop()
    return {"model_bytes": sum(len(b) for b in files.values()),
            "download_s": round(downloaded - started, 2),
            "generate_s": round(shown - before_generate, 2),
            "download_to_image_s": round(downloaded - started + shown - before_generate, 2)}


# ---- 2. pull throughput against plain huggingface_hub ----------------------------------------
PULL = """
import sys, time
import generate.models as models
import huggingface_hub, huggingface_hub.file_download  # imported before the clock, as in the plain child
started = time.perf_counter()
models.pull("sd-turbo")
print(time.perf_counter() - started)
"""

PLAIN = """
import sys, time
from huggingface_hub import hf_hub_download
started = time.perf_counter()
for filename in sys.argv[3:]:
    hf_hub_download(sys.argv[1], filename, cache_dir=sys.argv[2])
print(time.perf_counter() - started)
"""


def _child(code: str, env: dict[str, str], *args: str) -> float:
    run = subprocess.run([sys.executable, "-c", code, *args], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    if run.returncode != 0:
        raise SystemExit(f"download child failed: {run.stderr[-2000:]}")
    return float(run.stdout.strip().splitlines()[-1])


def pull_throughput(megabytes: int = 200, repeats: int = 3) -> dict:
    """MB/s of `models.pull` and of `hf_hub_download` for one big file from the same local server."""
    from generate.models import CATALOGUE

    files = {name: b"{}" for name in CATALOGUE["sd-turbo"].files}
    files[UNET] = os.urandom(megabytes * 1_000_000)
    pulled, plain = [], []
    with model_hub(files) as hub, tempfile.TemporaryDirectory(prefix="promptrag-pull-") as tmp:
        base = {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "PYTHONPATH": str(ROOT),
                "HF_HUB_DISABLE_XET": "1"}
        # the other files (a few bytes each) are in both caches first: only the big file is timed
        for n in range(repeats):
            cache = Path(tmp) / f"pull-{n}"
            _child(PLAIN, base, REPO, str(cache), *[name for name in files if name != UNET])
            pulled.append(_child(PULL, {**base, "PROMPTRAG_HUB_CACHE": str(cache)}))
            plain.append(_child(PLAIN, base, REPO, str(Path(tmp) / f"plain-{n}"), UNET))
    size_mb = len(files[UNET]) / 1_000_000
    return {"file_mb": round(size_mb), "repeats": repeats,
            "pull_mb_s": round(size_mb / statistics.median(pulled), 1),
            "hf_hub_download_mb_s": round(size_mb / statistics.median(plain), 1),
            "pull_s": [round(s, 2) for s in pulled], "hf_hub_download_s": [round(s, 2) for s in plain]}


def rows(r: dict) -> list[tuple[str, str, str]]:
    """Lines for bench_app's table."""
    out = []
    if "first_image" in r:
        f = r["first_image"]
        out.append((f"Download → first image (tiny model, {f['model_bytes'] / 1e6:.1f} MB, from the Hub stand-in)",
                    f"{f['download_to_image_s']:.1f} s (download {f['download_s']:.1f} s, then load + "
                    f"2 steps at 64×64 {f['generate_s']:.1f} s)", "—"))
    if "pull" in r:
        p = r["pull"]
        out.append((f"model download throughput, one {p['file_mb']} MB file over 127.0.0.1 "
                    f"(median of {p['repeats']})",
                    f"promptrag models pull {p['pull_mb_s']} MB/s · plain hf_hub_download "
                    f"{p['hf_hub_download_mb_s']} MB/s", "pull ≥ 0.9× plain"))
    return out


if __name__ == "__main__":
    print(json.dumps(pull_throughput(int(sys.argv[1]) if len(sys.argv) > 1 else 200), indent=2))
