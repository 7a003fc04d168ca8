"""The gallery, contact sheet and manifests treat prompts as untrusted text."""

from __future__ import annotations

import csv
import json
from html.parser import HTMLParser

from campaign.outputs import write_gallery, write_manifest
from campaign.runner import Variant, run_campaign
from tests.campaign.conftest import brief_for

HOSTILE = '<img src=x onerror=alert(1)> bottle "q" & </figure><script>alert(2)</script>'


class _Elements(HTMLParser):
    """Every start tag with its attributes, as a browser would build them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def elements(html_text: str) -> list[tuple[str, dict]]:
    parser = _Elements()
    parser.feed(html_text)
    return parser.tags


def test_hostile_text_in_every_field_stays_text(tmp_path):
    variant = Variant(id="v001", angle={"style": "cinematic", "scene": HOSTILE, "mood": "calm", "composition": "x",
                                        "size": "1:1"},
                      prompt=HOSTILE, negative_prompt=HOSTILE, seed=1, backend="none", model=None,
                      image_path='images/v001 "x" <y>.png', status="brand_violation", problems=[HOSTILE],
                      error=HOSTILE, closest="v002", similarity=0.5)
    summary = {"brief": {"name": HOSTILE, "subject": HOSTILE, "audience": HOSTILE}, "max_pairwise_similarity": 0.5,
               "similarity_threshold": 0.9}
    page = write_gallery(tmp_path, summary, [variant]).read_text(encoding="utf-8")
    tags = elements(page)
    assert [t for t, _ in tags if t in ("script", "iframe", "object")] == []
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    [img] = [attrs for t, attrs in tags if t == "img"]
    assert img["src"] == "images/v001%20%22x%22%20%3Cy%3E.png"  # relative, quoted: opens from disk
    assert page.count("&lt;script&gt;alert(2)&lt;/script&gt;") >= 5  # title, subject, prompt, negative, problem...
    csp = [attrs for t, attrs in tags if t == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"] and "script-src" not in csp[0]["content"]


def test_csv_cells_cannot_run_as_spreadsheet_formulas_json_keeps_the_text(tmp_path):
    formula = '=HYPERLINK("http://evil.example","click")'
    variant = Variant(id="v001", angle={}, prompt=formula, negative_prompt="-1+2", seed=1, backend="none",
                      model=None, image_path=None, status="ok")
    write_manifest(tmp_path, {"name": "x"}, [variant])
    [row] = csv.DictReader((tmp_path / "manifest.csv").open(encoding="utf-8"))
    assert row["prompt"] == "'" + formula and row["negative_prompt"] == "'-1+2"
    assert json.loads((tmp_path / "manifest.json").read_text())["variants"][0]["prompt"] == formula


def test_a_real_run_with_a_hostile_subject_renders_escaped(campaign_index, tmp_path):
    report = run_campaign(brief_for(campaign_index, variants=3, subject=HOSTILE, brand={}), tmp_path / "out")
    assert all(v.prompt.startswith("<img src=x onerror") for v in report.variants)
    page = (tmp_path / "out" / "gallery.html").read_text(encoding="utf-8")
    assert [t for t, _ in elements(page) if t in ("script", "img")] == []  # prompts only: no <img> at all
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") >= 4
