"""Refine: idea → suggested examples → a fused prompt, refined in rounds → images.

1. The idea (Explore's last search arrives in the box) and its choices (style, creativity,
   enhancer, target model) suggest similar real prompts (`PromptAssistant.retrieve`,
   near-duplicates folded); the user ticks the ones to use (picks carried over from Explore
   come pre-ticked, else the top 3). A new idea gets its own examples and a fresh set of rounds.
2. "Write prompt" streams `PromptAssistant.fuse_stream`: text as it comes, a warning for each
   enhancer that failed on the way, then the checked result.
3. The result: an editable prompt and negative prompt, CLIP tokens, consistency and novelty,
   the examples used, problems, modifier chips (`rag.guidance`) that add themselves, and
   feedback for another round (`rag.refinement.refine`). Every round is listed and can be
   restored, the latest stepped back (and redone); rounds are saved to the history.
4. Generate with a backend and parameters (one click copies an example's), with a progress
   bar; images show their parameters and download as PNG.

Layout and the page body only. The state and its callbacks are app/refine_state.py; the
actions callbacks request run here in place under `widgets.guard`, so a failure is one message
and the idea, rounds and picks stay. Untrusted text (the idea, retrieved prompts, LLM output)
is drawn with st.code / st.text / escaped markdown.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import streamlit as st

from app import gallery, refine_state, resources, widgets
from app import state as app_state
from app.refine_session import RefineSession
from app.refine_state import DEFAULT_SAMPLER, seed_widget
from app.widgets import escape_md, guard
from enhancers.events import MemberFailed, TextDelta
from enhancers.registry import enhancer_names
from enhancers.user_styles import style_names
from rag.assistant import AssistantFinished
from rag.guidance import DEFAULT_WEIGHT, mine_chips, prompt_tokens

app_state.require_shell(__file__)

FAMILIES = {"sdxl": "SDXL", "sd1": "SD 1.x", "sd3": "SD3 / SD3.5 / Stable Image", "flux": "Flux",
            "turbo": "Turbo / Lightning / LCM", "other": "Other T5 model"}
BACKENDS = ("diffusers", "bedrock")
# The round's own over-budget problem (rag.assistant) is about the prompt as written; the page
# says it once, for the prompt as edited, with the same count as the metric.
OVER_BUDGET = re.compile(r"CLIP tokens, over the budget")


# ---- actions (requested by callbacks, run in the page body inside guard) -----------------
def _suggest(s: RefineSession) -> None:
    with st.spinner("Finding similar prompts…"):
        retrieved = refine_state.suggest(s)
    if not retrieved:
        st.info("No similar prompts found; the prompt will be written from the idea alone.",
                icon=":material/search_off:")


def _write(s: RefineSession) -> bool:
    """Stream a new round; False when there was nothing to write (no idea)."""

    if not s.idea.strip():
        st.warning("Type an idea first, then press **Write prompt**.", icon=":material/edit:")
        return False
    assistant = refine_state.assistant(s)
    if refine_state.stale_suggestions(s):
        _suggest(s)  # straight away, or a new idea: the top suggestions for it are the examples
    examples = refine_state.ticked(s)
    opts = s.options
    result = None
    with st.container(border=True):
        st.caption(f"Writing with {len(examples)} example{'s' if len(examples) != 1 else ''}…")
        notices = st.container()
        box = st.empty()
        text = ""
        stream = assistant.fuse_stream(s.idea, examples, style=opts["style"],  # a user style too
                                       creativity=opts["creativity"], model_family=opts["model_family"])
        for event in stream:
            if isinstance(event, TextDelta):
                text += event.text
                box.code(text, language=None, wrap_lines=True)
            elif isinstance(event, MemberFailed):
                notices.warning(f"**{escape_md(event.name)}** failed: {escape_md(event.reason)} — "
                                "trying the next enhancer.", icon=":material/alt_route:")
            elif isinstance(event, AssistantFinished):
                result = event.result
    if result is None:
        raise RuntimeError("fuse_stream ended without AssistantFinished")
    refine_state.add_round(s, result)  # the same prompt again: that round is shown
    return True


def _generate(s: RefineSession) -> None:
    stop, progress = st.empty(), st.empty()
    # Any click reruns the page, which stops the generation at its next step; this one says so.
    stop.button("Stop", key="refine-stop", icon=":material/stop_circle:", on_click=refine_state.stopped)
    with progress.container():
        panel = widgets.ProgressPanel("Loading the image model…")
    try:
        saved = refine_state.generate(s, on_progress=panel)
    except Exception:
        progress.empty()  # the failure is guard's one message; no bar stays behind
        raise
    finally:
        stop.empty()
    panel.done(f"Done: {len(saved.paths)} image{'s' if len(saved.paths) != 1 else ''}")


# ---- drawing -----------------------------------------------------------------------------
def idea_form(s: RefineSession) -> None:

    enhancers = ["chain", *[n for n in enhancer_names() if n != "chain"]]
    refine_state.carry_explore_query(s)
    refine_state.seed_idea_widgets(s, enhancers)
    options = refine_state.edit_options
    # No st.form: a form keeps typed text from the buttons outside it (the examples' violet one).
    with st.container(border=True, key="refine-idea-form"):
        st.text_area("Your idea", key="refine-idea", height=80, on_change=refine_state.edit_idea,
                     placeholder="a lighthouse in a storm at night",
                     help=f"A few words are enough: similar real prompts supply the style "
                          f"(at most {refine_state.IDEA_LIMIT:,} characters).")
        problem = refine_state.idea_problem(s)
        if problem:
            st.error(problem, icon=":material/content_cut:")  # our own words and numbers
        style, creativity, enhancer, family = st.columns([1, 1.2, 1.3, 1])
        style.selectbox("Style", style_names(), key="refine-style", on_change=options,
                        help="'auto' detects it from the idea; your own styles (Settings) follow the built-in ones.")
        creativity.slider("Creativity", 0.0, 1.0, step=0.05, key="refine-creativity", on_change=options,
                          help="0 stays close to the idea, 1 adds the most.")
        enhancer.selectbox("Enhancer", enhancers, key="refine-enhancer", on_change=options,
                           format_func=lambda n: "Configured chain" if n == "chain" else n,
                           help="Who writes the prompt. The chain falls back, in order, to the next "
                                "enhancer and finally to the rules, and says why.")
        family.selectbox("Target model", list(FAMILIES), key="refine-family", format_func=FAMILIES.get,
                         on_change=options,
                         help="Shapes the prompt: tags for SD 1.x, a sentence plus a few tags for SDXL and "
                              "turbo models (no negative prompt), sentences for SD3 and Flux; sets the token budget.")
        left, right, _ = st.columns([1, 1, 3])
        left.button("Suggest examples", type="primary", icon=":material/travel_explore:",
                    on_click=refine_state.submit_idea, args=("suggest",), width="stretch", key="refine-suggest")
        right.button("Write prompt", icon=":material/edit_note:", width="stretch",
                     on_click=refine_state.submit_idea, args=("write",), key="refine-write-now")


def image_drop(s: RefineSession) -> None:
    """Drop a PNG (ours, A1111 / Forge, ComfyUI): its prompt, negative and settings become a new round."""
    with st.expander("Reproduce an image", icon=":material/image_search:"):
        st.file_uploader("Drop a PNG made by promptrag, A1111 / Forge or ComfyUI", type=["png"], key="refine-drop",
                         help="Reads the prompt, negative prompt and settings the image carries.")
        st.button("Load into a new round", key="refine-load-image", icon=":material/upload:",
                  on_click=refine_state.request, args=("load_image",),
                  disabled=st.session_state.get("refine-drop") is None)


def examples_section(s: RefineSession) -> bool:
    """The examples to tick; False when there are none to show yet."""
    candidates, default = refine_state.candidates(s)
    if not candidates:
        return False
    picked = {refine_state.example_key(e) for e in app_state.picks().values()}
    ticked = refine_state.ticked(s)
    stale = bool(s.suggested) and refine_state.stale_suggestions(s)
    with st.expander("Examples", expanded=not s.rounds, icon=":material/library_books:"):
        folded = s.folded or 0
        st.caption(f"{len(ticked)} of {len(candidates)} ticked."
                   + (f" {folded} near-identical prompt{'s' if folded != 1 else ''} left out." if folded else ""))
        if s.suggested_for:
            st.caption("Similar real prompts for: " + escape_md(s.suggested_for))
        if stale:
            st.caption("Your idea has changed: writing finds examples for it first (or press **Suggest "
                       "examples** to choose them).")
        pictures: dict = {}
        with guard("Loading the example pictures"):
            pictures = gallery.example_thumbnails(resources.current_index_path(),
                                                  [(e.id, e.text) for e in candidates])
        for number, example in enumerate(candidates, start=1):
            key = refine_state.example_key(example)
            widget = f"refine-tick-{key}"
            st.session_state[widget] = s.ticks.get(key, key in default)
            box, text, *picture = st.columns([1, 9, 2] if pictures else [1, 11], vertical_alignment="top")
            fetched = pictures.get(example.id)
            if picture and fetched is not None and fetched.path is not None:  # small: the text is what is used
                picture[0].image(str(fetched.path), width="stretch")
            box.checkbox(f"Use example {number}", key=widget, on_change=refine_state.toggle_tick,
                         args=(key, widget), label_visibility="collapsed")
            with text:
                st.code(example.text, language=None, wrap_lines=True)
                facts = ["your pick" if key in picked else f"#{example.rank}",
                         f"similarity {example.score:.2f}",
                         f"seen {example.count:,}×" if example.count > 1 else "seen once"]
                details = widgets.settings_line(example)
                st.caption(escape_md(" · ".join(facts + ([details] if details else []))))
        o = s.options
        st.caption(escape_md(f"Writing with style {o['style']} · creativity {o['creativity']:.2f} · "
                             f"{'configured chain' if o['enhancer'] == 'chain' else o['enhancer']} · "
                             f"{FAMILIES.get(o['model_family'], o['model_family'])}"))
        # Never disabled for an empty idea: text typed but not yet sent reaches the server with
        # the click, and an idea still empty then gets a "type an idea" line.
        label = ("Write prompt with new examples" if stale
                 else f"Write prompt with {len(ticked)} example{'s' if len(ticked) != 1 else ''}")
        st.button(label, type="primary", key="refine-write", icon=":material/edit_note:",
                  on_click=refine_state.submit_idea, args=("write",))
    return True


def result_panel(s: RefineSession) -> None:
    rounds = s.rounds
    result = rounds[s.current]
    budget = refine_state.budget(s)
    st.subheader(f"Round {s.current + 1} of {len(rounds)}", anchor=False)
    widgets.fallback_notice(result.enhancer, result.fallback_reasons)
    seed_widget("refine-draft", s.draft)
    seed_widget("refine-negative", s.draft_negative)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.text_area("Prompt", key="refine-draft", height=130, on_change=refine_state.edit_draft,
                     help="Edit freely; A1111 weights such as (phrase:1.2) work with diffusers.")
        st.text_area("Negative prompt", key="refine-negative", height=70,
                     on_change=refine_state.edit_negative)
        tokens = prompt_tokens(s.draft)
        figures = refine_state.figures(s, result)
        a, b, c = st.columns(3)
        a.metric("CLIP tokens", f"{tokens} / {budget}",
                 help="What the text encoder reads; past the budget it ignores the rest.",
                 delta="over budget" if tokens > budget else None, delta_color="inverse")
        b.metric("Consistency", _fmt(figures.consistency),
                 help="Cosine of the idea and the prompt: did it stay on the idea?")
        c.metric("Novelty", _fmt(figures.novelty),
                 help="Highest cosine to an example: near 1 reads as a copy.")
        seconds = result.timings.get("total_s")
        st.caption(f"Written by **{escape_md(result.enhancer)}**"
                   + (f" · look: **{escape_md(result.look)}**" if result.look else "")
                   + (f" in {seconds:.2f} s" if seconds is not None else "")
                   + (" · figures are for your edited prompt" if s.draft != result.prompt else ""))
        if result.rationale:
            st.caption("How: " + escape_md(result.rationale.removeprefix("How:").strip()[:600]))
        for problem in result.problems:
            if not OVER_BUDGET.search(problem):  # said once below, for the prompt as edited
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


def feedback_form(s: RefineSession) -> None:
    with st.form("refine-feedback-form", border=False, clear_on_submit=False):
        st.text_input("Feedback for another round", key="refine-feedback", max_chars=2000,
                      placeholder="moodier, no text, closer to example 2")
        st.form_submit_button("Refine", icon=":material/autorenew:", on_click=refine_state.request,
                              args=("refine",), key="refine-feedback-submit")


def chips_panel(s: RefineSession) -> None:
    texts = [e.text for e in (s.suggested or s.rounds[s.current].examples)]
    guidance = mine_chips(texts, s.draft, per_category=6)
    st.markdown("**Modifiers in similar prompts**")
    if not guidance.chips:
        st.caption("The similar prompts share no modifiers.")
        return
    st.caption(f"How many of the {guidance.n_prompts} similar prompts use each. Click one to add it; "
               "greyed ones are already in the prompt.")
    weight_on, weight = st.columns([1, 1], vertical_alignment="center")
    seed_widget("refine-chip-weighted", s.chip_weighted)
    seed_widget("refine-chip-weight", DEFAULT_WEIGHT if s.chip_weight is None else s.chip_weight)
    weight_on.toggle("Weighted", key="refine-chip-weighted", help="Add as (phrase:weight), A1111 syntax.",
                     on_change=refine_state.remember_chip_weight)
    weight.number_input("Weight", min_value=0.5, max_value=1.8, step=0.1, key="refine-chip-weight",
                        label_visibility="collapsed", disabled=not st.session_state["refine-chip-weighted"],
                        on_change=refine_state.remember_chip_weight)
    for category, chips in guidance.by_category().items():
        st.caption(category.upper())
        with st.container(horizontal=True, gap="small"):
            for i, chip in enumerate(chips):
                label = f"{escape_md(chip.phrase)} · {chip.count}"
                st.button(label, key=f"refine-chip-{category}-{i}", on_click=refine_state.add_chip,
                          args=(chip.phrase,), disabled=chip.in_prompt, type="secondary",
                          help=("Already in the prompt. " if chip.in_prompt else "")
                          + f"In {chip.count} of {guidance.n_prompts} similar prompts ({chip.share:.0%}).")


def rounds_list(s: RefineSession) -> None:
    rounds = s.rounds
    # Open when there is a choice to make: several rounds, or one Step back took away (Redo).
    with st.expander(f"All rounds ({len(rounds)})", icon=":material/history:",
                     expanded=len(rounds) > 1 or bool(s.undone)):
        for index, result in enumerate(rounds):
            head, action = st.columns([5, 1], vertical_alignment="center")
            feedback = s.round_feedback[index] if index < len(s.round_feedback) else None
            # The current round as on screen (hand edits, added chips), counted as the metric counts.
            edited = index == s.current and s.draft != result.prompt
            prompt = s.draft if edited else result.prompt
            label = (f"**Round {index + 1}** · {escape_md(result.enhancer)} · "
                     f"{prompt_tokens(prompt)} tokens")
            if index == s.current:
                label += " · current" + (", edited" if edited else "")
            head.markdown(label)
            if feedback:
                head.caption("Feedback: " + escape_md(feedback))
            if index != s.current:
                action.button("Restore", key=f"refine-restore-{index}", on_click=refine_state.make_current,
                              args=(index,), icon=":material/restore:", width="stretch")
            st.code(prompt, language=None, wrap_lines=True)
        back, redo, over, _ = st.columns([1, 1, 1, 2])
        back.button("Step back", key="refine-step-back", on_click=refine_state.step_back,
                    disabled=len(rounds) < 2, icon=":material/undo:",
                    help="Remove the latest round (History keeps it; Redo brings it back).", width="stretch")
        redo.button("Redo", key="refine-redo", on_click=refine_state.redo, disabled=not s.undone,
                    icon=":material/redo:", help="Bring back the round Step back removed.", width="stretch")
        over.button("Start over", key="refine-start-over", on_click=refine_state.start_over,
                    icon=":material/restart_alt:", width="stretch",
                    help="Clear the rounds and keep the idea and the examples.")


def generate_section(s: RefineSession) -> None:
    refine_state.seed_generation_widgets(s, BACKENDS)
    remember = refine_state.remember_gen
    st.subheader("Generate", anchor=False)
    backend, model = st.columns([1, 3])
    backend.selectbox("Backend", BACKENDS, key="refine-gen-backend", on_change=remember, args=("backend",),
                      help="diffusers runs on this machine (GPU, Apple MPS or CPU); bedrock calls AWS.")
    model.text_input("Model", key="refine-gen-model", on_change=remember, args=("model",),
                     placeholder="the configured model", help="A hub id or a local directory (diffusers), "
                     "a Stability model id (bedrock). Empty: the configured one.")
    steps, cfg, sampler, images = st.columns(4)
    steps.number_input("Steps", 1, 150, key="refine-gen-steps", on_change=remember, args=("steps",))
    cfg.number_input("CFG scale", 0.0, 30.0, step=0.5, key="refine-gen-guidance", on_change=remember,
                     args=("guidance",))
    sampler.selectbox("Sampler", [DEFAULT_SAMPLER, *refine_state.samplers()], key="refine-gen-sampler",
                      on_change=remember, args=("sampler",), help="Ignored by Bedrock's Stability models.")
    images.number_input("Images", 1, 8, key="refine-gen-num_images", on_change=remember,
                        args=("num_images",))
    seed, width, height, _ = st.columns(4)
    seed.number_input("Seed", 0, 2**32 - 1, key="refine-gen-seed", on_change=remember, args=("seed",),
                      placeholder="random", help="Empty: a random seed (reported with the image).")
    width.number_input("Width", 64, 2048, step=8, key="refine-gen-width", on_change=remember,
                       args=("width",), placeholder="the model's", help="Empty: the model's default size.")
    height.number_input("Height", 64, 2048, step=8, key="refine-gen-height", on_change=remember,
                        args=("height",), placeholder="the model's")
    examples = s.rounds[s.current].examples
    with_settings = [(n, e) for n, e in enumerate(examples, start=1)
                     if any(v is not None for v in e.settings.values())]
    missing = refine_state.missing_model(s)
    reason = (f"{missing.repo_id} is not downloaded yet ({missing.size_label}): download it first"
              if missing is not None else None)
    go, apply = st.columns([1, 3], vertical_alignment="bottom")
    go.button("Generate", type="primary", key="refine-generate", icon=":material/image:",
              on_click=refine_state.request, args=("generate",), disabled=not s.draft.strip() or bool(reason),
              width="stretch", help=reason)
    if missing is not None:
        st.caption(escape_md(reason) + ". A stopped download resumes where it left off.")
        if st.button(f"Download ({missing.size_label})", key="refine-gen-download", icon=":material/download:"):
            with guard(f"Downloading {missing.name}"):
                refine_state.download_model(missing, widgets.ProgressPanel(f"Downloading {missing.name}…"))
                st.rerun()
    if with_settings:
        with apply:
            pick, use = st.columns([3, 1], vertical_alignment="bottom")
            choice = pick.selectbox("Copy settings from", with_settings, key="refine-gen-from",
                                    format_func=lambda p: f"Example {p[0]}: {widgets.settings_line(p[1])}")
            use.button("Apply", key="refine-gen-apply", on_click=refine_state.apply_settings,
                       args=(choice[1], choice[0]), width="stretch",
                       help="Use this example's seed, steps, CFG, sampler and size.")


def images_section(s: RefineSession) -> None:
    images = refine_state.shown_images(s)
    if not images:
        return
    columns = st.columns(4)
    for i, (path, parameters) in enumerate(images):
        with columns[i % len(columns)]:
            if not path.is_file():
                st.caption(f"{escape_md(path.name)} is no longer on disk.")
                continue
            st.image(str(path), width="stretch")
            st.caption(escape_md(widgets.settings_line(SimpleNamespace(settings=parameters))))
            st.download_button("Download PNG", data=path.read_bytes(), file_name=path.name, mime="image/png",
                               key=f"refine-download-{s.current}-{i}", icon=":material/download:",
                               on_click="ignore", width="stretch",
                               help="The PNG carries its prompt and settings (A1111 'parameters' chunk).")


# ---- the page ----------------------------------------------------------------------------
s = refine_state.state()
st.title("Refine", anchor=False)
st.caption("Turn an idea into a prompt grounded in similar real prompts, refine it in rounds, "
           "then make images.")

if s.pending == "load_image":  # before the idea form: the image's idea fills its box
    s.take_pending()
    dropped = st.session_state.get("refine-drop")
    if dropped is not None:
        with guard("Reading the image"):
            refine_state.load_image(s, dropped.getvalue(), dropped.name)
with guard("Drawing the idea form"):
    idea_form(s)
    image_drop(s)
action = s.take_pending()
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
    with guard("Refining the prompt"), st.spinner("Revising the prompt…"):
        refine_state.refine_round(s)
message = s.take_message()
if message:
    st.toast(escape_md(message))

if s.rounds:
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
elif not s.idea:
    st.info("Type an idea and press **Suggest examples** to see similar real prompts, or **Write prompt** to "
            "go straight to a prompt. Prompts ticked on Explore come along as examples.",
            icon=":material/lightbulb:")
