"""app: the Streamlit app's shared helpers (floor 4, beside streamlit_app.py and pages/).

    app.resources     the one module of @st.cache_resource factories (index, retriever, enhancer,
                      history, image backend), built once per server process, shared by sessions
    app.state         per-user state under a few namespaced st.session_state keys, written by
                      callbacks
    app.refine_state  the Refine page's share of that state (rounds, drafts, ticks, generation
                      settings) and the callbacks that write it
    app.widgets       guard() around page actions, prompt cards, notices, the backend status
                      panel, ProgressPanel (an on_progress callback drawing st.progress with an ETA)
    app.indexes       building an index with a progress bar, a cached DiffusionDB reachability check
    app.text          escape_md: untrusted text (prompts, ideas, errors) made inert for st.markdown

Pages import these and call floor-2/3 entry points; nothing here talks to FAISS, Anthropic or
diffusers directly, and nothing below floor 4 imports this package.
"""
