"""The prompt-craft checks catch issue 19's examples and pass well-formed prompts."""

from __future__ import annotations

import pytest

from enhancers.craft_checks import (
    brand_violations,
    broken_joins,
    credited_artists,
    feedback_failures,
    feedback_honoured,
    idea_kept,
    negative_contradictions,
    scene_leaks,
    within_budget,
)

PHOTO_NEGATIVE = "cartoon, illustration, painting, drawing, anime, 3d render, blurry, watermark"


# -- negative prompt against the positive -------------------------------------------------------

def test_artist_media_makes_the_medium_ban_a_contradiction():
    prompt = "a hare in a mossy forest, by ellen jewett, by justin gerard"
    media = {"ellen jewett": "sculpture", "justin gerard": "digital"}
    found = negative_contradictions(prompt, "cartoon, illustration, painting, drawing", artist_media=media)
    assert found == ["illustration", "painting"]  # "painting" covers any paint medium, digital painting too
    assert negative_contradictions(prompt, "cartoon, illustration, painting, drawing") == []  # unknown artists


@pytest.mark.parametrize("prompt", [
    "a lighthouse on a cliff, oil painting, dramatic sky",
    "a lighthouse on a cliff, watercolor, soft light",
    "A watercolor painting of a lighthouse on a cliff.",
])
def test_painting_banned_under_a_paint_medium(prompt):
    assert "painting" in negative_contradictions(prompt, "painting, blurry, lowres")


def test_medium_asked_by_the_feedback_or_idea_counts():
    assert negative_contradictions("a fox in the snow", PHOTO_NEGATIVE, feedback="as a watercolor painting") \
        == ["painting"]
    assert negative_contradictions("a cat", "photo, blurry", idea="a photo of a cat") == ["photo"]


def test_words_the_idea_asks_for_are_not_banned():
    assert negative_contradictions("a foggy pier at dawn, photograph", "fog, blurry, cartoon",
                                   idea="a foggy pier at dawn") == ["fog"]
    assert negative_contradictions("a sign with text, photo", "text, watermark", idea="a sign with text") == ["text"]


def test_a_feedback_removal_belongs_in_the_negative():
    assert negative_contradictions("a pier at night, photograph", "mist, blurry", idea="a pier",
                                   feedback="at night, no mist") == []


@pytest.mark.parametrize("prompt,negative", [
    ("a red fox in the snow, professional photograph, 85mm lens, bokeh", PHOTO_NEGATIVE),
    ("a castle on a hill, digital painting, concept art", "anime, photo, blurry, lowres"),  # peer media may be banned
    ("a bowl of ramen, studio photograph", "text, watermark, deformed, bad anatomy"),
])
def test_coherent_negatives_pass(prompt, negative):
    assert negative_contradictions(prompt, negative, idea=prompt.split(",")[0]) == []


# -- broken joins -------------------------------------------------------------------------------

@pytest.mark.parametrize("prompt", [
    "A photo of a cabin with during the night.",
    "A cabin in the snow with photorealistic.",
    "A cabin with fog and.",
    "A cabin in the snow, with.",
    "A photograph of a cup of.",
    "a cabin in the snow. , 8k",
    "a cabin in the snow, , 8k",
    "a cabin in the snow,. 8k",
    "a cabin in the snow.. highly detailed",
    "a cabin with with a chimney",
    "A cabin with and soft light.",
    "A fox with red.",
    "A photograph with in fog and moody lighting.",
    "35mm photography, by artgerm, by and sakimichan",
    "A photograph of a bottle, in an epic style style.",
])
def test_seams_are_caught(prompt):
    assert broken_joins(prompt)


@pytest.mark.parametrize("prompt", [
    "A photo of a cabin in the snow with natural lighting and bokeh.",
    "A cabin lit by candles, at night.",
    "A table with at least three candles, with on-camera flash, with in-camera grain.",
    "Two chairs side by side, soft light",
    "A fox with bokeh.",
    "A fox with fluffy, white fur.",
    "A mannequin with plastic.",
    "a cabin... in the rain",  # the user's own ellipsis
    "a (cabin:1.2) in the snow, f/1.8, 8k",
    "A digital painting of a castle, in a dark style, by greg rutkowski. Dramatic lighting, 8k",
])
def test_english_passes(prompt):
    assert broken_joins(prompt) == []


# -- scene leaks --------------------------------------------------------------------------------

EXAMPLES = [
    "a cozy cabin on a beautiful terrace, wooden balcony, by greg rutkowski, digital painting, trending on artstation",
    "a wooden cabin in the woods with a lake, by moebius, jean giraud, 8k, volumetric lighting",
    "portrait of a hunter, snowy mountains, cinematic lighting, 35mm",
]


def test_scene_words_of_examples_are_leaks():
    prompt = "a snow cabin at night, a beautiful terrace, digital painting, lake"
    assert scene_leaks(prompt, "a snow cabin at night", EXAMPLES) == ["terrace", "lake"]


def test_modifiers_and_the_ideas_words_are_not_leaks():
    prompt = "a snow cabin at night, digital painting, by greg rutkowski, jean giraud, volumetric lighting, beautiful"
    assert scene_leaks(prompt, "a snow cabin at night", EXAMPLES) == []
    # the feedback asked for the balcony, so it is no leak
    assert scene_leaks("a snow cabin with a wooden balcony", "a snow cabin", EXAMPLES, feedback="add a balcony") == []


# -- brand rules --------------------------------------------------------------------------------

def test_brand_violations_name_credits_and_fan_art_words():
    prompt = "a perfume bottle on marble, by greg rutkowski, trending on artstation, fantasy art, pixiv, deviantart"
    assert brand_violations(prompt) == [
        "artist credit: greg rutkowski", "fan-art word: trending on artstation", "fan-art word: pixiv",
        "fan-art word: deviantart", "fan-art word: fantasy art"]
    assert brand_violations("A product shot of a sneaker in the style of Wes Anderson, cgsociety, fantasy.") == [
        "artist credit: wes anderson", "fan-art word: cgsociety", "fan-art word: fantasy"]
    assert brand_violations("a sneaker, by greg rutkowski", artist_credits=True) == []


def test_clean_product_prompts_pass():
    for prompt in ("A studio photograph of a perfume bottle lit by candles, surrounded by roses, by the sea.",
                   "a sneaker on a concrete plinth, product photography, softbox lighting, 85mm"):
        assert brand_violations(prompt) == []
    # the product itself may say the word
    assert brand_violations("a fantasy novel cover mockup, studio light", idea="a fantasy novel cover mockup") == []


def test_credited_artists_reads_lists_and_skips_non_credits():
    text = ("oil painting by greg rutkowski and alphonse mucha, in the style of a 1970s film, lit by candles, "
            "art by wlop")
    assert credited_artists(text) == ["greg rutkowski", "alphonse mucha", "wlop"]


# -- idea, budget, feedback expectations --------------------------------------------------------

def test_idea_kept_and_budget():
    assert idea_kept("A photo of two red foxes in the snow.", "a red fox in the snow")
    assert not idea_kept("A photo of a red dog in the snow.", "a red fox in the snow")
    assert within_budget("a cat", 77)
    assert not within_budget(", ".join(["highly detailed"] * 40), 77)


NIGHT = {"must_include": [["at night", "night"]], "must_exclude": ["golden hour", "sunset", "mist"],
         "negative_must_include": ["mist"]}
WATERCOLOR = {"must_include": [["watercolor"]], "must_exclude": ["85mm", "bokeh", "photograph"],
              "negative_must_exclude": ["painting", "watercolor"]}


def test_feedback_expectations():
    assert feedback_honoured("a pier at night, photo", "mist, blurry", NIGHT)
    assert feedback_failures("a pier at sunset, mist", "blurry", NIGHT) == [
        "prompt lacks at night / night", "prompt has sunset", "prompt has mist", "negative lacks mist"]
    assert feedback_honoured("A watercolor of a fox in the snow.", "photo, blurry", WATERCOLOR)
    assert not feedback_honoured("A watercolor of a fox, 85mm, bokeh", "painting, blurry", WATERCOLOR)
    with pytest.raises(ValueError, match="unknown expectation keys"):
        feedback_failures("a", "b", {"must_includes": []})
