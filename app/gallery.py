"""Explore's gallery: the list / grid choice, the detail view, NSFW covers, "More like this",
"Use these settings", and the example pictures Explore, Refine and Campaign show.

State lives in `app.state.explore()` (the open detail, its neighbours, what this user revealed)
and in the view widget (`VIEW_KEY`, kept for the session and in the URL as `?explore.view=Grid`:
the app has no saved preferences, so the address bar is what outlives a session). Callbacks here
only write state; the page body runs the work they ask for (`neighbours_wanted`) under guard.

Pictures come from `index.images.ThumbnailCache` (one per server: `resources.load_image_cache`):
`thumbnails(hits)` asks for a whole page at once, fetched concurrently, never raising for a
network problem; a failed fetch is an `ImageFetch` with no path and a one-line reason.

NSFW: one threshold (Explore's "NSFW threshold" slider, strict by default) compares both the
prompt's and the image's score. Above it a card is covered -- picture and prompt text alike --
until the user reveals it; with "Hide them" the same threshold filters the search instead.

Deliberately not here: drawing (app/gallery_view.py), searching (app/explore_state.py, rag/),
fetching and caching pictures (index/images.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import streamlit as st

from app import refine_state, resources, state, widgets
from campaign.brief import load_brief
from campaign.jobs import BRIEF_FILE
from core.settings import get_settings
from index.records import SearchFilters, SearchHit
from rag.assistant import SETTINGS_FIELDS
from rag.retriever import RetrievedPrompt, Retriever

if TYPE_CHECKING:  # types only: importing them would load the campaign runner and the image cache
    from campaign.runner import Variant
    from index.images.cache import ImageFetch

VIEW_KEY = "explore.view"
VIEWS = {"list": "List", "grid": "Grid"}  # the labels are what the URL shows: ?explore.view=Grid
NSFW_KEY = "explore.max_nsfw"
NSFW_HIDE_KEY = "explore.nsfw_hide"
STRICT_NSFW = 0.2  # LAION image / Detoxify prompt likelihood; ingest drops > 0.5 by default
NEIGHBOURS = 8
Hit = RetrievedPrompt | SearchHit  # a search result, or a stored row (a detail's neighbours, an example's)
WHERE_PICTURES_COME_FROM = (
    "No pictures in this index: they come with a DiffusionDB index (`promptrag ingest`) or a CSV / JSONL "
    "source with an `image_path` or `image_url` column (docs/images.md).")


# ---- the view ----------------------------------------------------------------------------------
def default_view(has_images: bool) -> str:
    """Grid for an index with pictures, the list for prompt text only (until the user chooses)."""
    return "grid" if has_images else "list"


# ---- NSFW covers -------------------------------------------------------------------------------
def threshold() -> float:
    """The session's NSFW threshold (Explore's slider; strict until the user moves it)."""
    return float(st.session_state.get(NSFW_KEY, STRICT_NSFW))


def hides_nsfw() -> bool:
    """Whether prompts above the threshold are filtered out of searches rather than covered."""
    return bool(st.session_state.get(NSFW_HIDE_KEY, False))


def nsfw_score(hit: Hit) -> float | None:
    """The higher of a row's prompt and image NSFW scores (None: the row has neither)."""
    source = getattr(hit, "hit", hit)
    scores = [s for s in (getattr(source, "prompt_nsfw", None), getattr(source, "image_nsfw", None))
              if s is not None]
    return max(scores) if scores else None


def covered(hit: Hit) -> bool:
    """Whether `hit` is drawn covered: a score above the threshold and not revealed by this user."""
    score = nsfw_score(hit)
    return score is not None and score > threshold() and hit.id not in revealed()


def revealed() -> set[int]:
    return state.explore().setdefault("revealed", set())


def reveal(hit_id: int) -> None:
    """Callback of a cover's "Reveal" button."""
    revealed().add(hit_id)


def cover_line(hit: Hit) -> str:
    score = nsfw_score(hit)
    return f"Covered: NSFW score {score:.2f} is above your threshold of {threshold():.2f}."


# ---- the detail view ---------------------------------------------------------------------------
def open_detail(hit: RetrievedPrompt) -> None:
    """Callback of a card's "Open": the detail view of `hit` (a RetrievedPrompt) replaces the results."""
    explore = state.explore()
    explore.update(detail=hit, neighbours=None, neighbours_wanted=False, settings_used=None)


def close_detail() -> None:
    state.explore().update(detail=None, neighbours=None, neighbours_wanted=False, settings_used=None)


def detail() -> RetrievedPrompt | None:
    return state.explore().get("detail")


def want_neighbours() -> None:
    """Callback of "More like this": the page body finds the neighbours (under guard)."""
    state.explore()["neighbours_wanted"] = True


def more_like_this(retriever: Retriever, hit_id: int, k: int = NEIGHBOURS,
                   filters: SearchFilters | None = None) -> list[RetrievedPrompt]:
    """The k dense neighbours of stored prompt `hit_id`, by its stored vector (no embedding), the
    prompt itself left out; `filters` (index.records.SearchFilters) as the search used them."""
    store = retriever.store
    vector = store.vectors([hit_id])[0]
    hits = store.search_vector(vector, min(k + 1, len(store)), filters)
    others = [h for h in hits if h.id != hit_id][:k]
    return [RetrievedPrompt(h, h.score, rank, dense_rank=rank, dense_score=h.score)
            for rank, h in enumerate(others, start=1)]


def find_neighbours(index_path: str | Path, filters: SearchFilters | None = None) -> list[RetrievedPrompt]:
    """"More like this" for the open detail, stored in the state for reruns."""
    explore = state.explore()
    explore["neighbours_wanted"] = False
    opened = explore.get("detail")
    if opened is None:  # the detail was closed before its neighbours were found
        return []
    found = more_like_this(resources.load_retriever(index_path), opened.id, filters=filters)
    explore["neighbours"] = found
    return found


# ---- "Use these settings" ----------------------------------------------------------------------
def settings_of(hit: Hit) -> dict[str, int | float | str | None]:
    source = getattr(hit, "hit", hit)
    return {name: getattr(source, name, None) for name in SETTINGS_FIELDS}


def has_settings(hit: Hit) -> bool:
    return any(value is not None for value in settings_of(hit).values())


def use_settings(hit: Hit) -> None:
    """Callback of "Use these settings": Refine's generation settings take the row's seed, steps,
    CFG, sampler and size (what the row has; the rest stays as it was)."""
    s = refine_state.state()
    refine_state.apply_settings_of(dict(settings_of(hit)), 1)
    gen = s.gen
    now = widgets.settings_line(SimpleNamespace(settings={
        "seed": gen.get("seed"), "steps": gen.get("steps"), "cfg": gen.get("guidance"),
        "sampler": gen.get("sampler"), "width": gen.get("width"), "height": gen.get("height")}))
    s.message = f"Generation settings from Explore: {now}."
    state.explore()["settings_used"] = hit.id


# ---- pictures ----------------------------------------------------------------------------------
def locator(hit: Hit) -> str | None:
    """The row's image locator (a DiffusionDB part locator, URL or path), None when it has none."""
    return getattr(getattr(hit, "hit", hit), "image", None) or None


def thumbnails(hits: Sequence[Hit]) -> dict[int, ImageFetch]:
    """id -> ImageFetch for the hits that have a picture and are not covered, fetched together
    (concurrently, from the disk cache where it holds them)."""
    wanted = [h for h in hits if locator(h) and not covered(h)]
    if not wanted:
        return {}
    fetched = resources.load_image_cache().thumbnails([locator(h) for h in wanted])
    return {h.id: f for h, f in zip(wanted, fetched, strict=True)}


def full_image(hit: Hit) -> ImageFetch | None:
    """The full-size ImageFetch of `hit` (None: it has no picture)."""
    where = locator(hit)
    return resources.load_image_cache().full(where) if where else None


def example_thumbnails(index_path: str | Path, examples: list[tuple[int | None, str]]) -> dict[int, ImageFetch]:
    """id -> ImageFetch of examples given as (row id, text): examples carry ids, not pictures.
    An id this index does not hold with that text (an example from another index) gets none, and
    rows above the session's NSFW threshold are left out."""
    store = resources.load_retriever(index_path).store
    ids = [i for i in dict.fromkeys(i for i, _ in examples) if i is not None and 0 <= i < len(store)]
    if not ids:
        return {}
    texts = {i: text for i, text in examples}
    hits = [h for h in store.get(ids) if h.prompt.startswith(texts[h.id][:200])]
    return thumbnails(hits)


def run_example_thumbnails(out_dir: Path, variants: Sequence[Variant]) -> dict[int, ImageFetch]:
    """id -> ImageFetch of the examples campaign `variants` were written from, from the index
    their run used (its brief's; none named: the configured one)."""
    examples = [(e.get("id"), str(e.get("text") or "")) for v in variants for e in v.examples]
    if not examples:
        return {}
    brief = Path(out_dir) / BRIEF_FILE
    settings = get_settings()
    index = (load_brief(brief).index if brief.is_file() else None) or settings.store or settings.default_index
    return example_thumbnails(index, examples)


def failures(fetched: dict[int, ImageFetch]) -> dict[str, int]:
    """Each distinct reason a picture failed -> how many, to say each once."""
    out: dict[str, int] = {}
    for fetch in fetched.values():
        if fetch.path is None:
            out[fetch.reason or "unknown reason"] = out.get(fetch.reason or "unknown reason", 0) + 1
    return out
