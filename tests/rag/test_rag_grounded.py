"""Grounded fusion: phrase splitting / scoring (pure functions) and GroundedEnhancer on real prompts."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from enhancers.base import EnhanceRequest, Example
from enhancers.grounded import (
    GroundedEnhancer,
    classify_phrase,
    fuse,
    modifier_phrases,
    score_modifiers,
    split_phrases,
    subject_of,
)
from enhancers.registry import enhancer_names, get_enhancer
from enhancers.tokens import count_clip_tokens

REAL = ("fox and hare at a forest glade, autumn, atmospheric lighting, highly detailed digital painting "
        "by greg rutkowski")


def test_split_and_subject_of_real_diffusiondb_prompts():
    assert split_phrases("a robot | neon colors, 8 k ,  Octane Render.") == ["a robot", "neon colors", "8k",
                                                                             "octane render"]
    assert subject_of("a castle on a hill by greg rutkowski, trending on artstation") == "a castle on a hill"
    assert subject_of(REAL) == "fox and hare at a forest glade"
    assert subject_of(" , ") == ""


def test_classify_keeps_modifiers_and_rejects_scene_details():
    assert classify_phrase("by greg rutkowski") == "artist"
    assert classify_phrase("trending on artstation") == "quality"
    assert classify_phrase("cinematic lighting") == "lighting"
    assert classify_phrase("oil painting") == "medium"
    assert classify_phrase("85mm lens") == "camera"
    # mentions "lights" but is a description of one example's scene, not a style to borrow
    assert classify_phrase("serene smile surrounded by golden firefly lights") is None
    assert classify_phrase("autumn") is None
    # "digital painting by X" is a medium and an artist; bare names after a credit are artists
    assert modifier_phrases(REAL) == [
        ("atmospheric lighting", "lighting"), ("highly detailed digital painting", "medium"),
        ("by greg rutkowski", "artist"),
    ]
    assert ("by bayard wu", "artist") in modifier_phrases("knight, by gaston bussiere, bayard wu, masterpiece")


def test_recurring_modifiers_of_close_popular_examples_win():
    examples = [
        Example(text="a ship, oil painting, volumetric lighting, 8k", score=0.9, count=1),
        Example(text="a harbour, oil painting, by ivan aivazovsky", score=0.8, count=1),
        Example(text="a boat, pixel art", score=0.1, count=1),
        Example(text="a sea, watercolor", score=0.1, count=50),
    ]
    ranked = [m.phrase for m in score_modifiers(examples)]
    assert ranked[0] == "oil painting"  # in two close examples
    assert ranked.index("watercolor") < ranked.index("pixel art")  # same similarity, more popular
    assert "a ship" not in ranked and "a harbour" not in ranked  # subjects never become modifiers


def test_fuse_keeps_the_idea_verbatim_and_fits_the_budget(corpus):
    examples = [Example(text=t, score=0.5, count=1) for t in corpus[:30]]
    idea = "A Frog dressed as a knight"
    prompt, used = fuse(idea, score_modifiers(examples), token_budget=40, max_modifiers=12)
    assert prompt.startswith(idea + ", ")
    assert count_clip_tokens(prompt) <= 40
    assert used and len(used) <= 12
    long_idea = "castle " * 80
    prompt, used = fuse(long_idea, score_modifiers(examples), token_budget=77, max_modifiers=12)
    assert prompt == long_idea.strip() and used == []  # never cut, never padded over budget


def test_grounded_enhancer_uses_examples_never_copies_subjects(corpus):
    examples = [Example(text=t, score=0.6, count=2, id=i) for i, t in enumerate(corpus[:8])]
    request = EnhanceRequest(idea="a lighthouse in a storm", examples=examples, n_candidates=3,
                             model_family="sd1")  # the tag-list family: additions are the examples' phrases
    first = GroundedEnhancer().enhance(request)
    second = GroundedEnhancer().enhance(request)
    assert first.prompt == second.prompt  # deterministic
    assert first.enhancer == "grounded" and first.prompt.startswith("a lighthouse in a storm, ")
    assert first.token_count <= 77
    assert len({c.prompt for c in first.candidates}) == len(first.candidates) >= 2
    for example in corpus[:8]:
        assert subject_of(example) not in first.prompt.split(", ")[1:]
    added = first.prompt.split(", ")[1:]
    pool = {p for t in corpus[:8] for p, _ in modifier_phrases(t)}
    assert set(added) <= pool  # every addition comes from the examples, not a fixed tag list


def test_negative_prompt_and_style_come_from_the_rules():
    from enhancers.rules import RuleBasedEnhancer

    request = EnhanceRequest(idea="a portrait photo of an old sailor", style="photography",
                             examples=[Example(text="a man, 85mm lens, bokeh, golden hour", score=0.7)])
    grounded = GroundedEnhancer().enhance(request)
    rules = RuleBasedEnhancer().enhance(request.model_copy(update={"examples": []}))
    assert grounded.negative_prompt == rules.negative_prompt and grounded.style == rules.style == "photography"
    assert "85mm lens" in grounded.prompt


def test_without_examples_it_says_it_delegated_to_the_rules():
    result = GroundedEnhancer().enhance(EnhanceRequest(idea="a red fox"))
    assert result.enhancer == "rules"
    assert "grounded" in result.fallback_reasons and "no examples" in result.fallback_reasons["grounded"]


def test_registered_by_name():
    assert "grounded" in enhancer_names()
    assert isinstance(get_enhancer("grounded"), GroundedEnhancer)
    with pytest.raises(ConfigError, match="grounded"):
        get_enhancer("groundd")
