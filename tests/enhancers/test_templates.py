"""enhancers/templates.py: the user's template overrides, as the Settings page edits them."""

from __future__ import annotations

import pytest

from core.errors import InputError
from enhancers import templates
from enhancers.base import EnhanceRequest
from enhancers.prompting import build_messages, default_template


def test_list_read_save_and_reset_round_trip(isolated_env):
    assert [(t.name, t.overridden) for t in templates.list_templates()] == [("system.txt", False),
                                                                           ("user.txt", False)]
    assert templates.read_template("user.txt") == default_template("user.txt")

    text = "IDEA FIRST: $idea\n$examples\n$refinement\n"
    path = templates.save_template("user.txt", text)
    assert path == isolated_env / "templates" / "user.txt" and path.read_text() == text
    assert templates.read_template("user.txt") == text
    info = {t.name: t for t in templates.list_templates()}["user.txt"]
    assert info.overridden and info.path == path
    # The enhancers render the override.
    _, user = build_messages(EnhanceRequest(idea="a fox"))
    assert user.startswith("IDEA FIRST: <idea>a fox</idea>")

    assert templates.reset_template("user.txt") is True
    assert not path.exists() and templates.read_template("user.txt") == default_template("user.txt")
    assert templates.reset_template("user.txt") is False


@pytest.mark.parametrize(("name", "text", "message"), [
    ("user.txt", "Make a prompt for $idea and $colour", "unknown placeholder $colour"),
    ("user.txt", "No placeholders at all", "must keep $idea"),
    ("system.txt", "You write prompts. $style_instruction", "must keep $output_format"),
    ("user.txt", "Costs $5 for $idea", "malformed placeholder"),
    ("user.txt", "   ", "is empty"),
    ("notes.txt", "$idea", "unknown template 'notes.txt'"),
])
def test_a_bad_template_is_refused_naming_the_fix(isolated_env, name, text, message):
    with pytest.raises(InputError, match=message.replace("$", r"\$").replace("(", r"\(")):
        templates.save_template(name, text)
    assert not (isolated_env / "templates" / name).exists()


def test_placeholders_are_the_ones_the_renderer_fills():
    assert "idea" in templates.placeholders("user.txt") and "examples" in templates.placeholders("user.txt")
    assert "output_format" in templates.placeholders("system.txt")
    assert "idea" not in templates.placeholders("system.txt")
    # Every placeholder the shipped templates use is known (so they would pass their own check).
    for name in ("system.txt", "user.txt"):
        templates.check_template(name, default_template(name))
