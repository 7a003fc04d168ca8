"""app/resources.py: heavy objects are built once per server process and shared by sessions."""

from __future__ import annotations

import shutil

from streamlit.testing.v1 import AppTest


def session_script(index_path: str):
    import streamlit as st

    from app import resources, state

    st.session_state[state.INDEX] = index_path
    retriever = resources.load_retriever(resources.current_index_path())
    assistant = resources.load_assistant(resources.current_index_path(), state.enhancer_spec())
    history = resources.load_history()
    st.text(f"{id(retriever)} {id(assistant.retriever)} {id(assistant.enhancer)} {id(history)}")


def ids(index_path) -> list[str]:
    at = AppTest.from_function(session_script, args=(str(index_path),), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    return at.text[0].value.split()


def test_two_sessions_share_one_retriever_enhancer_and_history(tiny_index, isolated_env, workdir):
    first, second = ids(tiny_index), ids(tiny_index)
    assert first == second  # a second session reuses every object
    assert first[0] == first[1]  # the assistant wraps the cached retriever


def test_an_index_rebuilt_in_place_gets_a_fresh_retriever(tiny_index, isolated_env, workdir, tmp_path):
    copy = tmp_path / "index"
    shutil.copytree(tiny_index, copy)
    before = ids(copy)[0]
    manifest = copy / "manifest.json"
    manifest.write_text(manifest.read_text() + "\n")  # what a re-publish changes: the manifest
    assert ids(copy)[0] != before
