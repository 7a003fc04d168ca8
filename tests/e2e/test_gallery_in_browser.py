"""A campaign's gallery.html opened from disk in the real headless browser: every variant's image
loads, its prompt shows as text (a hostile subject never runs), and a screenshot is kept.

The run is real: 4 variants over the e2e starter index, rules enhancer, images from the tiny
diffusers pipeline (the same fixtures as the app's end-to-end test).
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"> bottle"


def test_campaign_gallery_opens_from_disk(browser, starter_index, tiny_image_model, artifacts, tmp_path,
                                         monkeypatch):
    from campaign.brief import Brief
    from campaign.runner import run_campaign

    monkeypatch.setenv("PROMPTRAG_IMAGE_MODEL", str(tiny_image_model))
    brief = Brief(name="gallery check", subject=HOSTILE, variants=4, seed=3, index=str(starter_index),
                  enhancer="rules", backends=["diffusers"], model=str(tiny_image_model), steps=2,
                  sizes=["64x64"], similarity_threshold=0.99)
    report = run_campaign(brief, tmp_path / "out", images=True)
    assert [v.status for v in report.variants].count("error") == 0

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    script_errors: list[str] = []
    page.on("pageerror", lambda error: script_errors.append(str(error)))
    try:
        page.goto((tmp_path / "out" / "gallery.html").as_uri())
        page.wait_for_load_state("load")
        images = page.locator("img")
        assert images.count() >= len([v for v in report.variants if v.image_path])
        loaded = page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert loaded, "an image in the gallery did not load from disk"
        assert page.title() != "pwned" and not script_errors
        assert page.get_by_text(HOSTILE, exact=False).count() >= 1  # shown as text
        page.screenshot(path=str(artifacts / "gallery.png"), full_page=True)
    finally:
        context.close()
