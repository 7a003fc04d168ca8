"""Refine's state follows the user, in a real headless browser against the real server.

What only a browser shows: a typed idea counts before any Enter (the violet "Write prompt with
N examples" is live while the text is still unsent), the last Explore search arrives in the
idea box, a new idea brings its own examples and clears the old round, Step back can be
redone, a paste over the idea limit stays in the box with a message, and a failed generation
leaves no Stop button or progress bar behind. Screenshots go to <artifacts>/refine/.
"""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser import by_key, page_errors, rerun, wait_for_app_run
from tests.e2e.test_app_in_browser import Screenshots

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000
SEARCH = "a fox in a misty forest"
IDEA = "a lighthouse in a storm at night"
NEW_IDEA = "a cozy cabin in the snow at dusk"


@pytest.fixture()
def page(browser, app_server, artifacts, request):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.script_errors = []
    page.on("pageerror", lambda error: page.script_errors.append(str(error)))
    shots = artifacts / "refine" / request.node.name.removeprefix("test_")[:40]
    shots.mkdir(parents=True, exist_ok=True)
    page.shot = Screenshots(page, shots)
    try:
        yield page
    finally:
        print("screenshots:\n" + "\n".join(f"  {path}" for path in page.shot.taken))
        context.close()


def open_refine(page, app_server) -> None:
    page.goto(f"{app_server.url}/refine")
    wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)


def idea_box(page):
    return by_key(page, "refine-idea").locator("textarea")


def no_failures(page) -> None:
    assert page_errors(page) == []
    assert "Traceback" not in page.locator("body").inner_text()
    assert page.script_errors == []


def test_the_search_the_typed_idea_and_a_new_idea_follow_the_user(page, app_server):
    from playwright.sync_api import expect

    shot = page.shot
    try:
        # 1. Explore: search, pick one prompt, go to Refine with it: the search is the idea.
        page.goto(app_server.url)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        query = by_key(page, "explore.query").locator("input")
        query.fill(SEARCH)
        rerun(page, lambda: query.press("Enter"), STEP_TIMEOUT_MS)
        cards = page.locator("[class*='st-key-card-explore-']")
        expect(cards.first.locator("code").first).to_have_text(re.compile(r"\w"))
        rerun(page, cards.first.get_by_text("Use as example").click)
        rerun(page, by_key(page, "explore.picks").get_by_text("Refine with them").click)
        expect(page.get_by_role("heading", name="Refine")).to_be_visible()
        expect(idea_box(page)).to_have_value(SEARCH)
        shot("search-carried")

        # 2. Type another idea and, without Enter, press the violet button: it is live, and the
        # prompt is written for the typed idea.
        idea_box(page).fill(IDEA)
        write = by_key(page, "refine-write").locator("button")
        expect(write).to_be_enabled()
        shot("typed-not-sent")
        rerun(page, write.click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        assert "lighthouse" in by_key(page, "refine-draft").locator("textarea").input_value().lower()
        shot("written")

        # 3. Suggest examples for a new idea: its examples, and the old round leaves the screen.
        idea_box(page).fill(NEW_IDEA)
        rerun(page, by_key(page, "refine-suggest").locator("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Similar real prompts for: " + NEW_IDEA)).to_be_visible()
        expect(page.get_by_text(re.compile(r"^Round \d+ of \d+$"))).to_have_count(0)
        shot("new-idea-suggested")

        # 4. Tick one of its examples, then write at once for yet another idea: examples are
        # found for that idea; the cabin tick is not reused.
        examples = page.get_by_test_id("stExpander").filter(has_text="Similar real prompts for")
        cabin = examples.locator("code").nth(1).inner_text().strip()  # 0 is the Explore pick
        rerun(page, page.locator("[class*='st-key-refine-tick-']").nth(1).locator("label").click)
        expect(examples.get_by_text("2 of ")).to_be_visible()
        idea_box(page).fill(IDEA)
        rerun(page, by_key(page, "refine-write-now").locator("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        expect(page.get_by_text("Similar real prompts for: " + IDEA)).to_be_attached()  # in the folded Examples
        used = page.get_by_test_id("stExpander").filter(has_text="Examples used")
        used.get_by_text(re.compile(r"^Examples used")).click()
        expect(used.locator("code").first).to_be_visible()
        assert cabin not in [c.strip() for c in used.locator("code").all_inner_texts()], cabin
        shot("another-idea-written")

        # 5. Another round, step back, redo: the round comes back.
        feedback = by_key(page, "refine-feedback").locator("input")
        feedback.fill("moodier")
        rerun(page, by_key(page, "refine-feedback-submit").locator("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 2 of 2")).to_be_visible()
        second = by_key(page, "refine-draft").locator("textarea").input_value()
        # (by role: while the rounds list redraws, the key's container can briefly hold two buttons)
        rerun(page, page.get_by_role("button", name="Step back").click)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        shot("stepped-back")
        rerun(page, page.get_by_role("button", name="Redo").click)
        expect(page.get_by_text("Round 2 of 2")).to_be_visible()
        assert by_key(page, "refine-draft").locator("textarea").input_value() == second
        shot("redone")
        no_failures(page)
    except Exception:
        shot("failure")
        print(app_server.log_tail())
        raise


def test_an_over_long_paste_and_a_failed_generation_leave_a_clear_page(page, app_server):
    from playwright.sync_api import expect

    shot = page.shot
    try:
        open_refine(page, app_server)
        # 1. A 5,000-character paste stays in the box and says it is over the limit.
        pasted = ("a lighthouse in a storm at night, crashing waves, " * 100)[:5000]
        idea_box(page).click()
        page.keyboard.insert_text(pasted)
        rerun(page, by_key(page, "refine-suggest").locator("button").click, STEP_TIMEOUT_MS)
        assert idea_box(page).input_value() == pasted
        expect(page.get_by_text(re.compile(r"5,000 characters.*2,000"))).to_be_visible()
        expect(page.locator("[class*='st-key-refine-tick-']")).to_have_count(0)
        shot("paste-over-limit")

        # 2. Shortened, it writes; a generation with a model that does not exist fails cleanly.
        idea_box(page).fill(IDEA)
        rerun(page, by_key(page, "refine-write-now").locator("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        model = by_key(page, "refine-gen-model").locator("input")
        model.fill("/no/such/model")
        rerun(page, lambda: model.press("Enter"))
        rerun(page, by_key(page, "refine-generate").locator("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text(re.compile("Generating images failed"))).to_be_visible()
        expect(by_key(page, "refine-stop")).to_have_count(0)
        expect(page.get_by_text("Loading the image model")).to_have_count(0)
        expect(page.get_by_test_id("stProgress")).to_have_count(0)
        shot("failed-generation")
        assert "Traceback" not in page.locator("body").inner_text()
        assert page.script_errors == []
    except Exception:
        shot("failure")
        print(app_server.log_tail())
        raise
