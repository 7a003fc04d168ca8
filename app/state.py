"""Per-user state: a few namespaced `st.session_state` keys, written by callbacks.

Pages read state through the accessors below and change it in widget callbacks (`on_change=`,
`on_click=`), so a rerun always sees the state the user asked for, before any widget is drawn.

    PICKS       dict[pick_key, ExampleUsed]  prompts ticked "use as example" on Explore → Refine
    REFINE      app.refine_session.RefineSession: idea, rounds (list[AssistantResult]), examples, images…
    INDEX       str: the index path chosen on Settings (absent: Settings.default_index)
    ENHANCERS   list[str]: this session's enhancer order chosen on Settings (absent: configured chain)
    GENERATION  dict: image backend, model and default parameters chosen on Settings
    EXPLORE     dict: the last search (query, mode, filters, results, page) so results survive reruns
    CARRIED     (search_id, query): the Explore search Refine has already taken as its idea

Deliberately not here: drawing (widgets.py) and shared heavy objects (resources.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import streamlit as st

from app.auth import require_admin
from app.history import HistoryRound
from app.refine_session import RefineSession, WidgetValues
from core.settings import get_settings
from enhancers.profiles import family_for_model
from generate.models import generation_defaults
from rag.assistant import ExampleUsed

if TYPE_CHECKING:
    from index.records import SearchFilters
    from rag.relevance import Judgement
    from rag.retriever import RetrievedPrompt

PICKS = "picks"
REFINE = "refine"
INDEX = "index_path"
ENHANCERS = "enhancer_order"
GENERATION = "generation"
EXPLORE = "explore"
CARRIED = "refine.explore_carried"
SHELL = "app.shell"  # set by streamlit_app.py on every run; see require_shell()
SHELL_TARGET = "app.shell_target"


class ExploreState(TypedDict):
    """What `explore()` holds for one user: the last search, and what the gallery opened."""

    query: str
    mode: str
    results: list[RetrievedPrompt]
    filters: SearchFilters | None
    error: str | None
    pending: NotRequired[bool]                          # a search is asked for: run it this rerun
    judgement: NotRequired[Judgement]                   # how well `results` answer `query`
    seconds: NotRequired[float]                         # how long the search took
    search_id: NotRequired[int]                         # counts searches (names the page widget)
    revealed: NotRequired[set[int]]                     # row ids this user uncovered
    detail: NotRequired[RetrievedPrompt | None]         # the open detail view
    neighbours: NotRequired[list[RetrievedPrompt] | None]
    neighbours_wanted: NotRequired[bool]
    settings_used: NotRequired[int | None]              # row whose settings went to Refine


GENERATION_DEFAULTS: WidgetValues = {
    "backend": "diffusers",
    "model": None,  # None: the configured model (PROMPTRAG_IMAGE_MODEL / PROMPTRAG_BEDROCK_IMAGE_MODEL)
    "steps": 25,
    "guidance": 7.0,
    "width": 512,
    "height": 512,
    "sampler": None,
    "seed": None,
    "num_images": 1,
}


# ---- the app shell ----------------------------------------------------------------------
def require_shell(page_file: str) -> None:
    """Every page calls `require_shell(__file__)` first: a page run without streamlit_app.py
    around it goes through the main script, which then opens that page again.

    Streamlit runs a fresh server's first sessions in its old "pages/ folder" mode until some
    script calls st.navigation, so a deep link (…/history) would open the bare page without the
    app's navigation, sidebar and page config. The main script's st.navigation call ends that
    mode for this session and every later one.
    """
    if not st.session_state.get(SHELL):
        st.session_state[SHELL_TARGET] = Path(page_file).stem  # the page's url path
        st.switch_page("streamlit_app.py")


def shell_target() -> str | None:
    """The url path of the page a bare page run asked to reopen inside the app (once), if any."""
    return st.session_state.pop(SHELL_TARGET, None)


# ---- picks (Explore → Refine) ------------------------------------------------------------
def picks() -> dict[int | str, ExampleUsed]:
    """The examples this user ticked, in the order ticked: pick_key → ExampleUsed."""
    return st.session_state.setdefault(PICKS, {})


def pick_key(example: ExampleUsed) -> int | str:
    """An example's identity: its index row id, or its text when it has none."""
    return example.id if example.id is not None else example.text


def is_picked(example: ExampleUsed) -> bool:
    return pick_key(example) in picks()


def toggle_pick(example: ExampleUsed) -> None:
    """Callback of a card's "use as example" checkbox: add the example, or remove it."""
    chosen = picks()
    key = pick_key(example)
    if key in chosen:
        del chosen[key]
    else:
        chosen[key] = example


def clear_picks() -> None:
    st.session_state[PICKS] = {}


# ---- refine ------------------------------------------------------------------------------
def new_refine() -> RefineSession:
    return RefineSession()


def refine() -> RefineSession:
    """This user's refine state (created empty on first use)."""
    current = st.session_state.get(REFINE)
    if current is None:
        current = st.session_state[REFINE] = new_refine()
    return current


def reopen_round(round: HistoryRound) -> None:
    """Load a `HistoryRound` into Refine: its idea, its result as the latest round, its examples
    as the picks. The caller then `st.switch_page("pages/refine.py")`."""
    st.session_state[REFINE] = RefineSession.reopened(round)
    st.session_state[PICKS] = {pick_key(e): e for e in round.result.examples}


def take_explore_query() -> str | None:
    """The query of Explore's latest search, the first time it is asked for (then None until
    the next search): Refine carries it into its idea box.

    Explore needs no call of its own: every search records its query and `search_id` in
    EXPLORE, so the search is carried whichever way the user reaches Refine ("Refine with
    them" or the sidebar), and only once, so an idea the user cleared stays cleared.
    """
    search = st.session_state.get(EXPLORE) or {}
    query = str(search.get("query") or "").strip()
    if not query:
        return None
    mark = (search.get("search_id"), query)
    if st.session_state.get(CARRIED) == mark:
        return None
    st.session_state[CARRIED] = mark
    return query


# ---- settings chosen for this session ----------------------------------------------------
def enhancer_order() -> list[str] | None:
    """The enhancer order chosen on Settings for this session, or None (the configured chain)."""
    order = st.session_state.get(ENHANCERS)
    return list(order) if order else None


def enhancer_spec() -> str:
    """What to pass to `resources.load_enhancer` / `load_assistant`: 'chain' or 'a,b,rules'.

    A chosen order always ends in 'rules' (the enhancer that needs nothing and cannot fail), so
    a failing choice falls back visibly instead of failing the page."""
    order = enhancer_order()
    if not order:
        return "chain"
    return ",".join([*order, *(["rules"] if "rules" not in order else [])])


def set_enhancer_order(order: list[str] | None) -> None:
    if order:
        st.session_state[ENHANCERS] = list(order)
    else:
        st.session_state.pop(ENHANCERS, None)


def generation() -> WidgetValues:
    """Image backend, model and default parameters for this session (Settings page edits them)."""
    current = st.session_state.get(GENERATION)
    if current is None:
        current = st.session_state[GENERATION] = {**GENERATION_DEFAULTS, **family_defaults(None)}
    return current


def family_defaults(model: str | None, backend: str = "diffusers") -> WidgetValues:
    """Steps, CFG and size for the family of `model` (None: the configured image model): a turbo
    model gets 4 steps and CFG 0 at 512², SDXL 30 steps at 1024², SD 1.5 25 steps, CFG 7 at 512²."""
    settings = get_settings()
    model = model or (settings.image_model if backend == "diffusers" else settings.bedrock_image_model)
    try:
        chosen = generation_defaults(family_for_model(model or "", default="sd1"))
    except Exception:  # noqa: BLE001 - an odd model id keeps the plain defaults, it never breaks the page
        return {}
    return {"steps": chosen.steps, "guidance": chosen.guidance, "width": chosen.width, "height": chosen.height}


def explore() -> ExploreState:
    """The last search on Explore (survives reruns and page switches)."""
    current: ExploreState | None = st.session_state.get(EXPLORE)
    if current is None:
        current = st.session_state[EXPLORE] = ExploreState(query="", mode="hybrid", results=[], filters=None,
                                                           error=None)
    return current


def choose_index(path: str | None) -> None:
    """Use the index at `path` for this session (None: back to the default index); admins only
    (app/auth.py: an index is a folder on the server)."""
    require_admin("Switching the index")
    if path:
        st.session_state[INDEX] = str(path)
    else:
        st.session_state.pop(INDEX, None)
    # Results of another index would be misleading; picks keep their texts and stay.
    st.session_state.pop(EXPLORE, None)
