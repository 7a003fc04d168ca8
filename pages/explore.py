"""Explore: search the real prompts in the index, look at their settings, pick examples for Refine.

Search (dense / keyword / hybrid, filters, diversity) fetches up to `MAX_RESULTS` prompts once;
the pages of cards are slices of that list, so paging never searches again. Ticking "use as
example" on a card puts it in `app.state.picks()`, which Refine fuses. Cards show images made
here from that exact prompt (from the history database).
"""

from __future__ import annotations

import time

import streamlit as st

from app import resources, state, widgets
from app.widgets import escape_md, guard

state.require_shell(__file__)

PAGE_SIZE = 10
MAX_RESULTS = 100
MODES = {"hybrid": "Hybrid", "dense": "Meaning", "keyword": "Keywords"}
SUGGESTIONS = ["a lighthouse in a storm", "cyberpunk street at night", "portrait of an old fisherman",
               "cozy cabin in the snow", "a fox in a misty forest"]

explore = state.explore()
index_path = resources.current_index_path()


def _suggest(text: str) -> None:
    st.session_state["explore.query"] = text
    explore["pending"] = True


def _filters():
    from index.records import SearchFilters

    values = {
        "min_count": int(st.session_state.get("explore.min_count", 1)),
        "sampler": (st.session_state.get("explore.sampler") or "").strip() or None,
        "width": int(st.session_state.get("explore.width") or 0) or None,
        "height": int(st.session_state.get("explore.height") or 0) or None,
    }
    nsfw = st.session_state.get("explore.max_nsfw", 1.0)
    if nsfw < 1.0:
        values["max_prompt_nsfw"] = values["max_image_nsfw"] = float(nsfw)
    filters = SearchFilters(**values)
    return filters if filters.active else None


# ---- header ------------------------------------------------------------------------------
built = st.session_state.pop("first_run.report", None)
if built:
    st.success(f"Your prompt index is ready: {built['rows']:,} prompts. Search them below.",
               icon=":material/celebration:")

st.title("Explore real prompts")
st.caption("Search thousands of prompts people really used. Tick **Use as example** on the ones you like, "
           "then open **Refine** to turn your idea into a prompt in their style.")

# ---- search form -------------------------------------------------------------------------
KEEP = "session"  # the form's values survive a visit to another page (persist_state)

with st.form("explore.form", border=False, enter_to_submit=True):
    q_col, b_col = st.columns([7, 1], vertical_alignment="bottom")
    q_col.text_input("Search", key="explore.query", persist_state=KEEP, label_visibility="collapsed",
                     placeholder="Describe an image, e.g. a lighthouse in a storm")
    submitted = b_col.form_submit_button("Search", type="primary", icon=":material/search:", width="stretch",
                                         key="explore.search")
    m_col, f_col = st.columns([2, 5], vertical_alignment="top")
    m_col.segmented_control("Mode", options=list(MODES), format_func=MODES.get, default="hybrid",
                            key="explore.mode", persist_state=KEEP, label_visibility="collapsed",
                            width="stretch",
                            help="Meaning: similar ideas in other words. Keywords: exact words (BM25). "
                                 "Hybrid: both, fused.")
    with f_col.expander("Filters", icon=":material/filter_list:"):
        f1, f2, f3 = st.columns(3)
        f1.number_input("Seen at least (times)", min_value=1, value=1, step=1, key="explore.min_count",
                        persist_state=KEEP)
        f2.text_input("Sampler", key="explore.sampler", persist_state=KEEP, placeholder="any, e.g. k_lms")
        f3.slider("Max NSFW score", min_value=0.0, max_value=1.0, value=1.0, step=0.05,
                  key="explore.max_nsfw", persist_state=KEEP,
                  help="Hide prompts whose prompt or image NSFW score is above this (1 = show all).")
        f4, f5, f6 = st.columns(3)
        f4.number_input("Width (px, 0 = any)", min_value=0, max_value=4096, value=0, step=64,
                        key="explore.width", persist_state=KEEP)
        f5.number_input("Height (px, 0 = any)", min_value=0, max_value=4096, value=0, step=64,
                        key="explore.height", persist_state=KEEP)
        f6.slider("Diversity", min_value=0.0, max_value=1.0, value=0.0, step=0.1, key="explore.diversity",
                  persist_state=KEEP,
                  help="0 = most relevant first; higher values spread the results over different styles.")
        st.toggle("Hide prompts with blocked words or artists", key="explore.hide_blocked",
                  persist_state=KEEP, help="Your blocklist is edited on the Settings page.")

# The index and its embedder load once per server; the first visitor waits here, not on Search.
with guard("Opening the index"):
    resources.load_retriever(index_path)

# ---- run the search ----------------------------------------------------------------------
if submitted or explore.pop("pending", False):
    query = st.session_state.get("explore.query", "")
    mode = st.session_state.get("explore.mode") or "hybrid"
    with guard("Search"):
        if not query.strip():
            st.warning("Type what you are looking for first.", icon=":material/edit:")
        else:
            retriever = resources.load_retriever(index_path)
            diversity = st.session_state.get("explore.diversity") or None
            started = time.perf_counter()
            results = retriever.search(query, k=MAX_RESULTS, mode=mode, filters=_filters(),
                                       diversity=diversity)
            # A new search starts at page 1: a fresh pagination widget (its key names the search).
            explore.update(query=query, mode=mode, results=results, seconds=time.perf_counter() - started,
                           search_id=explore.get("search_id", 0) + 1)

# ---- picks bar ---------------------------------------------------------------------------
chosen = state.picks()
if chosen:
    with st.container(border=True, horizontal=True, vertical_alignment="center", key="explore.picks"):
        st.markdown(f":material/bookmark_added: **{len(chosen)} example{'s' if len(chosen) != 1 else ''} "
                    "picked** to use on Refine", width="stretch")
        if st.button("Refine with them", key="explore.to_refine", type="primary",
                     icon=":material/arrow_forward:"):
            st.switch_page("pages/refine.py")
        st.button("Clear", key="explore.clear_picks", on_click=state.clear_picks)

# ---- results -----------------------------------------------------------------------------
results = explore["results"]
if not results:
    if explore.get("query"):
        st.info("No prompts match. Try other words, the Meaning mode, or fewer filters.",
                icon=":material/search_off:")
    else:
        st.markdown("##### Try one of these")
        cols = st.columns(len(SUGGESTIONS))
        for i, (col, text) in enumerate(zip(cols, SUGGESTIONS, strict=True)):
            col.button(text, key=f"explore.suggest.{i}", on_click=_suggest, args=(text,),
                       width="stretch")
else:
    from rag.assistant import to_examples

    everything, hidden = results, 0
    if st.session_state.get("explore.hide_blocked"):
        with guard("Reading your blocklist"):
            from enhancers.blocklist import load_blocklist

            blocklist = load_blocklist()
            results = [r for r in everything if not blocklist.blocks(r.prompt)]
            hidden = len(everything) - len(results)
    pages = max(1, (len(results) + PAGE_SIZE - 1) // PAGE_SIZE)
    page_key = f"explore.page.{explore.get('search_id', 0)}"
    page = min(max(1, int(st.session_state.get(page_key, 1))), pages)
    start = (page - 1) * PAGE_SIZE
    shown = results[start:start + PAGE_SIZE]
    st.caption(f"{len(results)} prompts for “{escape_md(explore['query'])}” · "
               f"{MODES[explore['mode']].lower()} · "
               f"{explore.get('seconds', 0) * 1000:.0f} ms"
               + (f" · {hidden} hidden by your blocklist" if hidden else ""))

    images: dict = {}
    with guard("Loading images made from these prompts"):
        images = resources.load_history().images_for_prompts([r.prompt for r in shown])

    for row in range(0, len(shown), 2):  # rows of two, so cards read left to right
        for col, item in zip(st.columns(2), shown[row:row + 2], strict=False):
            with col:
                widgets.prompt_card(item, key=f"explore-{item.id}", rank=item.rank,
                                    images=images.get(item.prompt, ()),
                                    pick=to_examples(everything, [item.rank])[0])

    if pages > 1:
        with st.container(horizontal=True, horizontal_alignment="center"):
            st.pagination(pages, key=page_key, persist_state=KEEP)
