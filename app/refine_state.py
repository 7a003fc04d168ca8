"""The Refine page's state: what REFINE holds beyond History's keys, and the callbacks that write it.

`state()` returns `app.state.refine()` with this page's keys filled in (a round reopened from
History arrives with only idea, session_id, rounds, feedback, images and reopened_from):

    options           the idea form's choices: style, creativity, enhancer, model_family
    round_ids         each round's History row id (None until saved)
    round_feedback    the feedback that made each round (None for a written one)
    current           which round is shown; draft / draft_negative: its text as edited by hand
    suggested         the retrieved prompts (list[ExampleUsed], ranks 1..k), for `suggested_for`,
                      near-duplicates folded (`folded`: how many were left out)
    ticks             example key -> ticked, only where the user changed the default
    undone            rounds Step back removed, latest last, for Redo (emptied by a new round)
    carried_idea      the Explore search last carried into the idea box (app.state.take_explore_query)
    gen               generation settings (backend, model, steps, …), first from Settings
    images            round index -> [{"path", "seed", "parameters"}]
    pending, message  the action a callback asks the page body to run; a line to toast
    retrieved, figures_cache, chip_weighted, chip_weight
                      the raw retrieval; figures of the edited draft; the chip weight box

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
from typing import Any

import streamlit as st

from app import resources, widgets
from app import state as app_state
from app.widgets import guard
from core.errors import PromptragError
from generate.saving import IMAGE_OPTION_FIELDS

DEFAULT_OPTIONS = {"style": "auto", "creativity": 0.7, "enhancer": "chain", "model_family": "sdxl"}
SUGGESTIONS = 8  # prompts suggested per idea
SUGGESTION_POOL = 2 * SUGGESTIONS  # retrieved, so that folding near-duplicates still leaves SUGGESTIONS
IDEA_LIMIT = 2000  # characters: a few words are enough, the examples supply the style
PRE_TICKED = 3  # with no picks from Explore, the top suggestions are ticked
DEFAULT_SAMPLER = "model's default"  # what the sampler box shows for None
GEN_FIELDS = ("backend", "model", *IMAGE_OPTION_FIELDS)


# ---- state ---------------------------------------------------------------------------------
def state() -> dict[str, Any]:
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
    later = [None] * (len(rounds) - 1)
    s.setdefault("round_ids", [s.get("reopened_from"), *later] if rounds else [])
    s.setdefault("round_feedback", [s.get("feedback") or None, *later] if rounds else [])
    s.setdefault("current", len(rounds) - 1)
    s.setdefault("draft", rounds[-1].prompt if rounds else "")
    s.setdefault("draft_negative", rounds[-1].negative_prompt if rounds else "")
    s.setdefault("suggested", [])  # list[ExampleUsed]: every retrieved prompt, ranks 1..k
    s.setdefault("ticks", {})  # example key -> ticked, where the user changed the default
    s.setdefault("undone", [])  # what Step back removed, for Redo
    s.setdefault("gen", {k: app_state.generation().get(k) for k in GEN_FIELDS})
    s.setdefault("images", {})
    return s


def seed_widget(key: str, value: Any) -> None:
    """Give a widget its value from REFINE (widget state is dropped when the user leaves the page)."""
    if key not in st.session_state:
        st.session_state[key] = value


def seed_idea_widgets(s: dict[str, Any], enhancers: list[str]) -> None:
    """The idea form's widgets from REFINE (an enhancer no longer registered: the chain)."""
    seed_widget("refine-idea", s.get("idea", ""))
    for name, key in (("style", "refine-style"), ("creativity", "refine-creativity"),
                      ("enhancer", "refine-enhancer"), ("model_family", "refine-family")):
        seed_widget(key, s["options"][name])
    if st.session_state["refine-enhancer"] not in enhancers:
        st.session_state["refine-enhancer"] = "chain"
    from enhancers.user_styles import style_names

    if st.session_state["refine-style"] not in style_names():  # a user style since removed
        st.session_state["refine-style"] = "auto"


def seed_generation_widgets(s: dict[str, Any], backends: tuple[str, ...]) -> None:
    """The generation widgets from REFINE's `gen` (an unknown backend or sampler: the default)."""
    for name in GEN_FIELDS:
        seed_widget(f"refine-gen-{name}", widget_value(name, s["gen"].get(name)))
    if st.session_state["refine-gen-backend"] not in backends:
        st.session_state["refine-gen-backend"] = "diffusers"
    if st.session_state["refine-gen-sampler"] not in (DEFAULT_SAMPLER, *samplers()):
        st.session_state["refine-gen-sampler"] = DEFAULT_SAMPLER


def example_key(example: Any) -> str:
    """A short stable key for an example's tick box (its row id, or its text)."""
    return hashlib.sha1(str(app_state.pick_key(example)).encode("utf-8")).hexdigest()[:12]


def candidates(s: dict[str, Any]) -> tuple[list[Any], set[str]]:
    """The examples to tick from (Explore's picks first, then the suggestions) and the default ticks."""
    picked = list(app_state.picks().values())
    seen: set[str] = set()
    out = []
    for example in [*picked, *s["suggested"]]:
        key = example_key(example)
        if key not in seen:
            seen.add(key)
            out.append(example)
    default = ({example_key(e) for e in picked} if picked
               else {example_key(e) for e in s["suggested"][:PRE_TICKED]})
    return out, default


def idea_problem(s: dict[str, Any]) -> str | None:
    """Why the idea cannot be used as it is (over IDEA_LIMIT), or None."""
    length = len(s.get("idea", ""))
    if length <= IDEA_LIMIT:
        return None
    return (f"Your idea is {length:,} characters, over the limit of {IDEA_LIMIT:,}: shorten it. A few words "
            "are enough; the similar real prompts supply the style.")


def stale_suggestions(s: dict[str, Any]) -> bool:
    """Should examples be found before writing? None yet (and no picks), or they were found
    for another idea (a new idea never reuses the last one's ticks)."""
    if s["suggested"]:
        return s.get("suggested_for") != s.get("idea")
    return not app_state.picks()


def carry_explore_query(s: dict[str, Any]) -> None:
    """Explore's latest search becomes the idea, once, when the box is empty or still holds an
    earlier carried search (an idea the user typed stays)."""
    query = app_state.take_explore_query()
    idea = s.get("idea", "").strip()
    if query is None or (idea and idea != s.get("carried_idea")):
        return
    s["idea"] = s["carried_idea"] = query
    st.session_state["refine-idea"] = query


def ticked(s: dict[str, Any]) -> list[Any]:
    """The examples the next prompt is written with."""
    examples, default = candidates(s)
    return [e for e in examples if s["ticks"].get(example_key(e), example_key(e) in default)]


def set_draft(s: dict[str, Any], prompt: str, negative: str | None = None) -> None:
    s["draft"] = prompt
    st.session_state["refine-draft"] = prompt
    if negative is not None:
        s["draft_negative"] = negative
        st.session_state["refine-negative"] = negative


def budget(s: dict[str, Any]) -> int:
    """The CLIP token budget of the current round's target model (else the idea form's)."""
    from enhancers.base import TOKEN_BUDGET

    rounds = s["rounds"]
    family = rounds[s["current"]].options.get("model_family") if rounds else s["options"]["model_family"]
    return TOKEN_BUDGET.get(family or "sdxl", 77)


def enhancer_spec(s: dict[str, Any]) -> str:
    """The idea form's enhancer; "chain" is the chain chosen on Settings (or the configured one)."""
    spec = s["options"]["enhancer"]
    return app_state.enhancer_spec() if spec == "chain" else spec


def assistant(s: dict[str, Any]) -> Any:
    """The `PromptAssistant` over this session's index with the idea form's enhancer (cached parts)."""
    return resources.load_assistant(resources.current_index_path(), enhancer_spec(s))


def typed(name: str, value: Any) -> Any:
    """Number inputs need one type: CFG is a float, steps / seed / size / images are ints."""
    if value is None or name in ("backend", "model", "sampler"):
        return value
    return float(value) if name == "guidance" else int(value)


def widget_value(name: str, value: Any) -> Any:
    """What the widget shows for a generation setting (None sampler: the model's default)."""
    if name == "sampler":
        return value or DEFAULT_SAMPLER
    return typed(name, value)


def samplers() -> list[str]:
    from generate.schedulers import SAMPLERS

    return sorted(SAMPLERS)


# ---- the steps the page body runs (it draws their spinner or progress) ---------------------
def suggest(s: dict[str, Any]) -> list[Any]:
    """Retrieve prompts similar to the idea, near-duplicates folded; they become the examples to
    tick (defaults again). For a new idea the rounds of the last one leave the page (History
    keeps them)."""
    from rag.assistant import retrieve, to_examples
    from rag.folding import fold_retrieved

    if s["rounds"] and s["rounds"][0].idea != s["idea"]:
        start_over()
        s["message"] = "A new idea: the rounds of the last one are in History."
    # the index alone: the chosen writer is built only when it writes (it may not be configured yet)
    retriever = resources.load_retriever(resources.current_index_path())
    folded = fold_retrieved(retriever, retrieve(retriever, s["idea"], k=SUGGESTION_POOL), k=SUGGESTIONS)
    retrieved = folded.kept
    s["retrieved"] = retrieved
    s["suggested"] = to_examples(retrieved, list(range(1, len(retrieved) + 1)))
    s["suggested_for"] = s["idea"]
    s["folded"] = folded.n_folded
    s["ticks"] = {}
    return retrieved


def refine_round(s: dict[str, Any]) -> None:
    """A new round: the current one, with the user's hand edits, revised by the feedback box."""
    from rag.refinement import refine, with_edits

    feedback = st.session_state.get("refine-feedback", "")
    # The hand edits (and added chips) are what the feedback revises.
    previous = with_edits(s["rounds"][s["current"]], s["draft"], s["draft_negative"])
    embedder = assistant(s).embedder
    result = refine(previous, feedback, enhancer=resources.load_enhancer(enhancer_spec(s)), embedder=embedder)
    add_round(s, result, feedback)


def generate(s: dict[str, Any], on_progress: Any) -> Any:
    """Images of the current draft with the generation settings, kept with the current round
    (and saved to History with it); returns the `generate.saving.SavedGeneration`."""
    from core.progress import CancelToken
    from core.settings import get_settings
    from generate.output import make_recipe
    from generate.saving import generate_and_save, image_options

    gen = s["gen"]
    options = image_options(gen, backend=gen.get("backend"))
    index = s["current"]
    backend = resources.load_image_backend(gen["backend"], gen.get("model") or None)
    shown = s["rounds"][index] if s["rounds"] else None
    recipe = {} if shown is None else make_recipe(
        idea=shown.idea, enhancer=shown.enhancer, style=shown.style, example_ids=[e.id for e in shown.examples])
    saved = generate_and_save(s["draft"], s["draft_negative"], options, backend, None,
                              get_settings().images_dir / s["session_id"], on_progress=on_progress,
                              cancel=CancelToken(), recipe=recipe)
    add_images(s, index, saved)
    return saved


def missing_model(s: dict[str, Any]) -> Any:
    """The catalogue model (generate.models) Generate would load when it is not downloaded yet;
    None when nothing is missing or the model is not one the catalogue knows (its load says why)."""
    from core.settings import get_settings
    from generate.models import find_model, model_status

    gen = s["gen"]
    if gen.get("backend") != "diffusers":
        return None
    known = find_model(gen.get("model") or get_settings().image_model)
    if known is None or known.kind != "image":
        return None
    return None if model_status(known).cached else known


def download_model(model: Any, on_progress: Any) -> Any:
    """Pull `model` into the Hugging Face cache (a rerun stops it; the next pull resumes)."""
    from generate.models import pull

    return pull(model, on_progress=on_progress)


def load_image(s: dict[str, Any], data: bytes, name: str) -> None:
    """A dropped image's prompt, negative prompt and settings become a new round and the
    generation settings ("reproduce this image"); an image without a recipe is one InputError."""
    from app.reproduce import round_from_image
    from generate.readback import inspect_image

    recipe = inspect_image(data)
    result = round_from_image(recipe, model_family=s["options"].get("model_family", "sdxl"))
    s["idea"] = result.idea
    st.session_state["refine-idea"] = result.idea
    add_round(s, result)
    applied = []
    for option, value in recipe.image_options().items():
        if option not in GEN_FIELDS or (option == "sampler" and value not in samplers()):
            continue
        s["gen"][option] = typed(option, value)
        st.session_state[f"refine-gen-{option}"] = widget_value(option, s["gen"][option])
        applied.append(option)
    s["message"] = (f"Loaded the prompt of {name} ({recipe.source})"
                    + (f" and its {', '.join(applied)}." if applied else "; it records no settings to reuse."))


def add_round(s: dict[str, Any], result: Any, feedback: str | None = None) -> bool:
    """`result` becomes the current round and goes to History (a failed save is one message;
    the round stays); False when it was not added. A round written (no feedback) for another
    idea starts a new session, the old rounds staying in History; one written with the very
    prompt of a round on the page shows that round again instead of saving a copy. After a
    refined round the feedback box is emptied; a new round ends what Redo could bring back."""
    if feedback is None and s["rounds"] and s["rounds"][0].idea != s["idea"]:
        start_over()
    if feedback is None:
        same = [i for i, r in enumerate(s["rounds"]) if (r.idea, r.prompt, r.negative_prompt)
                == (result.idea, result.prompt, result.negative_prompt)]
        if same:
            make_current(same[-1])
            s["message"] = f"The same prompt as round {same[-1] + 1}: shown again, not saved twice."
            return False
    s["undone"] = []
    s["rounds"].append(result)
    s["round_ids"].append(None)
    s["round_feedback"].append(feedback)
    s["current"] = len(s["rounds"]) - 1
    set_draft(s, result.prompt, result.negative_prompt)
    with guard("Saving the round to History"):
        s["round_ids"][-1] = resources.load_history().add_round(
            session_id=s["session_id"], result=result, feedback=feedback)
    if feedback is not None:
        st.session_state["refine-feedback"] = ""
    return True


def add_images(s: dict[str, Any], index: int, saved: Any) -> None:
    """The images of a `generate.saving.SavedGeneration` made from round `index`, kept with it
    and saved to History with the round."""
    s["images"].setdefault(index, []).extend(
        {"path": str(p), "seed": seed, "parameters": {**saved.parameters, "seed": seed}}
        for p, seed in zip(saved.paths, saved.seeds, strict=False))
    round_id = s["round_ids"][index] if index < len(s["round_ids"]) else None
    if round_id is not None:
        with guard("Saving the images to History"):
            resources.load_history().add_images(round_id, saved)


def shown_images(s: dict[str, Any]) -> list[tuple[Path, dict[str, Any]]]:
    """The current round's images as (path, parameters with the seed): made here, or reopened
    from History (`app.history` image records)."""
    out = []
    for image in s["images"].get(s["current"], []):
        if isinstance(image, dict):
            out.append((Path(image["path"]), image["parameters"]))
        else:
            out.append((Path(image.path), {**image.parameters, "seed": image.seed}))
    return out


def figures(s: dict[str, Any], result: Any) -> Any:
    """The round's quality figures, measured again (once per edit) when the prompt was edited."""
    if s["draft"] == result.prompt or not s["draft"].strip():
        return result.quality
    from rag.refinement import edited_figures

    cache = s.setdefault("figures_cache", {})
    key = (s["current"], s["draft"])
    if key not in cache:
        with guard("Measuring the edited prompt"):
            cache.clear()
            cache[key] = edited_figures(result, s["draft"], embedder=assistant(s).embedder)
    return cache.get(key, result.quality)


# ---- callbacks (they only write state; the work runs in the page body, under guard) --------
def edit_idea() -> None:
    state()["idea"] = st.session_state["refine-idea"]


def edit_options() -> None:
    state()["options"] = {"style": st.session_state["refine-style"],
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
        s["pending"] = action
    else:  # the button may be far below the box that says why
        s["message"] = f"Shorten your idea first: it is over {IDEA_LIMIT:,} characters."


def request(action: str) -> None:
    """Ask the page body to run `action` (refine, generate, load_image) on this rerun."""
    state()["pending"] = action


def toggle_tick(key: str, widget: str) -> None:
    state()["ticks"][key] = st.session_state[widget]


def edit_draft() -> None:
    state()["draft"] = st.session_state["refine-draft"]


def edit_negative() -> None:
    state()["draft_negative"] = st.session_state["refine-negative"]


def make_current(index: int) -> None:
    s = state()
    s["current"] = index
    result = s["rounds"][index]
    set_draft(s, result.prompt, result.negative_prompt)
    s["message"] = f"Restored round {index + 1}."


def step_back() -> None:
    """Take the latest round off the page (History keeps it); Redo puts it back."""
    s = state()
    if len(s["rounds"]) < 2:
        return
    last = len(s["rounds"]) - 1
    removed = {name: s[name].pop() for name in ("rounds", "round_ids", "round_feedback")}
    s["undone"].append({**removed, "images": s["images"].pop(last, None), "was_current": s["current"] == last})
    make_current(min(s["current"], last - 1))
    s["message"] = f"Stepped back: round {last + 1} removed (History keeps it; Redo brings it back)."


def redo() -> None:
    """Put back the round the last Step back removed (it is still the same History row)."""
    s = state()
    if not s["undone"]:
        return
    undone = s["undone"].pop()
    for name in ("rounds", "round_ids", "round_feedback"):
        s[name].append(undone[name])
    index = len(s["rounds"]) - 1
    if undone["images"]:
        s["images"][index] = undone["images"]
    make_current(index if undone["was_current"] else s["current"])
    s["message"] = f"Round {index + 1} is back."


def start_over() -> None:
    s = state()
    fresh = app_state.new_refine()
    for name in ("rounds", "round_ids", "round_feedback", "images", "undone"):
        s[name] = fresh.get(name, [])
    s["session_id"] = fresh["session_id"]
    s["current"] = -1
    set_draft(s, "", "")


def add_chip(phrase: str) -> None:
    from rag.guidance import add_chip as add_phrase

    s = state()
    weighted = st.session_state.get("refine-chip-weighted")
    weight = st.session_state.get("refine-chip-weight") if weighted else None
    try:
        edit = add_phrase(s["draft"], phrase, weight=weight, token_budget=budget(s))
    except PromptragError as exc:  # a bad weight: say it, keep the draft
        s["message"] = widgets.one_line(exc)
        return
    if edit.added:
        set_draft(s, edit.prompt)
    s["message"] = edit.message


def stopped() -> None:
    state()["message"] = "Generation stopped; the prompt and the rounds are as they were."


def remember_chip_weight() -> None:
    s = state()
    s["chip_weighted"] = st.session_state["refine-chip-weighted"]
    s["chip_weight"] = st.session_state["refine-chip-weight"]


def remember_gen(name: str) -> None:
    value = st.session_state[f"refine-gen-{name}"]
    state()["gen"][name] = None if value == DEFAULT_SAMPLER else value


def apply_settings(example: Any, number: int) -> None:
    """Copy example `number`'s seed, steps, CFG, sampler and size into the generation settings."""
    from generate.saving import image_options_from_settings

    s = state()
    applied = []
    for name, value in image_options_from_settings(example.settings).items():
        if value is None or name not in GEN_FIELDS:
            continue
        if name == "sampler" and value not in samplers():
            continue
        value = typed(name, value)
        s["gen"][name] = value
        st.session_state[f"refine-gen-{name}"] = widget_value(name, value)
        applied.append(name)
    s["message"] = (f"Applied example {number}'s {', '.join(applied)}." if applied
                    else f"Example {number} has no generation settings to apply.")
