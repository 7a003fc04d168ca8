"""Settings: which index, which enhancers in what order, image defaults, LLM templates, keys.

Choices made here last for this browser session (app.state); each section names the
environment variable that makes a choice permanent. Keys are only ever shown as set / not set.
The index, blocklist, models, templates and keys sections (and which backends are ready) are for
admins (app/auth.py): anyone else sees the one-line reason instead.
"""

from __future__ import annotations

import json
import logging
import re

import streamlit as st

from app import auth, resources, state, widgets
from app.widgets import escape_md, guard
from core.errors import PromptragError
from core.settings import get_settings
from core.status import aws_status, secret_is_set
from enhancers import blocklist as blocklists
from enhancers import templates
from enhancers.base import CONCRETE_STYLES
from enhancers.profiles import family_for_model
from enhancers.registry import enhancer_names, enhancer_status, parse_enhancer_spec
from enhancers.user_styles import load_user_styles, styles_dir
from generate.models import cache_dir, catalogue, generation_defaults, get_model, model_status, pull, remove
from generate.registry import image_backend_names, image_backend_status
from generate.schedulers import sampler_names
from index.manifest import list_indexes
from rag.artists import top_artists, with_blocked

state.require_shell(__file__)

logger = logging.getLogger("promptrag.app")
settings = get_settings()

st.title("Settings")
st.caption("Choices here apply to this browser session. Each section says how to make one permanent.")

index_tab, enhancer_tab, image_tab, models_tab, template_tab, key_tab = st.tabs(
    ["Index", "Enhancers", "Image generation", "Models", "LLM templates", "Keys"])

# ---- index -------------------------------------------------------------------------------
with index_tab, guard("Reading the indexes"):
    if auth.admin_notice():
        current = resources.current_index_path()
        entries = list_indexes(include=current)
        if not entries:
            st.info(f"No index under {escape_md(settings.indexes_dir)} yet.", icon=":material/folder_off:")
        else:
            by_path = {str(e.path): e for e in entries}
            names = {p: e.path.name + (" (in use)" if e.path == current else "") for p, e in by_path.items()}
            options = list(by_path)
            chosen = st.selectbox("Index", options, format_func=names.get, key="settings.index",
                                  index=options.index(str(current)) if str(current) in options else 0)
            entry = by_path[chosen]
            if entry.manifest is None:
                st.error(f"This index cannot be read: {escape_md(entry.problem)}", icon=":material/error:")
            else:
                m = entry.manifest
                c1, c2, c3, c4 = st.columns([1, 2, 1, 1], border=True)
                c1.metric("Prompts", f"{m.row_count:,}")
                c2.metric("Embedding model", m.embedding_model.rsplit("/", 1)[-1], help=m.embedding_model)
                c3.metric("Search type", m.index_type)
                c4.metric("Dimension", m.dimension)
                built = escape_md(m.created_at[:19].replace("T", " "))
                st.caption(f"Built {built} · format v{m.format_version} · "
                           f"promptrag {escape_md(m.promptrag_version)} · {escape_md(entry.path)}")
            in_use = entry.path == current
            if st.button("In use" if in_use else "Use this index", key="settings.use_index", disabled=in_use,
                         type="primary", icon=":material/check:"):
                state.choose_index(None if entry.path == settings.default_index else chosen)
                st.rerun()
        st.caption(f"The app opens {escape_md(settings.default_index)} by default; build other indexes with "
                   "`promptrag ingest SOURCE --index PATH` under the same folder.")

# ---- enhancers ---------------------------------------------------------------------------
with enhancer_tab, guard("Reading the enhancers"):
    def _order_changed() -> None:
        state.set_enhancer_order(st.session_state.get("settings.enhancers") or None)

    # The chain in effect: the configured one, with 'grounded' before 'rules' as the app builds it.
    configured = [n for n in settings.enhancer_chain if n in enhancer_names() and n != "rules"]
    configured += [*(["grounded"] if "grounded" not in configured else []), "rules"]
    st.multiselect("Enhancers to try, in order", enhancer_names(), key="settings.enhancers",
                   default=state.enhancer_order() or configured, on_change=_order_changed,
                   help="The first enhancer that answers writes the prompt; a failing one hands over to the "
                        "next, and the page says why. 'rules' always ends the chain.")
    order = parse_enhancer_spec(state.enhancer_spec()) if state.enhancer_order() else configured
    st.markdown("To make this order permanent, set this in the environment or `.env`:")
    st.code(f"PROMPTRAG_ENHANCER_CHAIN='{json.dumps(order)}'", language="bash")
    st.markdown("##### LangChain model")
    langchain_model = st.text_input(
        "LangChain chat model (PROVIDER:MODEL)", value=settings.langchain_model or "", key="settings.langchain_model",
        placeholder="e.g. openai:gpt-4.1-mini or ollama:qwen2.5:7b",
        help="The 'langchain' enhancer stays 'not configured' until a model is set.").strip()
    if langchain_model and not re.fullmatch(r"[^:\s]+:\S.*", langchain_model):
        st.error(f"Name it PROVIDER:MODEL (e.g. openai:gpt-4.1-mini), got {escape_md(langchain_model)}.",
                 icon=":material/error:")
    elif langchain_model and langchain_model != settings.langchain_model:
        st.markdown("To use it, set this in the environment or `.env` and restart the app:")
        st.code(f"PROMPTRAG_LANGCHAIN_MODEL='{langchain_model}'", language="bash")
    st.markdown("##### Status")
    for status in enhancer_status() if auth.is_admin() else []:  # readiness tells which keys are set
        widgets.status_line(status)

with enhancer_tab, guard("Reading your styles"):
    st.markdown("##### Styles")
    st.markdown("Built in: " + escape_md(", ".join(CONCRETE_STYLES)) + ". Yours are read from "
                + escape_md(styles_dir()) + " (A1111 `styles.csv`, SDXL Prompt Styler / Fooocus JSON); add "
                "some with `promptrag styles import FILE`. They appear in Refine's style list.")
    user_styles = load_user_styles()
    if user_styles:
        st.dataframe([{"name": s.name, "prompt": s.prompt, "negative prompt": s.negative_prompt}
                      for s in user_styles.values()], key="settings.user_styles", hide_index=True)
    else:
        st.caption("No styles of your own yet.")

with enhancer_tab, guard("Reading your blocklist"):
    if auth.admin_notice():
        st.markdown("##### Blocklist")
        st.markdown("Words and artist names removed from every prompt any enhancer writes, and never mined "
                    "from examples. One a line, case-insensitive, whole words; `re:PATTERN` for a regular "
                    "expression; `#` starts a comment. Words your own idea names are kept. File: "
                    + escape_md(blocklists.blocklist_path()) + " (`PROMPTRAG_BLOCKLIST` picks another).")

        def _blocklist_action(action: str, names: list[str] | None = None) -> None:
            try:
                auth.require_admin("Editing the blocklist")  # also when a click arrives some other way
                if action == "save":
                    blocklists.save_blocklist(st.session_state["settings.blocklist_text"].splitlines())
                elif action == "block":
                    blocklists.add_entries(names or st.session_state.get("settings.block_artists", []))
                else:
                    blocklists.remove_entries(names or st.session_state.get("settings.unblock_artists", []))
                st.session_state["settings.blocklist_text"] = "\n".join(blocklists.file_lines())
                message = ("success", "Blocklist saved.")
            except Exception as exc:  # shown beside the editor, like guard() would
                if not isinstance(exc, PromptragError):
                    logger.exception("blocklist %s failed", action)
                message = ("error", widgets.one_line(exc) if isinstance(exc, PromptragError)
                           else f"{action} failed unexpectedly; details are in the server log.")
            st.session_state["settings.blocklist_message"] = message

        if "settings.blocklist_text" not in st.session_state:
            st.session_state["settings.blocklist_text"] = "\n".join(blocklists.file_lines())
        st.text_area("Blocked words and names", key="settings.blocklist_text", height=200,
                     placeholder="(empty: nothing is blocked) One word or name a line; re:PATTERN for a "
                                 "regular expression.")
        st.button("Save blocklist", key="settings.blocklist_save", type="primary", on_click=_blocklist_action,
                  args=("save",), icon=":material/save:")
        message = st.session_state.pop("settings.blocklist_message", None)
        if message:
            kind, text = message
            (st.success if kind == "success" else st.error)(escape_md(text))
        current_blocklist = blocklists.load_blocklist()
        entries = len(current_blocklist.entries)
        st.caption(f"{entries} {'entry' if entries == 1 else 'entries'} in effect. An example file to start from: "
                   "`examples/blocklist.txt`.")

        index_path = resources.current_index_path()
        index = resources.load_retriever(index_path).store if resources.index_exists(index_path) else None
        if index is None or not hasattr(index, "iter_records"):
            st.caption("The most credited artists are listed here once an index (a directory) is in use.")
        else:
            with st.spinner("Counting the artists credited in the index…"):
                artists = with_blocked(top_artists(index), current_blocklist)
            st.markdown("Most credited artists in the index, and which you block:")
            st.dataframe([{"artist": a.name, "occurrences": a.count, "prompts": a.prompts,
                           "blocked": a.blocked} for a in artists], key="settings.top_artists", hide_index=True)
            b1, b2 = st.columns(2)
            b1.multiselect("Block", [a.name for a in artists if not a.blocked], key="settings.block_artists")
            b1.button("Block selected", key="settings.block_artists_go", on_click=_blocklist_action,
                      args=("block",), icon=":material/block:")
            b2.multiselect("Unblock", [a.name for a in artists if a.blocked and a.name in
                                       {line.strip().lower() for line in blocklists.file_lines()}],
                           key="settings.unblock_artists",
                           help="Only names blocked by a line of their own; edit the text above for patterns.")
            b2.button("Unblock selected", key="settings.unblock_artists_go", on_click=_blocklist_action,
                      args=("unblock",), icon=":material/check:")

# ---- image generation --------------------------------------------------------------------
with image_tab, guard("Reading the image settings"):
    gen = state.generation()
    backends = image_backend_names()
    with st.form("settings.generation", border=False):
        b1, b2 = st.columns(2)
        backend = b1.selectbox("Backend", backends, key="settings.gen.backend",
                               index=backends.index(gen["backend"]) if gen["backend"] in backends else 0)
        configured_model = settings.image_model if backend == "diffusers" else settings.bedrock_image_model
        model = b2.text_input("Model (empty: the configured one)", value=gen["model"] or "",
                              key="settings.gen.model", placeholder=configured_model)
        c1, c2, c3, c4 = st.columns(4)
        steps = c1.number_input("Steps", 1, 150, int(gen["steps"]), key="settings.gen.steps")
        guidance = c2.number_input("CFG", 0.0, 30.0, float(gen["guidance"]), step=0.5, key="settings.gen.cfg")
        width = c3.number_input("Width", 64, 2048, int(gen["width"]), step=64, key="settings.gen.width")
        height = c4.number_input("Height", 64, 2048, int(gen["height"]), step=64, key="settings.gen.height")
        s1, s2 = st.columns(2)
        samplers = ["(model default)", *sampler_names()]
        sampler = s1.selectbox("Sampler", samplers, key="settings.gen.sampler",
                               index=samplers.index(gen["sampler"]) if gen["sampler"] in samplers else 0)
        count = s2.number_input("Images per click", 1, 8, int(gen["num_images"]), key="settings.gen.n")
        if st.form_submit_button("Save defaults", type="primary", key="settings.gen.save"):
            if width % 8 or height % 8:
                st.error(f"Width and height must be multiples of 8, got {width}×{height}.",
                         icon=":material/error:")
            else:
                gen.update(backend=backend, model=model.strip() or None, steps=int(steps),
                           guidance=float(guidance),
                           width=int(width), height=int(height), num_images=int(count),
                           sampler=None if sampler == samplers[0] else sampler)
                st.success("Saved for this session.", icon=":material/check_circle:")
    st.caption("Permanent defaults: `PROMPTRAG_IMAGE_MODEL` (diffusers) and `PROMPTRAG_BEDROCK_IMAGE_MODEL`.")

    in_use = gen["model"] or (settings.image_model if gen["backend"] == "diffusers" else settings.bedrock_image_model)
    family = family_for_model(in_use)
    suits = generation_defaults(family) if family in ("turbo", "sdxl", "sd1", "sd3", "flux") else None
    if suits is not None:
        fits = (gen["steps"], gen["guidance"], gen["width"], gen["height"]) == \
            (suits.steps, suits.guidance, suits.width, suits.height)
        st.caption(f"{escape_md(in_use)} is a {family} model: {escape_md(suits.note)}.")
        if not fits and st.button(f"Use {family} defaults: {suits.steps} steps, CFG {suits.guidance:g}, "
                                  f"{suits.width}×{suits.height}", key="settings.gen.family_defaults",
                                  icon=":material/tune:"):
            gen.update(steps=suits.steps, guidance=suits.guidance, width=suits.width, height=suits.height)
            for key in ("settings.gen.steps", "settings.gen.cfg", "settings.gen.width", "settings.gen.height"):
                st.session_state.pop(key, None)
            st.rerun()
    st.markdown("##### Status")
    for status in image_backend_status() if auth.is_admin() else []:
        widgets.status_line(status)

# ---- models --------------------------------------------------------------------------------
with models_tab, guard("Reading the models"):
    if auth.admin_notice():
        st.markdown("Recommended models, downloaded into the Hugging Face cache "
                    f"({escape_md(cache_dir())}; `PROMPTRAG_HUB_CACHE` picks another, `HF_ENDPOINT` a mirror). "
                    "The same from a shell: `promptrag models list | pull NAME | rm NAME`.")
        pending = st.session_state.pop("settings.models.pull", None)
        if pending:
            wanted = get_model(pending)
            stop = st.empty()
            # Any click reruns the page and stops the download between chunks; what arrived is kept.
            stop.button("Cancel download", key="settings.models.cancel", icon=":material/stop_circle:")
            with guard(f"Downloading {wanted.name}"):
                try:
                    done = pull(wanted, on_progress=widgets.ProgressPanel(f"Downloading {wanted.name}…"))
                finally:
                    stop.empty()
                st.success(f"{wanted.name} is ready ({escape_md(done.location)}).", icon=":material/check_circle:")
        statuses = [model_status(m) for m in catalogue()]
        for kind, title in (("image", "Image models"), ("llm", "Local LLMs")):
            st.markdown(f"##### {title}")
            st.dataframe([{"model": x.model.name, "size": x.model.size_label, "on this machine": x.state,
                           "good for": x.model.good_for, "licence": x.model.licence, "hub id": x.model.repo_id}
                          for x in statuses if x.model.kind == kind], key=f"settings.models.{kind}", hide_index=True)
        names = [x.model.name for x in statuses]
        by_name = {x.model.name: x for x in statuses}
        chosen = st.selectbox("Model", names, key="settings.models.chosen",
                              format_func=lambda n: f"{n} ({by_name[n].state})")
        picked = by_name[chosen]
        m1, m2, _ = st.columns([1, 1, 2])
        m1.button(f"Download ({picked.model.size_label})", key="settings.models.download", type="primary",
                  icon=":material/download:", disabled=picked.cached, width="stretch",
                  on_click=lambda n=chosen: st.session_state.__setitem__("settings.models.pull", n),
                  help="Already here." if picked.cached else "Checks the free disk space first; a stopped download "
                       "resumes where it left off.")
        if m2.button("Remove", key="settings.models.remove", icon=":material/delete:", width="stretch",
                     disabled=picked.shipped or picked.state == "not downloaded"):
            with guard(f"Removing {chosen}"):
                st.toast(f"Removed {chosen} ({remove(chosen) / 1e9:.1f} GB freed).")
                st.rerun()
        if picked.location is not None:
            st.caption(f"{escape_md(chosen)}: {escape_md(picked.location)}")

# ---- LLM templates -----------------------------------------------------------------------
with template_tab, guard("Reading the templates"):
    if auth.admin_notice():
        st.markdown("The two messages every LLM enhancer (Claude, local model) sends. Your edits are saved to "
                    f"{escape_md(settings.templates_dir)} and win over the built-in text.")
        infos = {t.name: t for t in templates.list_templates()}
        name = st.selectbox("Template", list(infos), key="settings.template",
                            format_func=lambda n: n + (" (edited)" if infos[n].overridden else ""))
        box = f"settings.template_text.{name}"
        if box not in st.session_state:
            st.session_state[box] = templates.read_template(name)

        def _template_action(action: str, name: str, box: str) -> None:
            try:
                auth.require_admin("Editing the templates")
                if action == "save":
                    path = templates.save_template(name, st.session_state[box])
                    message = ("success", f"Saved to {path}.")
                else:
                    templates.reset_template(name)
                    st.session_state[box] = templates.read_template(name)
                    message = ("success", "Back to the built-in text.")
            except Exception as exc:  # shown beside the editor, like guard() would
                if not isinstance(exc, PromptragError):
                    logger.exception("template %s failed", action)
                message = ("error", widgets.one_line(exc) if isinstance(exc, PromptragError)
                           else f"{action} failed unexpectedly; details are in the server log.")
            st.session_state["settings.template_message"] = message

        st.text_area("Text", key=box, height=360, label_visibility="collapsed")
        st.caption("Placeholders: " + escape_md(", ".join("$" + p for p in templates.placeholders(name)))
                   + " · write $$ for a literal $")
        t1, t2, _ = st.columns([1, 1, 4])
        t1.button("Save", key="settings.template_save", type="primary", on_click=_template_action,
                  args=("save", name, box), icon=":material/save:", width="stretch")
        t2.button("Reset to default", key="settings.template_reset", on_click=_template_action,
                  args=("reset", name, box), disabled=not infos[name].overridden, icon=":material/restart_alt:",
                  width="stretch")
        message = st.session_state.pop("settings.template_message", None)
        if message:
            kind, text = message
            (st.success if kind == "success" else st.error)(escape_md(text))

# ---- keys --------------------------------------------------------------------------------
with key_tab, guard("Checking the keys"):
    if auth.admin_notice():
        st.markdown("Keys are read from the environment, a `.env` file in the working directory, or "
                    "`.streamlit/secrets.toml`. They are never shown here, logged, or stored by promptrag.")
        anthropic = secret_is_set("ANTHROPIC_API_KEY")
        st.markdown("**ANTHROPIC\\_API\\_KEY** " + (":green-badge[set]" if anthropic else ":gray-badge[not set]"))
        st.caption("Claude through the Anthropic API.")
        ready, detail = aws_status()
        st.markdown("**AWS credentials** " + (":green-badge[set]" if ready else ":gray-badge[not set]"))
        st.caption("Claude and Stability image models through Amazon Bedrock. " + escape_md(detail))
