"""Modifier chips (rag/guidance.py): mined from similar prompts, counted, marked, added."""

from __future__ import annotations

import json
import re

import pytest

from core.errors import InputError
from enhancers.tokens import count_clip_tokens
from rag.guidance import CATEGORIES, add_chip, in_prompt, mine_chips, prompt_modifiers, prompt_tokens, weighted

SIMILAR = [
    "a lighthouse on a cliff in a storm, oil painting, by greg rutkowski, dramatic lighting, moody, 8k",
    "lighthouse at night, digital painting, art by greg rutkowski and alphonse mucha, volumetric lighting, moody",
    "an oil painting of a lighthouse, crashing waves, greg rutkowski, 35mm lens, highly detailed",
    "lonely lighthouse, watercolor, serene, golden hour, trending on artstation",
]


def chip(guidance, phrase):
    return next(c for c in guidance.chips if c.phrase == phrase)


# --- mining on hand-written prompts ----------------------------------------------------------


def test_chips_are_grouped_counted_and_ranked():
    guidance = mine_chips(SIMILAR)
    assert guidance.n_prompts == 4
    groups = guidance.by_category()
    assert list(groups) == [c for c in CATEGORIES if c in groups]  # medium, style, artist, ... order
    assert {"medium", "artist", "lighting", "camera", "mood", "quality"} <= set(groups)
    # "oil painting" is in two prompts (one says it in its subject clause: "an oil painting of ...").
    oil = chip(guidance, "oil painting")
    assert (oil.category, oil.count, oil.share) == ("medium", 2, 0.5)
    assert groups["medium"][0].phrase == "oil painting"  # most used medium first
    assert chip(guidance, "moody").category == "mood"
    assert chip(guidance, "moody").count == 2
    assert chip(guidance, "35mm lens").category == "camera"
    for chips in groups.values():
        assert [c.count for c in chips] == sorted((c.count for c in chips), reverse=True)


def test_artists_from_credits_and_names_known_from_other_prompts():
    guidance = mine_chips(SIMILAR)
    greg = chip(guidance, "by greg rutkowski")
    # "by greg rutkowski", "art by greg rutkowski and alphonse mucha" and a bare "greg rutkowski".
    assert (greg.category, greg.count, greg.share) == ("artist", 3, 0.75)
    assert chip(guidance, "by alphonse mucha").count == 1  # "X and Y" credits both
    assert guidance.by_category()["artist"][0] == greg

    # A name only some other prompt credits still counts as that artist.
    names = mine_chips(["a castle, by jan van eyck", "a tower, jan van eyck, 8k"])
    assert chip(names, "by jan van eyck").count == 2


def test_subjects_and_scene_details_never_become_chips():
    guidance = mine_chips(SIMILAR)
    phrases = {c.phrase for c in guidance.chips}
    assert not any("lighthouse" in p for p in phrases)
    assert "crashing waves" not in phrases
    assert prompt_modifiers("a cat sitting on a red sofa") == []


def test_chips_already_in_the_prompt_are_marked():
    current = "a lighthouse in fog, (oil painting:1.2), by Greg Rutkowski, 8 k"
    guidance = mine_chips(SIMILAR, current)
    assert chip(guidance, "oil painting").in_prompt
    assert chip(guidance, "by greg rutkowski").in_prompt
    assert chip(guidance, "8k").in_prompt  # DiffusionDB's "8 k" is the same phrase
    assert not chip(guidance, "watercolor").in_prompt
    # Re-marking after an edit.
    assert not chip(guidance.marked("a lighthouse"), "oil painting").in_prompt
    assert chip(guidance.marked("a lighthouse, watercolor"), "watercolor").in_prompt


def test_per_category_limit_and_min_count():
    guidance = mine_chips(SIMILAR, per_category=1, min_count=2)
    groups = guidance.by_category()
    assert all(len(chips) == 1 for chips in groups.values())
    assert all(c.count >= 2 for c in guidance.chips)
    with pytest.raises(InputError, match="per_category"):
        mine_chips(SIMILAR, per_category=0)


def test_no_prompts_give_no_chips():
    assert mine_chips([]).chips == ()
    assert mine_chips(["", "   "]).n_prompts == 0


# --- adding a chip ---------------------------------------------------------------------------


def test_add_chip_joins_cleanly():
    assert add_chip("a lighthouse, ", "oil painting").prompt == "a lighthouse, oil painting"
    assert add_chip("a lighthouse,,  moody ,", "8k").prompt == "a lighthouse, moody, 8k"
    assert add_chip("", "oil painting").prompt == "oil painting"
    edit = add_chip("a lighthouse", "oil painting")
    assert edit.added and edit.token_count == count_clip_tokens("a lighthouse, oil painting")
    assert "added 'oil painting'" in edit.message


def test_add_chip_weighted_and_reweighted():
    edit = add_chip("a lighthouse", "volumetric lighting", weight=1.2)
    assert edit.prompt == "a lighthouse, (volumetric lighting:1.2)"
    # Weights cost no tokens: the encoder reads the words.
    assert edit.token_count == count_clip_tokens("a lighthouse, volumetric lighting")
    again = add_chip(edit.prompt, "volumetric lighting", weight=1.4)
    assert again.prompt == "a lighthouse, (volumetric lighting:1.4)"
    assert "re-weighted" in again.message
    plain = add_chip(edit.prompt, "volumetric lighting", weight=1.0)
    assert plain.prompt == "a lighthouse, volumetric lighting"
    assert weighted("f/1.8 (bokeh)", 1.3) == r"(f/1.8 \(bokeh\):1.3)"
    with pytest.raises(InputError, match="weight must be between"):
        add_chip("a lighthouse", "moody", weight=5)


def test_add_chip_leaves_a_present_phrase_alone():
    edit = add_chip("a lighthouse, oil painting, 8k", "oil painting")
    assert not edit.added and edit.prompt == "a lighthouse, oil painting, 8k"
    assert "already in the prompt" in edit.message
    # An artist is present when the prompt names them, however credited.
    assert not add_chip("a tower, art by greg rutkowski", "by greg rutkowski").added


def test_add_chip_respects_the_clip_budget():
    long_prompt = "a lighthouse, " + ", ".join(f"detail number {i}" for i in range(16))
    assert count_clip_tokens(long_prompt) <= 77
    edit = add_chip(long_prompt, "highly detailed matte painting in vivid colors", token_budget=77)
    assert not edit.added and edit.prompt == long_prompt
    assert "over the budget of 77" in edit.message
    assert add_chip(long_prompt, "highly detailed matte painting in vivid colors", token_budget=256).added


def test_prompt_tokens_reads_weight_syntax_and_survives_half_edits():
    assert prompt_tokens("a cat, ((moody:1.3))") == count_clip_tokens("a cat, moody")
    assert prompt_tokens("a cat, (moody") == count_clip_tokens("a cat, (moody")  # unbalanced: as written
    assert in_prompt("moody", "a cat, [moody]")


# --- real DiffusionDB prompts ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_prompts(shared_data):
    path = shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json"
    if not path.is_file():
        pytest.skip(f"real DiffusionDB prompts not found at {path}")
    rows = json.loads(path.read_text(encoding="utf-8"))
    return list(dict.fromkeys(" ".join(r["text"].split()) for r in rows if r["text"].strip()))


def _plain(text: str) -> str:
    return re.sub(r"(?<=\d) (?=[\dk])", "", " ".join(text.lower().split()))


def test_real_prompts_about_one_theme(real_prompts):
    similar = [p for p in real_prompts if "portrait" in p.lower()][:8]
    assert len(similar) == 8
    guidance = mine_chips(similar, similar[0])
    assert guidance.n_prompts == 8
    assert guidance.chips, "eight real portrait prompts share some modifiers"
    for c in guidance.chips:
        # Each chip's count is honest: at least that many prompts really contain its words.
        words = c.phrase.removeprefix("by ")
        assert sum(words in _plain(p) for p in similar) >= c.count, c
        assert c.share == round(c.count / 8, 4)
    first = set(p for p, _ in prompt_modifiers(similar[0]))
    assert all(c.in_prompt for c in guidance.chips if c.phrase in first)


def test_real_prompts_cover_every_category(real_prompts):
    guidance = mine_chips(real_prompts[:300], per_category=5)
    groups = guidance.by_category()
    assert set(groups) == set(CATEGORIES), f"missing: {set(CATEGORIES) - set(groups)}"
    top_artists = [c.phrase for c in groups["artist"]]
    assert "by greg rutkowski" in top_artists  # DiffusionDB's most credited artist
    assert all(c.phrase.startswith("by ") for c in groups["artist"])
    assert all(len(c.phrase.split()) <= 8 for c in guidance.chips)
