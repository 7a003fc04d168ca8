"""Explore as a gallery (issue 21 §3): the grid and list views, the detail view, "Use these
settings", "More like this", NSFW covers, and a failed fetch; pictures on Refine's examples.

The index is built the real way: a JSONL source with an `image_path` column pointing at PNGs
made here with PIL, ingested by the project's ingest. One row points at a DiffusionDB part
image, which the tests' offline hub setting (HF_HUB_OFFLINE=1) makes unreachable.
"""

from __future__ import annotations

import re

import pytest

from tests.app.conftest import write_source
from tests.app.helpers import markdown_elements, page_texts, run

STORM = "a lighthouse on a cliff in a storm, oil painting, dramatic sky"
NIGHT = "lighthouse at night under a starry sky, digital painting"
FOG = "an old lighthouse in the fog, watercolor, soft light"
COTTAGE = "a lighthouse keeper's cottage by the sea, golden hour"  # image NSFW 0.9: covered
OFFLINE = "a red lighthouse on a rocky coast, photograph"  # a DiffusionDB image: offline here
RAMEN = "bowl of ramen with steam, food photography"  # no picture
FOX = "a red fox in a snowy forest, golden hour, highly detailed"
HOSTILE = "<img src=x onerror=alert(1)> **bold** lighthouse [x](javascript:alert(1))"
STORM_SETTINGS = {"seed": 1234, "step": 30, "cfg": 7.5, "sampler": "k_euler_ancestral", "width": 512, "height": 768}


@pytest.fixture(scope="module")
def pictured_index(tmp_path_factory):
    """A real index whose rows carry pictures (PNG files), settings and NSFW scores."""
    from PIL import Image

    from ingest import run_ingest

    work = tmp_path_factory.mktemp("pictured")
    pictures = work / "pictures"
    pictures.mkdir()

    def png(name: str, colour: tuple[int, int, int]) -> str:
        path = pictures / f"{name}.png"
        Image.new("RGB", (512, 768), colour).save(path)
        return str(path)

    rows = [
        {"prompt": STORM, **STORM_SETTINGS, "image_path": png("storm", (30, 60, 200))},
        {"prompt": NIGHT, "seed": 99, "step": 50, "cfg": 7.0, "sampler": "k_lms", "width": 512, "height": 512,
         "image_path": png("night", (10, 10, 40))},
        {"prompt": FOG, "image_path": png("fog", (200, 200, 200)), "image_nsfw": 0.05, "prompt_nsfw": 0.01},
        {"prompt": COTTAGE, "image_path": png("cottage", (240, 180, 80)), "image_nsfw": 0.9, "prompt_nsfw": 0.02},
        {"prompt": OFFLINE, "image_path": "diffusiondb:2m:1:0a1b2c3d-0000-4000-8000-000000000001.png"},
        {"prompt": RAMEN},
        {"prompt": FOX, "image_path": png("fox", (200, 80, 20))},
        {"prompt": HOSTILE, "image_path": png("hostile", (90, 90, 90))},
    ]
    columns = dict.fromkeys(k for row in rows for k in row)  # JSON Lines columns come from the first line
    source = write_source(work / "pictured.jsonl", [{k: row.get(k) for k in columns} for row in rows])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(work / "home"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        run_ingest(source=str(source), index=work / "index", progress=False, max_image_nsfw=2.0,
                   max_prompt_nsfw=1.0)
    return work / "index"


def search(at, query: str, mode: str = "keyword"):
    at.text_input(key="explore.query").input(query)
    at.segmented_control(key="explore.mode").set_value(mode)
    at.form_submit_button(key="explore.search").click()
    return run(at)


def plain_texts(at) -> list[str]:
    """The page's texts with markdown escapes removed (what a reader sees)."""
    return [t.replace("\\", "") for t in page_texts(at)]


def hit_id(at, prompt: str) -> int:
    return next(r.id for r in at.session_state["explore"]["results"] if r.prompt == prompt)


def open_detail(at, prompt: str):
    at.button(key=f"explore.open.explore-{hit_id(at, prompt)}").click()
    return run(at)


def test_an_index_with_pictures_opens_as_a_grid_and_the_choice_stays(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse")
    assert at.segmented_control(key="explore.view").value == "grid"
    assert len(at.image) >= 3  # the pictured lighthouses, as thumbnails
    assert not [b for b in at.button if b.key.startswith("explore.open.list-")]

    at.segmented_control(key="explore.view").set_value("list")
    run(at)
    assert STORM in [c.value for c in at.code]  # list cards: the prompt is the main thing
    search(at, "lighthouse fog")  # another search: still the list
    assert at.segmented_control(key="explore.view").value == "list"
    run(at)  # a plain rerun
    assert at.segmented_control(key="explore.view").value == "list"

    at.switch_page("pages/refine.py")
    run(at)
    at.switch_page("pages/explore.py")
    run(at)
    assert at.segmented_control(key="explore.view").value == "list"
    # (the URL side, ?explore.view=List, is checked in the browser: AppTest does not sync bound params)


def test_the_detail_shows_the_picture_the_whole_prompt_and_its_settings(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse storm cliff")
    open_detail(at, STORM)
    assert [c.value for c in at.code] == [STORM]  # the whole prompt, once
    settings = "seed 1234 · 30 steps · CFG 7\\.5 · k\\_euler\\_ancestral · 512×768"
    assert any(settings in t for t in page_texts(at)), page_texts(at)
    assert len(at.image) == 1  # the large picture
    assert at.button(key="explore.detail.use_settings").disabled is False

    at.button(key="explore.detail.back").click()
    run(at)
    assert at.session_state["explore"]["detail"] is None
    assert [b for b in at.button if b.key.startswith("explore.open.")]  # the results again


def test_use_these_settings_lands_in_refines_generation_settings(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse storm cliff")
    open_detail(at, STORM)
    at.button(key="explore.detail.use_settings").click()
    run(at)
    assert any("Refine will generate with these settings" in s.value for s in at.success)
    gen = at.session_state["refine"].gen
    assert (gen["seed"], gen["steps"], gen["guidance"], gen["sampler"], gen["width"], gen["height"]) == (
        1234, 30, 7.5, "k_euler_ancestral", 512, 768)

    at.switch_page("pages/refine.py")
    run(at)
    assert at.session_state["refine-gen-seed"] == 1234 and at.session_state["refine-gen-sampler"] == "k_euler_ancestral"
    assert any("seed 1234" in str(t.value) for t in at.toast), "Refine says which settings it took"


def test_a_row_without_settings_cannot_hand_them_over(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse fog watercolor")
    open_detail(at, FOG)
    assert at.button(key="explore.detail.use_settings").disabled is True
    assert any("No generation settings" in str(c.value) for c in at.caption)


def test_more_like_this_shows_neighbours_not_the_prompt_itself(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse storm cliff")
    open_detail(at, STORM)
    own = hit_id(at, STORM)
    at.button(key="explore.detail.more").click()
    run(at)
    neighbours = at.session_state["explore"]["neighbours"]
    assert neighbours and own not in [n.id for n in neighbours]
    assert "lighthouse" in neighbours[0].prompt  # the closest in meaning is another lighthouse
    scores = [n.score for n in neighbours]
    assert scores == sorted(scores, reverse=True)
    assert [s.value for s in at.subheader] == ["More like this"]
    # each neighbour is a tile that opens its own detail
    at.button(key=f"explore.open.more-{neighbours[0].id}").click()
    run(at)
    assert [c.value for c in at.code] == [neighbours[0].prompt]


def test_a_picture_above_the_nsfw_threshold_is_covered_until_revealed(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "cottage")
    assert at.session_state["explore"]["results"][0].prompt == COTTAGE
    cottage = hit_id(at, COTTAGE)
    assert len(at.image) == 0  # default threshold (strict): no picture ...
    assert not any(COTTAGE in t for t in plain_texts(at))  # ... and no prompt text
    assert any("NSFW score 0.90 is above your threshold of 0.20" in t for t in plain_texts(at))

    at.button(key=f"explore.reveal.explore-{cottage}").click()
    run(at)
    assert len(at.image) == 1
    assert any(COTTAGE in t for t in plain_texts(at))

    at = run(make_app(pictured_index))  # a new session: covered again; a threshold above it shows it
    at.slider(key="explore.max_nsfw").set_value(0.95)
    search(at, "cottage")
    assert len(at.image) == 1

    at.slider(key="explore.max_nsfw").set_value(0.5)
    at.toggle(key="explore.nsfw_hide").set_value(True)
    search(at, "cottage lighthouse")
    prompts = [r.prompt for r in at.session_state["explore"]["results"]]
    assert COTTAGE not in prompts and STORM in prompts  # hidden by the filter, the rest stay


def test_a_failed_fetch_is_a_placeholder_and_one_reason(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "red lighthouse rocky coast")
    assert at.session_state["explore"]["results"][0].prompt == OFFLINE
    lines = [str(c.value) for c in at.caption if "could not be loaded" in str(c.value)]
    assert len(lines) == 1 and "offline" in lines[0], page_texts(at)
    assert not at.error and not at.exception
    open_detail(at, OFFLINE)
    assert any("could not be loaded" in str(c.value) and "offline" in str(c.value) for c in at.caption)
    assert [c.value for c in at.code] == [OFFLINE] and not at.error


def test_a_text_only_index_in_the_grid_says_once_where_pictures_come_from(make_app, tiny_index):
    at = run(make_app(tiny_index))
    search(at, "lighthouse")
    assert at.segmented_control(key="explore.view").value == "list"  # text only: the list first
    at.segmented_control(key="explore.view").set_value("grid")
    run(at)
    assert len(at.image) == 0
    lines = [str(c.value) for c in at.caption if "No pictures in this index" in str(c.value)]
    assert len(lines) == 1 and "`image_path`" in lines[0]
    tiles = [t.value for t in at.text]
    assert any("lighthouse" in t for t in tiles)  # the prompt text stands in for the picture
    assert not any("could not be loaded" in str(c.value) for c in at.caption)


def test_hostile_prompts_in_the_grid_and_detail_stay_text(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse bold")
    open_detail(at, HOSTILE)
    assert [c.value for c in at.code] == [HOSTILE]
    at.button(key="explore.detail.back").click()
    run(at)
    for element in markdown_elements(at):  # markdown sees it only escaped: no tag, link or bold
        value = str(element.value)
        assert not re.search(r"(?<!\\)<img|(?<!\\)\]\(javascript|(?<!\\)\*\*bold", value), value
        assert not getattr(element.proto, "allow_html", False)


def test_refine_shows_the_pictures_of_its_examples(make_app, pictured_index):
    at = run(make_app(pictured_index))
    search(at, "lighthouse storm cliff")
    at.checkbox(key=f"pick-explore-{hit_id(at, STORM)}").check()
    run(at)
    at.switch_page("pages/refine.py")
    run(at)
    assert any(STORM in str(c.value) for c in at.code)
    assert len(at.image) == 1  # a small picture beside the picked example's text


def test_campaign_review_shows_the_pictures_of_a_variants_examples(make_app, pictured_index):
    import json

    from campaign import jobs
    from campaign.brief import Brief
    from index.prompt_store import open_store

    storm = next(h for h in open_store(pictured_index).keyword_search("storm cliff", k=5) if h.prompt == STORM)
    out = jobs.campaigns_dir() / "20250101-100000-pictured"
    (out / "variants").mkdir(parents=True)
    (out / "brief.yaml").write_text(Brief(name="Lamp", subject="a lighthouse", index=str(pictured_index)).to_yaml())
    (out / "job.json").write_text(json.dumps({"run_id": out.name, "title": "Lamp", "pid": None, "spawned_at": 0,
                                              "created_at": "2025-01-01T10:00:00+00:00", "images": False}))
    (out / "status.json").write_text(json.dumps({"state": "finished", "done": 1, "total": 1}))
    variant = {"id": "v001", "angle": {}, "prompt": "a lighthouse, oil painting", "negative_prompt": "", "seed": 1,
               "backend": "none", "model": None, "image_path": None, "status": "ok", "problems": [], "error": None,
               "timings": {}, "examples": [{"id": storm.id, "text": STORM, "score": 0.8, "settings": {}},
                                           {"id": 10_000, "text": "from another index", "score": 0.5, "settings": {}}]}
    (out / "variants" / "v001.json").write_text(json.dumps(variant))

    at = make_app(pictured_index)
    at.query_params["run"] = out.name
    run(at)
    at.switch_page("pages/campaign.py")
    run(at)
    assert [e.label for e in at.expander if "used" in e.label] == ["2 examples used"]
    assert STORM in [t.value for t in at.text] and "from another index" in [t.value for t in at.text]
    assert len(at.image) == 1  # the known example's picture; none for an id this index lacks
    assert not at.error
