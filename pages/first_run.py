"""Get started: build the first prompt index (the only page until one exists).

Four sources, each one click: the starter set shipped with promptrag (the default: no network,
about a minute on two CPU cores), an uploaded file, a file already on this machine, or a sample
of DiffusionDB downloaded now. "Build options" can fold near-identical prompts (`--fold-cosine`). Progress and ETA
come from the library's `on_progress`. A build that is stopped keeps its checkpoint, and the next build of the same
index resumes it.
Building and opening indexes are admin actions (app/auth.py): anyone else sees why not, and nothing more.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app import auth, indexes, resources, state
from app.widgets import escape_md, guard
from core.settings import get_settings
from index.manifest import list_indexes
from ingest.diffusiondb import file_url
from ingest.near_duplicates import RECOMMENDED_COSINE as FOLD_COSINE

state.require_shell(__file__)

TARGET = resources.current_index_path()
# Tests and demos may cap the starter set ("first_run.limit" in session state); users never see it.
LIMIT = st.session_state.get("first_run.limit")


def _built(report) -> None:
    st.session_state["first_run.report"] = {"rows": report.final_rows, "seconds": report.seconds}
    st.rerun()


st.title("Welcome to promptrag")
st.markdown(
    "Turn a short idea into a strong text‑to‑image prompt, grounded in real prompts people have used. "
    "First, build the **prompt index**: it stays on this machine and needs no keys, GPU or internet."
)

if not auth.admin_notice():  # building or opening an index reads files on the server: admins only
    st.stop()

if indexes.interrupted_build(TARGET):
    st.info("An earlier build was stopped before it finished. Building again resumes where it stopped.",
            icon=":material/resume:")

with st.expander("Build options", icon=":material/tune:"):
    fold_on = st.toggle(
        "Fold near-identical prompts", key="first_run.fold",
        help="Prompts one word or modifier apart become one row that keeps the total count; the other "
             "wordings are shown on demand. Prompts with the same words in another order always fold.")
    fold_at = st.slider(
        "Fold at cosine similarity ≥", min_value=0.90, max_value=0.99, value=FOLD_COSINE, step=0.01,
        key="first_run.fold_cosine", disabled=not fold_on,
        help=f"{FOLD_COSINE} is the measured setting (benchmarks/README.md); higher folds fewer prompts.")
FOLD = fold_at if fold_on else None

starter, upload, local, download = st.tabs(
    [":material/star: Starter set", ":material/upload_file: Upload a file",
     ":material/folder_open: File on this machine", ":material/cloud_download: DiffusionDB download"])

with starter:
    st.markdown("A few thousand public‑domain (CC0) prompts from **DiffusionDB**, shipped with promptrag. "
                "Embedding them takes about a minute on two CPU cores.")
    if st.button("Build the starter index", type="primary", key="first_run.starter", icon=":material/bolt:"):
        with guard("Building the starter index"):
            _built(indexes.build_index("starter", TARGET, limit=LIMIT, fold_cosine=FOLD))

with upload:
    st.markdown("Your own prompts: CSV / TSV (a `prompt` column), JSONL / JSON (a `prompt` field), "
                "plain text (one prompt per line) or DiffusionDB's Parquet.")
    file = st.file_uploader("Prompt file", type=indexes.UPLOAD_TYPES, key="first_run.upload")
    if st.button("Build from this file", key="first_run.upload_build", disabled=file is None,
                 type="primary"):
        with guard("Building the index from the uploaded file"):
            saved = indexes.save_upload(file)
            try:
                _built(indexes.build_index("file", TARGET, source=str(saved), limit=LIMIT, fold_cosine=FOLD))
            finally:
                saved.unlink(missing_ok=True)

with local:
    path_text = st.text_input("Path to a prompt file", key="first_run.path",
                              placeholder="/data/prompts.jsonl")
    if st.button("Build from this path", key="first_run.path_build", type="primary",
                 disabled=not path_text.strip()):
        with guard("Building the index from the local file"):
            _built(indexes.build_index("file", TARGET, source=str(Path(path_text.strip()).expanduser()),
                                       limit=LIMIT, fold_cosine=FOLD))

with download:
    online = indexes.diffusiondb_reachable(file_url(endpoint=get_settings().hub_endpoint))  # HF_ENDPOINT mirror
    if not online:
        st.warning("DiffusionDB cannot be reached from this machine (no network); "
                   "the other options work offline.",
                   icon=":material/wifi_off:")
    st.markdown("Downloads DiffusionDB's prompt table once (a few hundred MB, kept in the cache) and keeps "
                "a random "
                "sample of distinct prompts. More prompts give better matches but take longer to embed.")
    sample = st.number_input("Sample size (prompts)", min_value=100, max_value=2_000_000, value=20_000,
                             step=5_000, key="first_run.sample", disabled=not online)
    if st.button("Download and build", key="first_run.download_build", type="primary", disabled=not online):
        with guard("Building the index from DiffusionDB"):
            _built(indexes.build_index("diffusiondb", TARGET, sample=int(sample), limit=LIMIT, fold_cosine=FOLD))

others = [e for e in list_indexes() if e.manifest is not None and e.path != TARGET]
if others:
    st.divider()
    st.subheader("Or open an index you already have")
    names = {str(e.path): f"{e.path.name} · {e.manifest.row_count:,} prompts" for e in others}
    chosen = st.selectbox("Index", list(names), format_func=names.get, key="first_run.existing")
    if st.button("Open this index", key="first_run.open"):
        state.choose_index(chosen)
        st.rerun()

st.caption(f"The index is written to {escape_md(TARGET)}. A build you stop (Stop, top right) keeps what it "
           "has done; building again resumes it.")
