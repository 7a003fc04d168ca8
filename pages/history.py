"""History: every refine round made here — search it, reopen one into Refine, delete, export.

Rounds come from `app.history.History` (SQLite at Settings.history_db), newest first, a page at
a time; a long idea is shortened in its card's title (the whole idea is the title's help). Reopening loads the
round's idea, prompt and examples into Refine's state; deleting asks for a confirmation first.
"""

from __future__ import annotations

import streamlit as st

from app import resources, state, widgets
from app.widgets import escape_md, guard
from campaign.jobs import list_runs

state.require_shell(__file__)

PAGE_SIZE = 10
TITLE_CHARS = 90  # a card's title: a long idea is cut here (the whole idea is its help and in the search)

st.title("History")
st.caption("Every prompt you made here, newest first. Reopen one to keep refining it.")


def _ask_delete(round_id: int) -> None:
    st.session_state["history.confirm"] = round_id


def _cancel_delete() -> None:
    st.session_state.pop("history.confirm", None)


top, csv_col, json_col = st.columns([6, 1, 1], vertical_alignment="bottom")
search = top.text_input("Search ideas and prompts", key="history.search", persist_state="session",
                        placeholder="lighthouse", label_visibility="collapsed").strip() or None

rounds, total = [], 0
with guard("Reading the history"):
    history = resources.load_history()
    total = history.count(search=search)
    pages = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    page_key = f"history.page.{search or ''}"  # another search starts at page 1
    page = min(max(1, int(st.session_state.get(page_key, 1))), pages)
    rounds = history.list_rounds(search=search, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    if total:
        csv_col.download_button("CSV", data=history.export("csv", search=search),
                                file_name="promptrag-history.csv",
                                mime="text/csv", key="history.export_csv", icon=":material/download:",
                                width="stretch")
        json_col.download_button("JSON", data=history.export("json", search=search),
                                 file_name="promptrag-history.json", mime="application/json",
                                 key="history.export_json", icon=":material/download:", width="stretch")

if not rounds:
    if search:
        st.info(f"No rounds match “{escape_md(search)}”.", icon=":material/search_off:")
    else:
        st.info("Nothing here yet. Prompts you make on **Refine** are kept here.", icon=":material/history:")
        st.page_link("pages/refine.py", label="Go to Refine", icon=":material/arrow_forward:")

for item in rounds:
    with st.container(border=True, key=f"history.round.{item.id}"):
        head, actions = st.columns([5, 2], vertical_alignment="top")
        with head:
            title = widgets.shorten(item.idea, TITLE_CHARS)
            st.markdown(f"**{escape_md(title)}**", help=escape_md(item.idea) if title != item.idea else None)
            facts = [item.created_at.replace("T", " ")[:16], f"by {item.enhancer}"]
            if item.images:
                facts.append(f"{len(item.images)} image{'s' if len(item.images) != 1 else ''}")
            st.caption(escape_md(" · ".join(facts)))
        with actions:
            a1, a2 = st.columns(2)
            if a1.button("Reopen", key=f"history.reopen.{item.id}", icon=":material/edit:", width="stretch"):
                state.reopen_round(item)
                st.switch_page("pages/refine.py")
            a2.button("Delete", key=f"history.delete.{item.id}", icon=":material/delete:",
                      on_click=_ask_delete,
                      args=(item.id,), width="stretch")
        st.code(item.prompt, language=None, wrap_lines=True)
        if item.negative_prompt:
            st.caption("Negative: " + escape_md(item.negative_prompt))
        if item.fallback_reasons:
            widgets.fallback_notice(item.enhancer, item.fallback_reasons)
        if item.feedback:
            st.caption("Feedback: " + escape_md(item.feedback))
        shown = [img for img in item.images if img.exists]
        if shown:
            st.image([img.path for img in shown[:6]], width=140,
                     caption=[f"seed {img.seed}" for img in shown[:6]])
        if st.session_state.get("history.confirm") == item.id:
            st.warning("Delete this round and its image records? The image files stay on disk.",
                       icon=":material/delete:")
            c1, c2, _ = st.columns([1, 1, 4])
            if c1.button("Delete for good", key=f"history.confirm_delete.{item.id}", type="primary"):
                with guard("Deleting the round"):
                    history.delete(item.id)
                    _cancel_delete()
                    st.rerun()
            c2.button("Keep it", key=f"history.keep.{item.id}", on_click=_cancel_delete)

if total > PAGE_SIZE:
    with st.container(horizontal=True, horizontal_alignment="center", vertical_alignment="center"):
        st.pagination(pages, key=page_key, persist_state="session")
        st.caption(f"{total} rounds")

st.subheader("Campaign runs", anchor=False)
with guard("Listing the campaign runs"):
    runs = list_runs()
    if not runs:
        st.caption("No campaign runs yet. Briefs started on **Campaign** are kept here.")
    for run in runs:
        with st.container(border=True, key=f"history.run.{run.run_id}"):
            head, action = st.columns([5, 1], vertical_alignment="center")
            title = widgets.shorten(run.title, TITLE_CHARS)
            head.markdown(f"**{escape_md(title)}**", help=escape_md(run.title) if title != run.title else None)
            head.caption(escape_md(" · ".join(filter(None, [
                (run.started_at or "").replace("T", " ")[:16], run.state,
                f"{run.done} / {run.total} variants", "with images" if run.images else "prompts only",
            ]))))
            action.page_link("pages/campaign.py", label="Reopen", icon=":material/campaign:",
                             query_params={"run": run.run_id}, width="stretch")
