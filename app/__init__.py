"""app: the Streamlit app's shared helpers (floor 4, beside streamlit_app.py and pages/).

    app.resources   the one module of @st.cache_resource factories (index, retriever, enhancer,
                    history, image backend), built once per server process and shared by sessions
    app.state       per-user state under a few namespaced st.session_state keys, written by callbacks
    app.widgets     guard() around page actions, prompt cards, notices, the backend status panel,
                    ProgressPanel (an on_progress callback drawing st.progress with an ETA)
    app.indexes     the indexes on disk (with manifests) and building one with a progress bar

Pages import these and call floor-2/3 entry points; nothing here talks to FAISS, Anthropic or
diffusers directly, and nothing below floor 4 imports this package.
"""
