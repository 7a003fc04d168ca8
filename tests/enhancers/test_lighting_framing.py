"""One time of day, one lighting set-up, one framing and one lens per prompt (enhancers/lighting_framing.py),
as the keyless writers apply it: the idea's own choice wins over the examples'."""

from __future__ import annotations

import pytest

from enhancers.base import EnhanceRequest, Example
from enhancers.craft_checks import stacked_axes
from enhancers.grounded import GroundedEnhancer
from enhancers.lighting_framing import (
    DISTANCE,
    LENS,
    LIGHT_EFFECT,
    LIGHTING,
    MOOD,
    TIME,
    VIEWPOINT,
    axes_of,
    stacked,
)
from enhancers.looks import LOOKS, fits
from enhancers.rules import RuleBasedEnhancer

# Real DiffusionDB-style examples whose modifiers stack on a campaign angle's own light and framing.
EXAMPLES = [
    Example(text="a steel thermos on a rock, product photography, golden hour, cinematic lighting, wide shot, "
                 "volumetric lighting, 8k", score=0.8, count=3),
    Example(text="a water bottle in the mountains, product photography, sunset, dramatic lighting, wide shot, "
                 "volumetric lighting, highly detailed", score=0.7, count=2),
    Example(text="a flask on a table, product photography, cinematic lighting, close up, 85mm lens, sharp focus",
                 score=0.6, count=1),
]
ANGLE = ("a brushed steel water bottle on a beach at sunrise, lifestyle product shot, calm mood, macro detail shot, "
         "crisp rim lighting")


@pytest.mark.parametrize("text, axes", [
    ("crisp rim lighting", {LIGHTING}),
    ("on a beach at sunrise", {TIME}),
    ("golden hour light", {TIME, LIGHTING}),
    ("volumetric lighting", {LIGHT_EFFECT}),
    ("volumetric soft lighting", {LIGHTING}),  # a set-up, not only an effect
    ("foggy lighting", set()),  # atmosphere joins any light
    ("macro detail shot", {DISTANCE}),
    ("overhead flat lay", {VIEWPOINT}),
    ("85mm lens", {LENS}),
    ("lens flare", set()),
    ("a lighthouse, light blue sky", set()),
    ("on a minimal studio backdrop", {TIME}),  # a studio has no sunset
    ("studio ghibli", set()),
    ("calm mood", {MOOD}),
    ("moody atmosphere", {MOOD}),
    ("a moody forest", set()),  # a thing described, not the picture's mood
])
def test_axes_of_reads_what_a_phrase_fixes(text, axes):
    assert axes_of(text) == axes


def test_stacked_names_each_axis_said_twice():
    found = stacked("a bottle, macro detail shot, crisp rim lighting, with cinematic lighting. wide shot")
    assert "lighting: crisp rim lighting / cinematic lighting" in found
    assert "distance: macro detail shot / wide shot" in found
    assert stacked("a bottle, crisp rim lighting, volumetric lighting, 85mm lens, f/1.8") == []


@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3"])
def test_grounded_keeps_the_angles_light_and_framing_and_drops_the_examples(family):
    result = GroundedEnhancer().enhance(EnhanceRequest(idea=ANGLE, examples=EXAMPLES, model_family=family,
                                                       n_candidates=2, artist_credits=False))
    for candidate in result.candidates:
        tail = candidate.prompt.lower()[len(ANGLE):]
        for extra in ("golden hour", "sunset", "cinematic lighting", "dramatic lighting", "wide shot", "close up"):
            assert extra not in tail, candidate.prompt
        assert stacked_axes(candidate.prompt, ANGLE) == [], candidate.prompt
    assert "volumetric lighting" in result.prompt.lower()  # a light effect joins any set-up


def test_grounded_takes_one_lighting_set_up_from_the_examples_when_the_idea_has_none():
    idea = "a lighthouse on a cliff"
    result = GroundedEnhancer().enhance(EnhanceRequest(idea=idea, examples=EXAMPLES, model_family="sd1",
                                                       n_candidates=3))
    for candidate in result.candidates:
        setups = [p for p in ("cinematic lighting", "dramatic lighting") if p in candidate.prompt]
        assert len(setups) <= 1, candidate.prompt
        assert not ("golden hour" in candidate.prompt and "sunset" in candidate.prompt), candidate.prompt
        assert stacked_axes(candidate.prompt, idea) == [], candidate.prompt


def test_rules_add_no_second_lighting_or_lens_to_an_idea_that_has_them():
    idea = "a portrait of an old sailor, studio lighting, 50mm lens"
    result = RuleBasedEnhancer().enhance(EnhanceRequest(idea=idea, style="photography", model_family="sd1",
                                                        n_candidates=3))
    for candidate in result.candidates:
        assert stacked_axes(candidate.prompt, idea) == [], candidate.prompt


def test_a_painting_takes_no_photorealism_and_a_photograph_no_render_terms():
    assert not fits("photorealistic", LOOKS["digital painting"])
    assert fits("photorealistic", LOOKS["photograph"])
    assert not fits("ray tracing", LOOKS["photograph"])
    assert not fits("subsurface scattering", LOOKS["photograph"])


def test_stacking_the_idea_asked_for_is_not_counted():
    idea = "a street at night, neon lighting, candlelight"
    assert stacked_axes(f"{idea}, cinematic lighting", idea) == [
        "lighting: neon lighting / candlelight / cinematic lighting"]
    assert stacked_axes(f"{idea}, 8k", idea) == []


def test_one_examples_genre_does_not_ride_into_an_unrelated_idea_but_a_shared_one_does():
    one = [Example(text="a neon street, professional photography, cyberpunk, 50 mm lens, highly detailed",
                   score=0.7, count=1),
           Example(text="a cake on a plate, professional photography, 50 mm lens, bokeh", score=0.6, count=1)]
    prompt = GroundedEnhancer().enhance(EnhanceRequest(idea="a bakery window full of pastries", examples=one,
                                                       model_family="sd1")).prompt
    assert "cyberpunk" not in prompt and "50 mm lens" in prompt, prompt
    shared = [Example(text=f"a castle {i}, digital painting, fantasy, dramatic lighting", score=0.7, count=1)
              for i in range(2)]
    prompt = GroundedEnhancer().enhance(EnhanceRequest(idea="a dragon over a castle", examples=shared,
                                                       model_family="sd1")).prompt
    assert "fantasy" in prompt, prompt


def test_words_after_by_that_are_no_name_are_not_credited():
    from enhancers.grounded import modifier_phrases

    found = dict(modifier_phrases("a cat, by expressive, by environment concept, by simon stalenhag"))
    assert found == {"by simon stalenhag": "artist"}
