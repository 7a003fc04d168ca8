"""ingest/phrase_stats.py: artist → medium and scene/modifier phrases learned from prompts, stored at ingest."""

from __future__ import annotations

import json

import pytest

from index.phrase_stats import load, load_artist_media, phrase_is_scene
from ingest.phrase_stats import (
    PhraseStatsCounter,
    artist_media_from_prompts,
    credited_names,
    phrase_positions,
    phrase_stats_from_prompts,
)

SUBJECTS = ["a castle", "a lighthouse on a cliff", "a castle", "an old fisherman", "a castle", "a red fox",
            "a castle", "a quiet harbour", "a castle", "a castle"]


def corpus() -> list[str]:
    texts = []
    for i, subject in enumerate(SUBJECTS):
        texts.append(f"{subject}, by greg rutkowski, digital painting, trending on artstation, variant {i}")
        texts.append(f"{subject} at dawn, by annie leibovitz, photograph, volumetric lighting, take {i}")
        texts.append(f"{subject} in winter, highly detailed, volumetric lighting, 8k, number {i}")
    return texts


def test_artists_get_the_medium_their_prompts_name():
    media = artist_media_from_prompts(corpus())
    assert media == {"greg rutkowski": "digital", "annie leibovitz": "photo"}
    stats = phrase_stats_from_prompts(corpus()).artist_media
    assert stats["greg rutkowski"].n == 10 and stats["greg rutkowski"].pmi > 0 and stats["greg rutkowski"].share == 1


def test_an_artist_without_a_dominant_medium_is_left_out():
    texts = corpus() + [f"a boat {i}, by annie leibovitz, oil painting" for i in range(10)]
    assert "annie leibovitz" not in artist_media_from_prompts(texts)
    assert "annie leibovitz" not in artist_media_from_prompts(corpus()[:6])  # fewer than MIN_PAIR prompts


def test_subjects_are_scene_and_trailing_phrases_modifiers():
    positions = phrase_positions(corpus())
    assert positions["a castle"] == (6, 0)
    assert positions["volumetric lighting"] == (0, 20)
    stats = phrase_stats_from_prompts(corpus())
    assert phrase_is_scene("a castle", stats) is True
    assert phrase_is_scene("volumetric lighting", stats) is False
    assert phrase_is_scene("a castle with a moat", stats) is True  # by its head noun


def test_rare_phrases_are_not_kept():
    positions = phrase_positions(corpus())
    assert not [p for p, (s, m) in positions.items() if s + m < 5]
    assert "variant 3" not in positions


def test_credit_forms():
    credited, maybe = credited_names(["a frog by roger dean", "art by makoto shinkai and kan liu",
                                      "in the style of moebius", "oil painting by rembrandt", "wlop"])
    assert credited == {"makoto shinkai", "kan liu", "moebius", "rembrandt"}
    assert maybe == {"roger dean", "wlop"}  # count only when credited with "by" somewhere


def test_the_counter_bounds_its_memory():
    counter = PhraseStatsCounter(max_keys=50)
    counter.add_many(f"subject {i}, modifier {i}, volumetric lighting" for i in range(200))
    assert len(counter.subject) + len(counter.modifier) <= 52
    assert counter.positions()["volumetric lighting"][1] >= 150


def test_names_agree_with_rag_guidance_on_real_prompts(shared_data):
    from enhancers.grounded import split_phrases
    from rag.guidance import credited_artists

    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text("utf-8"))
    texts = list(dict.fromkeys(r["text"] for r in rows))[:1000]
    found = [credited_names(split_phrases(t)) for t in texts]
    known = set().union(*(c for c, _ in found))
    theirs = [credited_artists([t]) for t in texts]
    both = sum(len((c | (m & known)) & g) for (c, m), g in zip(found, theirs, strict=True))
    assert both >= 0.75 * sum(map(len, theirs))


def test_starter_ingest_writes_the_tables_and_an_incremental_ingest_recounts(tmp_path, isolated_env):
    from ingest.pipeline import run_ingest
    from ingest.starter import build_starter_index

    target = tmp_path / "index"
    build_starter_index(target, limit=300)
    first = load(target)
    assert first.phrases and first.heads
    extra = tmp_path / "extra.jsonl"
    extra.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in corpus()), encoding="utf-8")
    run_ingest(source=str(extra), index=target, progress=False)
    media = load_artist_media(target)
    assert media.get("annie leibovitz") == "photo"
    assert sum(load(target).phrases.get("volumetric lighting", (0, 0))) >= 20 + sum(
        first.phrases.get("volumetric lighting", (0, 0)))


@pytest.fixture(scope="module")
def real_stats(shared_data):
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text("utf-8"))
    return phrase_stats_from_prompts(dict.fromkeys(r["text"] for r in rows))


def test_real_diffusiondb_artists(real_stats):
    media = real_stats.artist_media
    assert media["greg rutkowski"].family in ("digital", "paint", "painting")
    assert media["annie leibovitz"].family == "photo"
    assert 50 <= len(media) <= 2000 and len(real_stats.phrases) <= 20_000
    assert phrase_is_scene("volumetric lighting", real_stats) is False
    assert phrase_is_scene("a castle", real_stats) is True
