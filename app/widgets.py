"""Small drawing helpers every page shares: guard, prompt cards, notices, status, progress.

`guard(action)` wraps every page action: a `PromptragError` becomes one `st.error` line that
says what to do, anything else one "failed unexpectedly" line plus a server-log traceback. No
traceback ever reaches the page, and whatever the page drew before the action stays.

Untrusted text (retrieved prompts, ideas, error messages quoting them) goes through `st.code`,
`st.text` or `escape_md`; `unsafe_allow_html` is never used here.

Deliberately not here: state (state.py), cached resources (resources.py), page layout (pages/).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from app import state
from app.resources import load_retriever
from app.text import escape_md
from core.errors import Cancelled, PromptragError, one_line
from core.progress import Progress
from core.status import BackendStatus
from enhancers.registry import enhancer_status
from generate.registry import image_backend_status
from index.manifest import read_manifest
from index.records import SearchHit
from rag.retriever import RetrievedPrompt

if TYPE_CHECKING:  # types only
    from app.history import HistoryImage
    from rag.assistant import ExampleUsed
    from rag.relevance import Relevance

logger = logging.getLogger("promptrag.app")


def _control_flow_exceptions() -> tuple[type[BaseException], ...]:
    """Streamlit's own rerun / stop signals: they must pass through guard untouched."""
    types: list[type[BaseException]] = []
    for module in ("streamlit.runtime.scriptrunner_utils.exceptions",
                   "streamlit.runtime.scriptrunner.exceptions"):
        try:
            mod = __import__(module, fromlist=["StopException", "RerunException"])
        except ImportError:
            continue
        types += [getattr(mod, n) for n in ("StopException", "RerunException") if hasattr(mod, n)]
    return tuple(types)


_CONTROL = _control_flow_exceptions()


@contextmanager
def guard(action: str) -> Iterator[None]:
    """Run a page action; turn any failure into one message on the page (never a traceback).

    `action` names it for the user ("Search", "Building the index"). Streamlit's rerun / stop
    signals pass through.
    """
    try:
        yield
    except _CONTROL:
        raise
    except Cancelled as exc:
        st.warning(f"{escape_md(action)} was cancelled: {escape_md(one_line(exc))}",
                   icon=":material/stop_circle:")
    except PromptragError as exc:
        st.error(f"{escape_md(action)} failed: {escape_md(one_line(exc))}", icon=":material/error:")
    except Exception:
        logger.exception("%s failed unexpectedly", action)
        st.error(f"{escape_md(action)} failed unexpectedly; details are in the server log.",
                 icon=":material/error:")


# ---- prompt cards ------------------------------------------------------------------------
def settings_line(source: object) -> str:
    """'seed 42 · 50 steps · CFG 7 · k_lms · 512×768' from a hit or an example's settings."""
    values = getattr(source, "settings", None)
    if values is None:
        names = ("seed", "steps", "cfg", "sampler", "width", "height")
        values = {name: getattr(source, name, None) for name in names}
    parts = []
    if values.get("seed") is not None:
        parts.append(f"seed {values['seed']}")
    if values.get("steps") is not None:
        parts.append(f"{values['steps']} steps")
    cfg = values.get("cfg")
    if cfg is not None:
        parts.append(f"CFG {float(cfg):g}")
    if values.get("sampler"):
        parts.append(str(values["sampler"]))
    if values.get("width") and values.get("height"):
        parts.append(f"{values['width']}×{values['height']}")
    return " · ".join(parts)


def similarity_label(item: object) -> str:
    """How close the prompt is. Hybrid results are ordered by their fused score ("match"), so it
    comes first; the cosine ("similarity") when known, else the BM25 score."""
    parts = []
    dense = getattr(item, "dense_score", None)
    keyword = getattr(item, "keyword_score", None)
    fused = getattr(item, "score", None) if hasattr(item, "hit") else None
    if dense is not None and fused is not None and abs(fused - dense) > 1e-6:  # hybrid: ordered by the fusion
        parts.append(f"match {fused:.2f}")
    if dense is not None:
        parts.append(f"similarity {dense:.2f}")
    elif keyword is not None:
        parts.append(f"BM25 {keyword:.1f}")
    elif (score := getattr(item, "score", None)) is not None:
        parts.append(f"similarity {score:.2f}")
    return " · ".join(parts)


def match_label(relevance: Relevance) -> str:
    """'72% match' from a `rag.relevance.Relevance` (the one figure Explore shows per prompt)."""
    return f"{relevance.percent}% match"


def prompt_card(hit: RetrievedPrompt | ExampleUsed, *, key: str, rank: int | None = None,
                images: Sequence[HistoryImage] = (),
                pick: ExampleUsed | None = None, relevance: Relevance | None = None) -> None:
    """One prompt as a card: rank, relevance, occurrences, the text (copyable), its settings,
    images made from it here, and — with `pick` (an ExampleUsed) — a "use as example" box.
    `relevance` (a rag.relevance.Relevance) shows as one % match; without it, the raw scores."""
    source = hit.hit if isinstance(hit, RetrievedPrompt) else hit  # RetrievedPrompt wraps a SearchHit
    text = getattr(hit, "prompt", None) or getattr(hit, "text", "")
    count = int(getattr(hit, "count", 1) or 1)
    with st.container(border=True, key=f"card-{key}"):
        head, tick = st.columns([3, 2], vertical_alignment="center")
        figure = match_label(relevance) if relevance is not None else similarity_label(hit)
        facts = [figure, f"seen {count:,}×" if count > 1 else ""]
        badge = f":violet-badge[#{rank}] " if rank is not None else ""
        head.markdown(badge + ":small[" + " · ".join(f for f in facts if f) + "]")
        if pick is not None:
            box = f"pick-{key}"
            st.session_state[box] = state.is_picked(pick)
            with tick.container(horizontal=True, horizontal_alignment="right"):
                st.checkbox("Use as example", key=box, on_change=state.toggle_pick, args=(pick,))
        st.code(text, language=None, wrap_lines=True)
        details = settings_line(source)
        if details:
            st.caption(":material/tune: " + escape_md(details))
        variants = source.variants if isinstance(source, SearchHit) else ()  # wordings ingest folded into this prompt
        if variants:
            with st.expander(f"{len(variants)} other wording{'s' if len(variants) > 1 else ''}",
                             icon=":material/layers:"):
                for variant in variants:
                    st.text(f"{variant.count:,}× {variant.text}")  # st.text: stored prompts are untrusted
        shown = [img for img in images if getattr(img, "exists", True)]
        if shown:
            st.image([str(getattr(img, "path", img)) for img in shown[:4]], width=120,
                     caption=[f"seed {getattr(img, 'seed', '')}" for img in shown[:4]])


def fallback_notice(enhancer: str, fallback_reasons: dict[str, str]) -> None:
    """Say who answered, and why the enhancers before it did not (nothing when none failed)."""
    if not fallback_reasons:
        return
    reasons = "; ".join(f"{escape_md(name)}: {escape_md(why)}" for name, why in fallback_reasons.items())
    st.info(f"Answered by **{escape_md(enhancer)}** because {reasons}", icon=":material/alt_route:")


# ---- status ------------------------------------------------------------------------------
def status_line(status: BackendStatus) -> None:
    """One backend: its name, a ready / not configured badge, then the detail (the setting to use)."""
    badge = ":green-badge[:material/check: ready]" if status.ready else ":gray-badge[not configured]"
    st.markdown(f"**{escape_md(status.name)}** {badge}")
    if status.detail:
        st.caption(escape_md(status.detail))


def backend_status_panel() -> None:
    """Every enhancer and image backend, ready or not configured, with the setting that enables it."""
    enhancers, images = enhancer_status(), image_backend_status()
    ready = sum(s.ready for s in enhancers + images)
    with st.expander(f"Backends · {ready} of {len(enhancers) + len(images)} ready", icon=":material/power:"):
        st.markdown("**Prompt enhancers**")
        for status in enhancers:
            status_line(status)
        st.markdown("**Image backends**")
        for status in images:
            status_line(status)


def index_summary(index_path: Path) -> None:
    """The current index: its name, rows and embedding model (from its manifest; no loading)."""
    if isinstance(index_path, str) and "://" in index_path:  # a Milvus store (PROMPTRAG_STORE)
        manifest, name = load_retriever(index_path).store.manifest, index_path.rsplit("/", 1)[-1]
    else:
        manifest, name = read_manifest(Path(index_path)), Path(index_path).name
    model = manifest.embedding_model.rsplit("/", 1)[-1]
    st.markdown(f"**{escape_md(name)}** · {manifest.row_count:,} prompts")
    st.caption(f"{escape_md(model)} · {escape_md(manifest.index_type)} · {manifest.dimension}\\-d")


# ---- progress ----------------------------------------------------------------------------
def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "…"
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


STAGE_LABELS = {"download": "Downloading", "stage": "Reading prompts", "embed": "Embedding",
                "fold": "Folding near-identical prompts", "write": "Writing the index", "generate": "Generating"}


class ProgressPanel:
    """An `on_progress` callback drawing a `core.progress.Progress` into one st.progress bar
    (stage, done / total, elapsed, ETA). Redraws at most every `interval_s` seconds."""

    def __init__(self, label: str = "Starting…", *, interval_s: float = 0.2) -> None:
        self.bar = st.progress(0.0, text=label)
        self.interval_s = interval_s
        self._last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        finished = progress.total is not None and progress.done >= progress.total
        if now - self._last < self.interval_s and not finished:
            return
        self._last = now
        self.bar.progress(progress.fraction or 0.0, text=self.describe(progress))

    @staticmethod
    def describe(progress: Progress) -> str:
        stage = STAGE_LABELS.get(progress.stage, progress.stage.capitalize())
        amount = f"{progress.done:,}" + (f" / {progress.total:,}" if progress.total else "")
        text = f"{stage} · {amount} · {format_duration(progress.elapsed_s)} elapsed"
        if progress.fraction is not None and progress.fraction < 1.0:
            text += f" · about {format_duration(progress.eta_s)} left"
        if progress.message:
            text += f" · {escape_md(progress.message)}"
        return text

    def done(self, text: str = "Done") -> None:
        self.bar.progress(1.0, text=text)


# Pydantic's wording for an empty field, in words a form's user reads (the label says which field).
_PLAIN = ((re.compile(r"^String should have at least 1 characters?$"), "fill it in"),
          (re.compile(r"^List should have at least 1 item.*$"), "pick at least one"),
          (re.compile(r"^Input should be a valid (number|integer).*$"), "type a number"))


def labelled_problem(label: str, message: str) -> str:
    """One form problem as "<the field's label>: <what to do>", for st.error under a form:
    `labelled_problem("Product or subject", "String should have at least 1 character (got '')")`
    -> "Product or subject: fill it in"."""
    text = re.sub(r"\s*\(got (''|\[\]|None)\)$", "", message.strip()).removeprefix("Value error, ")
    for pattern, plain in _PLAIN:
        if pattern.match(text):
            text = plain
            break
    return f"{label}: {text}"


def shorten(text: object, limit: int = 90) -> str:
    """`text` on one line, cut at a word before `limit` characters with "…" (for card titles;
    show the whole text elsewhere, e.g. as the title's help)."""
    flat = " ".join(str(text).split())
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.-") + "…"
