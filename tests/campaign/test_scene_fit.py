"""A variant's lighting and composition suit its scene: no studio softbox on a mountain peak,
no flat lay at a bus stop, no midday sun under the stars (campaign/scene_fit.py)."""

from __future__ import annotations

import pytest

from campaign.brief import Brief
from campaign.plan import angle_idea, plan_angles, redraw_angle, variant_ids
from campaign.scene_fit import angle_fits, fits


@pytest.mark.parametrize(("dimension", "value", "scene"), [
    ("lighting", "studio softbox lighting", "on a snowy mountain peak"),
    ("lighting", "soft window light", "by a lake in autumn"),
    ("lighting", "harsh midday sun", "at a campfire under the stars"),
    ("lighting", "moonlight", "in a cozy cafe"),
    ("lighting", "natural daylight", "on a neon-lit street at night"),
    ("composition", "overhead flat lay", "on a rainy city bus stop"),
    ("composition", "wide establishing shot", "on a seamless studio backdrop"),
])
def test_what_a_scene_cannot_take(dimension, value, scene):
    assert not fits(dimension, value, scene)


@pytest.mark.parametrize(("dimension", "value", "scene"), [
    ("lighting", "studio softbox lighting", "in a minimalist white studio"),
    ("lighting", "golden hour light", "on a beach at sunrise"),
    ("lighting", "moonlight", "at a campfire under the stars"),
    ("lighting", "soft window light", "in a modern office by a window"),
    ("composition", "overhead flat lay", "on a sunlit kitchen counter"),
    ("lighting", "studio softbox lighting", "inside a hot air balloon"),  # words the tables do not know fit
    ("lighting", "our signature teal glow", "on a snowy mountain peak"),
])
def test_what_a_scene_can_take(dimension, value, scene):
    assert fits(dimension, value, scene)


@pytest.mark.parametrize("subject_kind", ["product", "scene"])
def test_every_planned_and_rerolled_angle_suits_its_scene(subject_kind):
    brief = Brief(subject="a brushed steel water bottle", subject_kind=subject_kind, variants=40, seed=11)
    angles = plan_angles(brief)
    assert all(angle_fits(a) for a in angles), [a for a in angles if not angle_fits(a)]
    assert len({a["scene"] for a in angles}) >= 12 and len({a["lighting"] for a in angles}) >= 6  # still spread
    rerolled = [redraw_angle(brief, a, vid, attempt=1) for a, vid in zip(angles, variant_ids(40), strict=True)]
    assert all(angle_fits(a) for a in rerolled), [a for a in rerolled if not angle_fits(a)]
    idea = angle_idea(brief, angles[0])
    assert angles[0]["scene"] in idea and angles[0]["lighting"] in idea


def test_a_brief_whose_lists_leave_nothing_that_fits_is_still_planned():
    brief = Brief(subject="tea", variants=2, scenes=["on a snowy mountain peak"], lightings=["studio softbox lighting"])
    assert [a["lighting"] for a in plan_angles(brief)] == ["studio softbox lighting"] * 2
