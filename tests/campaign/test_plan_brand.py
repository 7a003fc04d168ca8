"""Angles cover the brief deterministically; brand rules move, append or flag — never silently."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from campaign.brand import TEXT_NEGATIVES, apply_brand, contains
from campaign.brief import BrandRules, Brief
from campaign.diversity import DiversityGuard, max_pairwise_similarity
from campaign.plan import MOODS, SCENES, angle_idea, plan_angles, redraw_angle, replan_candidates, variant_ids
from index.embedder import Embedder


def test_plan_covers_styles_evenly_and_spreads_every_dimension():
    brief = Brief(subject="a red bicycle", variants=20, seed=3)
    angles = plan_angles(brief)
    assert angles == plan_angles(brief)  # deterministic from the seed
    assert Counter(a["style"] for a in angles) == {s: 4 for s in brief.styles}
    assert len(SCENES) > 20 and len({a["scene"] for a in angles}) == 20  # no scene twice while others are unused
    assert len({a["mood"] for a in angles}) == len(MOODS)
    assert max(Counter(a["mood"] for a in angles).values()) == 2
    assert len({(a["scene"], a["mood"], a["composition"], a["lighting"]) for a in angles}) == 20
    assert plan_angles(brief.model_copy(update={"seed": 4})) != angles


def test_plan_uses_the_briefs_lists_and_sizes_in_turn():
    brief = Brief(subject="tea", variants=4, styles=["cinematic"], scenes=["in a garden"], moods=["calm", "bold"],
                  sizes=["1:1", "768x512"])
    angles = plan_angles(brief)
    assert {a["scene"] for a in angles} == {"in a garden"} and {a["mood"] for a in angles} == {"calm", "bold"}
    assert [a["size"] for a in angles] == ["1:1", "768x512", "1:1", "768x512"]
    assert variant_ids(4) == ["v001", "v002", "v003", "v004"] and variant_ids(1200)[0] == "v0001"


def test_redraw_keeps_style_and_size_changes_the_rest_reproducibly():
    brief = Brief(subject="tea", variants=3)
    angle = plan_angles(brief)[0]
    new = redraw_angle(brief, angle, "v001", 1)
    assert new == redraw_angle(brief, angle, "v001", 1)
    assert (new["style"], new["size"]) == (angle["style"], angle["size"])
    assert all(new[d] != angle[d] for d in ("scene", "mood", "composition"))
    # a re-plan chooses among several distinct redraws, all of the same style and size
    candidates = replan_candidates(brief, angle, "v001", 1)
    assert len(candidates) > 5 and candidates[0] == new and candidates == replan_candidates(brief, angle, "v001", 1)
    assert len({tuple(sorted(c.items())) for c in candidates}) == len(candidates)
    assert {(c["style"], c["size"]) for c in candidates} == {(angle["style"], angle["size"])}


def test_idea_carries_must_haves_once_and_the_colours():
    brief = Brief(subject="a steel bottle", subject_kind="scene",  # a product adds shot words (test_brand_safe)
                  brand={"must_have": ["steel", "mountain"], "colours": ["teal", "sand"]})
    idea = angle_idea(brief, {"scene": "on a beach", "mood": "calm", "composition": "close-up", "style": "artistic",
                              "lighting": "moonlight"})
    assert idea == ("a steel bottle on a beach, digital painting, calm mood, close-up, moonlight, mountain, "
                    "teal and sand colour palette")


RULES = BrandRules(must_have=["steel"], must_not=["plastic", "beer"], colours=["teal"], no_text=True)


def test_must_nots_leave_the_prompt_for_the_negative():
    check = apply_brand("a steel bottle on a table, teal, next to plastic cups, beers on ice, bokeh",
                        "blurry", RULES)
    assert check.prompt == "a steel bottle on a table, teal, bokeh"
    assert check.problems == []
    negative = check.negative_prompt.split(", ")
    assert negative[:3] == ["blurry", "plastic", "beer"] and set(TEXT_NEGATIVES) <= set(negative)
    assert any("next to plastic cups" in c for c in check.changes) and any("beers on ice" in c for c in check.changes)


def test_a_must_not_in_the_subject_line_is_a_violation_not_a_rewrite():
    check = apply_brand("a plastic bottle of beer, steel, teal", "", RULES)
    assert check.prompt.startswith("a plastic bottle of beer")
    assert [p.split(" is ")[0] for p in check.problems] == ["must-not word 'plastic'", "must-not word 'beer'"]


def test_missing_must_haves_are_appended_or_flagged_when_over_budget():
    check = apply_brand("a bottle on a table, bokeh", "", RULES)
    assert check.prompt == "a bottle on a table, bokeh, steel, teal" and check.problems == []
    long = "a bottle on a table, " + ", ".join(f"detail number {i}" for i in range(30))
    check = apply_brand(long, "", RULES)
    assert check.problems == ["must-have 'steel' is missing and does not fit the 77-token budget",
                              "must-have 'teal' is missing and does not fit the 77-token budget"]
    late = long + ", steel, teal"
    assert "comes after the 77-token budget" in apply_brand(late, "", RULES).problems[0]


def test_a_must_have_colour_is_taken_out_of_a_style_negative_and_text_asks_are_dropped():
    rules = BrandRules(colours=["red"], no_text=True)
    check = apply_brand("a red kite, bold typography, logo lettering, sky", "color, red tint, blurry", rules)
    assert check.prompt == "a red kite, sky"
    assert "red tint" not in check.negative_prompt and check.negative_prompt.startswith("color, blurry, text")


def test_word_matching_is_whole_word_any_case_with_plurals():
    assert contains("Two Bottles of water", "bottle") and contains("brand-new  Steel", "steel")
    assert not contains("steely look", "steel") and not contains("beerhall", "beer")


class _Vectors(Embedder):
    """An Embedder subclass with known unit vectors, so the expected similarities are exact."""

    model_id, dimension = "test-table", 2
    table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "a2": [0.96, 0.28], "c": [0.6, 0.8]}

    def embed_batch(self, texts):
        return np.asarray([self.table[t] for t in texts], dtype=np.float32)


def test_guard_finds_the_closest_accepted_and_the_farthest_candidate():
    guard = DiversityGuard(_Vectors(), threshold=0.9)
    assert guard.closest("a") == (None, 0.0)
    guard.accept("v001", "a")
    closest, similarity = guard.closest("a2")
    assert closest == "v001" and guard.too_close(similarity)
    assert guard.farthest(["a2", "b", "c"]) == 1
    guard.accept("v002", "b")
    assert guard.farthest_each([["a2", "b"], ["c", "a2", "b"]], [None, "v001"]) == [0, 1]
    assert guard.max_pairwise() == 0.0 and guard.closest("a2", exclude="v001")[0] == "v002"
    assert max_pairwise_similarity(_Vectors().embed(["a", "a2", "b"])) == 0.96


def test_a_dynamic_subject_is_drawn_per_variant_and_stable_for_the_seed():
    pytest.importorskip("dynamicprompts")
    from campaign.plan import variant_subject

    brief = Brief(subject="a {red|teal|sand|black} steel bottle", seed=11)
    drawn = [variant_subject(brief, vid, 0) for vid in variant_ids(12)]
    assert drawn == [variant_subject(brief, vid, 0) for vid in variant_ids(12)]  # a re-run draws the same
    assert set(drawn) <= {f"a {c} steel bottle" for c in ("red", "teal", "sand", "black")} and len(set(drawn)) > 1
    idea = angle_idea(brief, {"scene": "on a beach", "mood": "calm", "composition": "close-up",
                              "style": "artistic", "lighting": "moonlight"}, drawn[0])
    assert idea.startswith(drawn[0] + " on a beach") and "{" not in idea
    assert variant_subject(Brief(subject="a steel bottle"), "v001", 0) == "a steel bottle"


def test_a_broken_dynamic_subject_is_refused_when_the_brief_loads():
    pytest.importorskip("dynamicprompts")
    with pytest.raises(ValueError, match="__nosuchlist__|wildcard"):
        Brief(subject="a __nosuchlist__ bottle")


def test_a_campaign_can_use_an_imported_style(tmp_path):
    from enhancers.user_styles import import_styles, split_user_style

    styles = tmp_path / "styles.csv"
    styles.write_text('name,prompt,negative_prompt\n"Neon Noir","{prompt}, neon noir, rain-slick streets","sunny"\n',
                      encoding="utf-8")
    import_styles(styles)
    brief = Brief(subject="a steel bottle", styles=["Neon Noir", "photography"])
    assert brief.styles == ["Neon Noir", "photography"]
    idea = angle_idea(brief, {"scene": "on a pier", "mood": "tense", "composition": "close-up",
                              "style": "Neon Noir", "lighting": "neon"})
    assert idea.startswith("a steel bottle on a pier, tense mood") and "Neon Noir" not in idea
    enhancer_style, user_style = split_user_style("Neon Noir")
    assert enhancer_style == "auto" and user_style is not None
    with pytest.raises(ValueError, match="unknown style 'Vaporwave'"):
        Brief(subject="a steel bottle", styles=["Vaporwave"])


def test_each_variant_is_written_for_its_backends_model_family():
    from campaign.plan import variant_family

    assert variant_family(Brief(subject="a bottle"), 0) == "sdxl"  # prompts only
    turns = Brief(subject="a bottle", backends=["diffusers", "bedrock"])  # each backend's configured model
    assert [variant_family(turns, i) for i in range(4)] == ["turbo", "sd3", "turbo", "sd3"]
    assert variant_family(Brief(subject="a bottle", backends=["diffusers"],
                                model="stabilityai/stable-diffusion-xl-base-1.0"), 0) == "sdxl"
    assert variant_family(Brief(subject="a bottle", backends=["bedrock"], model_family="sd1"), 0) == "sd1"
