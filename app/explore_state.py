"""Explore's search, kept in `app.state.explore()`: when it re-runs, what it asks, how it is judged.

The query box is a form (typing does not search), but the mode and the filters are not: a person
who switches Hybrid → Keywords, or sets a filter, expects the results and their header to follow
at once. Their `on_change` callback `research()` asks for the last search again; `run()` does it
and stores the results with their judgement (`rag.relevance`: a % match per prompt, whether any
is close, a "did you mean").

Filters offer only what the index holds (`held_settings`: an index built from the starter set or
a text file has no seed, steps, CFG, sampler or size; a DiffusionDB download has them all), and
the view starts as a grid only where it has pictures (`has_images`). The NSFW threshold filters
only when the user asks to hide (otherwise app/gallery.py covers what is above it).

Deliberately not here: drawing (pages/explore.py, app/widgets.py), ranking (rag/retriever.py).
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from app import gallery, resources, state
from index.coverage import settings_held
from index.records import SearchFilters
from rag.relevance import judge

MAX_RESULTS = 100
# Filter widgets that only make sense when the index holds that setting.
SETTING_FILTERS = {"sampler": "explore.sampler", "width": "explore.width", "height": "explore.height"}


@st.cache_resource(show_spinner=False, max_entries=8)
def _held(index_path: str, stamp: str) -> frozenset[str]:
    return settings_held(resources.load_retriever(index_path).store)


@st.cache_resource(show_spinner=False, max_entries=8)
def _pictured(index_path: str, stamp: str) -> bool:
    for batch in resources.load_retriever(index_path).store.iter_records(batch_size=10_000):
        if any(getattr(record, "image", None) for _, record in batch):
            return True
    return False


def _located(index_path: str | Path) -> tuple[str, str]:
    is_uri = isinstance(index_path, str) and "://" in index_path
    path = str(index_path) if is_uri else str(Path(index_path).expanduser())
    return path, resources.manifest_stamp(path)


def held_settings(index_path: str | Path) -> frozenset[str]:
    """The generation settings (index.coverage.SETTINGS) some prompt of this index has."""
    return _held(*_located(index_path))


def has_images(index_path: str | Path) -> bool:
    """Whether some prompt of this index has a picture (read to the end once for text-only ones)."""
    return _pictured(*_located(index_path))


def research() -> None:
    """Callback of the mode and filter widgets: search the last query again, in the new way."""
    if state.explore().get("query"):
        state.explore()["pending"] = True


def search_for(text: str) -> None:
    """Callback of a suggestion or "did you mean" button: put `text` in the box and search it."""
    st.session_state["explore.query"] = text
    state.explore()["pending"] = True


def filters(held: frozenset[str]) -> SearchFilters | None:
    """The SearchFilters the widgets ask for (settings the index lacks are never asked), or None."""
    session = st.session_state
    values: dict[str, object] = {"min_count": int(session.get("explore.min_count", 1))}
    if "sampler" in held:
        values["sampler"] = (session.get("explore.sampler") or "").strip() or None
    for name in ("width", "height"):
        if name in held:
            values[name] = int(session.get(f"explore.{name}") or 0) or None
    if gallery.hides_nsfw():  # else rows above the threshold are covered, not left out (app/gallery.py)
        values["max_prompt_nsfw"] = values["max_image_nsfw"] = gallery.threshold()
    chosen = SearchFilters.model_validate(values)
    return chosen if chosen.active else None


def run(index_path: str | Path, query: str, mode: str, held: frozenset[str]) -> None:
    """Search `query` in `mode` with the chosen filters; store results and judgement in the state."""
    retriever = resources.load_retriever(index_path)
    explore = state.explore()
    started = time.perf_counter()
    results = retriever.search(query, k=MAX_RESULTS, mode=mode, filters=filters(held),
                               diversity=st.session_state.get("explore.diversity") or None)
    judgement = judge(retriever, query, results)
    # A new search starts at page 1: a fresh pagination widget (its key names the search).
    explore.update(query=query, mode=mode, results=results, judgement=judgement,
                   seconds=time.perf_counter() - started, search_id=explore.get("search_id", 0) + 1)
    gallery.close_detail()  # a detail belongs to the results it was opened from
