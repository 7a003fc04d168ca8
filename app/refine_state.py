"""The Refine page's state and the callbacks that write it.

`state()` returns this user's `RefineSession` (app/refine_session.py, the fields and what each
holds), ready for the page.

The idea is not in a form: its box and choices write REFINE on change, so a button pressed
while the typed text is still unsent (the browser sends it on blur) acts on what is on screen.
The page limits the idea to IDEA_LIMIT characters itself and says so: a widget's `max_chars`
would drop a longer paste without a word.

Widgets are keyed "refine-…". A widget's state is dropped when the user leaves the page, so each
is seeded from REFINE (`seed_widget`) and its callback writes the value back. Callbacks only
write state; the work they ask for (`request("refine")`) runs in the page body under `guard`,
which draws its spinner or progress around the steps here (`suggest`, `refine_round`,
`generate`) and streams the written prompt itself.

Deliberately not here: drawing (pages/refine.py), and how prompts are retrieved, fused,
refined, measured or drawn into images: each step is one call into rag/ or generate/.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import streamlit as st

from app import resources, widgets
from app import state as app_state
from app.refine_session import RefineSession, RoundImage
from app.reproduce import round_from_image
from app.widgets import guard
from core.errors import PromptragError
from core.progress import CancelToken, ProgressCallback
from core.settings import get_settings
from enhancers.base import TOKEN_BUDGET
from enhancers.user_styles import style_names
from generate.models import CatalogueModel, PullResult, find_model, model_status, pull
from generate.output import make_recipe
from generate.readback import inspect_image
from generate.saving import (
    IMAGE_OPTION_FIELDS,
    SavedGeneration,
    generate_and_save,
    image_options,
    image_options_from_settings,
)
from generate.schedulers import SAMPLERS
from rag.assistant import AssistantResult, ExampleUsed, PromptAssistant, default_picks, retrieve, to_examples
from rag.folding import fold_retrieved
from rag.guidance import add_chip as add_phrase
from rag.quality import QualityFigures
from rag.refinement import edited_figures, refine, with_edits
from rag.retriever import RetrievedPrompt

SUGGESTIONS = 8  # prompts suggested per idea
SUGGESTION_POOL = 2 * SUGGESTIONS  # retrieved, so that folding near-duplicates still leaves SUGGESTIONS
IDEA_LIMIT = 2000  # characters: a few words are enough, the examples supply the style
DEFAULT_SAMPLER = "model's default"  # what the sampler box shows for None
GEN_FIELDS = ("backend", "model", *IMAGE_OPTION_FIELDS)
GenValue = int | float | str | None  # a generation setting: backend / model / sampler names, numbers


# ---- state ---------------------------------------------------------------------------------
def state() -> RefineSession:
    """This user's `RefineSession` (app.state.REFINE), ready for the page: the first time it is drawn
    (a new one, or a round reopened from History) widgets left from an earlier one are cleared, and
    its generation settings start from Settings'."""
    s = app_state.refine()
    if not s.widgets_seeded:
        for key in [k for k in st.session_state if str(k).startswith("refine-")]:
            del st.session_state[key]
        s.widgets_seeded = True
    if not s.gen:
        s.gen = {k: app_state.generation().get(k) for k in GEN_FIELDS}
    return s


def seed_widget(key: str, value: object) -> None:
    """Give a widget its value from REFINE (widget state is dropped when the user leaves the page)."""
    if key not in st.session_state:
        st.session_state[key] = value


def seed_idea_widgets(s: RefineSession, enhancers: list[str]) -> None:
    """The idea form's widgets from REFINE (an enhancer no longer registered: the chain)."""
    seed_widget("refine-idea", s.idea)
    for name, key in (("style", "refine-style"), ("creativity", "refine-creativity"),
                      ("enhancer", "refine-enhancer"), ("model_family", "refine-family")):
        seed_widget(key, s.options[name])
    if st.session_state["refine-enhancer"] not in enhancers:
        st.session_state["refine-enhancer"] = "chain"
    if st.session_state["refine-style"] not in style_names():  # a user style since removed
        st.session_state["refine-style"] = "auto"


def seed_generation_widgets(s: RefineSession, backends: tuple[str, ...]) -> None:
    """The generation widgets from REFINE's `gen` (an unknown backend or sampler: the default)."""
    for name in GEN_FIELDS:
        seed_widget(f"refine-gen-{name}", widget_value(name, s.gen.get(name)))
    if st.session_state["refine-gen-backend"] not in backends:
        st.session_state["refine-gen-backend"] = "diffusers"
    if st.session_state["refine-gen-sampler"] not in (DEFAULT_SAMPLER, *samplers()):
        st.session_state["refine-gen-sampler"] = DEFAULT_SAMPLER


def example_key(example: ExampleUsed) -> str:
    """A short stable key for an example's tick box (its row id, or its text)."""
    return hashlib.sha1(str(app_state.pick_key(example)).encode("utf-8")).hexdigest()[:12]


def candidates(s: RefineSession) -> tuple[list[ExampleUsed], set[str]]:
    """The examples to tick from (Explore's picks first, then the suggestions) and the default ticks."""
    picked = list(app_state.picks().values())
    seen: set[str] = set()
    out = []
    for example in [*picked, *s.suggested]:
        key = example_key(example)
        if key not in seen:
            seen.add(key)
            out.append(example)
    default = ({example_key(e) for e in picked} if picked
               else {example_key(s.suggested[rank - 1]) for rank in default_picks(len(s.suggested))})
    return out, default


def idea_problem(s: RefineSession) -> str | None:
    """Why the idea cannot be used as it is (over IDEA_LIMIT), or None."""
    length = len(s.idea)
    if length <= IDEA_LIMIT:
        return None
    return (f"Your idea is {length:,} characters, over the limit of {IDEA_LIMIT:,}: shorten it. A few words "
            "are enough; the similar real prompts supply the style.")


def stale_suggestions(s: RefineSession) -> bool:
    """Should examples be found before writing? None yet (and no picks), or they were found
    for another idea (a new idea never reuses the last one's ticks)."""
    if s.suggested:
        return s.suggested_for != s.idea
    return not app_state.picks()


def carry_explore_query(s: RefineSession) -> None:
    """Explore's latest search becomes the idea, once, when the box is empty or still holds an
    earlier carried search (an idea the user typed stays)."""
    query = app_state.take_explore_query()
    idea = s.idea.strip()
    if query is None or (idea and idea != s.carried_idea):
        return
    s.idea = s.carried_idea = query
    st.session_state["refine-idea"] = query


def ticked(s: RefineSession) -> list[ExampleUsed]:
    """The examples the next prompt is written with."""
    examples, default = candidates(s)
    return [e for e in examples if s.ticks.get(example_key(e), example_key(e) in default)]


def set_draft(s: RefineSession, prompt: str, negative: str | None = None) -> None:
    s.draft = prompt
    st.session_state["refine-draft"] = prompt
    if negative is not None:
        s.draft_negative = negative
        st.session_state["refine-negative"] = negative


def budget(s: RefineSession) -> int:
    """The CLIP token budget of the current round's target model (else the idea form's)."""
    rounds = s.rounds
    family = rounds[s.current].options.get("model_family") if rounds else s.options["model_family"]
    return TOKEN_BUDGET.get(family or "sdxl", 77)


def enhancer_spec(s: RefineSession) -> str:
    """The idea form's enhancer; "chain" is the chain chosen on Settings (or the configured one)."""
    spec = s.options["enhancer"]
    return app_state.enhancer_spec() if spec == "chain" else spec


def assistant(s: RefineSession) -> PromptAssistant:
    """The `PromptAssistant` over this session's index with the idea form's enhancer (cached parts)."""
    return resources.load_assistant(resources.current_index_path(), enhancer_spec(s))


def typed(name: str, value: GenValue) -> GenValue:
    """Number inputs need one type: CFG is a float, steps / seed / size / images are ints."""
    if value is None or name in ("backend", "model", "sampler"):
        return value
    return float(value) if name == "guidance" else int(value)


def widget_value(name: str, value: GenValue) -> GenValue:
    """What the widget shows for a generation setting (None sampler: the model's default)."""
    if name == "sampler":
        return value or DEFAULT_SAMPLER
    return typed(name, value)


def samplers() -> list[str]:
    return sorted(SAMPLERS)


# ---- the steps the page body runs (it draws their spinner or progress) ---------------------
def suggest(s: RefineSession) -> list[RetrievedPrompt]:
    """Retrieve prompts similar to the idea, near-duplicates folded; they become the examples to
    tick (defaults again). For a new idea the rounds of the last one leave the page (History
    keeps them)."""
    if s.rounds and s.rounds[0].idea != s.idea:
        start_over()
        s.message = "A new idea: the rounds of the last one are in History."
    # the index alone: the chosen writer is built only when it writes (it may not be configured yet)
    retriever = resources.load_retriever(resources.current_index_path())
    folded = fold_retrieved(retriever, retrieve(retriever, s.idea, k=SUGGESTION_POOL), k=SUGGESTIONS)
    retrieved = folded.kept
    s.retrieved = retrieved
    s.suggested = to_examples(retrieved, list(range(1, len(retrieved) + 1)))
    s.suggested_for = s.idea
    s.folded = folded.n_folded
    s.ticks = {}
    return retrieved


def refine_round(s: RefineSession) -> None:
    """A new round: the current one, with the user's hand edits, revised by the feedback box."""
    feedback = st.session_state.get("refine-feedback", "")
    # The hand edits (and added chips) are what the feedback revises.
    previous = with_edits(s.rounds[s.current], s.draft, s.draft_negative)
    embedder = assistant(s).embedder
    result = refine(previous, feedback, enhancer=resources.load_enhancer(enhancer_spec(s)), embedder=embedder)
    add_round(s, result, feedback)


def generate(s: RefineSession, on_progress: ProgressCallback) -> SavedGeneration:
    """Images of the current draft with the generation settings, kept with the current round
    (and saved to History with it); returns the `generate.saving.SavedGeneration`."""
    gen = s.gen
    options = image_options(gen, backend=gen["backend"])
    index = s.current
    backend = resources.load_image_backend(gen["backend"], gen.get("model") or None)
    shown = s.rounds[index] if s.rounds else None
    recipe = {} if shown is None else make_recipe(
        idea=shown.idea, enhancer=shown.enhancer, style=shown.style, example_ids=[e.id for e in shown.examples])
    saved = generate_and_save(s.draft, s.draft_negative, options, backend, None,
                              get_settings().images_dir / s.session_id, on_progress=on_progress,
                              cancel=CancelToken(), recipe=recipe)
    add_images(s, index, saved)
    return saved


def missing_model(s: RefineSession) -> CatalogueModel | None:
    """The catalogue model (generate.models) Generate would load when it is not downloaded yet;
    None when nothing is missing or the model is not one the catalogue knows (its load says why)."""
    gen = s.gen
    if gen.get("backend") != "diffusers":
        return None
    known = find_model(gen.get("model") or get_settings().image_model)
    if known is None or known.kind != "image":
        return None
    return None if model_status(known).cached else known


def download_model(model: CatalogueModel, on_progress: ProgressCallback) -> PullResult:
    """Pull `model` into the Hugging Face cache (a rerun stops it; the next pull resumes)."""
    return pull(model, on_progress=on_progress)


def load_image(s: RefineSession, data: bytes, name: str) -> None:
    """A dropped image's prompt, negative prompt and settings become a new round and the
    generation settings ("reproduce this image"); an image without a recipe is one InputError."""
    recipe = inspect_image(data)
    result = round_from_image(recipe, model_family=s.options.get("model_family", "sdxl"))
    s.idea = result.idea
    st.session_state["refine-idea"] = result.idea
    add_round(s, result)
    applied = []
    for option, value in recipe.image_options().items():
        if option not in GEN_FIELDS or (option == "sampler" and value not in samplers()):
            continue
        s.gen[option] = typed(option, value)
        st.session_state[f"refine-gen-{option}"] = widget_value(option, s.gen[option])
        applied.append(option)
    s.message = (f"Loaded the prompt of {name} ({recipe.source})"
                    + (f" and its {', '.join(applied)}." if applied else "; it records no settings to reuse."))


def add_round(s: RefineSession, result: AssistantResult, feedback: str | None = None) -> bool:
    """`result` becomes the current round and goes to History (a failed save is one message;
    the round stays); False when it was not added. A round written (no feedback) for another
    idea starts a new session, the old rounds staying in History; one written with the very
    prompt of a round on the page shows that round again instead of saving a copy. After a
    refined round the feedback box is emptied; a new round ends what Redo could bring back."""
    if feedback is None and s.rounds and s.rounds[0].idea != s.idea:
        start_over()
    if feedback is None:
        same = [i for i, r in enumerate(s.rounds) if (r.idea, r.prompt, r.negative_prompt)
                == (result.idea, result.prompt, result.negative_prompt)]
        if same:
            make_current(same[-1])
            s.message = f"The same prompt as round {same[-1] + 1}: shown again, not saved twice."
            return False
    s.add(result, feedback)
    set_draft(s, result.prompt, result.negative_prompt)
    with guard("Saving the round to History"):
        s.round_ids[-1] = resources.load_history().add_round(
            session_id=s.session_id, result=result, feedback=feedback)
    if feedback is not None:
        st.session_state["refine-feedback"] = ""
    return True


def add_images(s: RefineSession, index: int, saved: SavedGeneration) -> None:
    """The images of a `generate.saving.SavedGeneration` made from round `index`, kept with it
    and saved to History with the round."""
    s.images.setdefault(index, []).extend(
        RoundImage(str(p), seed, {**saved.parameters, "seed": seed})
        for p, seed in zip(saved.paths, saved.seeds, strict=False))
    round_id = s.round_ids[index] if index < len(s.round_ids) else None
    if round_id is not None:
        with guard("Saving the images to History"):
            resources.load_history().add_images(round_id, saved)


def shown_images(s: RefineSession) -> list[tuple[Path, dict[str, object]]]:
    """The current round's images as (path, parameters with the seed): made here, or reopened
    from History (`app.history` image records)."""
    return [(Path(image.path), {**image.parameters, "seed": image.seed}) for image in s.images.get(s.current, [])]


def figures(s: RefineSession, result: AssistantResult) -> QualityFigures:
    """The round's quality figures, measured again (once per edit) when the prompt was edited."""
    if s.draft == result.prompt or not s.draft.strip():
        return result.quality
    cache = s.figures_cache
    key = (s.current, s.draft)
    if key not in cache:
        with guard("Measuring the edited prompt"):
            cache.clear()
            cache[key] = edited_figures(result, s.draft, embedder=assistant(s).embedder)
    return cache.get(key, result.quality)


# ---- callbacks (they only write state; the work runs in the page body, under guard) --------
def edit_idea() -> None:
    state().idea = st.session_state["refine-idea"]


def edit_options() -> None:
    state().options = {"style": st.session_state["refine-style"],
                          "creativity": st.session_state["refine-creativity"],
                          "enhancer": st.session_state["refine-enhancer"],
                          "model_family": st.session_state["refine-family"]}


def submit_idea(action: str) -> None:
    """Suggest examples / Write prompt: with the idea and choices on screen, unless the idea is
    over the limit (the page says so under the box; nothing runs, nothing is saved)."""
    s = state()
    edit_idea()
    edit_options()
    if idea_problem(s) is None:
        s.pending = action
    else:  # the button may be far below the box that says why
        s.message = f"Shorten your idea first: it is over {IDEA_LIMIT:,} characters."


def request(action: str) -> None:
    """Ask the page body to run `action` (refine, generate, load_image) on this rerun."""
    state().pending = action


def toggle_tick(key: str, widget: str) -> None:
    state().ticks[key] = st.session_state[widget]


def edit_draft() -> None:
    state().draft = st.session_state["refine-draft"]


def edit_negative() -> None:
    state().draft_negative = st.session_state["refine-negative"]


def make_current(index: int) -> None:
    s = state()
    s.current = index
    result = s.rounds[index]
    set_draft(s, result.prompt, result.negative_prompt)
    s.message = f"Restored round {index + 1}."


def step_back() -> None:
    """Take the latest round off the page (History keeps it); Redo puts it back."""
    s = state()
    if len(s.rounds) < 2:
        return
    last = len(s.rounds) - 1
    s.undone.append(s.pop_latest())
    make_current(min(s.current, last - 1))
    s.message = f"Stepped back: round {last + 1} removed (History keeps it; Redo brings it back)."


def redo() -> None:
    """Put back the round the last Step back removed (it is still the same History row)."""
    s = state()
    if not s.undone:
        return
    undone = s.undone.pop()
    index = s.put_back(undone)
    make_current(index if undone.was_current else s.current)
    s.message = f"Round {index + 1} is back."


def start_over() -> None:
    s = state()
    s.start_over()
    set_draft(s, "", "")


def add_chip(phrase: str) -> None:
    s = state()
    weighted = st.session_state.get("refine-chip-weighted")
    weight = st.session_state.get("refine-chip-weight") if weighted else None
    try:
        edit = add_phrase(s.draft, phrase, weight=weight, token_budget=budget(s))
    except PromptragError as exc:  # a bad weight: say it, keep the draft
        s.message = widgets.one_line(exc)
        return
    if edit.added:
        set_draft(s, edit.prompt)
    s.message = edit.message


def stopped() -> None:
    state().message = "Generation stopped; the prompt and the rounds are as they were."


def remember_chip_weight() -> None:
    s = state()
    s.chip_weighted = st.session_state["refine-chip-weighted"]
    s.chip_weight = st.session_state["refine-chip-weight"]


def remember_gen(name: str) -> None:
    value = st.session_state[f"refine-gen-{name}"]
    state().gen[name] = None if value == DEFAULT_SAMPLER else value


def apply_settings(example: ExampleUsed, number: int) -> None:
    """Copy example `number`'s seed, steps, CFG, sampler and size into the generation settings."""
    apply_settings_of(example.settings, number)


def apply_settings_of(settings: dict[str, object], number: int) -> None:
    """Copy the seed, steps, CFG, sampler and size of example `number`'s `settings` (a stored row's
    generation settings) into the generation settings."""
    s = state()
    applied = []
    for name, value in image_options_from_settings(settings).items():
        if value is None or name not in GEN_FIELDS:
            continue
        if name == "sampler" and value not in samplers():
            continue
        value = typed(name, value)
        s.gen[name] = value
        st.session_state[f"refine-gen-{name}"] = widget_value(name, value)
        applied.append(name)
    s.message = (f"Applied example {number}'s {', '.join(applied)}." if applied
                    else f"Example {number} has no generation settings to apply.")
