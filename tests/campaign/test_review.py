"""Review of a campaign run: verdicts in review.json (safe under concurrent clicks), the approved ZIP."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import threading
import zipfile
from pathlib import Path

import pytest

from campaign.review import approved_zip, reviews, set_review
from core.errors import InputError

PNG = b"\x89PNG\r\n\x1a\n" + b"fake image bytes"


def make_run(out: Path, n: int = 4, *, images: bool = True) -> Path:
    """A run directory as the runner leaves it: variants/<id>.json and images/<id>.png."""
    (out / "variants").mkdir(parents=True)
    (out / "images").mkdir()
    for i in range(n):
        vid = f"v{i:03d}"
        image = None
        if images:  # a re-rolled variant's image carries its attempt: images/v002-1.png
            name = f"{vid}-1.png" if i == 2 else f"{vid}.png"
            (out / "images" / name).write_bytes(PNG + vid.encode())
            image = f"images/{name}"
        variant = {"id": vid, "angle": {"style": "photo", "scene": f"scene {i}"},
                   "prompt": f"=HYPERLINK(\"x\") prompt {i}" if i == 1 else f"prompt {i}",
                   "negative_prompt": "blurry", "seed": 100 + i, "backend": "none", "model": None,
                   "image_path": image, "status": "ok", "problems": [], "error": None, "timings": {"fuse_s": 0.1}}
        (out / "variants" / f"{vid}.json").write_text(json.dumps(variant), encoding="utf-8")
    return out


@pytest.fixture()
def run(tmp_path) -> Path:
    return make_run(tmp_path / "run")


def test_verdicts_are_set_changed_and_cleared(run):
    assert reviews(run) == {}
    set_review(run, "v000", "approved")
    set_review(run, "v001", "rejected")
    set_review(run, "v002", "approved")
    set_review(run, "v002", "rejected")
    assert reviews(run) == {"v000": "approved", "v001": "rejected", "v002": "rejected"}
    set_review(run, "v001", None)
    set_review(run, "v003", None)  # clearing what was never set is fine
    assert reviews(run) == {"v000": "approved", "v002": "rejected"}
    saved = json.loads((run / "review.json").read_text())
    assert saved["reviews"] == {"v000": "approved", "v002": "rejected"}
    assert not list(run.glob(".review-*")), "no temporary file is left behind"


@pytest.mark.parametrize("bad", ["../v000", "v000/../../x", "/etc/passwd", ".hidden", "v 1", "", "v000\n"])
def test_odd_variant_ids_are_refused(run, bad):
    with pytest.raises(InputError, match="variant id"):
        set_review(run, bad, "approved")


def test_unknown_variant_and_bad_verdict_are_refused(run):
    with pytest.raises(InputError, match="not part of the run"):
        set_review(run, "v999", "approved")
    with pytest.raises(InputError, match="verdict must be one of approved, rejected"):
        set_review(run, "v000", "maybe")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="does not exist"):
        reviews(run / "nope")


def test_concurrent_clicks_from_threads_lose_nothing(tmp_path):
    run = make_run(tmp_path / "run", n=40)
    barrier = threading.Barrier(8)

    def click(worker: int) -> None:
        barrier.wait()
        for i in range(worker, 40, 8):
            set_review(run, f"v{i:03d}", "approved" if i % 2 else "rejected")

    threads = [threading.Thread(target=click, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert reviews(run) == {f"v{i:03d}": "approved" if i % 2 else "rejected" for i in range(40)}


def _click_in_process(run: str, ids: list[str]) -> None:
    for vid in ids:
        set_review(run, vid, "approved")


def test_concurrent_clicks_from_processes_lose_nothing(tmp_path):
    run = make_run(tmp_path / "run", n=24)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_click_in_process, args=(str(run), [f"v{i:03d}" for i in range(w, 24, 3)]))
             for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    assert reviews(run) == {f"v{i:03d}": "approved" for i in range(24)}


def test_zip_holds_only_the_approved_images_and_their_manifest(run):
    set_review(run, "v002", "approved")
    set_review(run, "v002", None)
    set_review(run, "v001", "approved")
    set_review(run, "v003", "approved")
    set_review(run, "v002", "rejected")
    archive = zipfile.ZipFile(io.BytesIO(approved_zip(run)))
    assert sorted(archive.namelist()) == ["images/v001.png", "images/v003.png", "manifest.csv", "manifest.json"]
    assert archive.read("images/v003.png") == PNG + b"v003"
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["approved"] == 2 and manifest["run"] == "run"
    assert [row["id"] for row in manifest["variants"]] == ["v001", "v003"]
    assert [row["image_path"] for row in manifest["variants"]] == ["images/v001.png", "images/v003.png"]
    assert manifest["variants"][0]["angle"] == {"style": "photo", "scene": "scene 1"}
    assert manifest["variants"][0]["prompt"].startswith("=HYPERLINK"), "the JSON keeps the exact text"
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert [r["id"] for r in rows] == ["v001", "v003"]
    assert rows[0]["prompt"].startswith("'=HYPERLINK"), "a formula-looking prompt stays text in a spreadsheet"
    assert (rows[0]["style"], rows[0]["scene"], rows[0]["image_path"]) == ("photo", "scene 1", "images/v001.png")


def test_a_rerolled_image_is_zipped_under_its_variant_id(run):
    set_review(run, "v002", "approved")
    archive = zipfile.ZipFile(io.BytesIO(approved_zip(run)))
    assert archive.read("images/v002.png") == PNG + b"v002"  # images/v002-1.png in the run


def test_zip_of_a_prompts_only_run_is_the_manifest(tmp_path):
    run = make_run(tmp_path / "run", n=2, images=False)
    set_review(run, "v000", "approved")
    archive = zipfile.ZipFile(io.BytesIO(approved_zip(run)))
    assert sorted(archive.namelist()) == ["manifest.csv", "manifest.json"]
    assert json.loads(archive.read("manifest.json"))["variants"][0]["image_path"] is None


@pytest.mark.parametrize("where", ["absolute", "../secret.png", "images/../../secret.png"])
def test_zip_ignores_an_image_path_pointing_outside_the_run(tmp_path, where):
    run = make_run(tmp_path / "run", n=1)
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"not yours")
    data = json.loads((run / "variants" / "v000.json").read_text())
    data["image_path"] = str(secret) if where == "absolute" else where
    (run / "variants" / "v000.json").write_text(json.dumps(data))
    set_review(run, "v000", "approved")
    archive = zipfile.ZipFile(io.BytesIO(approved_zip(run)))
    assert archive.namelist() == ["manifest.json", "manifest.csv"]
    assert b"not yours" not in approved_zip(run)


def test_zip_with_nothing_approved_says_so(run):
    set_review(run, "v000", "rejected")
    with pytest.raises(InputError, match="no variant of this run is approved"):
        approved_zip(run)


def test_a_damaged_review_file_is_reported(run):
    (run / "review.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable review file"):
        reviews(run)
