"""A campaign on a local Ray (`--executor ray`): the same manifest, variants and images as the
thread pool; an image worker killed mid-image is restarted and the run ends the same; a
`promptrag batch --executor ray` killed mid-run resumes to the same manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from campaign.runner import run_campaign
from generate.diffusers_backend import DiffusersBackend
from generate.registry import register_image_backend
from tests.campaign.conftest import brief_for, manifest_without_timings
from tests.campaign.test_resume_kill import check_nothing_half_written, kill, wait_for

# One torch thread here, as in a Ray worker (Ray sets OMP_NUM_THREADS=1 for a 1-CPU worker): the
# float sums, and so the pixels, then come out the same in both.
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir  # noqa: F401 (fixtures)

REPO_ROOT = Path(__file__).resolve().parents[2]
KILL_MARKER_ENV = "PROMPTRAG_TEST_KILL_MARKER"  # PROMPTRAG_*: shipped to the Ray workers


class KillOnceDiffusers(DiffusersBackend):
    """The diffusers backend, whose process dies (SIGKILL) at its first image while the file named
    by PROMPTRAG_TEST_KILL_MARKER does not exist yet (the file then says it happened, and where)."""

    def generate(self, request, **options):
        marker = os.environ.get(KILL_MARKER_ENV)
        if marker and not Path(marker).exists():
            Path(marker).write_text(str(os.getpid()), encoding="utf-8")
            os.kill(os.getpid(), signal.SIGKILL)
        return super().generate(request, **options)


def register_fakes() -> None:
    """Every process of the test's Ray runs this first (worker_process_setup_hook)."""
    register_image_backend("diffusers-kill-once", KillOnceDiffusers)


register_fakes()


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT)},
                          "worker_process_setup_hook": "tests.campaign.test_ray_campaign.register_fakes"})
    yield ray
    ray.shutdown()


def variant_files(out: Path) -> dict[str, dict]:
    """Each variants/<id>.json without its timings."""
    found = {}
    for path in sorted((out / "variants").glob("v*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        data.pop("timings")
        found[path.name] = data
    return found


def pixels(png: Path) -> str:
    """A digest of the image's RGB pixels (what a viewer sees; the PNG also carries its metadata)."""
    import hashlib

    from PIL import Image

    with Image.open(png) as image:
        return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def test_a_prompts_only_campaign_on_ray_matches_the_thread_pool(campaign_index, local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    brief = brief_for(campaign_index)  # 20 variants, rules enhancer, brand rules
    threads = run_campaign(brief, tmp_path / "threads", images=False, concurrency=2)
    on_ray = run_campaign(brief, tmp_path / "ray", images=False, concurrency=2, executor="ray")
    assert len(on_ray.variants) == 20 and on_ray.counts == threads.counts
    assert manifest_without_timings(tmp_path / "ray") == manifest_without_timings(tmp_path / "threads")
    assert variant_files(tmp_path / "ray") == variant_files(tmp_path / "threads")
    status = json.loads((tmp_path / "ray" / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "finished" and status["done"] == 20


def test_an_image_worker_killed_mid_image_is_restarted_and_the_images_match(campaign_index, tiny_sd_dir,  # noqa: F811
                                                                            local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    brief = brief_for(campaign_index, variants=4, backends=["diffusers-kill-once"], model=str(tiny_sd_dir),
                      sizes=["64x64"], steps=2)
    run_campaign(brief, tmp_path / "threads")  # no marker set: nothing dies here
    events = []
    marker = tmp_path / "killed-once"
    monkeypatch.setenv(KILL_MARKER_ENV, str(marker))
    report = run_campaign(brief, tmp_path / "ray", executor="ray", on_progress=events.append)
    assert marker.is_file() and int(marker.read_text()) != os.getpid()  # a Ray worker died, not us
    assert [v.status for v in report.variants] == ["ok"] * 4
    assert manifest_without_timings(tmp_path / "ray") == manifest_without_timings(tmp_path / "threads")
    for variant in report.variants:
        assert pixels(tmp_path / "ray" / variant.image_path) == pixels(tmp_path / "threads" / variant.image_path)
        assert (tmp_path / "ray" / variant.image_path).with_suffix(".json").is_file()
    assert [e.done for e in events if e.stage == "variants"][-1] == 4  # progress counted every variant
    assert not [p for p in (tmp_path / "ray").rglob("*") if p.name.endswith(".tmp")]


def test_batch_on_ray_killed_mid_run_resumes_to_the_same_manifest(campaign_index, tiny_sd_dir,  # noqa: F811
                                                                  local_ray, tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    brief = brief_for(campaign_index, variants=6, backends=["diffusers"], model=str(tiny_sd_dir),
                      sizes=["64x64"], steps=2)
    run_campaign(brief, tmp_path / "threads")
    brief_path = tmp_path / "brief.yaml"
    brief_path.write_text(brief.to_yaml(), encoding="utf-8")
    out = tmp_path / "ray"
    process = subprocess.Popen([sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(out),
                                "--executor", "ray"], env={**os.environ, "PROMPTRAG_TEST_PAUSE_AT": "variant:3"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wait_for(lambda: (out / ".paused").exists(), process)
    kill(process)
    assert [v["id"] for v in check_nothing_half_written(out)] == ["v001", "v002", "v003"]
    resumed = subprocess.run([sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(out),
                              "--executor", "ray"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert manifest_without_timings(out) == manifest_without_timings(tmp_path / "threads")


def test_background_runs_keep_their_executor_so_a_resume_uses_it_too(campaign_index, tmp_path, monkeypatch):
    from campaign import jobs
    from core.errors import InputError
    from evaluation.jobs import command
    from evaluation.runner import options_from

    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    line = jobs._command(tmp_path, {"images": False, "concurrency": 2, "executor": "ray://head:10001"}, None, False)
    assert line[line.index("--executor") + 1] == "ray://head:10001"
    assert "--executor" not in jobs._command(tmp_path, {"concurrency": 1}, None, False)  # runs started before
    with pytest.raises(InputError, match=r"--executor must be thread, ray or ray://HOST:PORT"):
        jobs.start_run(brief_for(campaign_index), images=False, executor="dask")
    assert not (tmp_path / "home" / "campaigns").exists() or not list((tmp_path / "home" / "campaigns").iterdir())
    eval_line = command(tmp_path / "ideas.txt", tmp_path / "run", options_from(), "ray")
    assert eval_line[eval_line.index("--executor") + 1] == "ray"
