"""run_campaign end to end on a tiny real index: rules / grounded, the tiny diffusers pipeline,
resume, re-roll, cancel — and the files a reviewer opens."""

from __future__ import annotations

import csv
import fcntl
import json
from collections import Counter
from pathlib import Path

import pytest

from campaign.brand import contains
from campaign.diversity import embed, max_pairwise_similarity
from campaign.runner import read_variants, run_campaign
from core.errors import Cancelled, InputError
from core.progress import CancelToken
from generate.output import read_png_parameters
from tests.campaign.conftest import brief_for, manifest_without_timings
from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in sorted(folder.iterdir()) if not p.name.startswith(".")}


@pytest.mark.parametrize("enhancer", ["rules", "grounded"])
def test_twenty_variants_distinct_on_brand_and_reported(campaign_index, tmp_path, enhancer):
    brief = brief_for(campaign_index, enhancer=enhancer)
    events = []
    report = run_campaign(brief, tmp_path / "out", on_progress=events.append)
    out = report.out_dir
    ids = [f"v{i:03d}" for i in range(1, 21)]
    assert [v.id for v in report.variants] == ids
    assert Counter(v.angle["style"] for v in report.variants) == {s: 4 for s in brief.styles}
    shipped = [v for v in report.variants if v.status != "error"]
    assert len(shipped) >= 18, [v.error for v in report.variants if v.error]
    for v in report.variants:
        assert v.backend == "none" and v.image_path is None
        if v.status == "error":
            assert v.error.startswith("near-duplicate of v")  # the only way a rules campaign fails
            continue
        assert contains(v.prompt, "steel") and contains(v.prompt, "teal") and not contains(v.prompt, "plastic")
        assert {"plastic", "text", "watermark", "letters"} <= set(v.negative_prompt.split(", "))
        assert v.status == "ok" and v.enhancer == enhancer and v.seed == 11 + int(v.id[1:]) - 1 + 1_000_003 * v.attempt
    # the diversity figure is real: recomputed from the prompts, within the threshold
    from rag.retriever import Retriever

    vectors = embed(Retriever.load(campaign_index).store.embedder, [v.prompt for v in shipped])
    assert report.max_pairwise_similarity == max_pairwise_similarity(vectors) <= brief.similarity_threshold
    # manifest.json / .csv in variant order; status finished; gallery and contact sheet written
    manifest = json.loads((out / "manifest.json").read_text())
    assert [v["id"] for v in manifest["variants"]] == ids
    assert manifest["max_pairwise_similarity"] == report.max_pairwise_similarity
    assert manifest["brief"]["subject"] == "a steel water bottle"
    rows = list(csv.DictReader((out / "manifest.csv").open(encoding="utf-8")))
    assert [r["id"] for r in rows] == ids and rows[0]["prompt"] == report.variants[0].prompt
    assert {"angle", "prompt", "negative_prompt", "seed", "backend", "model", "image_path", "status", "error",
            "timings"} <= set(manifest["variants"][0])
    status = json.loads((out / "status.json").read_text())
    assert (status["state"], status["done"], status["total"], status["error"]) == ("finished", 20, 20, None)
    from PIL import Image

    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.width > 1000 and sheet.height > 1000
    assert (out / "gallery.html").read_text().count('<figure class="card') == 20
    assert events[-1].stage == "variants" and events[-1].done == events[-1].total == 20
    # re-running skips every finished variant: nothing is rewritten
    before = mtimes(out / "variants")
    again = run_campaign(brief, out)
    assert mtimes(out / "variants") == before
    assert [v.to_dict() for v in again.variants] == [v.to_dict() for v in report.variants]


def test_tiny_diffusers_pipeline_images_carry_their_parameters_and_reroll_replaces_one(
        campaign_index, tmp_path, tiny_sd_dir):  # noqa: F811 (fixture)
    brief = brief_for(campaign_index, backends=["diffusers"], model=str(tiny_sd_dir), sizes=["64x64", "64x72"],
                      steps=2, brand={"must_have": ["steel"], "no_text": True})
    report = run_campaign(brief, tmp_path / "out", concurrency=2)
    out = report.out_dir
    ok = [v for v in report.variants if v.status == "ok"]
    assert len(report.variants) == 20 and len(ok) >= 18
    for v in ok:
        assert v.image_path == f"images/{v.id}.png" if v.attempt == 0 else f"images/{v.id}-{v.attempt}.png"
        params = read_png_parameters(out / v.image_path)
        assert (params["prompt"], params["negative_prompt"], params["seed"]) == (v.prompt, v.negative_prompt, v.seed)
        assert (params["width"], params["height"], params["steps"]) == (64, int(v.angle["size"][3:]), 2)
        assert (params["idea"], params["enhancer"]) == (v.idea, v.enhancer)  # the recipe, to reproduce it
        assert v.backend == "diffusers" and v.model == str(tiny_sd_dir) and v.timings["image_s"] > 0
        assert (out / v.image_path).with_suffix(".json").is_file()
    assert sorted(p.name for p in (out / "images").glob("*.png")) == sorted(Path(v.image_path).name for v in ok)
    assert '<img src="images/v001.png"' in (out / "gallery.html").read_text()
    # re-roll one: a new angle and seed, a new image; the rest untouched, the old image gone
    old = {v.id: v for v in report.variants}["v003"]
    before = mtimes(out / "variants")
    rerolled = run_campaign(brief, out, only=["v003"], reroll=True)
    new = {v.id: v for v in rerolled.variants}["v003"]
    assert new.attempt > old.attempt and new.seed != old.seed and new.prompt != old.prompt
    assert new.angle["style"] == old.angle["style"] and new.angle != old.angle
    assert new.image_path == f"images/v003-{new.attempt}.png" and (out / new.image_path).is_file()
    assert old.image_path is None or not (out / old.image_path).exists()
    after = mtimes(out / "variants")
    assert {k for k in after if after[k] != before[k]} == {"v003.json"}
    assert [v.id for v in rerolled.variants] == [v.id for v in report.variants]


def test_cancel_keeps_what_is_done_and_the_same_call_finishes(campaign_index, tmp_path):
    brief = brief_for(campaign_index)
    reference = run_campaign(brief, tmp_path / "reference")
    cancel = CancelToken()

    def stop_after_five(event):
        if event.done >= 5:
            cancel.cancel()

    with pytest.raises(Cancelled, match=r"of 20 variants are kept in .*run the same command again"):
        run_campaign(brief, tmp_path / "out", on_progress=stop_after_five, cancel=cancel)
    status = json.loads((tmp_path / "out" / "status.json").read_text())
    assert status["state"] == "cancelled" and 5 <= status["done"] < 20
    assert len(json.loads((tmp_path / "out" / "manifest.json").read_text())["variants"]) == status["done"]
    run_campaign(brief, tmp_path / "out")
    assert manifest_without_timings(tmp_path / "out") == manifest_without_timings(reference.out_dir)


def test_a_folder_holds_one_brief_and_one_run_at_a_time(campaign_index, tmp_path):
    out = tmp_path / "out"
    run_campaign(brief_for(campaign_index, variants=2), out)
    with pytest.raises(InputError, match=r"another brief \(different: variants, seed\)"):
        run_campaign(brief_for(campaign_index, variants=3, seed=1), out)
    with open(out / ".lock", "a") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another campaign run .* is working in"):
            run_campaign(brief_for(campaign_index, variants=2), out)
    assert [v.id for v in read_variants(out)] == ["v001", "v002"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"concurrency": 0}, "concurrency must be a whole number from 1 to 32, got 0"),
    ({"reroll": True}, "reroll needs only="),
    ({"only": ["v009"]}, r"only must name variants of this campaign \(v001 … v002\), got \['v009'\]"),
])
def test_bad_run_arguments_are_input_errors(campaign_index, tmp_path, kwargs, message):
    with pytest.raises(InputError, match=message):
        run_campaign(brief_for(campaign_index, variants=2), tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_a_campaign_with_an_imported_style_and_a_dynamic_subject(campaign_index, tmp_path):
    pytest.importorskip("dynamicprompts")
    from enhancers.user_styles import import_styles

    styles = tmp_path / "styles.json"
    styles.write_text('[{"name": "Neon Noir", "prompt": "{prompt}, neon noir, rain-slick streets",'
                      ' "negative_prompt": "sunny"}]', encoding="utf-8")
    import_styles(styles)
    brief = brief_for(campaign_index, variants=4, subject="a {teal|sand} steel water bottle",
                      styles=["Neon Noir", "photography"], similarity_threshold=0.999)
    report = run_campaign(brief, tmp_path / "out")
    noir = [v for v in report.variants if v.angle["style"] == "Neon Noir"]
    assert noir and all(v.prompt.endswith(", neon noir, rain-slick streets") for v in noir)
    assert all("sunny" in v.negative_prompt.split(", ") for v in noir)
    assert all("{" not in v.prompt and ("teal steel" in v.prompt or "sand steel" in v.prompt)
               for v in report.variants)
