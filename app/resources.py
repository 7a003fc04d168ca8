"""The app's heavy, shared objects: one copy per server process, keyed by what they depend on.

Every factory here is an `st.cache_resource`, so ten browser sessions share one index, one
embedder and one enhancer chain. Objects cached here must be safe to share between sessions:
the retriever and index are read-only, enhancer chains keep no per-call state, `History` opens
a connection per call.

Cache keys carry what would make a cached object stale: the index's manifest stamp (an index
rebuilt in place gets a fresh retriever), and a fingerprint of the settings (another
`PROMPTRAG_HOME`, another model, a key set or removed) for objects built from them.

Deliberately not here: per-user state (app/state.py) and anything drawn on the page.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import streamlit as st

from app.auth import current_user
from app.history import History
from app.state import INDEX
from core.settings import get_settings
from enhancers.base import Enhancer
from enhancers.chain import build_enhancer
from enhancers.local_llm import release_all
from generate.base import ImageBackend
from generate.registry import get_image_backend
from index.images import ThumbnailCache
from rag.assistant import PromptAssistant
from rag.retriever import Retriever


def settings_fingerprint() -> str:
    """A short digest of the settings and of which keys are set (no secret value goes in: a set
    SecretStr dumps as '**********', an unset one as null). AWS_PROFILE is not a setting, so its
    name joins the digest; boto3 reads it itself."""
    settings = get_settings()
    raw = settings.model_dump_json() + "|" + os.environ.get("AWS_PROFILE", "")
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


def current_index_path() -> Path | str:
    """The index this session uses: the Settings page's choice, else `Settings.default_index`."""
    chosen = st.session_state.get(INDEX)
    if chosen:
        return Path(chosen)
    settings = get_settings()
    return settings.store or settings.default_index  # a Milvus URI stays a str (PROMPTRAG_STORE)


def manifest_stamp(index_path: str | Path) -> str:
    """Changes whenever the index at `index_path` is (re)published; '' when there is none."""
    manifest = Path(index_path) / "manifest.json"
    try:
        stat = manifest.stat()
    except OSError:
        return ""
    return f"{stat.st_mtime_ns}:{stat.st_size}"


@st.cache_resource(show_spinner="Loading the prompt index…", max_entries=4)
def _retriever(index_path: str, stamp: str) -> Retriever:
    retriever = Retriever.load(index_path)
    # One hybrid query now, under the spinner, loads the embedder, the keyword side and its typo
    # vocabulary (~2.6 s on a 100k index) once per server rather than on a user's first search.
    retriever.search("a lighthouse", k=1, mode="hybrid")
    return retriever


def load_retriever(index_path: str | Path) -> Retriever:
    """The `rag.Retriever` over `index_path` (IndexLoadError if missing or damaged; not cached)."""
    is_uri = isinstance(index_path, str) and "://" in index_path  # a Milvus store (PROMPTRAG_STORE)
    path = str(index_path) if is_uri else str(Path(index_path).expanduser())
    return _retriever(path, manifest_stamp(path))


@st.cache_resource(show_spinner=False, max_entries=8)
def _enhancer(spec: str, fingerprint: str) -> Enhancer:
    return build_enhancer(spec, grounded=True)


def load_enhancer(spec: str = "chain") -> Enhancer:
    """The enhancer for `spec` ('chain', 'a,b,rules' or one name), grounded before rules."""
    return _enhancer(spec, settings_fingerprint())


def load_assistant(index_path: str | Path, enhancer_spec: str = "chain") -> PromptAssistant:
    """A `PromptAssistant` over the cached retriever and the cached enhancer (cheap to build)."""
    return PromptAssistant(load_retriever(index_path), load_enhancer(enhancer_spec))


@st.cache_resource(show_spinner=False, max_entries=256)
def _history(db_path: str, user: str) -> History:
    return History(Path(db_path), user=user)


def load_history() -> History:
    """The `app.history.History` at `Settings.history_db` (one object per user, a connection per call),
    read and written as the acting user (app/auth.py): a user sees their own rounds only."""
    return _history(str(get_settings().history_db), current_user())


@st.cache_resource(show_spinner=False, max_entries=2)
def _image_cache(fingerprint: str) -> ThumbnailCache:
    return ThumbnailCache.from_settings(get_settings())


def load_image_cache() -> ThumbnailCache:
    """The `index.images.ThumbnailCache` of the settings (example pictures: thumbnails, full size)."""
    return _image_cache(settings_fingerprint())


@st.cache_resource(show_spinner="Loading the image model…", max_entries=2)
def _image_backend(name: str, model: str | None, fingerprint: str) -> ImageBackend:
    options: dict[str, str] = {"model": model} if model else {}
    # A big pipeline and a local LLM rarely fit in memory together: free the LLM first.
    return get_image_backend(name, before_load=_release_local_llms, **options)


def _release_local_llms() -> None:
    release_all()


def load_image_backend(name: str, model: str | None = None) -> ImageBackend:
    """The image backend `name` ('diffusers', 'bedrock') for `model` (None: the configured one)."""
    return _image_backend(name, model or None, settings_fingerprint())


def release_image_backends() -> None:
    """Free every cached image pipeline (e.g. before loading a local LLM)."""
    _image_backend.clear()


def index_exists(index_path: str | Path | None = None) -> bool:
    """Whether a published index is at `index_path` (default: this session's index)."""
    path = index_path if index_path is not None else current_index_path()
    if isinstance(path, str) and path.startswith(("milvus://", "milvus-lite://")):
        return True  # a Milvus store: opening it says what is wrong, if anything
    return (Path(path) / "manifest.json").is_file()
