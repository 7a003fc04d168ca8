"""Explore in a real headless browser over the starter index (issue 20): a mode switch re-runs the
search, only the filters this index can answer are offered, one % match per card, "no close
matches" for nonsense, "did you mean" for a typo. Screenshots go to the artifacts directory.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser import by_key, page_errors, rerun, wait_for_app_run
from tests.e2e.test_app_in_browser import Screenshots

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000


def header(page):
    """The results header: 'N close matches among M prompts for “…” · mode · ms'."""
    return page.locator("[data-testid='stCaptionContainer']", has_text=re.compile(r" · \d+ ms"))


def search(page, text: str) -> None:
    box = by_key(page, "explore.query").locator("input")
    box.fill(text)
    rerun(page, lambda: box.press("Enter"), STEP_TIMEOUT_MS)


def mode_button(page, label: str):
    """A segment of the Hybrid / Meaning / Keywords control."""
    return page.locator("button", has_text=re.compile(rf"^\s*{label}\s*$")).first


def figures(page) -> list[int]:
    heads = page.locator("[class*='st-key-card-explore-']").all_inner_texts()
    return [int(m) for text in heads for m in re.findall(r"(\d+)% match", text)]


def test_explore_follows_the_mode_and_is_honest_about_the_data(browser, app_server, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    shot = Screenshots(page, artifacts / "explore")
    (artifacts / "explore").mkdir(exist_ok=True)
    try:
        page.goto(app_server.url)  # Explore is the default page, at "/" ("/explore" is not a page)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Explore real prompts")).to_be_visible()

        # 1. The starter set is prompt text only: no sampler / size filters, one line saying why.
        rerun(page, page.get_by_text("Filters").click)
        shot("filters-text-only")
        assert by_key(page, "explore.sampler").count() == 0 and by_key(page, "explore.width").count() == 0
        expect(page.get_by_text("This index holds prompt text only")).to_be_visible()
        expect(page.get_by_text("DiffusionDB download")).to_be_visible()

        # 2. Search in Hybrid, then click Keywords: the results and the header follow, no Search press.
        search(page, "a fox in a misty forest")
        expect(header(page)).to_contain_text("· hybrid ·")
        hybrid_cards = page.locator("[class*='st-key-card-explore-'] code").all_inner_texts()
        found = figures(page)
        assert found and found == sorted(found, reverse=True) and all(0 <= f <= 100 for f in found)
        expect(page.get_by_text(re.compile(r"similarity \d|match \d\.\d"))).to_have_count(0)
        shot("hybrid")
        rerun(page, mode_button(page, "Keywords").click, STEP_TIMEOUT_MS)
        expect(header(page)).to_contain_text("· keywords ·")
        keyword_cards = page.locator("[class*='st-key-card-explore-'] code").all_inner_texts()
        assert keyword_cards != hybrid_cards, "the cards did not change with the mode"
        found = figures(page)
        assert found and found == sorted(found, reverse=True)
        shot("switched-to-keywords")

        # 3. Nonsense says so, and hostile text stays text.
        rerun(page, mode_button(page, "Hybrid").click, STEP_TIMEOUT_MS)
        for nonsense in ("asdkjh qwe", "🦄🦄", "<script>alert(1)</script>"):
            search(page, nonsense)
            expect(page.get_by_text("No close matches")).to_be_visible()
            expect(header(page)).to_contain_text("none close")
        assert page.evaluate("() => document.querySelectorAll('main script').length") == 0
        shot("no-close-matches")

        # 4. A typo: "did you mean" with the correction, which searches it when clicked.
        search(page, "a castel in the montains")
        correction = by_key(page, "explore.correct").locator("button")
        expect(correction).to_have_text("a castle in the mountains")
        shot("did-you-mean")
        rerun(page, correction.click, STEP_TIMEOUT_MS)
        expect(header(page)).to_contain_text("“a castle in the mountains”")
        expect(by_key(page, "explore.query").locator("input")).to_have_value("a castle in the mountains")

        assert not page_errors(page), page_errors(page)
        assert not script_errors, script_errors
    finally:
        context.close()
