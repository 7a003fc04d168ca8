"""Fixtures for the campaign tests: a tiny real index (MiniLM + FAISS + SQLite), built once.

The index is made by the real ingest pipeline from a JSONL file of product / lifestyle prompts
(with seeds and sizes, plus hostile text), so retrieval, fusion and diversity run for real.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROMPTS = [
    "a steel water bottle on a mountain trail at sunrise, product photography, 85mm, bokeh",
    "reusable water bottle on a kitchen counter, soft morning light, minimalist, high detail",
    "hiker drinking from a metal bottle on a snowy peak, cinematic lighting, epic, 8k",
    "flat lay of travel gear, bottle, map, compass, overhead shot, natural light",
    "a bottle of sparkling water in a cafe, shallow depth of field, warm tones",
    "neon city street at night in the rain, cinematic, blade runner style, volumetric light",
    "watercolor painting of a lake in autumn, soft pastel colors, impressionist",
    "coloring book page of a forest with animals, black and white line art, thick lines",
    "photorealistic render of a desert canyon at golden hour, octane render, 8k",
    "a cozy cabin interior with a fireplace, warm light, hygge, highly detailed",
    "greenhouse full of tropical plants, morning mist, botanical photography",
    "beach at sunrise with surfers, long exposure, dreamy, pastel sky",
    "rooftop party at dusk in new york, cinematic film still, anamorphic lens",
    "macro shot of water droplets on metal, studio lighting, sharp focus",
    "low angle hero shot of a sports car, dramatic lighting, unreal engine",
    "oil painting of a misty pine forest, by ivan shishkin, atmospheric",
    "<script>alert(1)</script> a bottle on a table, oil painting",
    "playful cartoon mascot of a water drop, vector illustration, bold colors",
]


@pytest.fixture(scope="session")
def campaign_index(tmp_path_factory) -> Path:
    """A real prompt index of ~20 prompts with settings (seed, steps, size), built once."""
    from ingest import run_ingest

    work = tmp_path_factory.mktemp("campaign-index")
    rows = [{"prompt": p, "seed": 1000 + i, "step": 30, "cfg": 7.0, "width": 512, "height": 512}
            for i, p in enumerate(PROMPTS)]
    source = work / "prompts.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(work / "home"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        run_ingest(source=str(source), index=work / "index", progress=False)
    return work / "index"


@pytest.fixture(autouse=True)
def no_pause_hook(monkeypatch):
    """The runner's kill-test hook is set only by the tests that use it."""
    monkeypatch.delenv("PROMPTRAG_TEST_PAUSE_AT", raising=False)


def brief_for(index: Path, **values):
    """A 20-variant prompts-only brief with brand rules, over the tiny index."""
    from campaign.brief import Brief

    fields = {"name": "test campaign", "subject": "a steel water bottle", "variants": 20, "seed": 11,
              "index": str(index), "enhancer": "rules", "similarity_threshold": 0.95,
              "brand": {"must_have": ["steel"], "must_not": ["plastic"], "colours": ["teal"], "no_text": True}}
    fields.update(values)
    return Brief(**fields)


def manifest_without_timings(out: Path) -> dict:
    """manifest.json minus what legitimately differs between two runs (timings)."""
    data = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for variant in data["variants"]:
        variant.pop("timings")
    return data
