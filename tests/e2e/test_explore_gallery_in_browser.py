"""Explore as a gallery in a real headless browser (issue 21 §3): the grid of pictures at 1400 and
800 px, a covered picture revealed with a click, the detail view (large picture, whole prompt,
"Use these settings", "More like this"), the list, and the view kept in the URL.

The server runs on its own PROMPTRAG_HOME whose default index was built by the real ingest from a
JSON Lines source with an `image_path` column pointing at PNGs drawn here with PIL (one row above
the NSFW threshold, one DiffusionDB image that the offline server cannot fetch, one without a
picture). Screenshots go to the artifacts directory (explore-gallery/).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.e2e.browser import StreamlitServer, app_env, by_key, page_errors, rerun, wait_for_app_run
from tests.e2e.test_app_in_browser import Screenshots

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000
COVERED = "a lighthouse keeper's cottage by the sea at golden hour, warm light"
SCENES = [  # prompt, sky colour, ground colour, sun colour
    ("a lighthouse on a cliff in a storm, oil painting, dramatic sky, by ivan aivazovsky",
     (40, 50, 90), (30, 30, 40), (220, 220, 240)),
    ("lighthouse at night under a starry sky, digital painting, volumetric light",
     (10, 12, 40), (20, 20, 30), (250, 240, 180)),
    ("an old lighthouse in the fog, watercolor, soft pastel light", (200, 205, 210), (150, 160, 165), (240, 240, 240)),
    ("a red and white lighthouse at sunset, golden hour, photograph", (250, 150, 80), (60, 50, 70), (255, 220, 120)),
    ("lighthouse on a tiny island, studio ghibli style, bright day", (120, 190, 250), (60, 140, 90), (255, 250, 200)),
    ("a lighthouse beam over a stormy sea at midnight, cinematic lighting",
     (20, 30, 50), (10, 20, 40), (255, 255, 210)),
    ("pixel art lighthouse by the shore, 16-bit, vibrant colors", (90, 160, 255), (240, 220, 150), (255, 120, 80)),
    ("a lighthouse in winter covered in snow, blue hour, serene", (90, 110, 170), (230, 235, 245), (200, 210, 255)),
]


def scene(path: Path, sky, ground, sun) -> str:
    """A small landscape: a sky gradient, the ground, a sun and a lighthouse."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (512, 640), sky)
    draw = ImageDraw.Draw(image)
    for y in range(0, 420):  # sky, lighter towards the horizon
        t = y / 420
        draw.line([(0, y), (512, y)], fill=tuple(int(c + (255 - c) * 0.35 * t) for c in sky))
    draw.rectangle([0, 420, 512, 640], fill=ground)
    draw.ellipse([360, 70, 440, 150], fill=sun)
    draw.polygon([(200, 420), (230, 200), (262, 200), (292, 420)], fill=(235, 235, 235))
    draw.rectangle([222, 180, 270, 205], fill=(200, 40, 40))
    image.save(path)
    return str(path)


@pytest.fixture(scope="module")
def gallery_home(tmp_path_factory) -> Path:
    """HOME for a server whose default index has pictures."""
    from core.settings import Settings
    from ingest import run_ingest

    home = tmp_path_factory.mktemp("gallery-home")
    pictures = home / "pictures"
    pictures.mkdir()
    rows = [{"prompt": text, "seed": 1000 + i, "step": 30, "cfg": 7.5, "sampler": "k_euler_ancestral",
             "width": 512, "height": 640, "image_nsfw": 0.05, "image_path": scene(pictures / f"{i}.png", *colours)}
            for i, (text, *colours) in enumerate(SCENES)]
    rows += [
        {"prompt": COVERED, "image_nsfw": 0.9, "image_path": scene(pictures / "covered.png", (250, 200, 120),
                                                                    (90, 70, 50), (255, 240, 200))},
        {"prompt": "a red lighthouse on a rocky coast, photograph",
         "image_path": "diffusiondb:2m:1:0a1b2c3d-0000-4000-8000-000000000001.png"},
        {"prompt": "a lighthouse drawn in pencil, sketch, no picture kept"},
        {"prompt": "bowl of ramen with steam, food photography"},
    ]
    columns = dict.fromkeys(k for row in rows for k in row)  # JSON Lines columns come from the first line
    source = home / "gallery.jsonl"
    source.write_text("".join(json.dumps({k: row.get(k) for k in columns}) + "\n" for row in rows), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(home / "promptrag"))
        index = Settings().default_index
        run_ingest(source=str(source), index=index, progress=False, max_image_nsfw=2.0, max_prompt_nsfw=1.0)
    return home


@pytest.fixture(scope="module")
def gallery_server(gallery_home, artifacts, tmp_path_factory, chromium):
    pytest.importorskip("streamlit", reason="the [app] extra is needed: pip install -e '.[app]'")
    env = app_env(gallery_home, OMP_NUM_THREADS="1")
    server = StreamlitServer(tmp_path_factory.mktemp("gallery-cwd"), env, log_path=artifacts / "gallery-streamlit.log")
    server.start()
    try:
        server.wait_healthy(timeout_s=180)
        yield server
    finally:
        server.stop()


def search(page, text: str) -> None:
    box = by_key(page, "explore.query").locator("input")
    box.fill(text)
    rerun(page, lambda: box.press("Enter"), STEP_TIMEOUT_MS)


def main_images_loaded(page) -> bool:
    return page.evaluate("() => [...document.querySelectorAll(\"[data-testid='stMain'] img\")]"
                         ".every(i => i.complete && i.naturalWidth > 0)")


def tiles(page):
    return page.locator("[class*='st-key-tile-explore-']")


def test_explore_gallery_grid_detail_and_reveal(browser, gallery_server, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    (artifacts / "explore-gallery").mkdir(exist_ok=True)
    shot = Screenshots(page, artifacts / "explore-gallery")
    try:
        page.goto(gallery_server.url)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)

        # 1. An index with pictures opens as a grid: thumbnails load, a covered tile, an offline one.
        search(page, "lighthouse")
        expect(tiles(page).first).to_be_visible()
        assert tiles(page).count() == 10
        expect(tiles(page).locator("img").first).to_be_visible()
        assert tiles(page).locator("img").count() >= 7 and main_images_loaded(page)
        expect(page.get_by_text(re.compile(r"could not be loaded: offline"))).to_have_count(1)
        covered = page.locator("[class*='st-key-square-explore-']", has_text="is above your threshold")
        expect(covered).to_have_count(1)
        assert COVERED not in page.locator("[data-testid='stMain']").inner_text()
        shot("grid-1400")

        # 2. Reveal shows that one picture and its prompt.
        before = tiles(page).locator("img").count()
        rerun(page, covered.get_by_role("button", name="Reveal").click, STEP_TIMEOUT_MS)
        assert tiles(page).locator("img").count() == before + 1 and main_images_loaded(page)
        expect(page.locator("[data-testid='stMain']")).to_contain_text("keeper's cottage")

        # 3. The detail view: the large picture, the whole prompt, settings to Refine, neighbours.
        first = tiles(page).first
        rerun(page, first.get_by_role("button", name="Open").click, STEP_TIMEOUT_MS)
        picture = page.locator("[class*='st-key-explore-detail-picture'] img")
        expect(picture).to_be_visible()
        assert picture.evaluate("i => i.naturalWidth") >= 512  # the full image, not the thumbnail
        expect(page.locator("[data-testid='stMain'] code").first).to_contain_text("lighthouse")
        expect(page.get_by_text(re.compile(r"seed 10\d\d · 30 steps · CFG 7\.5"))).to_be_visible()
        rerun(page, page.get_by_role("button", name="Use these settings").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Refine will generate with these settings")).to_be_visible()
        rerun(page, page.get_by_role("button", name="More like this").click, STEP_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="More like this")).to_be_visible()
        neighbours = page.locator("[class*='st-key-tile-more-']")
        assert neighbours.count() >= 5 and main_images_loaded(page)
        shot("detail-and-more-like-this")

        # 4. The list, kept in the URL; a link with ?explore.view=List opens on the list.
        rerun(page, page.get_by_role("button", name="Back to results").click, STEP_TIMEOUT_MS)
        rerun(page, by_key(page, "explore.view").get_by_role("radio", name="List").click, STEP_TIMEOUT_MS)
        expect(page.locator("[class*='st-key-card-explore-']").first).to_be_visible()
        assert "explore.view=List" in page.url
        shot("list-1400")
        page.goto(gallery_server.url + "/?explore.view=List")
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        search(page, "lighthouse")
        expect(page.locator("[class*='st-key-card-explore-']").first).to_be_visible()
        assert tiles(page).count() == 0

        # 5. 800 px wide, sidebar open: the grid still reads (two columns of square pictures).
        page.goto(gallery_server.url + "/?explore.view=Grid")
        page.set_viewport_size({"width": 800, "height": 1000})
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        search(page, "lighthouse")
        expect(tiles(page).first).to_be_visible()
        boxes = [tiles(page).nth(i).bounding_box() for i in range(3)]
        assert boxes[0]["y"] == boxes[1]["y"] and boxes[0]["width"] >= 150, boxes  # side by side, not squeezed
        shot("grid-800")

        assert not page_errors(page), page_errors(page)
        assert not script_errors, script_errors
    finally:
        context.close()
