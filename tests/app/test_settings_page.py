"""Settings: switch index (manifest shown), enhancer order, image defaults, template save / reset."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.app.helpers import run


def open_settings(make_app):
    at = run(make_app())
    at.switch_page("pages/settings.py")
    return run(at)


def test_switch_index_shows_manifest_and_uses_it(make_app, home_index, isolated_env):
    other = Path(isolated_env) / "indexes" / "other"
    shutil.copytree(home_index, other)
    at = open_settings(make_app)
    box = at.selectbox(key="settings.index")
    assert box.value == str(home_index)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Embedding model"] == "all-MiniLM-L6-v2"
    assert metrics["Search type"] == "flat" and metrics["Dimension"] == "384"
    assert at.button(key="settings.use_index").disabled  # the one in use

    box.set_value(str(other))
    run(at)
    at.button(key="settings.use_index").click()
    run(at)
    assert at.session_state["index_path"] == str(other)
    assert at.button(key="settings.use_index").disabled
    assert "other (in use)" in at.selectbox(key="settings.index").options

    # Back to the default index: the session override goes away.
    at.selectbox(key="settings.index").set_value(str(home_index))
    run(at)
    at.button(key="settings.use_index").click()
    run(at)
    assert "index_path" not in at.session_state


def test_enhancer_order_applies_to_the_session_and_names_the_env_var(make_app, home_index):
    at = open_settings(make_app)
    at.multiselect(key="settings.enhancers").set_value(["grounded", "rules"])
    run(at)
    assert at.session_state["enhancer_order"] == ["grounded", "rules"]
    assert any("PROMPTRAG_ENHANCER_CHAIN='[\"grounded\", \"rules\"]'" == c.value for c in at.code)

    at.multiselect(key="settings.enhancers").set_value(["anthropic"])  # rules still ends the chain
    run(at)
    assert any("PROMPTRAG_ENHANCER_CHAIN='[\"anthropic\", \"rules\"]'" == c.value for c in at.code)


def test_generation_defaults_are_saved_for_the_session(make_app, home_index):
    at = open_settings(make_app)
    at.number_input(key="settings.gen.steps").set_value(12)
    at.selectbox(key="settings.gen.sampler").set_value("k_lms")
    at.number_input(key="settings.gen.width").set_value(640)
    at.form_submit_button(key="settings.gen.save").click()
    run(at)
    gen = at.session_state["generation"]
    assert (gen["steps"], gen["sampler"], gen["width"]) == (12, "k_lms", 640)

    at.number_input(key="settings.gen.height").set_value(500)  # not a multiple of 8
    at.form_submit_button(key="settings.gen.save").click()
    run(at)
    assert any("multiples of 8" in e.value for e in at.error)
    assert at.session_state["generation"]["height"] == 512  # unchanged


def test_template_save_reset_and_a_bad_template_is_refused(make_app, home_index, isolated_env):
    from enhancers.prompting import default_template

    at = open_settings(make_app)
    at.selectbox(key="settings.template").set_value("user.txt")
    run(at)
    box = at.text_area(key="settings.template_text.user.txt")
    assert box.value == default_template("user.txt")
    override = Path(isolated_env) / "templates" / "user.txt"

    box.input("Write one prompt for: $idea\n$examples\n$refinement\n")
    at.button(key="settings.template_save").click()
    run(at)
    assert override.read_text() == "Write one prompt for: $idea\n$examples\n$refinement\n"
    assert any("Saved to" in s.value for s in at.success)
    assert not at.button(key="settings.template_reset").disabled

    at.text_area(key="settings.template_text.user.txt").input("Use $nope and $idea")
    at.button(key="settings.template_save").click()
    run(at)
    assert any("unknown placeholder $nope" in e.value.replace("\\", "") for e in at.error)
    assert override.read_text().startswith("Write one prompt for")  # the saved one stays

    at.button(key="settings.template_reset").click()
    run(at)
    assert not override.exists()
    assert at.text_area(key="settings.template_text.user.txt").value == default_template("user.txt")
    assert any("built-in text" in s.value.replace("\\", "") for s in at.success)


def test_a_damaged_index_in_the_list_says_why(make_app, home_index, isolated_env):
    broken = Path(isolated_env) / "indexes" / "broken"
    shutil.copytree(home_index, broken)
    (broken / "manifest.json").write_text("[]", encoding="utf-8")
    at = open_settings(make_app)
    at.selectbox(key="settings.index").set_value(str(broken))
    run(at)
    assert any(e.value.startswith("This index cannot be read:") for e in at.error)
    assert not at.metric
