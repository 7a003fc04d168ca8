"""One look per prompt (issue: the prompt writer, §1 and §2): what a user of the keyless writers sees.

Every case is a prompt that argued with itself before: a negative that bans the medium the
positive asks for, a painter credited in a photograph, a scene noun of an example copied in.
"""

from __future__ import annotations

import pytest

from enhancers.base import EnhanceRequest, Example
from enhancers.grounded import GroundedEnhancer, classify_phrase
from enhancers.looks import LOOKS, cohere, decide_look, look_requested
from enhancers.media import media_of
from enhancers.rules import RuleBasedEnhancer
from rag.guidance import mine_chips

LIGHTHOUSE_EXAMPLES = [
    Example(text="a lighthouse on a cliff in a storm, swirling mist, magical realism, by ellen jewett, "
                 "by justin gerard, artstation trending", score=0.71, count=3),
    Example(text="an old lighthouse at sea, volumetric lighting, by jeremy geddes, oil painting, dramatic sky",
            score=0.66),
    Example(text="a storm over the harbour, by justin gerard, oil on canvas, moody, highly detailed", score=0.6),
]
PAINTERS = {"ellen jewett": "sculpture", "justin gerard": "painting", "jeremy geddes": "painting"}
MEDIUM_BANS = ("painting", "illustration", "drawing", "cartoon", "anime", "3d render", "photograph")


def _bans(negative: str) -> set[str]:
    return {t.strip() for t in negative.split(",")}


@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3"])
def test_painters_examples_give_a_painting_whose_negative_does_not_ban_painting(family):
    request = EnhanceRequest(idea="a lighthouse in a storm", examples=LIGHTHOUSE_EXAMPLES, model_family=family,
                             artist_media=PAINTERS)
    result = GroundedEnhancer().enhance(request)
    assert result.look == "oil painting"  # two of three examples are oil paintings
    prompt = result.prompt.lower()
    assert "a lighthouse in a storm" in prompt
    assert "painting" not in _bans(result.negative_prompt) and "oil painting" not in _bans(result.negative_prompt)
    assert "ellen jewett" not in prompt  # a sculptor fights an oil painting
    assert "artstation" not in prompt or result.look != "photograph"


def test_a_photograph_never_credits_a_painter_and_its_negative_bans_other_media():
    request = EnhanceRequest(idea="a lighthouse in a storm, photograph", examples=LIGHTHOUSE_EXAMPLES,
                             model_family="sd1", artist_media=PAINTERS)
    result = GroundedEnhancer().enhance(request)
    assert result.look == "photograph"
    # painters leave; a sculptor may stay (a photograph of sculpted work is one medium: media.COMPATIBLE)
    assert "justin gerard" not in result.prompt.lower() and "jeremy geddes" not in result.prompt.lower()
    assert "artstation" not in result.prompt.lower()
    assert {"painting", "illustration"} & _bans(result.negative_prompt)


@pytest.mark.parametrize("idea,look", [
    ("a watercolor of a fox", "watercolor"), ("a pencil sketch of an old man", "drawing"), ("an ink drawing of a crow",
                                                                                            "ink drawing"),
    ("pixel art of a castle", "pixel art"), ("a 3d render of a robot", "3d render"),
    ("an oil painting of a harbour", "oil painting"), ("a photo of a kettle", "photograph"),
])
@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3"])
def test_the_idea_names_the_look_and_the_negative_never_bans_it(idea, look, family):
    result = RuleBasedEnhancer().enhance(EnhanceRequest(idea=idea, model_family=family, creativity=1.0))
    assert result.look == look
    for term in _bans(result.negative_prompt):
        assert not (media_of(term) & media_of(idea)), (term, result.negative_prompt)
    if look != "photograph":  # a photo lens never joins a painting, drawing or pixel art
        assert "85mm" not in result.prompt and "bokeh" not in result.prompt


def test_look_order_feedback_then_idea_then_previous_then_brief_then_style_then_examples():
    water = look_requested("as a watercolor painting")
    assert decide_look(idea="a photo of a fox", feedback_look=water)[0].name == "watercolor"
    assert decide_look(idea="a photo of a fox", requested="anime")[0].name == "photograph"
    assert decide_look(idea="a fox", previous_prompt="a fox, pixel art", requested="anime")[0].name == "pixel art"
    assert decide_look(idea="a fox", requested="anime", style="photography")[0].name == "anime"
    assert decide_look(idea="a fox", style="photography", examples=["a cat, oil painting"] * 3)[0].name == "photograph"
    assert decide_look(idea="a fox", examples=["a cat, oil painting", "a dog, oil on canvas"])[0].name == "oil painting"
    # one example of three naming a medium is not agreement: the content decides
    assert decide_look(idea="a fox", examples=["a cat, 3d render", "a dog", "a bird"])[0].name == "photograph"
    assert decide_look(idea="a dragon over a city")[0].name == "digital painting"


@pytest.mark.parametrize("clause,look", [
    ("as a watercolor painting", "watercolor"), ("as pixel art", "pixel art"), ("3d render", "3d render"),
    ("make it a photo", "photograph"), ("in anime style", "anime"), ("as an oil painting", "oil painting"),
    ("a painting on the wall behind him", None), ("at night", None), ("black and white", None),
])
def test_feedback_clauses_that_ask_for_a_look(clause, look):
    found = look_requested(clause)
    assert (found.name if found else None) == look


def test_repair_drops_credits_that_fight_the_look_and_unbans_what_the_prompt_holds():
    fixed = cohere("a lighthouse, photograph, by jeremy geddes, by annie leibovitz, 8k",
                   "cartoon, painting, photograph, blurry", LOOKS["photograph"], idea="a lighthouse",
                   artist_media={"jeremy geddes": "painting", "annie leibovitz": "photo"})
    assert fixed.prompt == "a lighthouse, photograph, by annie leibovitz, 8k"
    assert fixed.negative == "cartoon, painting, blurry"
    assert any("jeremy geddes" in c for c in fixed.changes) and any("photograph" in c for c in fixed.changes)


def test_artist_credits_off_removes_every_credit_in_any_form_but_the_ideas_own():
    prose = "A photograph of a bottle, with soft light, by greg rutkowski and alphonse mucha."
    fixed = cohere(prose, "", LOOKS["photograph"], idea="a bottle", artist_credits=False)
    assert fixed.prompt == "A photograph of a bottle, with soft light."
    kept = cohere("a poster by mucha, by wlop", "", LOOKS["digital painting"], idea="a poster by mucha",
                  artist_credits=False)
    assert kept.prompt == "a poster by mucha"


def test_grounded_without_artist_credits_writes_none():
    request = EnhanceRequest(idea="a lighthouse in a storm", examples=LIGHTHOUSE_EXAMPLES, model_family="sd1",
                             artist_credits=False)
    assert " by " not in GroundedEnhancer().enhance(request).prompt


def test_an_llm_style_answer_is_repaired_and_says_so():
    from enhancers.base import Candidate, Enhancer

    class Answer(Enhancer):
        name = "fixed-answer"

        def _enhance(self, request):
            return self.make_result(request, [Candidate("a fox, watercolor painting, by greg rutkowski",
                                                        "painting, watercolor, blurry")], style="artistic",
                                    started=0.0)

    result = Answer().enhance(EnhanceRequest(idea="a fox", artist_media={"greg rutkowski": "digital"}))
    assert result.look == "watercolor"
    assert "rutkowski" not in result.prompt and result.negative_prompt == "blurry"
    assert any("rutkowski" in n for n in result.notices) and any("no longer bans" in n for n in result.notices)


@pytest.mark.parametrize("phrase", ["a beautiful terrace", "fantasy costume", "neon sign", "the glowing lamp",
                                    "misty forest"])
def test_scene_phrases_are_not_modifiers(phrase):
    assert classify_phrase(phrase) is None


@pytest.mark.parametrize("phrase,category", [
    ("studio lighting", "lighting"), ("volumetric lighting", "lighting"), ("trending on artstation", "quality"),
    ("soft blue lighting", "lighting"), ("oil painting", "medium"), ("85mm f/1.4", "camera")])
def test_modifier_phrases_keep_their_category(phrase, category):
    assert classify_phrase(phrase) == category


def test_a_snow_cabin_never_takes_an_examples_terrace_and_no_chip_offers_it():
    examples = [Example(text="a big modern cabin in the middle of a lake, a beautiful terrace, night, rainbow "
                             "aurora, classic painting, award winning", score=0.8),
                Example(text="a river running past a cozy cabin in mountain side, heavy rain, night, classic "
                             "painting, highly detailed", score=0.75)]
    for family in ("sd1", "sdxl", "sd3"):
        result = GroundedEnhancer().enhance(EnhanceRequest(idea="cozy cabin in the snow", examples=examples,
                                                           model_family=family))
        assert "terrace" not in result.prompt.lower() and "aurora" not in result.prompt.lower()
    chips = mine_chips([e.text for e in examples])
    assert not any("terrace" in c.phrase for c in chips.chips)


def test_the_how_note_lists_only_modifiers_the_prompt_holds():
    many = [Example(text=f"a castle {i}, 4k, cgsociety, epic composition, matte painting, volumetric lighting, "
                         "trending on artstation, by greg rutkowski, highly detailed, intricate, sharp focus",
                    score=0.9) for i in range(3)]
    result = GroundedEnhancer().enhance(EnhanceRequest(idea="a castle " + "on a hill " * 12, examples=many,
                                                       model_family="sd1"))
    listed = result.rationale.split(": ", 2)[-1]
    for item in listed.split("; "):
        phrase = item.rsplit(" (", 1)[0]
        if phrase and "topped up" not in phrase:
            assert phrase in result.prompt.lower(), (phrase, result.prompt)


@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3"])
def test_removing_what_the_idea_adds_takes_it_out_and_bans_it(family):
    first = RuleBasedEnhancer().enhance(EnhanceRequest(idea="a lake with ducks", model_family=family))
    revised = RuleBasedEnhancer().enhance(EnhanceRequest(idea="a lake with ducks", model_family=family,
                                                         previous_prompt=first.prompt, feedback="no ducks"))
    assert "duck" not in revised.prompt.lower() and "lake" in revised.prompt.lower()
    assert "ducks" in revised.negative_prompt.split(", ")
    assert not any("contradicts" in n or "ducks" in n for n in revised.notices)


@pytest.mark.parametrize("family", ["sd1", "sdxl", "sd3"])
@pytest.mark.parametrize("style", ["artistic", "auto"])
def test_an_advert_carries_no_credit_and_no_fan_art_word(family, style):
    examples = [Example(text="a steel bottle on a rock, epic fantasy style, trending on artstation, by greg rutkowski, "
                             "octane render, cinematic lighting", score=0.7),
                Example(text="a water bottle, fantasy art, pixiv, deviantart, studio lighting, 8k", score=0.6)]
    for enhancer in (RuleBasedEnhancer(), GroundedEnhancer()):
        result = enhancer.enhance(EnhanceRequest(idea="a brushed steel water bottle", examples=examples, style=style,
                                                 model_family=family, artist_credits=False, creativity=1.0))
        prompt = result.prompt.lower()
        assert not any(w in prompt for w in ("artstation", "pixiv", "deviantart", "fantasy", " by ")), prompt
    kept = GroundedEnhancer().enhance(EnhanceRequest(idea="a fantasy castle poster", examples=examples,
                                                     model_family=family, artist_credits=False))
    assert "fantasy" in kept.prompt.lower()  # the idea's own word stays
