"""Media: which medium a text names, and which media cannot share one prompt.

A prompt that says "oil painting, nature photography" asks the model for two things at once and
gets neither. The enhancers keep one medium per prompt: the idea's own medium if it names one,
else the style's (rules) or the examples' (grounded), and they drop any modifier whose medium
clashes with it. This module is the lexicon behind that: plain data plus three pure functions.

- `media_of(text)`: the medium families a text names ("a watercolor of a fox, pencil sketch"
  → {"watercolor", "drawing"}). Longest phrases win, so "watercolor painting" is watercolor,
  not also painting, and "digital painting" is digital art.
- `clash(a, b)`: whether two families may not share a prompt. Families are compatible with
  themselves and with the pairs in `COMPATIBLE` (ink drawing with watercolor, anime with
  digital art, a 3D render with a video-game look, ...); every other pair clashes.
- `style_for_content(text)`: the rules' automatic style for an idea that names no style:
  fantastical subjects (dragons, wizards, "a frog dressed as a knight") are illustration
  subjects; everything else can be photographed, so it gets photography.

Deliberately not here: what to do about a clash (the enhancers decide) and the style tables
(`styles.py`).
"""

from __future__ import annotations

import re
from functools import lru_cache

# fmt: off
MEDIUM_PHRASES: dict[str, tuple[str, ...]] = {
    "photo": ("photo", "photograph", "photography", "photographic", "photographed", "dslr", "polaroid",
              "film photo", "film still", "movie still", "snapshot", "shot on", "35mm photo", "headshot",
              "portrait photo", "street photography", "nature photography", "macro photo", "macro photography",
              "professional photograph", "dslr photo", "cinematic film still", "stock photo", "photojournalism"),
    "painting": ("oil painting", "oil on canvas", "acrylic painting", "acrylic", "gouache", "impasto",
                 "tempera", "fresco", "mural", "oil paint"),
    # a painting of unstated kind, and the marks of any paint: fit every paint medium
    "paint": ("painting", "painted", "brushstrokes", "expressive brushstrokes", "brush strokes"),
    "watercolor": ("watercolor", "watercolour", "watercolor painting", "watercolour painting", "aquarelle",
                   "ink wash"),
    "digital": ("digital painting", "digital art", "digital illustration", "concept art", "illustration",
                "detailed illustration", "matte painting", "key visual", "character design", "splash art",
                "book illustration", "children's book illustration", "storybook illustration"),
    "drawing": ("drawing", "sketch", "pencil", "pencil sketch", "pencil drawing", "charcoal", "graphite",
                "ink drawing", "pen and ink", "crosshatching", "hatching", "etching", "line drawing"),
    "render3d": ("3d render", "3d rendering", "3d model", "octane render", "octane", "octane rendering", "cgi",
                 "unreal engine", "unreal engine 5", "ue5", "redshift", "v-ray", "blender",
                 "cinema 4d", "c4d", "redshift render", "vray", "low poly", "claymation", "physically based rendering",
                 "hyperrealistic render", "pixar", "3d animation"),
    "anime": ("anime", "manga", "cel shaded", "cel shading", "studio ghibli", "anime style", "anime key visual"),
    "cartoon": ("cartoon", "comic", "comic book", "comic strip", "cartoon style", "caricature", "disney"),
    "pixel": ("pixel art", "8-bit", "8 bit", "16-bit", "16 bit", "sprite"),
    "vector": ("vector art", "vector illustration", "vector style", "flat design", "flat illustration", "logo", "svg"),
    "game": ("video game", "game screenshot", "in-game", "game art", "videogame", "playstation", "nintendo"),
    "sculpture": ("sculpture", "statue", "marble statue", "bronze statue", "clay sculpture", "figurine"),
    "print": ("woodcut", "linocut", "engraving", "lithograph", "ukiyo-e", "ukiyo e", "screen print",
              "screenprint", "block print", "risograph"),
    "coloring": ("coloring book", "colouring book", "coloring page", "colouring page", "coloring book page",
                 "line art", "lineart", "black and white line art"),
    "stained glass": ("stained glass",),
    "mosaic": ("mosaic",),
    "collage": ("collage",),
    "papercraft": ("papercraft", "paper craft", "origami", "paper cutout", "paper cut"),
    "embroidery": ("embroidery", "cross stitch", "needlepoint", "tapestry"),
}
# Pairs that may share a prompt (symmetric; a family is always compatible with itself).
COMPATIBLE: frozenset[frozenset[str]] = frozenset(frozenset(pair) for pair in (
    ("paint", "painting"), ("paint", "watercolor"), ("paint", "digital"),
    ("watercolor", "drawing"), ("digital", "drawing"), ("digital", "anime"), ("digital", "cartoon"),
    ("digital", "game"), ("digital", "vector"), ("drawing", "coloring"), ("drawing", "cartoon"),
    ("drawing", "anime"), ("drawing", "print"), ("anime", "cartoon"), ("anime", "game"),
    ("render3d", "game"), ("render3d", "cartoon"), ("render3d", "sculpture"), ("photo", "sculpture"),
    ("pixel", "game"), ("vector", "cartoon"), ("vector", "anime"), ("vector", "coloring"), ("cartoon", "coloring"),
    ("digital", "coloring"),
))
# The rules style that suits a medium the idea names.
STYLE_FOR_MEDIUM: dict[str, str] = {
    "photo": "photography", "render3d": "realistic", "coloring": "coloring book",
}
# Subjects that are drawn or painted rather than photographed (whole words, singular or plural).
FANTASTICAL_WORDS: tuple[str, ...] = (
    "dragon", "unicorn", "wizard", "witch", "sorcerer", "sorceress", "mage", "fairy", "faerie", "elf", "elves",
    "dwarf", "goblin", "orc", "troll", "ogre", "knight", "paladin", "mermaid", "merman", "phoenix",
    "griffin", "gryphon", "pegasus", "centaur", "minotaur", "kraken", "hydra", "demon", "devil", "angel",
    "god", "goddess", "deity", "alien", "spaceship", "starship", "spacecraft", "mech", "mecha", "cyborg",
    "monster", "creature", "beast", "zombie", "vampire", "werewolf", "ghost",
    "superhero", "supervillain", "samurai", "ninja", "pirate", "viking", "fantasy", "magical", "magic",
    "enchanted", "mythical", "mythological", "legendary", "sci-fi", "scifi", "cyberpunk", "steampunk",
    "futuristic", "dystopian", "utopian", "post-apocalyptic", "apocalyptic", "surreal", "dreamlike",
    "flying castle", "anthropomorphic", "dressed as", "wearing armor", "in armor", "talking", "chibi", "kawaii",
    "whimsical", "fairytale", "fairy tale", "portal", "spell", "potion",
    "planet", "galaxy", "nebula", "eldritch", "lovecraftian", "cthulhu", "yeti", "golem", "elemental",
)
# fmt: on

# Words that are also things in a scene ("the painting was hung above the sofa", "a yellow
# pencil"): they name the medium only as "X of/by ...", in the style of X, or as a short tag.
OBJECT_WORDS = frozenset((
    "painting", "painted", "drawing", "pencil", "sculpture", "statue", "figurine", "mural", "fresco",
    "canvas", "logo", "sprite", "mosaic", "tapestry", "collage", "engraving", "blender", "marble statue",
    "bronze statue", "clay sculpture",
))
_MEDIUM_USE_RE = re.compile(r"\s+(?:of|by|for)\b", re.IGNORECASE)
_STYLE_OF_RE = re.compile(r"(?:style of|styled as|as|like|in)\s+(?:an?\s+|the\s+)?$", re.IGNORECASE)
SHORT_TAG_WORDS = 3  # a comma-separated clause this short is a tag, so its medium word is a medium

_PHRASE_FAMILY: dict[str, str] = {p: family for family, phrases in MEDIUM_PHRASES.items() for p in phrases}
# Longest first, so "watercolor painting" claims its words before "painting" is tried.
_MEDIUM_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(p) for p in sorted(_PHRASE_FAMILY, key=len, reverse=True)) + r")(?![\w-])",
    re.IGNORECASE,
)
_FANTASTICAL_RE = re.compile(
    r"(?<![\w-])(" + "|".join(re.escape(w) for w in sorted(FANTASTICAL_WORDS, key=len, reverse=True))
    + r")(?:e?s)?(?![\w-])",
    re.IGNORECASE,
)


@lru_cache(maxsize=8192)
def media_of(text: str) -> frozenset[str]:
    """The medium families `text` names (empty when it names none; scene objects do not count)."""
    return frozenset(_PHRASE_FAMILY[m.group(1).lower()] for m in _MEDIUM_RE.finditer(text) if _names_medium(text, m))


def media_in_order(text: str) -> list[str]:
    """The medium families `text` names, in the order they first appear (the first one leads)."""
    found = [_PHRASE_FAMILY[m.group(1).lower()] for m in _MEDIUM_RE.finditer(text) if _names_medium(text, m)]
    return list(dict.fromkeys(found))


def _names_medium(text: str, match: re.Match[str]) -> bool:
    if match.group(1).lower() not in OBJECT_WORDS:
        return True
    start, end = match.span(1)
    clause_start = max(text.rfind(sep, 0, start) for sep in ",;|\n") + 1
    clause_end = min((i for i in (text.find(sep, end) for sep in ",;|\n") if i >= 0), default=len(text))
    return bool(
        _MEDIUM_USE_RE.match(text, end)
        or _STYLE_OF_RE.search(text[clause_start:start])
        or len(text[clause_start:clause_end].split()) <= SHORT_TAG_WORDS
    )


def clash(a: str, b: str) -> bool:
    """Whether media families `a` and `b` may not share one prompt."""
    return a != b and frozenset((a, b)) not in COMPATIBLE


def clashes_with(text: str, media: frozenset[str] | set[str]) -> bool:
    """Whether `text` names a medium that clashes with any of `media`."""
    return any(clash(mine, theirs) for mine in media_of(text) for theirs in media)


def clashing_pairs(text: str) -> list[tuple[str, str]]:
    """The pairs of clashing media a whole prompt names (empty for a coherent prompt)."""
    found = sorted(media_of(text))
    return [(a, b) for i, a in enumerate(found) for b in found[i + 1 :] if clash(a, b)]


def style_for_media(media: frozenset[str] | set[str]) -> str | None:
    """The rules style that suits the named media (None when they say nothing about style)."""
    if not media:
        return None
    for family in sorted(media):
        if family in STYLE_FOR_MEDIUM:
            return STYLE_FOR_MEDIUM[family]
    return "artistic"


def style_for_content(text: str) -> tuple[str, str]:
    """(style, reason) for an idea that names no style: illustration subjects vs photographable ones."""
    match = _FANTASTICAL_RE.search(text)
    if match:
        return "artistic", f"an illustration subject ({match.group(0).lower()!r})"
    return "photography", "a subject that can be photographed"


def coherent(tags: list[str], media: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """`tags` in order, less each one whose medium clashes with `media` or with a tag kept before it."""
    held = set(media)
    kept: list[str] = []
    for tag in tags:
        mine = media_of(tag)
        if any(clash(m, h) for m in mine for h in held):
            continue
        kept.append(tag)
        held |= mine
    return kept
