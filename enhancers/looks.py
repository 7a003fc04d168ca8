"""Looks: the one medium + style family a prompt is written in, and what follows from it.

A real prompt that worked is coherent on its own: its medium, artists, lighting and quality
words were chosen together. The keyless writers assemble prompts from parts, so they first
decide one **look** (photograph, oil painting, watercolor, 3D render, anime, pixel art, ink
drawing, ...) and then let only parts that fit it in:

- `decide_look(request, ...)` picks it, in this order: what the current feedback asks ("as a
  watercolor painting"), what the idea names ("a pencil sketch of ..."), the previous prompt's
  (a refinement keeps its look), the request's `look` (a brief), the style, what the picked
  examples agree on, then the idea's content (`media.style_for_content`). It says why.
- `fits(phrase, look, artist_media)`: a modifier fits when no medium it names, and no medium
  its credited artists go with (learned from the index, `EnhanceRequest.artist_media`), clashes
  with the look (`media.clash`).
- `negative_terms(look, ...)`: the media a negative prompt may ban for a look, and
  `clean_negative(...)` removes from any negative (ours or an LLM's) what it must never ban:
  the look's own medium, a medium the positive names or an artist in it implies, and words the
  idea or feedback ask for.
- `cohere(prompt, negative, look, request)`: the repair pass every enhancer's answer goes
  through (`Enhancer.make_result`): credits that fight the look (or any credit, when the request
  forbids them) leave the prompt, the negative is cleaned, and each change is said.

Deliberately not here: which modifiers to add (the writers decide), feedback parsing
(`feedback.py`), and the medium lexicon itself (`media.py`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from enhancers.media import MEDIUM_PHRASES, clash, media_in_order, media_of, style_for_content

if TYPE_CHECKING:
    from enhancers.base import Candidate, EnhanceRequest


@dataclass(frozen=True)
class Look:
    """One look: its name, the medium family it belongs to, how a prompt names it, its rules style."""

    name: str
    family: str  # a family of media.MEDIUM_PHRASES
    anchor: str  # the phrase that names it in a prompt ("professional photograph")
    style: str  # the rules style whose tables fit it best (enhancers/styles.py)


# fmt: off
LOOKS: dict[str, Look] = {look.name: look for look in (
    Look("photograph", "photo", "professional photograph", "photography"),
    Look("oil painting", "painting", "oil painting", "artistic"),
    Look("painting", "paint", "painting", "artistic"),
    Look("watercolor", "watercolor", "watercolor painting", "artistic"),
    Look("digital painting", "digital", "digital painting", "artistic"),
    Look("ink drawing", "drawing", "ink drawing", "artistic"),
    Look("drawing", "drawing", "pencil drawing", "artistic"),  # the drawing family's look unless ink is named
    Look("3d render", "render3d", "3d render", "realistic"),
    Look("anime", "anime", "anime illustration", "artistic"),
    Look("cartoon", "cartoon", "cartoon illustration", "artistic"),
    Look("pixel art", "pixel", "pixel art", "artistic"),
    Look("vector art", "vector", "flat vector illustration", "artistic"),
    Look("line art", "coloring", "coloring book page", "coloring book"),
    Look("video game", "game", "video game screenshot", "artistic"),
    Look("sculpture", "sculpture", "sculpture", "realistic"),
    Look("print", "print", "woodcut print", "artistic"),
    Look("stained glass", "stained glass", "stained glass", "artistic"),
    Look("mosaic", "mosaic", "mosaic", "artistic"),
    Look("collage", "collage", "collage", "artistic"),
    Look("papercraft", "papercraft", "papercraft", "artistic"),
    Look("embroidery", "embroidery", "embroidery", "artistic"),
)}
# fmt: on
LOOK_FOR_FAMILY: dict[str, Look] = {look.family: look for look in LOOKS.values()}
# The look a rules style stands for when nothing more specific decides ("artistic" is open: examples decide).
LOOK_FOR_STYLE: dict[str, str] = {
    "photography": "photograph", "cinematic": "photograph", "realistic": "3d render",
    "coloring book": "line art", "artistic": "digital painting",
}
# Media a negative prompt may name, most useful first; each is banned only where it clashes with the look.
BANNABLE_MEDIA: tuple[str, ...] = (
    "cartoon", "illustration", "painting", "drawing", "anime", "3d render", "cgi", "photograph", "sketch",
    "pixel art", "watercolor",
)
# "as a watercolor", "in pixel art", "make it a photo", "3d render": asks for that look.
_ASK_RE = re.compile(r"^(?:make it|turn it into|render it|show it|do it|redo it|paint it)?\s*"
                     r"(?:(?:as|in|like|into)\s+)?(?:an?\s+|the\s+)?(?:style of\s+(?:an?\s+)?)?(.+?)(?:\s+style)?$")
# Words of a camera's optics: they belong to looks a camera (or a renderer imitating one) makes.
CAMERA_FAMILIES = frozenset(("photo", "render3d", "game"))
_CAMERA_GEAR_RE = re.compile(r"(?<![\w-])(?:\d+\s?mm|f/\d[\d.]*|dslr|bokeh|lens|aperture|shutter speed|iso \d+|"
                             r"canon|nikon|sony|leica|hasselblad|kodak|fujifilm|portra|film grain|35mm film)(?![\w-])",
                             re.IGNORECASE)
_PHOTOREAL_RE = re.compile(r"(?<![\w-])(?:photo-?realistic|photo realistic|photorealism)(?![\w-])", re.IGNORECASE)
# A renderer's vocabulary, not a camera's (as quality words they may trail a render; not a photograph)
_RENDER_TERM_RE = re.compile(r"(?<![\w-])(?:ray ?tracing|path tracing|global illumination|subsurface scattering)"
                             r"(?![\w-])", re.IGNORECASE)
# Art-community sites and their house styles: a digital artwork's pedigree, never a photograph's.
_ART_SITE_RE = re.compile(r"(?<![\w-])(?:artstation|cgsociety|deviantart|pixiv|behance|concept art|fantasy art|"
                          r"digital art|matte painting|illustration|(?:epic |dark |high )?fantasy(?: art| "
                          r"style)?)(?![\w-])",
                          re.IGNORECASE)
# Medium words too plain to replace a look's own anchor ("make it a photo" → "professional photograph").
_GENERIC_MEDIA = frozenset(("photo", "photograph", "photography", "painting", "drawing", "render", "illustration",
                            "art", "picture", "image", "photographic", "painted", "anime", "cartoon", "3d"))
# Art-community sites and fan genres: an advert's prompt (artist credits off) carries none of them.
FAN_ART_RE = re.compile(r"(?<![\w-])(?:artstation|pixiv|deviantart|cgsociety|behance|trending on \w+|"
                        r"(?:epic |dark |high )?fantasy(?: art| style)?|fan ?art)(?![\w-])", re.IGNORECASE)
_CREDIT_RE = re.compile(r"^(?:art by|by|in the style of|style of)\s+(.+)$")
_NAMES_SPLIT_RE = re.compile(r"\s*(?:,|&|\band\b)\s*")


_NOUN_ENDINGS = ("painting", "illustration", "render", "photo", "photograph", "drawing", "sketch", "sculpture",
                 "poster", "card", "design", "mural", "fresco", "engraving", "woodcut", "lithograph", "visual",
                 "artwork", "comic", "print", "page", "screenshot", "render")


def anchor_noun(medium: str) -> str:
    """A medium modifier as a noun phrase for "A ... of": "digital art" → "digital artwork",
    "anime" → "anime illustration"."""
    if medium.endswith(_NOUN_ENDINGS):
        return medium
    if medium.endswith(" art") or medium == "art":
        return medium + "work"
    if medium == "photography":
        return "photograph"
    return medium + " illustration"


def look_for_family(family: str) -> Look | None:
    return LOOK_FOR_FAMILY.get(family)


def look_of(text: str, artist_media: Mapping[str, str] | None = None) -> Look | None:
    """The look a text names: its first named medium (an artist's medium when it names none)."""
    for family in media_in_order(text):
        if family == "drawing" and re.search(r"\b(?:ink|pen)\b", text, re.IGNORECASE):
            return LOOKS["ink drawing"]
        if family in LOOK_FOR_FAMILY:
            return LOOK_FOR_FAMILY[family]
    for family in artists_media(text, artist_media or {}):
        if family in LOOK_FOR_FAMILY:
            return LOOK_FOR_FAMILY[family]
    return None


def look_requested(clause: str) -> Look | None:
    """The look a feedback clause asks for ("as a watercolor painting", "pixel art", "make it a photo").

    Only a clause that is a request for a medium counts: "a painting on the wall" is a scene
    addition (its medium word is an object), so the clause must be the medium phrase itself,
    optionally after "as / in / make it / turn it into" and before "style".
    """
    text = clause.strip().lower().rstrip(".!")
    match = _ASK_RE.match(text)
    if not match:
        return None
    body = match.group(1).strip()
    body = re.sub(r"^(?:a|an|the)\s+", "", body)
    families = media_in_order(body)
    if not families:
        return None
    family = families[0]
    phrases = [p for p in MEDIUM_PHRASES[family] if re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", body)]
    leftover = body
    for phrase in sorted(phrases, key=len, reverse=True):
        leftover = leftover.replace(phrase, " ")
    if _CAMERA_GEAR_RE.search(leftover):
        return None  # "shot on a 35mm lens": a camera setting to add, not a request for a medium
    # at most one extra word ("black and white photo", "detailed watercolor", "loose ink drawing")
    if len([w for w in leftover.split() if w not in ("and", "a", "an", "of", "style", "styled", "art")]) > 2:
        return None
    if "watercolor" in body or "watercolour" in body:
        look = LOOKS["watercolor"]
    elif re.search(r"\b(?:ink|pen)\b", body) and family == "drawing":
        look = LOOKS["ink drawing"]
    else:
        look = LOOK_FOR_FAMILY.get(family)
    # the user's own medium words name it when they are more specific ("a gouache painting", "charcoal sketch")
    if look and body not in _GENERIC_MEDIA and not body.startswith(("style", "styled")):
        look = replace(look, anchor=body)
    return look


def credited_names(text: str) -> list[str]:
    """Lower-case artist names credited in a prompt ("by a and b", "art by c", "in the style of d")."""
    names: list[str] = []
    for part in re.split(r"\s*[,;|]\s*|\.\s+", text):
        phrase = part.strip().lower().rstrip(".")
        match = _CREDIT_RE.match(phrase) or re.search(r"\b(?:art by|by)\s+(.+)$", phrase)
        if match:
            names += [n.strip() for n in _NAMES_SPLIT_RE.split(match.group(1)) if n.strip()]
    return names


def artists_media(text: str, artist_media: Mapping[str, str]) -> list[str]:
    """The media families the artists credited in `text` go with (learned from the index)."""
    if not artist_media:
        return []
    return [artist_media[n] for n in credited_names(text) if n in artist_media]


def held_media(text: str, artist_media: Mapping[str, str] | None = None) -> frozenset[str]:
    """Every medium family a prompt commits to: the ones it names and the ones its artists imply."""
    return media_of(text) | frozenset(artists_media(text, artist_media or {}))


def commercial(phrase: str, idea: str = "") -> bool:
    """Whether a phrase may join an advert's prompt: no fan-art site or genre word the idea did not say."""
    found = FAN_ART_RE.search(phrase)
    return (found is None
            or re.search(rf"(?<![\w-]){re.escape(found.group(0))}(?![\w-])", idea, re.IGNORECASE) is not None)


def fits(phrase: str, look: Look, artist_media: Mapping[str, str] | None = None) -> bool:
    """Whether a modifier phrase may join a prompt in `look` (its medium and its artists' agree,
    camera gear, "85mm lens" or "bokeh", and "photorealistic" only join a look a camera or renderer
    makes, and art-site words, "trending on artstation", and render terms, "ray tracing", never join a
    photograph)."""
    if look.family not in CAMERA_FAMILIES and _CAMERA_GEAR_RE.search(phrase):
        return False
    if look.family == "photo" and (_ART_SITE_RE.search(phrase) or _RENDER_TERM_RE.search(phrase)):
        return False
    if look.family not in CAMERA_FAMILIES and _PHOTOREAL_RE.search(phrase):
        return False  # "photorealistic" pulls a painting toward the photograph its negative bans
    return not any(clash(family, look.family) for family in held_media(phrase, artist_media))


def examples_look(texts: Iterable[str], artist_media: Mapping[str, str] | None = None,
                  weights: Iterable[float] | None = None) -> tuple[Look | None, int]:
    """The look the examples agree on, and how many of them name it (None when they do not agree).

    They agree when the most common look (by weight) is named by at least two examples (or by the
    only example there is), and no clashing look has as much weight.
    """
    texts = list(texts)
    weights = list(weights) if weights is not None else [1.0] * len(texts)
    votes: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for text, weight in zip(texts, weights):
        look = look_of(text, artist_media)
        if look:
            votes[look.name] += max(weight, 0.0) + 1e-6
            counts[look.name] += 1
    if not votes:
        return None, 0
    best, weight = max(votes.items(), key=lambda kv: (kv[1], kv[0]))
    rivals = [w for name, w in votes.items() if clash(LOOKS[name].family, LOOKS[best].family) and w >= weight
              and name != best]
    if rivals or (counts[best] < 2 and len(texts) > 1):  # one example of several is not agreement
        return None, 0
    return LOOKS[best], counts[best]


def decide_look(*, idea: str, feedback_look: Look | None = None, previous_prompt: str | None = None,
                requested: str | None = None, style: str = "auto", examples: Iterable[str] = (),
                example_weights: Iterable[float] | None = None,
                artist_media: Mapping[str, str] | None = None) -> tuple[Look, str]:
    """The prompt's look and why, in the issue's order (feedback, idea, previous prompt, brief, style,
    examples, content)."""
    if feedback_look:
        return feedback_look, "the feedback asks for it"
    named = look_of(idea)
    if named:
        return named, "the idea names it"
    if previous_prompt:
        kept = look_of(previous_prompt, artist_media)
        if kept:
            return kept, "kept from the previous prompt"
    if requested:
        if requested not in LOOKS:
            raise ValueError(f"look must be one of {', '.join(LOOKS)}, got {requested!r}")
        return LOOKS[requested], "the brief asks for it"
    if style in LOOK_FOR_STYLE and style != "artistic":
        return LOOKS[LOOK_FOR_STYLE[style]], f"the {style} style"
    agreed, n = examples_look(examples, artist_media, example_weights)
    if agreed:
        return agreed, f"{n} of the examples are {agreed.name}s" if n > 1 else "the example's medium"
    if style == "artistic":
        return LOOKS["digital painting"], "the artistic style"
    content_style, why = style_for_content(idea)
    return LOOKS[LOOK_FOR_STYLE[content_style]], why


def look_for_request(request: EnhanceRequest, feedback_look: Look | None = None) -> tuple[Look, str]:
    """`decide_look` for an enhance request (examples weighted by their similarity)."""
    return decide_look(
        idea=request.idea, feedback_look=feedback_look, previous_prompt=request.previous_prompt,
        requested=request.look, style=request.style, examples=[e.text for e in request.examples],
        example_weights=[max(e.score, 0.0) + 0.05 for e in request.examples], artist_media=request.artist_media,
    )


# ----------------------------------------------------------------------------------------------
# The negative prompt and the repair pass.


def _has_words(text: str, words: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(words.lower())}(?![\w-])", text.lower()) is not None


def negative_media(look: Look, held: Iterable[str] = ()) -> list[str]:
    """Media terms a negative may ban for `look`: each clashes with the look and every held medium."""
    held = {look.family, *held}
    return [term for term in BANNABLE_MEDIA
            if media_of(term) and all(clash(f, h) for f in media_of(term) for h in held)]


def negative_blocker(term: str, look: Look, positive: str, *, asked: str = "",
                     artist_media: Mapping[str, str] | None = None) -> str | None:
    """Why `term` must not be in the negative (None when it may): it bans the look, a medium the
    positive (or an artist in it) holds, or something the idea / feedback asks for."""
    families = media_of(term)
    held = {look.family, *held_media(positive, artist_media)}
    for family in families:
        if family == look.family or not all(clash(family, h) for h in held):
            if family == look.family or not clash(family, look.family):
                return f"fits the {look.name} look"
            friend = next(h for h in sorted(held) if not clash(family, h))
            return f"the prompt holds {friend}"
    if asked and _has_words(asked, term):
        return "asked for"
    if _has_words(positive, term) and term.lower() not in ("text", "watermark"):
        return "in the prompt"
    return None


def clean_negative(negative: str, look: Look, positive: str, *, asked: str = "",
                   artist_media: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """`negative` less the terms it must not ban; (cleaned, removed terms with why)."""
    kept: list[str] = []
    removed: list[str] = []
    for term in (t.strip() for t in negative.split(",")):
        if not term:
            continue
        why = negative_blocker(term, look, positive, asked=asked, artist_media=artist_media)
        if why:
            removed.append(f"{term} ({why})")
        else:
            kept.append(term)
    return ", ".join(kept), removed


def drop_credits(prompt: str, drop: Callable[[str], bool]) -> tuple[str, list[str]]:
    """`prompt` less the artist names `drop(name)` says go; (prompt, dropped names).

    Credits are comma phrases ("by x", "art by x and y", a prose clause "by x and y."); a phrase
    left with no name is removed whole, so no dangling "by" remains.
    """
    dropped: list[str] = []
    parts = re.split(r"(\s*,\s*)", prompt)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2:  # a separator
            out.append(part)
            continue
        stripped = part.strip()
        end = re.search(r"[.!]+$", stripped)
        tail = end.group(0) if end else ""
        body = stripped[: len(stripped) - len(tail)] if tail else stripped
        match = re.match(r"^(art by|by|in the style of)\s+(.+)$", body, re.IGNORECASE)
        if not match:
            out.append(part)
            continue
        names = [n for n in _NAMES_SPLIT_RE.split(match.group(2)) if n.strip()]
        keep = [n for n in names if not drop(n.strip().lower())]
        dropped += [n.strip().lower() for n in names if n not in keep]
        if keep == names:
            out.append(part)
        elif keep:
            joined = keep[0] if len(keep) == 1 else ", ".join(keep[:-1]) + " and " + keep[-1]
            out.append(f"{match.group(1)} {joined}{tail}")
        else:
            out.append("\x00" + tail)  # removed; its full stop (if any) moves to the phrase before
    text = "".join(out)
    text = re.sub(r"\s*,\s*\x00(?=[.!]|$)", "", text)  # a removed last phrase: ", by x." → "."
    text = re.sub(r"\x00[.!]*\s*,\s*", "", text)  # a removed phrase in the middle
    text = text.replace("\x00", "").strip()
    text = re.sub(r",\s*([.!])", r"\1", text)
    return text, dropped


def drop_phrases(prompt: str, drop: Callable[[str], bool]) -> tuple[str, list[str]]:
    """`prompt` less the comma phrases `drop` says go (the first phrase, the idea's, always stays)."""
    parts = [p for p in re.split(r"\s*,\s*", prompt)]
    kept, gone = parts[:1], []
    for part in parts[1:]:
        end = re.search(r"[.!]+$", part.strip())
        body = part.strip()[: end.start()] if end else part.strip()
        if body and drop(body):
            gone.append(body)
            if end and kept:
                kept[-1] = kept[-1].rstrip(" .") + end.group(0)
        else:
            kept.append(part)
    return ", ".join(kept), gone


@dataclass(frozen=True)
class Coherence:
    prompt: str
    negative: str
    changes: list[str]


def cohere(prompt: str, negative: str, look: Look, *, idea: str, asked: str | None = None,
           artist_media: Mapping[str, str] | None = None, artist_credits: bool = True) -> Coherence:
    """The repair pass: credits that fight the look (all credits when not allowed) leave the prompt,
    and the negative stops banning what the prompt holds or what `asked` (by default the idea) asks
    for. The idea's own credits stay."""
    media = artist_media or {}
    idea_names = set(credited_names(idea))
    changes: list[str] = []

    def fights(name: str) -> bool:
        if name in idea_names:
            return False
        if not artist_credits:
            return True
        family = media.get(name)
        return family is not None and clash(family, look.family)

    fixed, dropped = drop_credits(prompt, fights)
    if dropped:
        why = "artist credits are off" if not artist_credits else f"they fight the {look.name} look"
        changes.append(f"dropped {', '.join('by ' + d for d in dropped)} ({why})")
    if not artist_credits:  # an advert: no fan-art site or genre words either
        fixed, gone = drop_phrases(fixed, lambda phrase: not commercial(phrase, idea))
        if gone:
            changes.append(f"dropped {', '.join(repr(g) for g in gone)} (fan-art words do not belong in an advert)")
    cleaned, removed = clean_negative(negative, look, fixed, asked=idea if asked is None else asked,
                                      artist_media=media)
    if removed:
        changes.append("negative no longer bans " + ", ".join(removed))
    return Coherence(fixed, cleaned, changes)


_REMOVAL_RE = re.compile(r"\b(?:no|without|remove|less|not|avoid|drop)\s+(?:the\s+|any\s+|a\s+)?([^,;.]+)",
                         re.IGNORECASE)


def asked_for(request: EnhanceRequest) -> str:
    """What the idea and feedback ask to see: removals such as "no mist" left out, also where the idea
    itself said it ("a lake with ducks" + "no ducks": the negative may ban ducks)."""
    feedback = request.feedback or ""
    text = request.idea + "\n" + _REMOVAL_RE.sub(" ", feedback)
    for target in _REMOVAL_RE.findall(feedback):
        text = re.sub(rf"(?<![\w-]){re.escape(target.strip())}(?![\w-])", " ", text, flags=re.IGNORECASE)
    return text


def cohere_candidates(candidates: list[Candidate], request: EnhanceRequest,
                      look: Look | str | None = None) -> tuple[list[Candidate], Look, list[str]]:
    """Every candidate through `cohere` for the writer's look (by default the look the best answer
    names, else the one `look_for_request` decides); (candidates, look, changes said once)."""
    if isinstance(look, str):
        look = LOOKS[look]
    if look is None:
        look = look_of(candidates[0].prompt, request.artist_media) or look_for_request(request)[0]
    asked = asked_for(request)
    fixed: list[Candidate] = []
    changes: list[str] = []
    for candidate in candidates:
        result = cohere(candidate.prompt, candidate.negative_prompt, look, idea=request.idea, asked=asked,
                        artist_media=request.artist_media, artist_credits=request.artist_credits)
        fixed.append(replace(candidate, prompt=result.prompt, negative_prompt=result.negative))
        changes += [c for c in result.changes if c not in changes]
    return fixed, look, changes
