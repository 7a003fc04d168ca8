"""The app shell: sidebar status without keys, failures as one message, never a traceback."""

from __future__ import annotations

import json
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.helpers import page_texts, run


def rows(index) -> int:
    return json.loads((index / "manifest.json").read_text())["row_count"]


def sidebar_texts(at) -> list[str]:
    return [str(e.value) for kind in ("markdown", "caption") for e in getattr(at.sidebar, kind)]


def test_sidebar_shows_index_and_backends_not_configured_without_keys(make_app, tiny_index):
    at = run(make_app(tiny_index))
    texts = sidebar_texts(at)
    assert f"**index** · {rows(tiny_index)} prompts" in texts, texts
    assert any("all\\-MiniLM\\-L6\\-v2" in t for t in texts)
    assert "**anthropic** :gray-badge[not configured]" in texts
    assert any("set ANTHROPIC\\_API\\_KEY in the environment" in t for t in texts)
    ready = ":green-badge[:material/check: ready]"
    assert f"**rules** {ready}" in texts and f"**grounded** {ready}" in texts
    assert any(t.startswith("**diffusers** ") for t in texts)
    assert "**bedrock** :gray-badge[not configured]" in texts
    labels = [e.label for e in at.sidebar.expander]
    assert any(label.startswith("Backends · ") and "ready" in label for label in labels)


def test_a_set_key_is_shown_as_set_and_never_echoed(make_app, tiny_index, monkeypatch):
    secret = "sk-ant-test-DO-NOT-SHOW-4242"
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    at = run(make_app(tiny_index))
    assert "**anthropic** :green-badge[:material/check: ready]" in sidebar_texts(at)
    at.switch_page("pages/settings.py")
    run(at)
    texts = page_texts(at) + sidebar_texts(at)
    assert "**ANTHROPIC\\_API\\_KEY** :green-badge[set]" in texts
    assert not any(secret in t for t in texts)
    assert not any(secret in str(w.value) for w in [*at.text_input, *at.text_area])


def test_keys_absent_are_listed_as_not_set_on_settings(make_app, tiny_index):
    at = run(make_app(tiny_index))
    at.switch_page("pages/settings.py")
    run(at)
    texts = page_texts(at)
    assert "**ANTHROPIC\\_API\\_KEY** :gray-badge[not set]" in texts
    assert "**AWS credentials** :gray-badge[not set]" in texts


def test_a_damaged_index_is_one_message_and_the_page_stays_usable(make_app, tiny_index, tmp_path):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_index, damaged)
    (damaged / "manifest.json").write_text("{ not json", encoding="utf-8")
    at = run(make_app(damaged))
    errors = [e.value for e in at.error]
    assert any(e.startswith("Opening the index failed:") and "corrupted" in e for e in errors), errors
    assert any(e.startswith("Reading the index failed:") for e in errors)  # the sidebar says it too
    # Searching again says the same in one line; the query stays in the box.
    at.text_input(key="explore.query").input("a lighthouse")
    at.form_submit_button(key="explore.search").click()
    run(at)
    assert any(e.value.startswith("Search failed:") for e in at.error)
    assert at.text_input(key="explore.query").value == "a lighthouse"
    assert not at.exception


def guarded_script():
    import streamlit as st

    from app.widgets import guard

    st.text_input("Idea", key="idea")
    st.write("earlier result")
    with guard("Making the prompt"):
        raise RuntimeError("internal detail /secret/path Traceback")
    with guard("Calling the backend"):
        from core.errors import BackendError

        raise BackendError("the backend answered 429 Too Many Requests; wait a minute and try again")
    with guard("Building"):
        from core.errors import Cancelled

        raise Cancelled("building was cancelled; the work directory is kept, build again to resume")
    st.write("after the failures")


def test_guard_turns_failures_into_messages_without_traceback(workdir):
    at = AppTest.from_function(guarded_script)
    at.run()
    at.text_input(key="idea").input("a lighthouse <b>x</b>").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert errors[0] == "Making the prompt failed unexpectedly; details are in the server log."
    assert "internal detail" not in " ".join(errors)
    assert errors[1].startswith("Calling the backend failed: the backend answered 429")
    assert "try again" in errors[1]
    assert at.warning[0].value.startswith("Building was cancelled: building was cancelled")
    assert [m.value for m in at.markdown] == ["earlier result", "after the failures"]
    assert at.text_input(key="idea").value == "a lighthouse <b>x</b>"


@pytest.mark.parametrize(("page", "title"), [("pages/history.py", "History"), ("pages/refine.py", "Refine")])
def test_deep_link_on_a_fresh_server_opens_inside_the_app(make_app, tiny_index, page, title):
    """A fresh server's first run of a page (legacy pages/ mode) goes through the main script."""
    at = make_app(tiny_index)
    at.switch_page(page)
    run(at)
    assert at.title[0].value == title
    assert f"**index** · {rows(tiny_index)} prompts" in sidebar_texts(at)  # the shell is drawn
