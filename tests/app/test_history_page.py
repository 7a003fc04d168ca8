"""History: rounds listed newest first, search, reopen into Refine, delete with a confirmation, export."""

from __future__ import annotations

import json

import pytest

from tests.app.helpers import markdown_elements, page_texts, run

IDEAS = ["a lighthouse in a storm", "a red fox in the snow", "<script>alert(1)</script> **cats**"]


@pytest.fixture(scope="session")
def results(tiny_index):
    """Real assistant results (rules enhancer over the tiny index) for the ideas above."""
    from enhancers.registry import get_enhancer
    from rag.assistant import PromptAssistant
    from rag.retriever import Retriever

    assistant = PromptAssistant(Retriever.load(tiny_index), get_enhancer("rules"))
    return [assistant.run(idea) for idea in IDEAS]


@pytest.fixture()
def history(results, isolated_env):
    from app.history import History

    store = History()
    ids = [store.add_round(session_id=f"s{i}", result=r, feedback="moodier" if i == 0 else None)
           for i, r in enumerate(results)]
    return store, ids


def open_history(make_app, tiny_index):
    at = run(make_app(tiny_index))
    at.switch_page("pages/history.py")
    return run(at)


def test_rounds_are_listed_newest_first_and_searchable(make_app, tiny_index, history, results):
    at = open_history(make_app, tiny_index)
    codes = [c.value for c in at.code]
    assert codes == [r.prompt for r in reversed(results)]
    assert any("by rules" in t for t in page_texts(at))
    assert any("Feedback: moodier" in t for t in page_texts(at))

    at.text_input(key="history.search").input("fox")
    run(at)
    assert [c.value for c in at.code] == [results[1].prompt]

    at.text_input(key="history.search").input("nothing like this")
    run(at)
    assert not at.code and any("No rounds match" in i.value for i in at.info)


def test_hostile_idea_renders_as_text(make_app, tiny_index, history):
    at = open_history(make_app, tiny_index)
    for element in markdown_elements(at):
        assert "<script>" not in str(element.value) and "**cats**" not in str(element.value)
    assert any("\\<script\\>alert\\(1\\)\\<\\/script\\> \\*\\*cats\\*\\*" in t for t in page_texts(at))


def test_reopen_puts_the_round_into_refine(make_app, tiny_index, history, results):
    store, ids = history
    at = open_history(make_app, tiny_index)
    at.button(key=f"history.reopen.{ids[0]}").click()
    run(at)
    refine = at.session_state["refine"]
    assert refine.idea == IDEAS[0]
    assert refine.session_id == "s0"
    assert [r.prompt for r in refine.rounds] == [results[0].prompt]
    assert [e.text for e in at.session_state["picks"].values()] == [e.text for e in results[0].examples]
    assert any(results[0].prompt in t for t in page_texts(at)) or any(
        results[0].prompt == w.value for w in at.text_area), "Refine shows the reopened prompt"


def test_delete_asks_first_then_removes_the_round(make_app, tiny_index, history):
    store, ids = history
    at = open_history(make_app, tiny_index)
    at.button(key=f"history.delete.{ids[1]}").click()
    run(at)
    assert store.count() == 3  # nothing deleted yet: a confirmation is asked
    assert any("Delete this round" in w.value for w in at.warning)
    at.button(key=f"history.keep.{ids[1]}").click()
    run(at)
    assert store.count() == 3 and not at.warning

    at.button(key=f"history.delete.{ids[1]}").click()
    run(at)
    at.button(key=f"history.confirm_delete.{ids[1]}").click()
    run(at)
    assert store.count() == 2
    assert [r.id for r in store.list_rounds()] == [ids[2], ids[0]]
    assert len(at.code) == 2


def test_export_csv_and_json(make_app, tiny_index, history):
    at = open_history(make_app, tiny_index)
    buttons = {b.key: b for b in at.get("download_button")}
    assert {"history.export_csv", "history.export_json"} <= set(buttons)
    store, _ = history
    rows = json.loads(store.export("json"))
    assert len(rows) == 3


def test_empty_history_points_to_refine(make_app, tiny_index):
    at = open_history(make_app, tiny_index)
    assert any("Nothing here yet" in i.value for i in at.info)
    assert not at.get("download_button")


def test_a_long_idea_is_shortened_in_its_card_title(make_app, tiny_index, results, isolated_env):
    import dataclasses

    from app.history import History

    long_idea = "a lighthouse on a cliff in a storm at night " * 8
    store = History()
    store.add_round(session_id="long", result=dataclasses.replace(results[0], idea=long_idea))
    at = open_history(make_app, tiny_index)
    titles = [m for m in at.markdown if str(m.value).startswith("**a lighthouse on a cliff")]
    assert titles, [m.value for m in at.markdown]
    title = str(titles[0].value)
    assert len(title) <= 90 + 4 and title.endswith("…**"), title
    assert "storm at night" in (titles[0].proto.help or ""), "the whole idea is the title's help"
