"""The camera kit follows the subject, and daylight words leave a night or a storm (enhancers/camera.py),
through the rules and grounded writers a user gets without an LLM."""

from __future__ import annotations

import pytest

from enhancers.base import EnhanceRequest
from enhancers.camera import subject_kind, suited_descriptors
from enhancers.registry import get_enhancer


@pytest.mark.parametrize("writer", ["rules", "grounded"])
def test_a_place_at_night_gets_a_wide_lens_and_a_long_exposure_not_portrait_bokeh(writer):
    prompt = get_enhancer(writer).enhance(EnhanceRequest(idea="a lighthouse in a storm at night",
                                                         style="photography")).candidates[0].prompt
    assert "wide-angle lens" in prompt and "long exposure" in prompt, prompt
    for portrait_word in ("85mm", "bokeh", "shallow depth of field", "natural lighting", "golden hour"):
        assert portrait_word not in prompt, prompt


@pytest.mark.parametrize(("idea", "lens"), [
    ("portrait of an old fisherman", "85mm lens"),
    ("a bowl of ramen with steam", "100mm macro lens"),
    ("a waterfall in a jungle", "24mm wide-angle lens"),
    ("a cozy reading nook with a window seat", "24mm wide-angle lens"),  # a room is a place, not a portrait
])
def test_the_lens_suits_the_subject(idea, lens):
    prompt = get_enhancer("rules").enhance(EnhanceRequest(idea=idea, style="photography",
                                                          creativity=1.0)).candidates[0].prompt
    assert lens in prompt, prompt
    assert sum(p in prompt for p in ("85mm lens", "100mm macro lens", "24mm wide-angle lens")) == 1, prompt


def test_daylight_words_stay_when_the_idea_says_sunset_and_for_subjects_the_lists_do_not_know():
    kit = ("natural lighting", "85mm lens", "shallow depth of field", "bokeh", "golden hour")
    assert "golden hour" in suited_descriptors(kit, "a harbour at sunset in the rain")
    assert suited_descriptors(kit, "an abstract arrangement") == kit
    assert subject_kind("a fox knight guarding a castle") == "people"  # the character leads, not the castle


def test_a_bare_render_engine_name_from_an_example_is_not_kept_in_a_photograph():
    """DiffusionDB writes "octane" or "ue5" alone; in a photograph they are a second medium."""
    from enhancers.looks import LOOKS, fits

    for engine in ("octane", "ue5", "redshift"):
        assert not fits(engine, LOOKS["photograph"]) and fits(engine, LOOKS["3d render"])
