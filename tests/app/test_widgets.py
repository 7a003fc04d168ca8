"""app/widgets.py helpers that pages share: escaping, progress text, card facts."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from app.widgets import ProgressPanel, escape_md, format_duration, settings_line, similarity_label
from core.progress import Progress


def test_escape_md_makes_markdown_inert():
    assert escape_md("[x](javascript:alert(1))") == "\\[x\\]\\(javascript\\:alert\\(1\\)\\)"
    assert escape_md("**bold** <b>") == "\\*\\*bold\\*\\* \\<b\\>"
    assert escape_md(":red[alarm] $x$") == "\\:red\\[alarm\\] \\$x\\$"
    assert escape_md("two\nlines") == "two lines"


def show_escaped():
    import streamlit as st

    from app.widgets import escape_md

    st.markdown(escape_md("[click](javascript:alert(1)) **bold** <script>x</script>"))


def test_escaped_text_renders_literally():
    at = AppTest.from_function(show_escaped).run()
    value = at.markdown[0].value
    assert "](javascript" not in value and "<script>" not in value and not at.markdown[0].proto.allow_html


def test_progress_text_has_stage_counts_elapsed_and_eta():
    text = ProgressPanel.describe(Progress("embed", 750, 3000, elapsed_s=30.0))
    assert text == "Embedding · 750 / 3,000 · 30 s elapsed · about 1 min 30 s left"
    assert ProgressPanel.describe(Progress("download", 5, None, 2.0)) == "Downloading · 5 · 2 s elapsed"
    assert "left" not in ProgressPanel.describe(Progress("write", 10, 10, 1.0))
    assert format_duration(3725) == "1 h 02 min" and format_duration(None) == "…"


def test_card_facts():
    hit = type("Hit", (), dict(seed=1, steps=30, cfg=7.5, sampler="k_lms", width=512, height=768))()
    assert settings_line(hit) == "seed 1 · 30 steps · CFG 7.5 · k_lms · 512×768"
    assert settings_line(type("Ex", (), dict(settings={"seed": None, "sampler": None}))()) == ""

    class Hybrid:
        hit = object()
        score, dense_score, keyword_score = 0.9, 0.41, 3.2

    class Keyword:
        hit = object()
        score, dense_score, keyword_score = 3.2, None, 3.2

    assert similarity_label(Hybrid()) == "match 0.90 · similarity 0.41"
    assert similarity_label(Keyword()) == "BM25 3.2"
