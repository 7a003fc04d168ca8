"""Drawing Explore's gallery: the view switch, the grid of tiles, the detail view, covers and
placeholders, and the small example pictures Refine and Campaign show beside example text.

A page of tiles is drawn first with an empty picture slot each, then the page's thumbnails are
fetched in one concurrent call (`gallery.thumbnails`) and the slots filled: the prompts show at
once, the pictures as they come, and no card waits for another's download.

Untrusted text (prompts, failure reasons quoting a URL) goes through st.text, st.code or
`escape_md`; the only HTML here is the static <style> of `GALLERY_CSS`.

Deliberately not here: state and callbacks (app/gallery.py), the search (app/explore_state.py).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app import gallery, state, widgets
from app.gallery import Hit
from app.widgets import escape_md, shorten
from rag.assistant import ExampleUsed, to_examples
from rag.retriever import RetrievedPrompt

if TYPE_CHECKING:  # types only: the image cache and rag.relevance load more than a page needs
    from index.images.cache import ImageFetch
    from rag.relevance import Relevance

# Tiles flow in a CSS grid (as many ~200 px columns as fit: 4 at 1400 px, 2 at 800 px with the
# sidebar open); pictures are square crops, the full picture is in the detail view. A cover or
# a prompt-only tile takes the same square, on the theme's neutral background.
GALLERY_CSS = """<style>
[class*='st-key-explore-grid'] {display: grid !important;
  grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 0.75rem; align-items: stretch !important;}
[class*='st-key-explore-grid'] > div {width: auto !important; min-width: 0; display: flex; flex-direction: column;}
[class*='st-key-tile-'] img {aspect-ratio: 1 / 1; object-fit: cover; width: 100%; border-radius: 0.5rem;}
[class*='st-key-tile-explore-'], [class*='st-key-tile-more-'] {flex: 1 1 auto;}
[class*='st-key-tile-explore-'] > div:last-child, [class*='st-key-tile-more-'] > div:last-child {margin-top: auto;}
[class*='st-key-square-'] {aspect-ratio: 1 / 1; background: var(--st-secondary-background-color, #F5F3FF);
  border-radius: 0.5rem; padding: 0.75rem; overflow: hidden; justify-content: center;}
[class*='st-key-square-'] [data-testid='stText'] {display: -webkit-box; -webkit-line-clamp: 8;
  -webkit-box-orient: vertical; overflow: hidden; font-size: 0.9rem;}
[class*='st-key-tile-'] [data-testid='stCaptionContainer'] p {display: -webkit-box; -webkit-line-clamp: 2;
  -webkit-box-orient: vertical; overflow: hidden;}
[class*='st-key-explore-detail-picture'] img {max-height: 75vh; object-fit: contain;}
</style>"""


def styles() -> None:
    st.html(GALLERY_CSS)


def view_switch(default: str) -> str:
    """The List / Grid control (kept for the session and in the URL); the chosen view."""
    chosen = st.segmented_control(
        "View", options=list(gallery.VIEWS), default=default, key=gallery.VIEW_KEY, required=True,
        format_func=lambda view: gallery.VIEWS[view], label_visibility="collapsed", bind="query-params",
        persist_state="session", help="List: the prompts first. Grid: their pictures first.")
    return chosen or default


# ---- pieces of a tile --------------------------------------------------------------------------
def square(key: str, text: str | None = None, icon: str = "") -> DeltaGenerator:
    """A neutral square the size of a picture; `text` (untrusted, e.g. a prompt) as plain text."""
    box = st.container(key=f"square-{key}", gap="small")
    with box:
        if icon:
            st.markdown(icon)
        if text:
            st.text(text)
    return box


def cover(hit: Hit, key: str) -> None:
    """The placeholder of a covered row: why, and a Reveal button."""
    with square(key, icon=":material/visibility_off:"):
        st.caption(escape_md(gallery.cover_line(hit)))
        st.button("Reveal", key=f"explore.reveal.{key}", icon=":material/visibility:", on_click=gallery.reveal,
                  args=(hit.id,), help="Show this picture and its prompt (only to you, for this session).")


def picture(slot: DeltaGenerator, fetch: ImageFetch | None, key: str) -> None:
    """Fill a tile's picture slot: the thumbnail, or a neutral square (the reason is said once,
    above the grid)."""
    with slot.container():
        if fetch is not None and fetch.path is not None:
            st.image(str(fetch.path), width="stretch")
        else:
            with square(key, icon=":material/hide_image:"):
                st.caption("Picture unavailable")


def facts_line(hit: RetrievedPrompt, relevance: Relevance | None) -> str:
    """'72% match · seen 4× · 512×768' (or '83% similar' for a neighbour)."""
    if relevance is not None:
        figure = widgets.match_label(relevance)
    else:
        figure = f"{round(max(0.0, float(hit.score)) * 100)}% similar"
    source = hit.hit
    size = f"{source.width}×{source.height}" if source.width and source.height else ""
    steps = f"{source.steps} steps" if source.steps else ""
    count = f"seen {hit.count:,}×" if hit.count > 1 else ""
    return " · ".join(p for p in (figure, count, size, steps) if p)


def pick_box(item: RetrievedPrompt, pick: ExampleUsed, key: str, label: str = "Use as example") -> None:
    box = f"pick-{key}"
    st.session_state[box] = state.is_picked(pick)
    st.checkbox(label, key=box, on_change=state.toggle_pick, args=(pick,))


# ---- the grid ----------------------------------------------------------------------------------
def grid(items: list[RetrievedPrompt], *, prefix: str, everything: list[RetrievedPrompt],
         relevance: dict[int, Relevance],
         index_has_pictures: bool = True) -> None:
    """Tiles of `items` (RetrievedPrompts); picks are made against `everything` (their search).
    An index without pictures gets one line saying where they come from."""
    notices = st.empty()
    if not index_has_pictures:
        notices.caption(":material/image: " + gallery.WHERE_PICTURES_COME_FROM)
    slots: dict[int, tuple[DeltaGenerator, str]] = {}
    with st.container(key=f"explore-grid-{prefix}"):
        for item in items:
            slot = tile(item, prefix=prefix, pick=to_examples(everything, [item.rank])[0],
                        relevance=relevance.get(item.id))
            if slot is not None:
                slots[item.id] = (slot, f"{prefix}-{item.id}")
    if not slots:
        return
    fetched: dict[int, ImageFetch] = {}
    with widgets.guard("Loading the pictures"):
        fetched = gallery.thumbnails([i for i in items if i.id in slots])
    for hit_id, (slot, key) in slots.items():
        picture(slot, fetched.get(hit_id), key)
    failure_notice(notices, fetched)


def failure_notice(where: DeltaGenerator, fetched: dict[int, ImageFetch]) -> None:
    """Each reason pictures failed, once: '3 pictures could not be loaded: <reason>'."""
    failed = gallery.failures(fetched)
    if not failed:
        return
    with where.container():
        for reason, n in failed.items():
            st.caption(f":material/cloud_off: {n} picture{'s' if n != 1 else ''} could not be loaded: "
                       + escape_md(reason))


def tile(item: RetrievedPrompt, *, prefix: str, pick: ExampleUsed,
         relevance: Relevance | None) -> DeltaGenerator | None:
    """One tile; returns its empty picture slot when it has a picture to fetch, else None."""
    key = f"{prefix}-{item.id}"
    slot = None
    with st.container(border=True, key=f"tile-{key}", gap="small"):
        hidden = gallery.covered(item)
        if hidden:
            cover(item, key)
        elif gallery.locator(item):
            slot = st.empty()
            slot.container(key=f"square-wait-{key}")  # a neutral square until the picture comes
        else:
            square(key, shorten(item.prompt, 220))
        if not hidden and gallery.locator(item):
            st.caption(escape_md(shorten(item.prompt, 120)), help=escape_md(item.prompt))
        st.caption(":small[" + escape_md(facts_line(item, relevance)) + "]")
        with st.container(horizontal=True, vertical_alignment="center", gap="small"):
            st.button("Open", key=f"explore.open.{key}", icon=":material/open_in_full:", type="tertiary",
                      on_click=gallery.open_detail, args=(item,), help="The picture, the whole prompt, its settings.")
            pick_box(item, pick, key, label="Example")
    return slot


# ---- the list ----------------------------------------------------------------------------------
def cards(items: list[RetrievedPrompt], *, everything: list[RetrievedPrompt], relevance: dict[int, Relevance],
          images: dict) -> None:
    """The list: prompt cards in rows of two (app.widgets.prompt_card), with a small picture beside
    each when this page has any; `images`: prompt -> images made here (app.history)."""
    pictured = any(gallery.locator(i) for i in items)
    notices = st.empty()
    fetched: dict[int, ImageFetch] = {}
    if pictured:
        with widgets.guard("Loading the pictures"):
            fetched = gallery.thumbnails(items)
        failure_notice(notices, fetched)
    for row in range(0, len(items), 2):  # rows of two, so cards read left to right
        for column, item in zip(st.columns(2), items[row:row + 2], strict=False):
            key = f"explore-{item.id}"
            with column:
                if gallery.covered(item):
                    covered_card(item, key)
                    continue
                body = column
                if pictured:
                    thumb, body = st.columns([1, 3])
                    with thumb:
                        list_thumbnail(item, key, fetched.get(item.id))
                with body:
                    widgets.prompt_card(item, key=key, rank=item.rank, images=images.get(item.prompt, ()),
                                        pick=to_examples(everything, [item.rank])[0], relevance=relevance.get(item.id))


def list_thumbnail(item: RetrievedPrompt, key: str, fetch: ImageFetch | None) -> None:
    """The picture beside a list card; failed or missing: a small neutral square (a failure's
    reason is said once, above the list)."""
    with st.container(key=f"tile-list-{key}", gap="small"):
        if fetch is not None and fetch.path is not None:
            st.image(str(fetch.path), width="stretch")
        elif gallery.locator(item):
            with square(f"list-{key}", icon=":material/hide_image:"):
                st.caption("Unavailable")
        else:
            with square(f"list-{key}", icon=":material/image_not_supported:"):
                st.caption("No picture")
        st.button("Open", key=f"explore.open.list-{key}", icon=":material/open_in_full:", type="tertiary",
                  on_click=gallery.open_detail, args=(item,), help="The picture, the whole prompt, its settings.")


def covered_card(item: RetrievedPrompt, key: str) -> None:
    """A list card whose prompt or picture is above the NSFW threshold: why, and Reveal; no text."""
    with st.container(border=True, key=f"card-explore-{key}"):
        st.markdown(f":violet-badge[#{item.rank}] :small[{escape_md(gallery.cover_line(item))}]")
        st.button("Reveal", key=f"explore.reveal.card-{key}", icon=":material/visibility:",
                  on_click=gallery.reveal, args=(item.id,))


# ---- the detail view ---------------------------------------------------------------------------
def detail_view(item: RetrievedPrompt, relevance: Relevance | None) -> None:
    """One prompt large: its picture, the whole prompt, its settings, and what to do with it."""
    key = f"detail-{item.id}"
    hidden = gallery.covered(item)
    st.button("Back to results", key="explore.detail.back", icon=":material/arrow_back:", type="tertiary",
              on_click=gallery.close_detail)
    left, right = st.columns([3, 2], gap="large")
    with left, st.container(key="explore-detail-picture"):
        detail_picture(item, key, hidden)
    with right:
        if hidden:
            st.caption("The prompt is covered too; reveal it to read it.")
        else:
            st.markdown(":small[" + escape_md(facts_line(item, relevance)) + "]")
            st.code(item.prompt, language=None, wrap_lines=True)
        details = widgets.settings_line(item.hit)
        st.caption(":material/tune: " + escape_md(details) if details
                   else "No generation settings were recorded with this prompt.")
        pick_box(item, replace(to_examples([item], [1])[0], rank=item.rank), key)
        with st.container(horizontal=True, gap="small"):
            st.button("Use these settings", key="explore.detail.use_settings", icon=":material/tune:",
                      on_click=gallery.use_settings, args=(item,), disabled=not gallery.has_settings(item),
                      help="Refine generates with this prompt's seed, steps, CFG, sampler and size."
                      if gallery.has_settings(item) else "This prompt has no generation settings to use.")
            st.button("More like this", key="explore.detail.more", icon=":material/auto_awesome_motion:",
                      on_click=gallery.want_neighbours, help="The prompts closest to this one in meaning.")
        if state.explore().get("settings_used") == item.id:
            st.success("Refine will generate with these settings.", icon=":material/check_circle:")
            st.page_link("pages/refine.py", label="Open Refine", icon=":material/arrow_forward:")


def detail_picture(item: RetrievedPrompt, key: str, hidden: bool) -> None:
    if hidden:
        cover(item, key)
        return
    if not gallery.locator(item):
        square(key, icon=":material/image_not_supported:")
        st.caption("No picture of this prompt in this index.")
        return
    fetch = None
    with widgets.guard("Loading the picture"), st.spinner("Loading the picture…"):
        fetch = gallery.full_image(item)
    if fetch is not None and fetch.path is not None:
        st.image(str(fetch.path), width="stretch")
    else:
        square(key, icon=":material/cloud_off:")
        st.caption(":material/cloud_off: The picture could not be loaded: "
                   + escape_md(fetch.reason if fetch is not None else "see the server log"))


def neighbours_view(neighbours: list[RetrievedPrompt], index_has_pictures: bool) -> None:
    st.subheader("More like this", anchor=False)
    if not neighbours:
        st.info("No other prompts in this index are close to this one.", icon=":material/search_off:")
        return
    grid(neighbours, prefix="more", everything=neighbours, relevance={}, index_has_pictures=index_has_pictures)
