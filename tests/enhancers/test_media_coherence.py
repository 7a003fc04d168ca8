"""One medium per prompt: the idea's medium is kept, clashing modifiers are dropped, joins are clean."""

from __future__ import annotations

import re

import pytest

from enhancers.base import EnhanceRequest, Example
from enhancers.grounded import GroundedEnhancer
from enhancers.media import clashing_pairs, media_of
from enhancers.rules import RuleBasedEnhancer

RULES = RuleBasedEnhancer()
GROUNDED = GroundedEnhancer()
SEAM_RE = re.compile(r"[.;:!?]\s*,|,\s*,")


def rules(idea: str, **options) -> list[str]:
    request = EnhanceRequest(idea=idea, n_candidates=3, creativity=options.pop("creativity", 1.0), **options)
    return [c.prompt for c in RULES.enhance(request).candidates]


@pytest.mark.parametrize(
    ("text", "media"),
    [
        ("an oil painting of a fox", {"painting"}),
        ("a watercolor painting of a lighthouse", {"watercolor"}),  # one medium, not two
        ("oil painting, nature photography", {"painting", "photo"}),
        ("a knight in the style of a video game", {"game"}),
        ("The rectangular painting was hung above the wooden bed.", set()),  # a thing in the scene
        ("The yellow pencil was next to the white eraser.", set()),
        ("portrait painting of an old sailor", {"paint"}),
        ("a photo of a marble statue", {"photo"}),
    ],
)
def test_media_named_by_a_text(text, media):
    assert set(media_of(text)) == media


@pytest.mark.parametrize(
    "idea",
    [
        "an oil painting of a fox in the snow",
        "a knight in the style of a video game",
        "a photo of a lighthouse in a storm",
        "a watercolor of a harbour at dusk",
        "pixel art of a castle",
        "a pencil sketch of an old man",
    ],
)
@pytest.mark.parametrize("style", ["auto", "photography", "artistic", "realistic", "cinematic"])
def test_rules_keep_the_ideas_medium_and_add_no_clashing_one(idea, style):
    for prompt in rules(idea, style=style):
        assert prompt.startswith(idea)
        assert clashing_pairs(prompt) == [], prompt


def test_an_everyday_object_gets_photography_not_digital_painting():
    result = RULES.enhance(EnhanceRequest(idea="a chrome toaster on a kitchen counter", creativity=1.0))
    assert result.style == "photography"
    assert "photograph" in result.prompt.lower() and "painting" not in result.prompt.lower()


def test_an_illustration_subject_gets_illustration():
    result = RULES.enhance(EnhanceRequest(idea="a wizard casting a spell in a library", creativity=1.0))
    assert result.style == "artistic"


def test_an_idea_ending_in_a_full_stop_joins_without_a_seam():
    for prompt in rules("A red bicycle leaning against a brick wall."):
        assert prompt.startswith("A red bicycle leaning against a brick wall, ")
        assert not SEAM_RE.search(prompt), prompt


def test_the_negative_prompt_never_forbids_what_the_idea_asks_for():
    result = RULES.enhance(EnhanceRequest(idea="a 3d render of a cartoon fox", creativity=1.0))
    negative = [t.strip() for t in result.negative_prompt.split(",")]
    assert "cartoon" not in negative and "3d render" not in negative


MIXED_EXAMPLES = [
    Example(text="a fox in a meadow, oil painting, by claude monet, golden hour", score=0.9, count=3),
    Example(text="a fox at dawn, nature photography, 85mm lens, bokeh", score=0.85, count=2),
    Example(text="red fox portrait, oil painting, impressionism, soft light", score=0.8),
    Example(text="fox cub, national geographic photo, sharp focus", score=0.7),
]


def test_grounded_takes_one_medium_from_examples_that_disagree():
    result = GROUNDED.enhance(EnhanceRequest(idea="a fox in the snow", examples=MIXED_EXAMPLES, creativity=1.0))
    for candidate in result.candidates:
        assert clashing_pairs(candidate.prompt) == [], candidate.prompt
    assert "oil painting" in result.prompt  # the examples' strongest medium
    assert result.style == "artistic"  # and the style (and negative prompt) follow it
    assert "painting" not in result.negative_prompt


def test_grounded_keeps_the_ideas_own_medium_over_the_examples():
    result = GROUNDED.enhance(
        EnhanceRequest(idea="a watercolor of a fox in the snow.", examples=MIXED_EXAMPLES, creativity=1.0)
    )
    for candidate in result.candidates:
        assert candidate.prompt.startswith("a watercolor of a fox in the snow, ")
        assert media_of(candidate.prompt) == {"watercolor"}, candidate.prompt
        assert not SEAM_RE.search(candidate.prompt)
