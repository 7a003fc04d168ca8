"""Small helpers shared by the app's AppTest suites (fixtures live in conftest.py)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest


def run(target) -> AppTest:
    """Run the app (or the app of a widget just changed); fail on any exception the page shows."""
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def page_texts(at: AppTest) -> list[str]:
    """Every piece of text the page shows (markdown, captions, code, notices, titles)."""
    out: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "code", "text", "info", "success",
                 "warning", "error", "exception"):
        out += [str(e.value) for e in getattr(at, kind)]
    return out


def markdown_elements(at: AppTest) -> list:
    """Every element whose text Streamlit renders as markdown (incl. notices and captions)."""
    out = []
    kinds = ("title", "header", "subheader", "markdown", "caption", "info", "success", "warning", "error")
    for kind in kinds:
        out += list(getattr(at, kind))
    return out
