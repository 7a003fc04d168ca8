"""Explore: search the real prompts in the index, look at their settings, pick examples for Refine.

Search (dense / keyword / hybrid, filters, diversity) fetches up to `explore_state.MAX_RESULTS`
prompts once; the pages of cards are slices of that list, so paging never searches again. Switching
the mode or a filter searches the last query again (the query box alone is a form). Each card shows
one "% match" (rag.relevance); nonsense gets "no close matches", a typo a "did you mean". Ticking "use as
example" on a card puts it in `app.state.picks()`, which Refine fuses. Cards show images made
here from that exact prompt (from the history database).

The results show as a list or a grid of pictures (app/gallery_view.py; the choice stays for the
session and in the URL); "Open" shows one prompt large with "Use these settings" (to Refine's
generation settings) and "More like this" (its dense neighbours). Rows above the NSFW threshold
are covered until revealed (app/gallery.py).
"""

from __future__ import annotations

import streamlit as st

from app import explore_state, gallery, gallery_view, resources, state
from app.widgets import escape_md, guard
from enhancers.blocklist import load_blocklist

state.require_shell(__file__)

PAGE_SIZE = 10
MODES = {"hybrid": "Hybrid", "dense": "Meaning", "keyword": "Keywords"}
SUGGESTIONS = ["a lighthouse in a storm", "cyberpunk street at night", "portrait of an old fisherman",
               "cozy cabin in the snow", "a fox in a misty forest"]
MATCH_HELP = ("Match: how close each prompt is to your words, 0–100 %. The first result shows its "
              "closeness in meaning (cosine similarity of the two texts' embeddings); the others are "
              "scaled by the score that ordered them, so the figure falls as you read down.")

explore = state.explore()
index_path = resources.current_index_path()

# ---- header ------------------------------------------------------------------------------
built = st.session_state.pop("first_run.report", None)
if built:
    st.success(f"Your prompt index is ready: {built['rows']:,} prompts. Search them below.",
               icon=":material/celebration:")

st.title("Explore real prompts")
st.caption("Search thousands of prompts people really used. Tick **Use as example** on the ones you like, "
           "then open **Refine** to turn your idea into a prompt in their style.")

# The index and its embedder load once per server; the first visitor waits here, not on Search.
held: frozenset[str] = frozenset()
pictured = False
with guard("Opening the index"):
    resources.load_retriever(index_path)
    held = explore_state.held_settings(index_path)
    pictured = explore_state.has_images(index_path)

# ---- search form -------------------------------------------------------------------------
KEEP = "session"  # the values survive a visit to another page (persist_state)
RESEARCH = {"on_change": explore_state.research}  # mode and filters re-run the last search

# Narrow windows (800 px with the sidebar open): the button and the mode switch keep their whole
# labels (width="content"), the query box and Filters take what is left, and a card's "Use as
# example" moves under its figures rather than being cut (CSS below: card columns wrap).
st.html("<style>[class*='st-key-card-explore-'] [data-testid='stHorizontalBlock'] {flex-wrap: wrap;}"
        "[class*='st-key-card-explore-'] [data-testid='stColumn'] {min-width: fit-content;}"
        ".st-key-explore-modebar [data-testid='stColumn']:first-child, .st-key-explore-modebar"
        " [data-testid='stColumn']:last-child {flex: 0 0 auto; width: auto; min-width: fit-content;}"
        ".st-key-explore-modebar [data-testid='stColumn']:nth-child(2) {flex: 1 1 0; min-width: 12rem;}</style>")
gallery_view.styles()
with st.form("explore.form", border=False, enter_to_submit=True):
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.text_input("Search", key="explore.query", persist_state=KEEP, label_visibility="collapsed",
                      placeholder="Describe an image, e.g. a lighthouse in a storm")
        submitted = st.form_submit_button("Search", type="primary", icon=":material/search:", width="content",
                                          key="explore.search")
with st.container(key="explore.modebar"):
    m_col, f_col, v_col = st.columns([2, 5, 1], vertical_alignment="top")
with v_col:
    view = gallery_view.view_switch(gallery.default_view(pictured))
m_col.segmented_control("Mode", options=list(MODES), format_func=MODES.get, default="hybrid",
                        key="explore.mode", persist_state=KEEP, label_visibility="collapsed", width="content",
                        help="Meaning: similar ideas in other words. Keywords: exact words (BM25). "
                             "Hybrid: both, fused.", **RESEARCH)
filters = f_col.expander("Filters", icon=":material/filter_list:")
with filters:
    f1, f2, f3 = st.columns(3)
    f1.number_input("Seen at least (times)", min_value=1, value=1, step=1, key="explore.min_count",
                    persist_state=KEEP, **RESEARCH)
    f2.slider("NSFW threshold", min_value=0.0, max_value=1.0, value=gallery.STRICT_NSFW, step=0.05,
              key=gallery.NSFW_KEY, persist_state=KEEP, **RESEARCH,
              help="Pictures and prompts whose image or prompt NSFW score is above this are covered until "
                   "you reveal them (or hidden, below). Rows without a score are shown.")
    f3.slider("Diversity", min_value=0.0, max_value=1.0, value=0.0, step=0.1, key="explore.diversity",
              persist_state=KEEP, **RESEARCH,
              help="0 = most relevant first; higher values spread the results over different styles.")
    if held & {"sampler", "width", "height"}:
        f4, f5, f6 = st.columns(3)
        if "sampler" in held:
            f4.text_input("Sampler", key="explore.sampler", persist_state=KEEP, placeholder="any, e.g. k_lms",
                          **RESEARCH)
        if "width" in held:
            f5.number_input("Width (px, 0 = any)", min_value=0, max_value=4096, value=0, step=64,
                            key="explore.width", persist_state=KEEP, **RESEARCH)
        if "height" in held:
            f6.number_input("Height (px, 0 = any)", min_value=0, max_value=4096, value=0, step=64,
                            key="explore.height", persist_state=KEEP, **RESEARCH)
    if not held:
        st.caption(":material/info: This index holds prompt text only: seed, steps, CFG, sampler and size "
                   "come with a DiffusionDB download (`promptrag ingest`).")
    with st.container(horizontal=True):
        st.toggle("Hide prompts above the NSFW threshold", key=gallery.NSFW_HIDE_KEY, persist_state=KEEP,
                  **RESEARCH, help="Leave them out of the results instead of covering them.")
        st.toggle("Hide prompts with blocked words or artists", key="explore.hide_blocked",
                  persist_state=KEEP, help="Your blocklist is edited on the Settings page.")

# ---- run the search ----------------------------------------------------------------------
if submitted or explore.pop("pending", False):
    query = st.session_state.get("explore.query", "")
    mode = st.session_state.get("explore.mode") or "hybrid"
    with guard("Search"):
        if not query.strip():
            st.warning("Type what you are looking for first.", icon=":material/edit:")
        else:
            explore_state.run(index_path, query, mode, held)

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
judgement = explore.get("judgement")
if judgement is not None and judgement.did_you_mean:
    with st.container(horizontal=True, vertical_alignment="center", key="explore.did_you_mean"):
        st.markdown(":material/spellcheck: Did you mean", width="content")
        # A button label is markdown: the correction (the user's own text) is escaped.
        st.button(escape_md(judgement.did_you_mean), key="explore.correct", type="tertiary",
                  on_click=explore_state.search_for, args=(judgement.did_you_mean,))
        if explore["mode"] != "dense":
            st.caption("Prompts with the corrected words are already included.", width="content")
if not results:
    if explore.get("query"):
        st.info("No prompts match. Try other words, the Meaning mode, or fewer filters.",
                icon=":material/search_off:")
    else:
        st.markdown("##### Try one of these")
        cols = st.columns(len(SUGGESTIONS))
        for i, (col, text) in enumerate(zip(cols, SUGGESTIONS, strict=True)):
            col.button(text, key=f"explore.suggest.{i}", on_click=explore_state.search_for, args=(text,),
                       width="stretch")
else:
    relevance = dict(zip((r.id for r in results), judgement.relevance, strict=True)) if judgement else {}
    everything, hidden = results, 0
    if st.session_state.get("explore.hide_blocked"):
        with guard("Reading your blocklist"):
            blocklist = load_blocklist()
            results = [r for r in everything if not blocklist.blocks(r.prompt)]
            hidden = len(everything) - len(results)
    opened = gallery.detail()
    if opened is not None:
        with guard("Showing the prompt"):
            gallery_view.detail_view(opened, relevance.get(opened.id))
        if explore.get("neighbours_wanted"):
            with guard("Finding prompts like it"):
                gallery.find_neighbours(index_path, explore_state.filters(held))
        if explore.get("neighbours") is not None:
            with guard("Showing prompts like it"):
                gallery_view.neighbours_view(explore["neighbours"], pictured)
        st.stop()  # the detail replaces the results until "Back to results"

    pages = max(1, (len(results) + PAGE_SIZE - 1) // PAGE_SIZE)
    page_key = f"explore.page.{explore.get('search_id', 0)}"
    page = min(max(1, int(st.session_state.get(page_key, 1))), pages)
    start = (page - 1) * PAGE_SIZE
    shown = results[start:start + PAGE_SIZE]
    close = sum(relevance[r.id].close for r in results) if relevance else len(results)
    quoted = f"“{escape_md(explore['query'])}”"
    if close:
        found = f"{close} close match{'es' if close != 1 else ''} among {len(results)} prompts for {quoted}"
    else:
        st.warning(f"No close matches for {quoted}: nothing in this index is about it. The nearest prompts "
                   "are below anyway; try other words.", icon=":material/search_off:")
        found = f"{len(results)} nearest prompts, none close"
    st.caption(f"{found} · {MODES[explore['mode']].lower()} · {explore.get('seconds', 0) * 1000:.0f} ms"
               + (" · ordered for variety" if st.session_state.get("explore.diversity") else "")
               + (f" · {hidden} hidden by your blocklist" if hidden else ""), help=MATCH_HELP)

    if view == "grid":
        gallery_view.grid(shown, prefix="explore", everything=everything, relevance=relevance,
                          index_has_pictures=pictured)
    else:
        images: dict = {}
        with guard("Loading images made from these prompts"):
            images = resources.load_history().images_for_prompts([r.prompt for r in shown])
        gallery_view.cards(shown, everything=everything, relevance=relevance, images=images)

    if pages > 1:
        with st.container(horizontal=True, horizontal_alignment="center"):
            st.pagination(pages, key=page_key, persist_state=KEEP)
