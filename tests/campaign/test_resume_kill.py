"""SIGKILL a real `promptrag batch` mid-run, run it again: the same manifest as a run never killed,
nothing lost, nothing duplicated, nothing half-written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campaign.runner import run_campaign
from tests.campaign.conftest import brief_for, manifest_without_timings
from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)

VARIANTS = 12


@pytest.fixture(scope="module")
def kill_brief(campaign_index, tiny_sd_dir):  # noqa: F811 (fixture)
    return brief_for(campaign_index, variants=VARIANTS, backends=["diffusers"], model=str(tiny_sd_dir),
                     sizes=["64x64"], steps=2)


@pytest.fixture(scope="module")
def reference(kill_brief, tmp_path_factory) -> dict:
    """The manifest of the same brief run once, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(out.parent / "home"))
        run_campaign(kill_brief, out)
    return manifest_without_timings(out)


def start_batch(brief_path: Path, out: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(out)],
                            env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(condition, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"batch exited early ({process.returncode}): {process.stderr.read().decode()[-2000:]}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("batch did not get there in time")
        time.sleep(0.005)


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()


def check_nothing_half_written(out: Path) -> list[dict]:
    """Every visible file is whole: variant JSONs parse, their images exist and open."""
    from PIL import Image

    variants = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "variants").glob("v*.json"))]
    for variant in variants:
        if variant["image_path"]:
            with Image.open(out / variant["image_path"]) as image:
                image.load()
    for png in (out / "images").glob("v*.png"):
        with Image.open(png) as image:
            image.load()  # an image saved before its JSON is whole too
    return variants


def finish_and_compare(out: Path, reference: dict) -> None:
    run_campaign(brief_from_folder(out), out)
    assert manifest_without_timings(out) == reference
    names = sorted(p.name for p in out.rglob("*") if p.is_file() and p.name != ".lock")
    assert not [n for n in names if n.endswith(".tmp") or n.startswith(".tmp")]
    ok = [v for v in reference["variants"] if v["status"] == "ok"]
    assert sorted(p.name for p in (out / "images").glob("*.png")) == sorted(Path(v["image_path"]).name for v in ok)
    assert sorted(p.name for p in (out / "variants").iterdir()) == [f"v{i:03d}.json" for i in range(1, VARIANTS + 1)]


def brief_from_folder(out: Path):
    from campaign.brief import load_brief

    return load_brief(out / "brief.yaml")


def test_kill_at_a_known_point_then_resume(kill_brief, reference, tmp_path):
    brief_path = tmp_path / "brief.yaml"
    brief_path.write_text(kill_brief.to_yaml(), encoding="utf-8")
    out = tmp_path / "out"
    process = start_batch(brief_path, out, PROMPTRAG_TEST_PAUSE_AT="variant:5")
    wait_for(lambda: (out / ".paused").exists(), process)
    kill(process)
    done = check_nothing_half_written(out)
    assert [v["id"] for v in done] == ["v001", "v002", "v003", "v004", "v005"]
    status = json.loads((out / "status.json").read_text())
    assert status["state"] == "running" and status["done"] == 5  # what a page sees of a killed run
    finish_and_compare(out, reference)


def test_kill_at_any_moment_then_resume_from_the_cli(kill_brief, reference, tmp_path):
    brief_path = tmp_path / "brief.yaml"
    brief_path.write_text(kill_brief.to_yaml(), encoding="utf-8")
    out = tmp_path / "out"
    process = start_batch(brief_path, out)

    def three_done() -> bool:
        try:
            return json.loads((out / "status.json").read_text())["done"] >= 3
        except (FileNotFoundError, ValueError, KeyError):
            return False

    wait_for(three_done, process)
    kill(process)  # wherever it is: drafting, rendering, writing
    assert 3 <= len(check_nothing_half_written(out)) < VARIANTS
    resumed = subprocess.run([sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(out)],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"{VARIANTS} variants in {out}" in resumed.stdout and "gallery.html" in resumed.stdout
    assert manifest_without_timings(out) == reference
    finish_and_compare(out, reference)  # and a third run changes nothing


def test_bad_brief_from_the_cli_is_one_error_per_field(tmp_path):
    brief_path = tmp_path / "bad.yaml"
    brief_path.write_text("subject: x\nvariants: -1\nstyles: [auto]\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "cli.main", "batch", str(brief_path), "-o", str(tmp_path / "o")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"promptrag: error: brief {brief_path} has 2 problems:"
    assert "variants: Input should be greater than or equal to 1 (got -1)" in result.stderr
    styles_line = next(line for line in result.stderr.splitlines() if line.strip().startswith("styles.0:"))
    assert "unknown style 'auto'" in styles_line and "'photography'" in styles_line
    assert "Traceback" not in result.stderr
