"""An evaluation's report.html opened from disk in the real headless Chromium: every image loads
from its inlined data URI, the plot and tables draw, a hostile idea shows as text and never runs,
and a full-page screenshot is kept (report.png in the e2e artifacts folder).

The run directory is hand-built (tests/evaluation/rundirs.py): three ideas × three configurations
with small PIL images, verdicts, an error row and pairwise preferences.
"""

from __future__ import annotations

from tests.evaluation.rundirs import HOSTILE_IDEA, result_row, write_run

IDEAS = [("c1", "two red cubes left of a blue ball", "spatial"), ("c2", "three yellow tulips", "count"),
         ("h1", HOSTILE_IDEA, "colour")]
CONFIGS = {"raw": (200, 60, 60), "rules": (60, 160, 60), "grounded+rag": (60, 90, 210)}
SCORES = {"raw": 0.35, "rules": 0.6, "grounded+rag": 0.85}


def test_report_opens_from_disk(browser, artifacts, tmp_path):
    from evaluation.report import write_report

    rows = []
    for idea_id, idea, category in IDEAS:
        for config in CONFIGS:
            if idea_id == "h1" and config == "rules":
                rows.append(result_row(idea_id, idea, config, category=category, image=False,
                                       error="the anthropic judge gave no valid answer in 3 attempts"))
            else:
                rows.append(result_row(idea_id, idea, config, category=category, score=SCORES[config],
                                       image=True))
    pairs = [{"idea_id": i, "a": "raw", "b": "grounded+rag", "shown_first": "raw", "faithful": "grounded+rag",
              "aesthetic": "tie", "reasoning": "r"} for i, _, _ in IDEAS]
    report = write_report(write_run(tmp_path / "run", rows, pairs=pairs, colours=CONFIGS))

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    script_errors: list[str] = []
    requests: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    try:
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        assert page.locator("img").count() == len(rows) - 1  # every row but the error one
        loaded = page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth === 48)")
        assert loaded, "an inlined image did not decode"
        assert page.locator("svg rect.bar").count() == len(CONFIGS)
        assert page.title() == "promptrag evaluation: run" and not script_errors
        assert page.get_by_text(HOSTILE_IDEA, exact=True).count() == 1  # shown as text, once
        assert page.evaluate("() => document.querySelectorAll('script, [onerror]').length") == 0
        assert page.get_by_text("no image").count() == 1
        assert all(url.startswith(("file:", "data:")) for url in requests), requests
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
    finally:
        context.close()
