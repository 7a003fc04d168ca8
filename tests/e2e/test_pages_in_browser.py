"""Explore, Campaign and Evaluate in a real headless browser (issue 20 §4, §5).

- Explore at 800 px wide: the Search button, the mode switch and "Use as example" show their
  whole labels (no "Sea…", "Keywo", no hidden Keywords).
- Campaign: "Load the example brief" fills the form, the run starts and finishes in the
  background, the re-roll button says "Re-roll", and "Download approved" gives a ZIP holding the
  approved prompts.
- Evaluate: a new evaluation starts from typed ideas, shows its progress, finishes and opens
  its run with report.html to download.

Screenshots go to the artifacts directory (pages/…).
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from tests.e2e.browser import by_key, page_errors, rerun, wait_for_app_run
from tests.e2e.test_app_in_browser import Screenshots

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000
RUN_TIMEOUT_MS = 300_000

# The texts in `selector` that are not shown whole: an element (or one of its ancestors up to its
# button or label) narrower than its text (ellipsis), or one sticking out of a box that clips it
# or out of the window. Elements not laid out at all (display: none) are left out.
CLIPPED_JS = """
(selector) => [...document.querySelectorAll(selector)].filter(el => el.getClientRects().length).filter(el => {
  const box = el.getBoundingClientRect();
  if (box.right > window.innerWidth + 1 || box.width === 0) return true;
  for (let node = el; node && node !== document.body; node = node.parentElement) {
    if (node.scrollWidth > node.clientWidth + 1 && node.clientWidth > 0) return true;
    const style = getComputedStyle(node);
    if (node !== el && style.overflowX !== "visible" && box.right > node.getBoundingClientRect().right + 1) return true;
    if (node.tagName === "BUTTON" || node.tagName === "LABEL") break;
  }
  return false;
}).map(el => el.innerText || el.textContent)
"""


def open_page(browser, app_server, artifacts, path: str, name: str, width: int = 1280):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": width, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    (artifacts / "pages").mkdir(exist_ok=True)
    shot = Screenshots(page, artifacts / "pages" / name)
    (artifacts / "pages" / name).mkdir(exist_ok=True)
    page.goto(f"{app_server.url}/{path}")
    expect(page.get_by_text("Page not found")).to_have_count(0)
    wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
    return context, page, shot, errors


def clipped(page, selector: str) -> list[str]:
    return page.evaluate(CLIPPED_JS, selector)


def test_explore_fits_800_px(browser, app_server, artifacts):
    from playwright.sync_api import expect

    # Explore is "/"
    context, page, shot, errors = open_page(browser, app_server, artifacts, "", "explore-800", width=800)
    try:
        expect(page.get_by_role("heading", name="Explore real prompts")).to_be_visible()
        box = by_key(page, "explore.query").locator("input")
        box.fill("a fox in a misty forest")
        rerun(page, lambda: box.press("Enter"), STEP_TIMEOUT_MS)
        expect(page.get_by_text("Use as example").first).to_be_visible()
        shot("searched")
        search = by_key(page, "explore.search")
        expect(search).to_contain_text("Search")
        assert not clipped(page, ".st-key-explore-search button p"), "the Search button's label is cut"
        for label in ("Hybrid", "Meaning", "Keywords"):
            expect(by_key(page, "explore.mode").get_by_text(label, exact=True)).to_be_visible()
        assert not clipped(page, ".st-key-explore-mode button p"), "a mode's label is cut"
        assert not clipped(page, "[class*='st-key-pick-'] label p"), "'Use as example' is cut"
        assert not errors and not page_errors(page)
    finally:
        context.close()


def test_campaign_loads_the_example_and_downloads_the_approved_prompts(browser, app_server, artifacts):
    from playwright.sync_api import expect

    context, page, shot, errors = open_page(browser, app_server, artifacts, "campaign", "campaign")
    try:
        expect(page.get_by_role("heading", name="Campaign")).to_be_visible()
        shot("empty-form")
        rerun(page, by_key(page, "campaign.example").get_by_role("button").click, STEP_TIMEOUT_MS)
        subject = by_key(page, "campaign.f.subject").locator("input")
        expect(subject).to_have_value("a brushed steel water bottle")
        assert not clipped(page, ".st-key-campaign-example button p"), "the button's label is cut"
        shot("example-loaded")
        variants = by_key(page, "campaign.f.variants").locator("input")
        variants.fill("3")
        variants.press("Tab")
        rerun(page, by_key(page, "campaign.start").get_by_role("button").click, STEP_TIMEOUT_MS)
        reroll = page.locator("[class*='st-key-campaign-reroll-'] button").first
        expect(reroll).to_contain_text("Re-roll", timeout=RUN_TIMEOUT_MS)
        expect(reroll).to_be_enabled(timeout=RUN_TIMEOUT_MS)  # disabled while the run goes on
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_text("3 variants ·")).to_be_visible()
        approve = page.locator("[class*='st-key-campaign-approve-'] button").first
        rerun(page, approve.click, STEP_TIMEOUT_MS)
        download = by_key(page, "campaign.download").get_by_role("button")
        expect(download).to_contain_text("Download approved (1)")
        shot("finished-and-approved")
        with page.expect_download() as info:
            download.click()
        archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
        names = archive.namelist()
        assert "prompts.txt" in names and "manifest.json" in names, names
        prompts = archive.read("prompts.txt").decode().splitlines()
        assert len(prompts) == 1 and "steel" in prompts[0]
        assert not errors and not page_errors(page)
    finally:
        context.close()


def test_evaluate_starts_a_run_shows_progress_and_opens_the_report(browser, app_server, artifacts):
    from playwright.sync_api import expect

    context, page, shot, errors = open_page(browser, app_server, artifacts, "evaluate", "evaluate")
    try:
        expect(page.get_by_role("heading", name="Evaluate")).to_be_visible()
        expect(page.get_by_text(re.compile(r"-o /.*evals/NAME"))).to_be_visible()  # the real folder
        rerun(page, by_key(page, "evaluate.f.source").get_by_text("Type the ideas").click, STEP_TIMEOUT_MS)
        ideas = by_key(page, "evaluate.f.typed").locator("textarea")
        ideas.fill("a red fox in snow\na lighthouse at dusk\nthree pears on a plate")
        by_key(page, "evaluate.f.rag").get_by_role("combobox").click()
        page.get_by_role("option", name="without retrieval only", exact=True).click()
        shot("form")
        rerun(page, by_key(page, "evaluate.start").get_by_role("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text(re.compile(r"rows \(ideas × configurations\)|Loading the enhancers")).first
               .or_(page.get_by_text("opened below"))).to_be_visible()
        shot("running")
        expect(page.get_by_text(re.compile("opened below"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_text("By configuration")).to_be_visible()
        report = by_key(page, "evaluate.download_report").get_by_role("button")
        expect(report).to_be_visible()
        shot("finished-report")
        with page.expect_download() as info:
            report.click()
        html = Path(info.value.path()).read_text(encoding="utf-8")
        assert "<html" in html.lower() and "lighthouse" in html
        assert not errors and not page_errors(page)
    finally:
        context.close()
