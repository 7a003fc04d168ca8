"""Refine: idea → suggested examples → a fused prompt, refined in rounds → images.

1. The idea form (idea, style, creativity, enhancer, target model) suggests similar real
   prompts (`PromptAssistant.retrieve`); the user ticks the ones to use (picks carried over
   from Explore come pre-ticked, else the top 3).
2. "Write prompt" streams `PromptAssistant.fuse_stream`: text as it comes, a warning for each
   enhancer that failed on the way, then the checked result.
3. The result: an editable prompt and negative prompt, the CLIP token count, consistency and
   novelty, the examples used, problems, modifier chips (`rag.guidance`) that add themselves,
   and feedback for another round (`rag.refinement.refine`). Every round is listed; any
   earlier one can be restored, the latest stepped back. Rounds are saved to the history.
4. Generate with a backend and parameters (one click copies an example's seed / steps / CFG /
   sampler / size), with a progress bar; images show their parameters and download as PNG.

Layout, session state and calls only: actions requested by callbacks run in place under
`widgets.guard`, so a failure is one message and the idea, rounds and picks stay.
Untrusted text (the idea, retrieved prompts, LLM output) is drawn with st.code / st.text /
escaped markdown. Deliberately not here: how prompts are retrieved, fused, refined, mined
for chips or drawn into images (rag/, enhancers/, generate/).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import streamlit as st

from app import resources, widgets
from app import state as app_state
from app.widgets import escape_md, guard
from core.errors import PromptragError

FAMILIES = {"sdxl": "SDXL", "sd1": "SD 1.x", "other": "SD3 / Flux (T5)"}
DEFAULT_OPTIONS = {"style": "auto", "creativity": 0.7, "enhancer": "chain", "model_family": "sdxl"}
SUGGESTIONS = 8  # prompts retrieved per idea
PRE_TICKED = 3
BACKENDS = ("diffusers", "bedrock")
DEFAULT_SAMPLER = "model's default"
GEN_FIELDS = ("backend", "model", "steps", "guidance", "seed", "width", "height", "sampler", "num_images")


# ---- state ---------------------------------------------------------------------------------------
def _state() -> dict[str, Any]:
    """REFINE, with this page's keys filled in (a round reopened from History arrives bare)."""
    s = app_state.refine()
    rounds = s["rounds"]
    if "draft" not in s:
        # A fresh REFINE (first visit, or a round reopened from History): widgets drawn from an
        # earlier one must not keep their values.
        for key in [k for k in st.session_state if str(k).startswith("refine-")]:
            del st.session_state[key]
    if "options" not in s:
        last = rounds[-1].options if rounds else {}
        kept = {k: last[k] for k in ("style", "creativity", "model_family") if k in last}
        s["options"] = {**DEFAULT_OPTIONS, **kept}
    s.setdefault("round_ids", [s.get("reopened_from")] + [None] * (len(rounds) - 1) if rounds else [])
    s.setdefault("round_feedback", [s.get("feedback") or None] + [None] * (len(rounds) - 1) if rounds else [])
    s.setdefault("current", len(rounds) - 1)
    s.setdefault("draft", rounds[-1].prompt if rounds else "")
    s.setdefault("draft_negative", rounds[-1].negative_prompt if rounds else "")
    s.setdefault("suggested", [])  # list[ExampleUsed]: every retrieved prompt, ranks 1..k
    s.setdefault("ticks", {})  # example key -> ticked, where the user changed the default
    s.setdefault("gen", {k: app_state.generation().get(k) for k in GEN_FIELDS})
    s.setdefault("images", {})
    return s


def _seed_widget(key: str, value: Any) -> None:
    """Give a widget its value from REFINE (widget state is dropped when the user leaves the page)."""
    if key not in st.session_state:
        st.session_state[key] = value


def _example_key(example: Any) -> str:
    return hashlib.sha1(str(app_state.pick_key(example)).encode("utf-8")).hexdigest()[:12]


def _candidates(s: dict[str, Any]) -> tuple[list[Any], set[str]]:
    """The examples to tick from (Explore's picks first, then the suggestions) and the default ticks."""
    picked = list(app_state.picks().values())
    seen: set[str] = set()
    out = []
    for example in [*picked, *s["suggested"]]:
        key = _example_key(example)
        if key not in seen:
            seen.add(key)
            out.append(example)
    default = ({_example_key(e) for e in picked} if picked
               else {_example_key(e) for e in s["suggested"][:PRE_TICKED]})
    return out, default


def _ticked(s: dict[str, Any]) -> list[Any]:
    candidates, default = _candidates(s)
    return [e for e in candidates if s["ticks"].get(_example_key(e), _example_key(e) in default)]


def _set_draft(s: dict[str, Any], prompt: str, negative: str | None = None) -> None:
    s["draft"] = prompt
    st.session_state["refine-draft"] = prompt
    if negative is not None:
        s["draft_negative"] = negative
        st.session_state["refine-negative"] = negative


def _budget(s: dict[str, Any]) -> int:
    from enhancers.base import TOKEN_BUDGET

    rounds = s["rounds"]
    family = rounds[s["current"]].options.get("model_family") if rounds else s["options"]["model_family"]
    return TOKEN_BUDGET.get(family or "sdxl", 77)


# ---- callbacks (they only write state; the work runs in place, under guard) ---------------------
def _submit_idea(action: str) -> None:
    s = _state()
    s["idea"] = st.session_state["refine-idea"]
    s["options"] = {"style": st.session_state["refine-style"],
                    "creativity": st.session_state["refine-creativity"],
                    "enhancer": st.session_state["refine-enhancer"],
                    "model_family": st.session_state["refine-family"]}
    s["pending"] = action


def _request(action: str) -> None:
    _state()["pending"] = action


def _toggle_tick(key: str, widget: str) -> None:
    _state()["ticks"][key] = st.session_state[widget]


def _edit_draft() -> None:
    s = _state()
    s["draft"] = st.session_state["refine-draft"]


def _edit_negative() -> None:
    _state()["draft_negative"] = st.session_state["refine-negative"]


def _make_current(index: int) -> None:
    s = _state()
    s["current"] = index
    result = s["rounds"][index]
    _set_draft(s, result.prompt, result.negative_prompt)
    s["message"] = f"Restored round {index + 1}."


def _step_back() -> None:
    s = _state()
    if len(s["rounds"]) < 2:
        return
    last = len(s["rounds"]) - 1
    for name in ("rounds", "round_ids", "round_feedback"):
        s[name].pop()
    s["images"].pop(last, None)
    _make_current(min(s["current"], last - 1))
    s["message"] = f"Stepped back: round {last + 1} removed (it stays in History)."


def _start_over() -> None:
    s = _state()
    fresh = app_state.new_refine()
    for name in ("rounds", "round_ids", "round_feedback", "images"):
        s[name] = fresh[name] if name in fresh else []
    s["session_id"] = fresh["session_id"]
    s["current"] = -1
    _set_draft(s, "", "")


def _add_chip(phrase: str) -> None:
    from rag.guidance import add_chip

    s = _state()
    weight = st.session_state.get("refine-chip-weight") if st.session_state.get("refine-chip-weighted") else None
    try:
        edit = add_chip(s["draft"], phrase, weight=weight, token_budget=_budget(s))
    except PromptragError as exc:  # a bad weight: say it, keep the draft
        s["message"] = widgets.one_line(exc)
        return
    if edit.added:
        _set_draft(s, edit.prompt)
    s["message"] = edit.message


def _stopped() -> None:
    _state()["message"] = "Generation stopped; the prompt and the rounds are as they were."


def _remember_chip_weight() -> None:
    s = _state()
    s["chip_weighted"] = st.session_state["refine-chip-weighted"]
    s["chip_weight"] = st.session_state["refine-chip-weight"]


def _remember_gen(name: str) -> None:
    value = st.session_state[f"refine-gen-{name}"]
    _state()["gen"][name] = None if value == DEFAULT_SAMPLER else value


def _widget_value(name: str, value: Any) -> Any:
    """What the widget shows for a generation setting (None sampler: the model's default)."""
    if name == "sampler":
        return value or DEFAULT_SAMPLER
    return _typed(name, value)


def _apply_settings(example: Any, number: int) -> None:
    from generate.saving import image_options_from_settings

    s = _state()
    options = image_options_from_settings(example.settings)
    applied = []
    for name, value in options.items():
        if value is None or name not in GEN_FIELDS:
            continue
        if name == "sampler" and value not in _samplers():
            continue
        value = _typed(name, value)
        s["gen"][name] = value
        st.session_state[f"refine-gen-{name}"] = _widget_value(name, value)
        applied.append(name)
    s["message"] = (f"Applied example {number}'s {', '.join(applied)}." if applied
                    else f"Example {number} has no generation settings to apply.")


def _typed(name: str, value: Any) -> Any:
    """Number inputs need one type: CFG is a float, steps / seed / size / images are ints."""
    if value is None or name in ("backend", "model", "sampler"):
        return value
    return float(value) if name == "guidance" else int(value)


def _samplers() -> list[str]:
    from generate.schedulers import SAMPLERS

    return sorted(SAMPLERS)


# ---- actions (run in the page body, inside guard) ------------------------------------------------
def _assistant(s: dict[str, Any]) -> Any:
    spec = s["options"]["enhancer"]
    return resources.load_assistant(resources.current_index_path(),
                                     app_state.enhancer_spec() if spec == "chain" else spec)


def _suggest(s: dict[str, Any]) -> None:
    from rag.assistant import to_examples

    with st.spinner("Finding similar prompts…"):
        retrieved = _assistant(s).retrieve(s["idea"], k=SUGGESTIONS)
    s["retrieved"] = retrieved
    s["suggested"] = to_examples(retrieved, list(range(1, len(retrieved) + 1)))
    s["suggested_for"] = s["idea"]
    s["ticks"] = {}
    if not retrieved:
        st.info("No similar prompts found; the prompt will be written from the idea alone.",
                icon=":material/search_off:")


def _write(s: dict[str, Any]) -> bool:
    """Stream a new round; False when there was nothing to write (no idea)."""
    from enhancers.events import MemberFailed, TextDelta
    from rag.assistant import AssistantFinished

    if not s.get("idea", "").strip():
        st.warning("Type an idea first, then press **Write prompt**.", icon=":material/edit:")
        return False
    assistant = _assistant(s)
    if not s["suggested"] and not app_state.picks():
        _suggest(s)  # "Write prompt" straight away: the top suggestions are the examples
    examples = _ticked(s)
    opts = s["options"]
    result = None
    with st.container(border=True):
        st.caption(f"Writing with {len(examples)} example{'s' if len(examples) != 1 else ''}…")
        notices = st.container()
        box = st.empty()
        text = ""
        stream = assistant.fuse_stream(s["idea"], examples, style=opts["style"], creativity=opts["creativity"],
                                       model_family=opts["model_family"])
        for event in stream:
            if isinstance(event, TextDelta):
                text += event.text
                box.code(text, language=None, wrap_lines=True)
            elif isinstance(event, MemberFailed):
                notices.warning(f"**{escape_md(event.name)}** failed: {escape_md(event.reason)} — trying the "
                                "next enhancer.", icon=":material/alt_route:")
            elif isinstance(event, AssistantFinished):
                result = event.result
    if result is None:
        raise RuntimeError("fuse_stream ended without AssistantFinished")
    if s["rounds"] and s["rounds"][0].idea != s["idea"]:
        _start_over()  # a new idea starts a new session; the old rounds stay in History
    _add_round(s, result, None)
    return True


def _refine(s: dict[str, Any]) -> None:
    from rag.refinement import refine

    feedback = st.session_state.get("refine-feedback", "")
    previous = s["rounds"][s["current"]]
    if s["draft"] != previous.prompt or s["draft_negative"] != previous.negative_prompt:
        # The hand edits (and added chips) are what the feedback revises.
        previous = replace(previous, prompt=s["draft"], negative_prompt=s["draft_negative"])
    spec = s["options"]["enhancer"]
    assistant = _assistant(s)
    with st.spinner("Revising the prompt…"):
        result = refine(previous, feedback, enhancer=resources.load_enhancer(
            app_state.enhancer_spec() if spec == "chain" else spec), embedder=assistant.embedder)
    _add_round(s, result, feedback)
    st.session_state["refine-feedback"] = ""


def _add_round(s: dict[str, Any], result: Any, feedback: str | None) -> None:
    s["rounds"].append(result)
    s["round_ids"].append(None)
    s["round_feedback"].append(feedback)
    s["current"] = len(s["rounds"]) - 1
    _set_draft(s, result.prompt, result.negative_prompt)
    with guard("Saving the round to History"):
        s["round_ids"][-1] = resources.load_history().add_round(
            session_id=s["session_id"], result=result, feedback=feedback)


def _generate(s: dict[str, Any]) -> None:
    from core.progress import CancelToken
    from core.settings import get_settings
    from generate.saving import generate_and_save

    gen = s["gen"]
    options = {k: gen.get(k) for k in ("steps", "guidance", "seed", "width", "height", "sampler", "num_images")}
    if gen.get("backend") == "bedrock":
        options["sampler"] = None  # Stability models on Bedrock choose their own
    index = s["current"]
    stop = st.empty()
    # Any click reruns the page, which stops the generation at its next step; this one says so.
    stop.button("Stop", key="refine-stop", icon=":material/stop_circle:", on_click=_stopped)
    panel = widgets.ProgressPanel("Loading the image model…")
    backend = resources.load_image_backend(gen["backend"], gen.get("model") or None)
    out_dir = Path(get_settings().home) / "images" / s["session_id"]
    saved = generate_and_save(s["draft"], s["draft_negative"], options, backend, None, out_dir,
                              on_progress=panel, cancel=CancelToken())
    stop.empty()
    panel.done(f"Done: {len(saved.paths)} image{'s' if len(saved.paths) != 1 else ''}")
    s["images"].setdefault(index, []).extend(
        {"path": str(p), "seed": seed, "parameters": {**saved.parameters, "seed": seed}}
        for p, seed in zip(saved.paths, saved.seeds))
    round_id = s["round_ids"][index] if index < len(s["round_ids"]) else None
    if round_id is not None:
        with guard("Saving the images to History"):
            resources.load_history().add_images(round_id, saved)


# ---- drawing -------------------------------------------------------------------------------------
def idea_form(s: dict[str, Any]) -> None:
    from enhancers.base import STYLES
    from enhancers.registry import enhancer_names

    _seed_widget("refine-idea", s.get("idea", ""))
    for name, key in (("style", "refine-style"), ("creativity", "refine-creativity"),
                      ("enhancer", "refine-enhancer"), ("model_family", "refine-family")):
        _seed_widget(key, s["options"][name])
    enhancers = ["chain", *[n for n in enhancer_names() if n != "chain"]]
    if st.session_state["refine-enhancer"] not in enhancers:
        st.session_state["refine-enhancer"] = "chain"
    with st.form("refine-idea-form", border=True):
        st.text_area("Your idea", key="refine-idea", height=80, max_chars=2000,
                     placeholder="a lighthouse in a storm at night",
                     help="A few words are enough: similar real prompts supply the style.")
        style, creativity, enhancer, family = st.columns([1, 1.2, 1.3, 1])
        style.selectbox("Style", STYLES, key="refine-style", help="'auto' detects it from the idea.")
        creativity.slider("Creativity", 0.0, 1.0, step=0.05, key="refine-creativity",
                          help="0 stays close to the idea, 1 adds the most.")
        enhancer.selectbox("Enhancer", enhancers, key="refine-enhancer",
                           format_func=lambda n: "Configured chain" if n == "chain" else n,
                           help="Who writes the prompt. The chain falls back, in order, to the next "
                                "enhancer and finally to the rules, and says why.")
        family.selectbox("Target model", list(FAMILIES), key="refine-family", format_func=FAMILIES.get,
                         help="Sets the token budget: 77 CLIP tokens for SD 1.x and SDXL.")
        left, right, _ = st.columns([1, 1, 3])
        left.form_submit_button("Suggest examples", type="primary", icon=":material/travel_explore:",
                                on_click=_submit_idea, args=("suggest",), width="stretch", key="refine-suggest")
        right.form_submit_button("Write prompt", icon=":material/edit_note:", on_click=_submit_idea,
                                 args=("write",), width="stretch", key="refine-write-now")


def examples_section(s: dict[str, Any]) -> bool:
    """The examples to tick; False when there are none to show yet."""
    candidates, default = _candidates(s)
    if not candidates:
        return False
    picked = {_example_key(e) for e in app_state.picks().values()}
    ticked = _ticked(s)
    with st.expander("Examples", expanded=not s["rounds"], icon=":material/library_books:"):
        st.caption(f"{len(ticked)} of {len(candidates)} ticked.")
        if s.get("suggested_for"):
            st.caption("Similar real prompts for: " + escape_md(s["suggested_for"]))
        for number, example in enumerate(candidates, start=1):
            key = _example_key(example)
            widget = f"refine-tick-{key}"
            st.session_state[widget] = s["ticks"].get(key, key in default)
            box, text = st.columns([1, 11], vertical_alignment="top")
            box.checkbox(f"Use example {number}", key=widget, on_change=_toggle_tick, args=(key, widget),
                         label_visibility="collapsed")
            with text:
                st.code(example.text, language=None, wrap_lines=True)
                facts = ["your pick" if key in picked else f"#{example.rank}",
                         f"similarity {example.score:.2f}",
                         f"seen {example.count:,}×" if example.count > 1 else "seen once"]
                details = widgets.settings_line(example)
                st.caption(escape_md(" · ".join(facts + ([details] if details else []))))
        o = s["options"]
        st.caption(escape_md(f"Writing with style {o['style']} · creativity {o['creativity']:.2f} · "
                             f"{'configured chain' if o['enhancer'] == 'chain' else o['enhancer']} · "
                             f"{FAMILIES.get(o['model_family'], o['model_family'])}"))
        st.button(f"Write prompt with {len(ticked)} example{'s' if len(ticked) != 1 else ''}", type="primary",
                  key="refine-write", icon=":material/edit_note:", on_click=_request, args=("write",),
                  disabled=not s.get("idea", "").strip())
    return True


def result_panel(s: dict[str, Any]) -> None:
    from rag.guidance import prompt_tokens

    rounds = s["rounds"]
    result = rounds[s["current"]]
    budget = _budget(s)
    st.subheader(f"Round {s['current'] + 1} of {len(rounds)}", anchor=False)
    widgets.fallback_notice(result.enhancer, result.fallback_reasons)
    _seed_widget("refine-draft", s["draft"])
    _seed_widget("refine-negative", s["draft_negative"])
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.text_area("Prompt", key="refine-draft", height=130, on_change=_edit_draft,
                     help="Edit freely; A1111 weights such as (phrase:1.2) work with diffusers.")
        st.text_area("Negative prompt", key="refine-negative", height=70, on_change=_edit_negative)
        tokens = prompt_tokens(s["draft"])
        figures = _figures(s, result)
        a, b, c = st.columns(3)
        a.metric("CLIP tokens", f"{tokens} / {budget}", help="What the text encoder reads; past the budget it "
                 "ignores the rest.", delta="over budget" if tokens > budget else None, delta_color="inverse")
        b.metric("Consistency", _fmt(figures.consistency),
                 help="Cosine of the idea and the prompt: did it stay on the idea?")
        c.metric("Novelty", _fmt(figures.novelty), help="Highest cosine to an example: near 1 reads as a copy.")
        seconds = result.timings.get("total_s")
        st.caption(f"Written by **{escape_md(result.enhancer)}**"
                   + (f" in {seconds:.2f} s" if seconds is not None else "")
                   + (" · figures are for your edited prompt" if s["draft"] != result.prompt else ""))
        if result.rationale:
            st.caption("How: " + escape_md(result.rationale[:600]))
        for problem in result.problems:
            st.warning(escape_md(problem), icon=":material/warning:")
        if tokens > budget:
            st.warning(f"The prompt takes {tokens} CLIP tokens, over the budget of {budget}; the model will "
                       "ignore the rest. Remove a phrase.", icon=":material/content_cut:")
        feedback_form(s)
    with right, guard("Finding modifiers"):
        chips_panel(s)
    with st.expander(f"Examples used ({len(result.examples)})", icon=":material/format_quote:"):
        if not result.examples:
            st.caption("None: the prompt was written from the idea alone.")
        for number, example in enumerate(result.examples, start=1):
            st.markdown(f"**Example {number}** · similarity {example.score:.2f}")
            st.code(example.text, language=None, wrap_lines=True)
            details = widgets.settings_line(example)
            if details:
                st.caption(escape_md(details))
    rounds_list(s)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _figures(s: dict[str, Any], result: Any) -> Any:
    """The round's quality figures, measured again when the prompt was edited by hand."""
    if s["draft"] == result.prompt or not s["draft"].strip():
        return result.quality
    from rag.quality import measure

    cache = s.setdefault("figures_cache", {})
    key = (s["current"], s["draft"])
    if key not in cache:
        with guard("Measuring the edited prompt"):
            cache.clear()
            cache[key] = measure(result.idea, s["draft"], result.examples,
                                 token_budget=result.quality.token_budget, embedder=_assistant(s).embedder)
    return cache.get(key, result.quality)


def feedback_form(s: dict[str, Any]) -> None:
    with st.form("refine-feedback-form", border=False, clear_on_submit=False):
        st.text_input("Feedback for another round", key="refine-feedback", max_chars=2000,
                      placeholder="moodier, no text, closer to example 2")
        st.form_submit_button("Refine", icon=":material/autorenew:", on_click=_request, args=("refine",),
                              key="refine-feedback-submit")


def chips_panel(s: dict[str, Any]) -> None:
    from rag.guidance import DEFAULT_WEIGHT, mine_chips

    texts = [e.text for e in (s["suggested"] or s["rounds"][s["current"]].examples)]
    guidance = mine_chips(texts, s["draft"], per_category=6)
    st.markdown("**Modifiers in similar prompts**")
    if not guidance.chips:
        st.caption("The similar prompts share no modifiers.")
        return
    st.caption(f"How many of the {guidance.n_prompts} similar prompts use each. Click one to add it; "
               "greyed ones are already in the prompt.")
    weight_on, weight = st.columns([1, 1], vertical_alignment="center")
    _seed_widget("refine-chip-weighted", s.get("chip_weighted", False))
    _seed_widget("refine-chip-weight", s.get("chip_weight", DEFAULT_WEIGHT))
    weight_on.toggle("Weighted", key="refine-chip-weighted", help="Add as (phrase:weight), A1111 syntax.",
                     on_change=_remember_chip_weight)
    weight.number_input("Weight", min_value=0.5, max_value=1.8, step=0.1, key="refine-chip-weight",
                        label_visibility="collapsed", disabled=not st.session_state["refine-chip-weighted"],
                        on_change=_remember_chip_weight)
    for category, chips in guidance.by_category().items():
        st.caption(category.upper())
        with st.container(horizontal=True, gap="small"):
            for i, chip in enumerate(chips):
                label = f"{escape_md(chip.phrase)} · {chip.count}"
                st.button(label, key=f"refine-chip-{category}-{i}", on_click=_add_chip, args=(chip.phrase,),
                          disabled=chip.in_prompt, type="secondary",
                          help=(f"Already in the prompt. " if chip.in_prompt else "")
                          + f"In {chip.count} of {guidance.n_prompts} similar prompts ({chip.share:.0%}).")


def rounds_list(s: dict[str, Any]) -> None:
    rounds = s["rounds"]
    with st.expander(f"All rounds ({len(rounds)})", icon=":material/history:", expanded=len(rounds) > 1):
        for index, result in enumerate(rounds):
            head, action = st.columns([5, 1], vertical_alignment="center")
            feedback = s["round_feedback"][index] if index < len(s["round_feedback"]) else None
            label = f"**Round {index + 1}** · {escape_md(result.enhancer)} · {result.quality.token_count} tokens"
            if index == s["current"]:
                label += " · current"
            head.markdown(label)
            if feedback:
                head.caption("Feedback: " + escape_md(feedback))
            if index != s["current"]:
                action.button("Restore", key=f"refine-restore-{index}", on_click=_make_current, args=(index,),
                              icon=":material/restore:", width="stretch")
            st.code(result.prompt, language=None, wrap_lines=True)
        left, right, _ = st.columns([1, 1, 3])
        left.button("Step back", key="refine-step-back", on_click=_step_back, disabled=len(rounds) < 2,
                    icon=":material/undo:", help="Remove the latest round (History keeps it).",
                    width="stretch")
        right.button("Start over", key="refine-start-over", on_click=_start_over, icon=":material/restart_alt:",
                     help="Clear the rounds and keep the idea and the examples.", width="stretch")


def generate_section(s: dict[str, Any]) -> None:
    gen = s["gen"]
    for name in GEN_FIELDS:
        _seed_widget(f"refine-gen-{name}", _widget_value(name, gen.get(name)))
    if st.session_state["refine-gen-backend"] not in BACKENDS:
        st.session_state["refine-gen-backend"] = "diffusers"
    if st.session_state["refine-gen-sampler"] not in (DEFAULT_SAMPLER, *_samplers()):
        st.session_state["refine-gen-sampler"] = DEFAULT_SAMPLER
    st.subheader("Generate", anchor=False)
    backend, model = st.columns([1, 3])
    backend.selectbox("Backend", BACKENDS, key="refine-gen-backend", on_change=_remember_gen, args=("backend",),
                      help="diffusers runs on this machine (GPU, Apple MPS or CPU); bedrock calls AWS.")
    model.text_input("Model", key="refine-gen-model", on_change=_remember_gen, args=("model",),
                     placeholder="the configured model", help="A hub id or a local directory (diffusers), "
                     "a Stability model id (bedrock). Empty: the configured one.")
    steps, cfg, sampler, images = st.columns(4)
    steps.number_input("Steps", 1, 150, key="refine-gen-steps", on_change=_remember_gen, args=("steps",))
    cfg.number_input("CFG scale", 0.0, 30.0, step=0.5, key="refine-gen-guidance", on_change=_remember_gen,
                     args=("guidance",))
    sampler.selectbox("Sampler", [DEFAULT_SAMPLER, *_samplers()], key="refine-gen-sampler",
                      on_change=_remember_gen, args=("sampler",), help="Ignored by Bedrock's Stability models.")
    images.number_input("Images", 1, 8, key="refine-gen-num_images", on_change=_remember_gen,
                        args=("num_images",))
    seed, width, height, _ = st.columns(4)
    seed.number_input("Seed", 0, 2**32 - 1, key="refine-gen-seed", on_change=_remember_gen, args=("seed",),
                      placeholder="random", help="Empty: a random seed (reported with the image).")
    width.number_input("Width", 64, 2048, step=8, key="refine-gen-width", on_change=_remember_gen,
                       args=("width",), placeholder="the model's", help="Empty: the model's default size.")
    height.number_input("Height", 64, 2048, step=8, key="refine-gen-height", on_change=_remember_gen,
                        args=("height",), placeholder="the model's")
    examples = s["rounds"][s["current"]].examples
    with_settings = [(n, e) for n, e in enumerate(examples, start=1)
                     if any(v is not None for v in e.settings.values())]
    go, apply = st.columns([1, 3], vertical_alignment="bottom")
    go.button("Generate", type="primary", key="refine-generate", icon=":material/image:", on_click=_request,
              args=("generate",), disabled=not s["draft"].strip(), width="stretch")
    if with_settings:
        with apply:
            pick, use = st.columns([3, 1], vertical_alignment="bottom")
            choice = pick.selectbox("Copy settings from", with_settings, key="refine-gen-from",
                                    format_func=lambda p: f"Example {p[0]}: {widgets.settings_line(p[1])}")
            use.button("Apply", key="refine-gen-apply", on_click=_apply_settings, args=(choice[1], choice[0]),
                       help="Use this example's seed, steps, CFG, sampler and size.", width="stretch")


def images_section(s: dict[str, Any]) -> None:
    images = s["images"].get(s["current"], [])
    if not images:
        return
    columns = st.columns(4)
    for i, image in enumerate(images):
        path = Path(image["path"] if isinstance(image, dict) else image.path)
        parameters = image["parameters"] if isinstance(image, dict) else {**image.parameters, "seed": image.seed}
        with columns[i % len(columns)]:
            if not path.is_file():
                st.caption(f"{escape_md(path.name)} is no longer on disk.")
                continue
            st.image(str(path), width="stretch")
            st.caption(escape_md(widgets.settings_line(SimpleNamespace(settings=parameters))))
            st.download_button("Download PNG", data=path.read_bytes(), file_name=path.name, mime="image/png",
                               key=f"refine-download-{s['current']}-{i}", icon=":material/download:",
                               on_click="ignore", width="stretch",
                               help="The PNG carries its prompt and settings (A1111 'parameters' chunk).")


# ---- the page ------------------------------------------------------------------------------------
s = _state()
st.title("Refine", anchor=False)
st.caption("Turn an idea into a prompt grounded in similar real prompts, refine it in rounds, then make images.")

with guard("Drawing the idea form"):
    idea_form(s)
action = s.pop("pending", None)
if action == "suggest":
    with guard("Finding examples"):
        _suggest(s)
drawn = False
with guard("Listing the examples"):
    drawn = examples_section(s)
if action == "write":
    with guard("Writing the prompt"):
        if _write(s):
            st.rerun()  # draw the new round in place of the stream (its notices stay on the round)
    if not drawn:
        with guard("Listing the examples"):
            examples_section(s)  # "Write prompt" straight away retrieved them just now
if action == "refine":
    with guard("Refining the prompt"):
        _refine(s)
message = s.pop("message", None)
if message:
    st.toast(escape_md(message))

if s["rounds"]:
    with guard("Showing the result"):
        result_panel(s)
    st.divider()
    with guard("Generation settings"):
        generate_section(s)
    if action == "generate":
        with guard("Generating images"):
            _generate(s)
    with guard("Showing the images"):
        images_section(s)
elif not s.get("idea"):
    st.info("Type an idea and press **Suggest examples** to see similar real prompts, or **Write prompt** to "
            "go straight to a prompt. Prompts ticked on Explore come along as examples.",
            icon=":material/lightbulb:")
