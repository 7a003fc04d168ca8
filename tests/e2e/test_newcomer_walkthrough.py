"""What a newcomer does on day one, in a real headless browser against a fresh home (issue 20 §6).

First run (no index yet) → build the starter index → three searches, one with a typo and its
"did you mean" → pick a prompt → Refine: suggest, write, add a chip, a feedback round, step back
and redo → the image model is not downloaded: Generate is disabled, "Download" fetches it from
the local Hub stand-in (the tiny random-weight pipeline served as the catalogue's sd-turbo), then
an image → History: reopen the round → Campaign: a 4-variant run, approve one, the ZIP →
Evaluate: a run started from the page, its report → Settings > Models: remove the model and
download it again. Nothing is skipped or pre-built: the server
starts on an empty PROMPTRAG_HOME and an empty Hugging Face cache.

A screenshot of every step goes to <artifacts>/walkthrough/ (look at them), and no step may show
a traceback, an error box or a script error.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pytest

from tests.e2e.browser import StreamlitServer, app_env, by_key, page_errors, rerun, wait_for_app_run
from tests.e2e.test_app_in_browser import Screenshots, submit_number
from tests.servers.hub_server import HubServer

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000
BUILD_TIMEOUT_MS = 600_000  # the whole 3,000-prompt starter set, embedded on 2 shared cores
RUN_TIMEOUT_MS = 300_000
IDEA = "a lighthouse in a storm at night"


@pytest.fixture(scope="module")
def model_hub(tmp_path_factory):
    """The Hub stand-in serving the tiny pipeline under the catalogue's sd-turbo file names."""
    pytest.importorskip("diffusers", reason="the [generate] extra is needed for the image step")
    from tests.generate.tiny_pipelines import tiny_sd_turbo_repo

    files = tiny_sd_turbo_repo(tmp_path_factory.mktemp("tiny-turbo"))
    hub = HubServer(files, repo_id="stabilityai/sd-turbo")
    hub.prefix = "/stabilityai/sd-turbo/resolve/"  # model repos have no /models/ prefix
    with hub:
        yield hub


@pytest.fixture(scope="module")
def fresh_server(model_hub, artifacts, tmp_path_factory):
    """`streamlit run` on an empty home: no index, nothing in the model cache, downloads allowed
    (to the stand-in only: HF_ENDPOINT), the catalogue's sd-turbo as the configured image model."""
    pytest.importorskip("streamlit", reason="the [app] extra is needed: pip install -e '.[app]'")
    home = tmp_path_factory.mktemp("newcomer-home")
    env = app_env(home, HF_HUB_OFFLINE="0", HF_ENDPOINT=model_hub.url, PROMPTRAG_HUB_CACHE=str(home / "hf-cache"),
                  PROMPTRAG_IMAGE_MODEL="stabilityai/sd-turbo", OMP_NUM_THREADS="1")
    server = StreamlitServer(tmp_path_factory.mktemp("newcomer-cwd"), env,
                             log_path=artifacts / "walkthrough-streamlit.log")
    server.start()
    try:
        server.wait_healthy(timeout_s=180)
        yield server
    finally:
        server.stop()


def nav(page, name: str) -> None:
    """Open a page from the sidebar, as a person does (the session and its state stay)."""
    rerun(page, page.get_by_test_id("stSidebarNav").get_by_role("link", name=name).click, STEP_TIMEOUT_MS)


def search(page, text: str) -> None:
    from playwright.sync_api import expect

    box = by_key(page, "explore.query").locator("input")
    box.fill(text)
    rerun(page, lambda: box.press("Enter"), STEP_TIMEOUT_MS)
    expect(page.locator("[class*='st-key-card-explore-']").first.locator("code").first).to_have_text(
        re.compile(r"\w"))


def clean(page, script_errors: list[str]) -> None:
    assert page_errors(page) == [], page_errors(page)
    assert "Traceback" not in page.locator("body").inner_text()
    assert script_errors == []


def draft(page) -> str:
    return by_key(page, "refine-draft").locator("textarea").input_value()


def test_a_newcomer_goes_from_an_empty_home_to_an_image_a_campaign_and_an_evaluation(browser, fresh_server,
                                                                                    model_hub, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    (artifacts / "walkthrough").mkdir(exist_ok=True)
    shot = Screenshots(page, artifacts / "walkthrough")
    try:
        # 1. First run: the only page is "Get started"; the starter build ends on Explore.
        page.goto(fresh_server.url)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Welcome to promptrag")).to_be_visible()
        shot("first-run")
        rerun(page, by_key(page, "first_run.starter").get_by_role("button").click, BUILD_TIMEOUT_MS)
        expect(page.get_by_text(re.compile(r"Your prompt index is ready: [\d,]+ prompts"))).to_be_visible(
            timeout=BUILD_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Explore real prompts")).to_be_visible()
        shot("starter-built")

        # 2. Three searches; the typo gets a "did you mean" that searches the corrected words.
        search(page, "a fox in a misty forest")
        shot("search-fox")
        search(page, "a lighthuose in a storm")
        correction = by_key(page, "explore.correct").get_by_role("button")
        expect(correction).to_contain_text("lighthouse")
        shot("search-typo")
        rerun(page, correction.click, STEP_TIMEOUT_MS)
        expect(by_key(page, "explore.query").locator("input")).to_have_value(re.compile("lighthouse"))
        search(page, "cyberpunk city street at night")
        shot("search-city")

        # 3. Pick the first lighthouse prompt and take it to Refine.
        search(page, "a lighthouse in a storm")
        first = page.locator("[class*='st-key-card-explore-']").first
        picked = first.locator("code").first.inner_text().strip()
        rerun(page, first.get_by_text("Use as example").click)
        expect(by_key(page, "explore.picks")).to_contain_text("1 example picked")
        rerun(page, by_key(page, "explore.picks").get_by_text("Refine with them").click)
        expect(page.get_by_role("heading", name="Refine")).to_be_visible()

        # 4. Refine: suggest, write; the pick is among the examples used.
        by_key(page, "refine-idea").locator("textarea").fill(IDEA)
        rerun(page, by_key(page, "refine-suggest").get_by_role("button").click, STEP_TIMEOUT_MS)
        expect(page.locator("code", has_text=picked[:40]).first).to_be_visible()
        rerun(page, by_key(page, "refine-write").get_by_role("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        assert "lighthouse" in draft(page).lower()
        shot("written")

        # 5. A chip from the similar prompts goes into the prompt.
        chip = page.locator("[class*='st-key-refine-chip-'] button:enabled", has_text=" · ").first
        phrase = chip.inner_text().rsplit(" · ", 1)[0].strip()
        rerun(page, chip.click)
        expect(by_key(page, "refine-draft").locator("textarea")).to_have_value(re.compile(re.escape(phrase), re.I))
        shot("chip-added")

        # 6. A feedback round, step back, redo.
        feedback = by_key(page, "refine-feedback").locator("input")
        feedback.fill("moodier, seen from above")
        rerun(page, by_key(page, "refine-feedback-submit").get_by_role("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text("Round 2 of 2")).to_be_visible()
        second = draft(page)
        assert "from above" in second.lower(), second
        rerun(page, page.get_by_role("button", name="Step back").click)
        expect(page.get_by_text("Round 1 of 1")).to_be_visible()
        rerun(page, page.get_by_role("button", name="Redo").click)
        expect(page.get_by_text("Round 2 of 2")).to_be_visible()
        assert draft(page) == second
        shot("feedback-step-back-redo")

        # 7. The model is not downloaded: Generate waits, Download fetches it, then an image.
        generate = by_key(page, "refine-generate").get_by_role("button")
        expect(generate).to_be_disabled()
        download = by_key(page, "refine-gen-download").get_by_role("button")
        expect(download).to_contain_text(re.compile(r"Download \(2\.6 GB\)"))
        shot("model-not-downloaded")
        fetched_before = len(model_hub.gets())
        rerun(page, download.click, STEP_TIMEOUT_MS)
        expect(generate).to_be_enabled()
        expect(by_key(page, "refine-gen-download")).to_have_count(0)
        assert len(model_hub.gets()) > fetched_before  # the files came from the Hub stand-in
        assert by_key(page, "refine-gen-steps").locator("input").input_value() == "4"  # sd-turbo's family
        submit_number(page, "refine-gen-steps", 2)
        submit_number(page, "refine-gen-width", 64)
        submit_number(page, "refine-gen-height", 64)
        submit_number(page, "refine-gen-seed", 7)
        rerun(page, generate.click, STEP_TIMEOUT_MS)
        image = page.get_by_test_id("stImage").locator("img").first
        expect(image).to_be_visible()
        assert image.evaluate("img => img.naturalWidth") == 64
        shot("image")
        clean(page, script_errors)

        # 8. History: the round is there; Reopen brings it back into Refine.
        nav(page, "History")
        card = page.locator("[class*='st-key-history-round-']").filter(has_text="lighthouse").first
        expect(card).to_be_visible()
        shot("history")
        rerun(page, card.get_by_role("button", name="Reopen").click, STEP_TIMEOUT_MS)
        expect(page.get_by_role("heading", name="Refine")).to_be_visible()
        expect(by_key(page, "refine-draft").locator("textarea")).to_have_value(re.compile("lighthouse", re.I))
        shot("reopened")

        # 9. Campaign: the example brief, 4 variants, approve one, the ZIP holds its prompt.
        nav(page, "Campaign")
        rerun(page, by_key(page, "campaign.example").get_by_role("button").click, STEP_TIMEOUT_MS)
        variants = by_key(page, "campaign.f.variants").locator("input")
        variants.fill("4")
        variants.press("Tab")
        rerun(page, by_key(page, "campaign.start").get_by_role("button").click, STEP_TIMEOUT_MS)
        reroll = page.locator("[class*='st-key-campaign-reroll-'] button").first
        expect(reroll).to_be_enabled(timeout=RUN_TIMEOUT_MS)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(page.get_by_text("4 variants ·")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        rerun(page, page.locator("[class*='st-key-campaign-approve-'] button").first.click, STEP_TIMEOUT_MS)
        approved = by_key(page, "campaign.download").get_by_role("button")
        expect(approved).to_contain_text("Download approved (1)")
        shot("campaign-approved")
        with page.expect_download() as info:
            approved.click()
        archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert {"prompts.txt", "manifest.json"} <= set(archive.namelist())
        assert len(archive.read("prompts.txt").decode().splitlines()) == 1

        # 10. Evaluate: typed ideas, started from the page, the report opens.
        nav(page, "Evaluate")
        rerun(page, by_key(page, "evaluate.f.source").get_by_text("Type the ideas").click, STEP_TIMEOUT_MS)
        by_key(page, "evaluate.f.typed").locator("textarea").fill("a red fox in snow\na lighthouse at dusk")
        rerun(page, by_key(page, "evaluate.start").get_by_role("button").click, STEP_TIMEOUT_MS)
        expect(page.get_by_text(re.compile("opened below"))).to_be_visible(timeout=RUN_TIMEOUT_MS)
        wait_for_app_run(page, timeout_ms=STEP_TIMEOUT_MS)
        expect(by_key(page, "evaluate.download_report").get_by_role("button")).to_be_visible()
        shot("evaluation-report")
        clean(page, script_errors)

        # 11. Settings > Models: sd-turbo (the first in the list) is cached; Remove frees it from the
        # cache, Download brings it back.
        nav(page, "Settings")
        page.get_by_role("tab", name="Models").click()
        download = by_key(page, "settings.models.download").get_by_role("button")
        remove = by_key(page, "settings.models.remove").get_by_role("button")
        repo = Path(fresh_server.env["PROMPTRAG_HUB_CACHE"]) / "models--stabilityai--sd-turbo"
        expect(download).to_be_disabled()
        assert repo.is_dir()
        shot("models-cached")
        rerun(page, remove.click, STEP_TIMEOUT_MS)
        expect(download).to_be_enabled()
        expect(remove).to_be_disabled()
        assert not repo.exists()
        rerun(page, download.click, STEP_TIMEOUT_MS)
        expect(page.get_by_text(re.compile(r"sd-turbo is ready"))).to_be_visible()
        expect(download).to_be_disabled()
        assert repo.is_dir()
        shot("models-downloaded-again")
        clean(page, script_errors)
    except Exception:
        shot("failure")
        print(fresh_server.log_tail())
        raise
    finally:
        print("screenshots:\n" + "\n".join(f"  {path}" for path in shot.taken))
        context.close()
