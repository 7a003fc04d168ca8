"""The brief: YAML in, one clear line per bad field out (name, value given, what is allowed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign.brief import CAMPAIGN_STYLES, Brief, brief_from_dict, load_brief
from core.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "brief.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_example_brief_loads_and_round_trips():
    brief = load_brief(REPO / "examples" / "brief.yaml")
    assert brief.subject == "a brushed steel water bottle"
    assert brief.brand.no_text and brief.brand.must_not == ["plastic", "cigarette"]
    assert brief.makes_images is False
    assert brief_from_dict(__import__("yaml").safe_load(brief.to_yaml())) == brief


def test_minimal_brief_gets_documented_defaults(tmp_path):
    brief = load_brief(write(tmp_path, "subject: a red bicycle\n"))
    assert brief.styles == list(CAMPAIGN_STYLES) and "auto" not in brief.styles
    assert brief.backends == ["none"] and brief.variants == 12 and brief.seed_policy == "per_variant"
    assert all(Brief.model_fields[name].description for name in Brief.model_fields)


def test_every_bad_field_is_one_line_naming_it_the_value_and_the_choices(tmp_path):
    path = write(tmp_path, """
subject: a red bicycle
styles: [photography, auto, watercolour]
variants: 0
sizes: ["500x500", "21:9"]
backends: [diffusers, dalle]
enhancer: gpt
seed_policy: random
similarity_threshold: 1.5
colour: teal
brand:
  must_have: [red]
  must_not: [red, beer]
  logo: yes
""")
    with pytest.raises(InputError) as caught:
        load_brief(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == f"brief {path} has {len(lines) - 1} problems:"
    text = str(caught.value)
    by_field = {line.split(":")[0].strip(): line for line in lines[1:]}
    assert "'auto'" in by_field["styles.1"] and "'coloring book'" in by_field["styles.1"]
    assert "'watercolour'" in by_field["styles.2"]
    assert "greater than or equal to 1" in by_field["variants"] and "(got 0)" in by_field["variants"]
    assert "'500x500'" in by_field["sizes"] and "multiples of 8" in by_field["sizes"]
    assert "'dalle'" in by_field["backends"] and "none, bedrock, diffusers" in by_field["backends"]
    assert "'gpt'" in by_field["enhancer"] and "anthropic" in by_field["enhancer"] and "rules" in by_field["enhancer"]
    assert "per_variant" in by_field["seed_policy"] and "'random'" in by_field["seed_policy"]
    assert "1.5" in by_field["similarity_threshold"]
    assert "unknown field" in by_field["colour"] and "subject" in by_field["colour"]
    assert "unknown field" in by_field["brand.logo"]
    assert "must_have, must_not, colours, no_text" in by_field["brand.logo"]
    assert len(lines) == 11 and "Traceback" not in text


def test_a_word_both_required_and_forbidden_is_refused(tmp_path):
    with pytest.raises(InputError, match=r"brand: must_not repeats words that must be present: Red"):
        load_brief(write(tmp_path, "subject: x\nbrand: {colours: [red], must_not: [Red, beer]}\n"))


def test_missing_subject_says_what_it_is(tmp_path):
    with pytest.raises(InputError, match=r"subject: required field is missing \(The product or subject"):
        load_brief(write(tmp_path, "variants: 3\n"))


def test_aspect_ratio_and_none_backend_rules(tmp_path):
    assert load_brief(write(tmp_path, "subject: x\nsizes: ['16:9', '768x512']\n")).sizes == ["16:9", "768x512"]
    with pytest.raises(InputError, match="'21:9' is neither WIDTHxHEIGHT"):
        load_brief(write(tmp_path, "subject: x\nsizes: ['21:9']\n"))
    with pytest.raises(InputError, match="cannot be mixed"):
        load_brief(write(tmp_path, "subject: x\nbackends: [none, diffusers]\n"))


@pytest.mark.parametrize(("text", "message"), [
    ("subject: [unclosed\n", r"is not valid YAML at line 2, column 1: expected .,. or .\]."),
    ("- just\n- a list\n", r"must be a YAML mapping of fields"),
])
def test_unreadable_briefs(tmp_path, text, message):
    with pytest.raises(InputError, match=message):
        load_brief(write(tmp_path, text))


def test_missing_file_points_at_the_example(tmp_path):
    with pytest.raises(InputError, match="does not exist; see examples/brief.yaml"):
        load_brief(tmp_path / "nope.yaml")
