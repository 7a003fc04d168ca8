"""Prompt profiles: the target image model decides the form a prompt takes.

Each model family (`base.ModelFamily`) has a `PromptProfile`:

- ``sd1``  Stable Diffusion 1.x/2.x (one CLIP encoder, 75-token chunks): a comma-separated tag
  list, quality tags such as "masterpiece, best quality" welcome, A1111 weights parsed.
- ``sdxl`` SDXL (two CLIP encoders): a short sentence, then a few tags; weights parsed by our
  diffusers backend (Bedrock's SDXL does not parse them: generate/ strips them there).
- ``sd3`` / ``other`` SD3, SD3.5, Stable Image Core/Ultra (T5, ~256 tokens) and ``flux`` (T5,
  512 tokens): natural-language sentences, no quality boilerplate, no A1111 weight syntax.
- ``turbo`` sd-turbo, sdxl-turbo, SDXL-Lightning, LCM: a sentence plus a few tags; these run
  at CFG <= 1, where a negative prompt has no effect, so none is given and the user is told.

What lives here, all pure: the profiles; `family_for_model` (a diffusers hub id, a local
diffusers directory or a Bedrock model id → family); `prose_prompt` / `mixed_prompt` (how the
rules and grounded enhancers write a sentence from an anchor and descriptors); `prompt_form`
(the form a prompt has, for tests and benchmarks); `conform` (what every enhancer's result goes
through in `Enhancer.make_result`: weights stripped where the family does not parse them, the
negative prompt emptied where it has no effect, each change said in a notice).

Deliberately not here: the full A1111 parser (generate/prompt_syntax.py, one floor-2 package
over; the small pattern below only finds and strips weights in enhancer output) and token
counting (enhancers/tokens.py; T5 budgets are counted with the CLIP BPE, close for English).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.settings import get_settings
from enhancers.base import MODEL_FAMILIES, TOKEN_BUDGET

if TYPE_CHECKING:
    from enhancers.base import Candidate

Form = Literal["tags", "mixed", "prose"]
MIXED_MAX_TAGS = 4  # "a few tags" after an SDXL sentence


@dataclass(frozen=True)
class PromptProfile:
    """How prompts for one family of image models are written."""

    family: str
    label: str  # for people and for the LLM templates
    form: Form
    token_budget: int
    parses_weights: bool  # A1111 "(word:1.2)" understood by our backend for this family
    quality_tags: bool  # boilerplate like "masterpiece, best quality, 8k" helps this family
    negative_effective: bool  # a negative prompt changes the image at the family's usual CFG
    negative_notice: str = ""  # said when a negative prompt is dropped
    max_tags: int = 0  # mixed form: tags after the sentence
    instruction: str = ""  # what an LLM is told about the form


_SENTENCE_INSTRUCTION = (
    "Write natural-language sentences (one to three), not a comma-separated tag list: describe the "
    "subject first, then medium, setting, lighting and composition in plain English. Do not use "
    "weight syntax such as (word:1.2) or ((word)), and no quality boilerplate such as 'masterpiece, "
    "best quality, 8k'."
)

PROFILES: dict[str, PromptProfile] = {
    "sd1": PromptProfile(
        "sd1", "Stable Diffusion 1.x (one CLIP text encoder, 75-token chunks)", "tags", TOKEN_BUDGET["sd1"],
        parses_weights=True, quality_tags=True, negative_effective=True,
        instruction=(
            "Write a comma-separated list of short tags: the subject first, then medium, style, lighting, "
            "camera and quality tags (such as masterpiece, best quality, highly detailed). A1111 weights "
            "such as (word:1.2) are understood; use them sparingly."
        ),
    ),
    "sdxl": PromptProfile(
        "sdxl", "Stable Diffusion XL (two CLIP text encoders)", "mixed", TOKEN_BUDGET["sdxl"],
        parses_weights=True, quality_tags=False, negative_effective=True, max_tags=MIXED_MAX_TAGS,
        instruction=(
            "Write one short sentence that states the subject, medium and lighting, followed by at most "
            f"{MIXED_MAX_TAGS} comma-separated tags. No quality boilerplate such as 'masterpiece, best quality'."
        ),
    ),
    "sd3": PromptProfile(
        "sd3", "Stable Diffusion 3 / 3.5 or Stable Image (T5 text encoder, about 256 tokens)", "prose",
        TOKEN_BUDGET["sd3"], parses_weights=False, quality_tags=False, negative_effective=True,
        instruction=_SENTENCE_INSTRUCTION,
    ),
    "flux": PromptProfile(
        "flux", "a Flux-class model (T5 text encoder, 512 tokens)", "prose", TOKEN_BUDGET["flux"],
        parses_weights=False, quality_tags=False, negative_effective=False,
        negative_notice=("Flux models are guidance-distilled and take no negative prompt at their usual settings: "
                         "the negative prompt was left empty (describe what you want instead)"),
        instruction=_SENTENCE_INSTRUCTION,
    ),
    "turbo": PromptProfile(
        "turbo", "a distilled turbo / lightning / LCM model (CLIP text encoders, 1-8 steps)", "mixed",
        TOKEN_BUDGET["turbo"], parses_weights=True, quality_tags=False, negative_effective=False,
        negative_notice=("turbo / lightning / LCM models run at CFG <= 1, where a negative prompt has no effect: "
                         "the negative prompt was left empty (say what you want in the prompt instead)"),
        max_tags=MIXED_MAX_TAGS,
        instruction=(
            "Write one short, concrete sentence that states the subject, medium and lighting, followed by at "
            f"most {MIXED_MAX_TAGS} comma-separated tags."
        ),
    ),
    "other": PromptProfile(
        "other", "a modern diffusion model with a T5 text encoder (SD3, Flux)", "prose", TOKEN_BUDGET["other"],
        parses_weights=False, quality_tags=False, negative_effective=True, instruction=_SENTENCE_INSTRUCTION,
    ),
}
assert set(PROFILES) == set(MODEL_FAMILIES), "every ModelFamily needs a profile"

# Quality boilerplate: only families with `quality_tags` get these; the rest keep real descriptors.
BOILERPLATE = frozenset(
    "masterpiece|best quality|high quality|8k|4k|16k|uhd|hd|highres|high resolution|trending on artstation|"
    "artstation|award-winning photography|award winning|highly detailed|ultra detailed|hyper detailed|"
    "extremely detailed|intricate details|sharp focus|crisp lines|high contrast|printable|detailed".split("|")
)
SD1_QUALITY = ("masterpiece", "best quality")  # the SD 1.x community's opening pair, added at the end


def profile_for(family: str) -> PromptProfile:
    """The profile of `family`; an unknown name fails listing the known ones."""
    try:
        return PROFILES[family]
    except KeyError:
        raise ValueError(f"unknown model family {family!r}; known families: {', '.join(PROFILES)}") from None


def is_boilerplate(tag: str) -> bool:
    return tag.strip().lower() in BOILERPLATE


# ----------------------------------------------------------------------------------------------
# Which family an image model belongs to.

# Checked in order; the first pattern found in the lower-cased id decides. Distilled models first
# ("sdxl-turbo" is turbo, not sdxl), then the T5 families, then SDXL, then SD 1.x/2.x.
_ID_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"turbo|lightning|(?<![a-z])lcm|hyper-?sd|(?<![a-z])dmd2?(?![a-z])", "turbo"),
    (r"flux", "flux"),
    (r"sd3|sd-3|stable-diffusion-3|stable-image", "sd3"),
    (r"sdxl|stable-diffusion-xl|(?<![a-z])xl(?![a-z])|playground-v2|pony", "sdxl"),
    (r"stable-diffusion|sd-?v?1|sd-?v?2|v1-5|v1-4|(?<![a-z])sd(?![a-z])|dreamshaper|realistic-vision|openjourney",
     "sd1"),
)
# diffusers pipeline class (model_index.json "_class_name") → family.
_PIPELINE_FAMILIES: dict[str, str] = {
    "StableDiffusionPipeline": "sd1",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusion3Pipeline": "sd3",
    "FluxPipeline": "flux",
    "LatentConsistencyModelPipeline": "turbo",
}


def family_for_model(model: str, *, default: str = "sdxl") -> str:
    """The family of image model `model`: a Bedrock id, a diffusers hub id or a local directory.

    A local directory (or a hub id already in the cache) is read for its pipeline class and
    scheduler; otherwise the id's words decide ("stabilityai/sdxl-turbo" → turbo,
    "stability.sd3-5-large-v1:0" → sd3, "runwayml/stable-diffusion-v1-5" → sd1). `default`
    when nothing matches.
    """
    text = model.strip().lower()
    config = _model_index(model)
    if config is not None:
        from_config = _family_from_config(config, text)
        if from_config is not None:
            return from_config
    for pattern, family in _ID_PATTERNS:
        if re.search(pattern, text):
            return family
    return default


def _family_from_config(config: dict, name: str) -> str | None:
    cls = str(config.get("_class_name", ""))
    family = _PIPELINE_FAMILIES.get(cls)
    scheduler = config.get("scheduler")
    if isinstance(scheduler, list) and len(scheduler) == 2 and scheduler[1] == "LCMScheduler":
        return "turbo"
    if family in ("sd1", "sdxl") and re.search(_ID_PATTERNS[0][0], name):
        return "turbo"  # a distilled SD / SDXL checkpoint keeps its base pipeline class
    return family


def _model_index(model: str) -> dict | None:
    """model_index.json of a local diffusers directory or of a hub id already cached (no download)."""
    local = Path(model).expanduser() / "model_index.json"
    path: Path | None = local if local.is_file() else None
    if path is None and "/" in model and not model.startswith((".", "/", "~")):
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(model, "model_index.json")
            path = Path(found) if isinstance(found, str) else None
        except (ImportError, ValueError):  # no hub client, or not a valid repo id
            path = None
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path is not None else None
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def resolve_family(family: str | None, *, backend: str | None = None, model: str | None = None) -> str:
    """`family` when given (and not "auto"); else the family of the image model the caller uses.

    `model` None means the configured one for `backend` (Settings.image_model for diffusers,
    Settings.bedrock_image_model for bedrock); no backend and no model keeps the old default, sdxl.
    """
    if family not in (None, "", "auto"):
        profile_for(family)  # fails naming the known families
        return family
    if model is None and backend is not None:
        settings = get_settings()
        model = settings.bedrock_image_model if backend == "bedrock" else settings.image_model
    return family_for_model(model) if model else "sdxl"


# ----------------------------------------------------------------------------------------------
# Writing: anchors, sentences, the mixed form.

# Noun phrases naming each style's medium, for "A professional photograph of ...".
PROSE_ANCHORS: dict[str, tuple[str, ...]] = {
    "photography": ("professional photograph", "DSLR photo", "photograph"),
    "artistic": ("digital painting", "detailed illustration", "concept art painting"),
    "realistic": ("photorealistic render", "hyperrealistic render", "realistic image"),
    "cinematic": ("cinematic film still", "cinematic shot", "movie scene"),
    "coloring book": ("coloring book page", "coloring page", "black and white line drawing"),
}
# A finite verb makes the idea a sentence of its own ("The pillow was on the chair").
_VERBS = frozenset(
    "is are was were be been being am has have had does did do will would can could should shall may might must "
    "sits sit sat stands stand stood lies lay hangs hung holds held rests rested walks runs flies swims".split()
)
_ARTICLES = ("a ", "an ", "the ", "some ", "two ", "three ")


_BARE_NOUN_OF = re.compile(r"^[A-Za-z-]+(?<!s) of\s", re.IGNORECASE)  # "portrait of ...", "close-up of ..."


def with_article(phrase: str) -> str:
    return ("an " if phrase[:1].lower() in "aeiou" else "a ") + phrase


def join_and(items: list[str]) -> str:
    items = [i for i in items if i]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def is_sentence(idea: str) -> bool:
    """Whether `idea` is a sentence of its own (a verb, or several sentences) rather than a noun phrase."""
    body = idea.strip().rstrip(".!?")
    words = re.findall(r"[a-z']+", body.lower())
    return bool(re.search(r"[.!?]\s", body)) or any(w in _VERBS for w in words)


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _lower_article(text: str) -> str:
    """'A red kettle' → 'a red kettle' (only a leading article; names keep their capitals)."""
    return text[:1].lower() + text[1:] if text.lower().startswith(_ARTICLES) else text


def prose_prompt(idea: str, anchor: str | None, details: list[str], *, styles: list[str] = (),
                 artists: list[str] = ()) -> str:
    """One or two plain sentences: "A professional photograph of a red kettle on a stove, with
    natural lighting and shallow depth of field." `idea` is used as written (first letter aside).

    `anchor` names the medium (None when the idea names its own); `styles` become "in a ... style",
    `artists` ("by x") "by x and y", `details` "with a, b and c".
    """
    head = idea.strip().rstrip(".,;: ")
    extras = []
    if styles:  # "in a cinematic and moody style" (a phrase's own "style" is not said twice)
        bare = [re.sub(r"\s+style$", "", s) for s in styles]
        extras.append(f"in {with_article(join_and(bare))} style")
    if details:
        extras.append("with " + join_and(list(details)))
    if artists:
        extras.append("by " + join_and([re.sub(r"^by\s+", "", a) for a in artists]))
    tail = ", ".join(extras)
    if anchor and not is_sentence(head):
        if _BARE_NOUN_OF.match(head) and not head.lower().startswith(_ARTICLES):
            head = with_article(head[:1].lower() + head[1:])  # "portrait of a man" → "a portrait of a man"
        first = f"{with_article(anchor)} of {_lower_article(head)}"
        return _capital(first + (", " + tail if tail else "")) + "."
    if anchor:  # the idea is a sentence: keep it whole, the medium gets its own sentence
        second = _capital(with_article(anchor)) + (" " + tail if tail else "")
        return f"{_capital(head)}. {second}."
    return _capital(head + (", " + tail if tail else "")) + "."


def mixed_prompt(idea: str, anchor: str | None, clause: list[str], tags: list[str]) -> str:
    """SDXL's form: the idea verbatim, a short clause, a full stop, then a few tags.

    "a red kettle on a stove, professional photograph with natural lighting and bokeh. sharp focus, 85mm lens"
    (CLIP lower-cases everything, so the idea is not re-capitalised). With no tags the last clause
    word becomes the tag, so the form holds; with only an anchor, one short sentence.
    """
    head = idea.strip().rstrip(".,;: ")
    clause, tags = list(clause), list(tags)
    if not tags and clause:  # keep the form: the last clause word becomes the one tag
        tags = [clause.pop()]
    said = join_and(clause)
    if anchor:
        phrase = anchor + (f" with {said}" if said else "")
    else:
        phrase = f"with {said}" if said else ""
    sentence = head + (", " + phrase if phrase else "")
    if not tags:  # nothing but the anchor: one short sentence ("a cat, professional photograph.")
        return sentence + "." if phrase else sentence
    return sentence + ". " + ", ".join(tags)


# ----------------------------------------------------------------------------------------------
# Reading a prompt's form (tests, benchmarks) and conforming results.

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=\S)")
# A1111 weights: "(word:1.2)", "((word))", "[word]" (not "f/1.8" or a plain "(sic)" aside of many words).
_EXPLICIT_WEIGHT = re.compile(r"\(([^()\[\]]*?):\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*\)")
_EMPHASIS = re.compile(r"\({2,}([^()]*?)\){2,}|\[([^\[\]:]*?)\]")


def split_tags(text: str) -> list[str]:
    """Split a prompt on commas that are outside (), [] and {} (prompt-weight syntax)."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += char in "([{"
        depth -= char in ")]}" and depth > 0
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _listy(sentence: str) -> bool:
    """4+ comma fragments, mostly short (a tag list), not closed by "... and x" (a sentence's own list)."""
    fragments = split_tags(sentence)
    if len(fragments) < 4 or " and " in f" {fragments[-1]} " or "with " in sentence:
        return False
    short = sum(len(f.split()) <= 4 for f in fragments[1:])
    return short >= 0.75 * (len(fragments) - 1)


def prompt_form(text: str) -> Form:
    """'prose' (sentences ending in . ! ?), 'mixed' (sentences, then up to MIXED_MAX_TAGS tags)
    or 'tags' (a comma-separated list)."""
    t = text.strip()
    if t.endswith((".", "!", "?")):
        return "tags" if any(_listy(s) for s in _SENTENCE_END.split(t)) else "prose"
    head, sep, tail = t.rpartition(". ")
    if sep and 1 <= len(split_tags(tail)) <= MIXED_MAX_TAGS and not any(
        _listy(s) for s in _SENTENCE_END.split(head + ".")
    ):
        return "mixed"
    return "tags"


def has_weight_syntax(text: str) -> bool:
    """Whether `text` carries A1111 weights ((word:1.2), ((word)), [word])."""
    return bool(_EXPLICIT_WEIGHT.search(text) or _EMPHASIS.search(text))


def strip_weight_syntax(text: str) -> str:
    """`text` with A1111 weights removed and their words kept: "(red:1.3) kettle" → "red kettle"."""
    previous = None
    while previous != text:  # nested groups unwrap from the inside out
        previous = text
        text = _EXPLICIT_WEIGHT.sub(r"\1", text)
        text = _EMPHASIS.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    return re.sub(r"\s{2,}", " ", text).strip()


def conform(candidates: list[Candidate], family: str) -> tuple[list[Candidate], list[str]]:
    """Candidates as `family`'s models take them, and a notice for each kind of change made."""
    profile = profile_for(family)
    notices: list[str] = []
    out = list(candidates)
    if not profile.parses_weights and any(has_weight_syntax(c.prompt + " " + c.negative_prompt) for c in out):
        out = [replace(c, prompt=strip_weight_syntax(c.prompt),
                       negative_prompt=strip_weight_syntax(c.negative_prompt)) for c in out]
        label = profile.label[:1].upper() + profile.label[1:]
        notices.append(f"{label} does not parse A1111 weight syntax such as (word:1.2): "
                       "the weights were removed and their words kept")
    if not profile.negative_effective and any(c.negative_prompt for c in out):
        out = [replace(c, negative_prompt="") for c in out]
        notices.append(profile.negative_notice)
    return out, notices
