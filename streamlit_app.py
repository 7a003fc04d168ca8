"""promptrag's Streamlit app: `streamlit run streamlit_app.py` (or `promptrag app`).

This file declares the pages and draws the chrome every page shares (the sidebar: which index
is open, which enhancers and image backends are ready). Each page in pages/ is layout plus
calls into the library; heavy objects come from app/resources.py, per-user state from
app/state.py.

With no index yet, the only page is "Get started", which builds one; once it exists the app
opens on Explore. With sign-in configured ([auth] in .streamlit/secrets.toml), nothing but the
sign-in screen is drawn until the browser has signed in (app/auth.py, docs/auth.md).
"""

from __future__ import annotations

import streamlit as st

from app import auth, resources, state, widgets

# As in .streamlit/config.toml, for an installed copy started from another directory: no
# traceback ever reaches the page (pages show one-line messages; details go to the server log).
st.set_option("client.showErrorDetails", "none")
st.set_option("client.toolbarMode", "minimal")
st.set_page_config(page_title="promptrag", page_icon="✨", layout="wide",
                   menu_items={"About": "promptrag turns a short idea into a text-to-image prompt "
                                        "grounded in real prompts."})

known = False
with widgets.guard("Checking who you are"):
    auth.sign_in_gate()  # the acting user for history, runs and spend; the sign-in screen stops here
    known = True
if not known:
    st.stop()  # the guard said why (e.g. unreadable secrets): show nothing else

index_path = resources.current_index_path()
has_index = resources.index_exists(index_path)

if has_index:
    pages = [
        st.Page("pages/explore.py", title="Explore", icon=":material/travel_explore:", default=True),
        st.Page("pages/refine.py", title="Refine", icon=":material/auto_fix_high:"),
        st.Page("pages/campaign.py", title="Campaign", icon=":material/campaign:"),
        st.Page("pages/history.py", title="History", icon=":material/history:"),
        st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
        st.Page("pages/settings.py", title="Settings", icon=":material/tune:"),
    ]
else:
    pages = [st.Page("pages/first_run.py", title="Get started", icon=":material/rocket_launch:",
                     default=True)]

page = st.navigation(pages)
target = state.shell_target()  # a page that first ran without this shell (see state.require_shell)
if target:
    for candidate in pages:
        if candidate.url_path == target:
            st.session_state[state.SHELL] = True
            st.switch_page(candidate)

with st.sidebar:
    st.markdown("### :material/auto_awesome: promptrag")
    st.caption("Short ideas → strong prompts, grounded in real ones.")
    with widgets.guard("Reading the index"):
        if has_index:
            widgets.index_summary(index_path)
        else:
            st.caption("No prompt index yet.")
    with widgets.guard("Checking the backends"):
        if auth.is_admin():  # which backends are ready tells which keys are set: admins only
            widgets.backend_status_panel()
    with widgets.guard("Reading your account"):
        auth.account_panel()

st.session_state[state.SHELL] = True
page.run()
