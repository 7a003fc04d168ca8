"""The whole app once, as a person uses it, in a real headless browser against the real server.

Explore: search → tick a prompt "use as example" → Refine: type an idea → suggest examples →
write the prompt with the grounded enhancer → generate an image with a tiny diffusers pipeline →
the image is shown with a PNG download. A screenshot of every step is saved (see conftest.py)
and the page must never show a traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.browser import by_key, choose, page_errors, rerun, wait_for_app_run

pytestmark = pytest.mark.slow

# Generous: on 2 shared cores the first search also loads the index and the embedder, and the
# first image loads the pipeline.
STEP_TIMEOUT_MS = 120_000


class Screenshots:
    """Numbered whole-page screenshots in the artifacts directory.

    Streamlit scrolls its main area inside the window, so `full_page=True` would stop at the
    window's height: the window is made as tall as the content for the shot, then restored.
    """

    MAX_HEIGHT = 8000

    def __init__(self, page, directory: Path) -> None:
        self.page, self.directory, self.taken = page, directory, []

    def __call__(self, name: str) -> Path:
        path = self.directory / f"{len(self.taken) + 1:02d}-{name}.png"
        size = self.page.viewport_size
        height = self.page.evaluate(
            "() => (document.querySelector(\"[data-testid='stMain']\") || document.body).scrollHeight"
        )
        self.page.set_viewport_size(
            {"width": size["width"], "height": min(max(height, size["height"]), self.MAX_HEIGHT)}
        )
        self.page.wait_for_timeout(300)  # let the layout settle at the new height
        self.page.screenshot(path=str(path))
        self.page.set_viewport_size(size)
        self.taken.append(path)
        return path


def submit_number(page, key: str, value: int) -> None:
    field = by_key(page, key).locator("input")
    field.fill(str(value))
    rerun(page, lambda: field.press("Enter"))


def test_idea_to_image_in_a_real_browser(browser, app_server, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    shot = Screenshots(page, artifacts)
    try:
        # 1. The app opens on Explore (an index exists), keys absent: backends say "not configured".
        page.goto(app_server.url)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Explore real prompts")).to_be_visible()
        shot("explore")

        # 2. Search; results arrive as cards with their settings.
        query = by_key(page, "explore.query").locator("input")
        query.fill("a fox in a misty forest")
        rerun(page, lambda: query.press("Enter"), STEP_TIMEOUT_MS)
        cards = page.locator("[class*='st-key-card-explore-']")
        expect(cards.first).to_be_visible()
        expect(cards.first.locator("code").first).to_have_text(re.compile(r"\w"))  # code blocks render lazily
        assert cards.count() >= 5, f"expected a page of result cards, got {cards.count()}"
        shot("search-results")

        # 3. Tick the first card "Use as example": the picks bar counts it.
        first = cards.first
        picked_text = first.locator("code").first.inner_text().strip()
        rerun(page, first.get_by_text("Use as example").click)
        picks_bar = by_key(page, "explore.picks")
        expect(picks_bar).to_contain_text("1 example picked")
        shot("picked")

        # 4. Refine: the pick comes along; the idea suggests more examples.
        rerun(page, picks_bar.get_by_text("Refine with them").click)
        expect(page.get_by_role("heading", name="Refine")).to_be_visible()
        by_key(page, "refine-idea").locator("textarea").fill("a fox knight guarding a castle at dawn")
        choose(page, "refine-enhancer", "grounded")
        rerun(page, page.get_by_role("button", name="Suggest examples").click, STEP_TIMEOUT_MS)
        write = by_key(page, "refine-write").locator("button")
        expect(write).to_be_visible()
        expect(write).to_contain_text("1 example")  # the Explore pick, ticked; suggestions are not
        expect(page.locator("code", has_text=picked_text[:40]).first).to_be_visible()
        assert page.locator("[class*='st-key-refine-tick-']").count() >= 5, "too few suggested examples"
        shot("examples")

        # 5. Write the prompt (grounded: no key, no network): prompt, negative, figures.
        rerun(page, write.click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        prompt = by_key(page, "refine-draft").locator("textarea").input_value()
        assert "fox" in prompt.lower(), f"the prompt lost the idea: {prompt!r}"
        assert by_key(page, "refine-negative").locator("textarea").input_value().strip()
        expect(page.get_by_text(re.compile(r"^Written by ")).first).to_contain_text("grounded")
        shot("prompt")

        # 6. Generate with the tiny pipeline (PROMPTRAG_IMAGE_MODEL): the image and its download.
        submit_number(page, "refine-gen-steps", 2)
        submit_number(page, "refine-gen-width", 64)
        submit_number(page, "refine-gen-height", 64)
        submit_number(page, "refine-gen-seed", 7)
        rerun(page, by_key(page, "refine-generate").locator("button").click, STEP_TIMEOUT_MS)
        image = page.get_by_test_id("stImage").locator("img").first
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") == 64
        expect(page.get_by_role("button", name="Download PNG")).to_be_visible()
        expect(page.get_by_text("seed 7").first).to_be_visible()
        shot("image")
        images = list((app_server_home(app_server) / "images").rglob("*.png"))
        assert images, "the generated PNG was not saved under PROMPTRAG_HOME/images"

        # 7. Nothing went wrong on the way: no traceback box, no failure message, no JS error.
        assert page_errors(page) == []
        assert page.get_by_text("failed unexpectedly").count() == 0
        assert "Traceback" not in page.locator("body").inner_text()
        assert script_errors == []
    except Exception:
        shot("failure")
        print(app_server.log_tail())
        raise
    finally:
        print("screenshots:\n" + "\n".join(f"  {path}" for path in shot.taken))
        context.close()


def app_server_home(server) -> Path:
    return Path(server.env["PROMPTRAG_HOME"])
