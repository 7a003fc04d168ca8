"""Style tables for the rule-based enhancer: keywords, anchors, descriptors, quality tags,
negative prompts, and the feedback rules used in refinement rounds.

Everything here is plain data plus a small pure function (`detect_style`), so a reader can see
at a glance what the rules enhancer will ever add (feedback edits: `feedback.py`).
Every tuple is ordered by priority, highest first: the enhancer adds tags from the front as
creativity grows and drops them from the back when the token budget is tight.

Deliberately not here: prompt assembly and token budgeting (see `rules.py`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class StyleSpec:
    """What the rules enhancer may add for one style."""

    keywords: tuple[str, ...]  # words in an idea (or its examples) that point to this style
    anchors: tuple[str, ...]  # one of these names the style; candidates take turns
    descriptors: tuple[str, ...]  # style vocabulary, added as creativity grows
    quality: tuple[str, ...]  # generic quality tags, added as creativity grows
    negative: tuple[str, ...]  # the negative prompt, most important first


# fmt: off
STYLE_SPECS: dict[str, StyleSpec] = {
    "coloring book": StyleSpec(
        keywords=("coloring book", "colouring book", "coloring page", "colouring page", "coloring",
                  "colouring", "line art", "lineart", "outline drawing", "printable"),
        anchors=("coloring book page", "coloring page", "black and white line art"),
        descriptors=("clean line art", "bold outlines", "black and white", "white background",
                     "simple shapes", "thick lines", "kids illustration", "vector style"),
        quality=("crisp lines", "high contrast", "printable", "centered composition"),
        negative=("color", "colour fill", "shading", "grayscale", "gradient", "shadows", "texture",
                  "photorealistic", "blurry", "text", "watermark"),
    ),
    "photography": StyleSpec(
        keywords=("photo", "photograph", "photography", "photographic", "dslr", "camera", "35mm",
                  "50mm", "85mm", "lens", "bokeh", "polaroid", "kodak", "canon", "nikon", "sony",
                  "shot on", "portrait photo", "headshot", "macro", "long exposure", "street photo"),
        anchors=("professional photograph", "DSLR photo", "photograph"),
        descriptors=("natural lighting", "85mm lens", "shallow depth of field", "bokeh",
                     "sharp focus", "film grain", "golden hour", "f/1.8"),
        quality=("high resolution", "highly detailed", "8k", "award-winning photography"),
        negative=("cartoon", "illustration", "painting", "drawing", "anime", "3d render", "cgi",
                  "blurry", "deformed", "lowres", "oversaturated", "watermark"),
    ),
    "cinematic": StyleSpec(
        keywords=("cinematic", "film still", "movie", "film", "scene", "noir", "anamorphic",
                  "blockbuster", "epic", "dramatic", "trailer", "widescreen"),
        anchors=("cinematic film still", "cinematic shot", "movie scene"),
        descriptors=("dramatic lighting", "anamorphic lens", "color graded", "volumetric light",
                     "shallow depth of field", "widescreen composition", "moody atmosphere",
                     "35mm film"),
        quality=("highly detailed", "sharp focus", "8k", "masterpiece"),
        negative=("cartoon", "anime", "flat lighting", "overexposed", "blurry", "lowres",
                  "deformed", "amateur", "watermark", "text"),
    ),
    "realistic": StyleSpec(
        keywords=("realistic", "photorealistic", "photo-realistic", "hyperrealistic",
                  "hyper realistic", "hyper-realistic", "lifelike", "real life", "3d render",
                  "unreal engine", "octane", "render"),
        anchors=("photorealistic", "hyperrealistic render", "realistic"),
        descriptors=("realistic textures", "physically based rendering", "natural lighting",
                     "global illumination", "true-to-life proportions", "subsurface scattering",
                     "octane render", "ray tracing"),
        quality=("highly detailed", "sharp focus", "8k", "high resolution"),
        negative=("cartoon", "anime", "illustration", "painting", "sketch", "deformed",
                  "bad anatomy", "blurry", "lowres", "plastic", "watermark"),
    ),
    "artistic": StyleSpec(
        keywords=("painting", "painted", "watercolor", "watercolour", "oil painting", "acrylic",
                  "illustration", "sketch", "drawing", "art nouveau", "impressionist",
                  "impressionism", "concept art", "anime", "manga", "digital art", "surreal",
                  "fantasy", "artstation", "gouache", "ink", "pastel", "artistic", "art"),
        anchors=("digital painting", "detailed illustration", "concept art"),
        descriptors=("vibrant colors", "expressive brushstrokes", "intricate details",
                     "dynamic composition", "soft lighting", "trending on artstation",
                     "rich textures", "fantasy art"),
        quality=("highly detailed", "masterpiece", "best quality", "sharp focus"),
        negative=("blurry", "lowres", "bad anatomy", "deformed", "disfigured", "jpeg artifacts",
                  "ugly", "duplicate", "watermark", "text", "signature"),
    ),
}
# fmt: on

# When two styles match equally often, the more specific one wins (first in this order).
STYLE_PRIORITY: tuple[str, ...] = ("coloring book", "photography", "cinematic", "realistic", "artistic")


def _style_pattern(keywords: tuple[str, ...]) -> re.Pattern[str]:
    # One alternation per style (longest first, so "coloring book" wins over "coloring").
    alternatives = "|".join(re.escape(k) for k in sorted(keywords, key=len, reverse=True))
    return re.compile(r"(?<![\w])(?:" + alternatives + r")(?![\w])", re.IGNORECASE)


_PATTERNS: dict[str, re.Pattern[str]] = {
    style: _style_pattern(STYLE_SPECS[style].keywords) for style in STYLE_PRIORITY
}


def style_hits(text: str) -> dict[str, list[str]]:
    """Which keywords of each style occur in `text` (whole words, any case, each counted once)."""
    return {style: list(found) for style, found in _style_hits(text)}


@lru_cache(maxsize=64)  # one enhance call asks about the same idea twice; long ideas cost ms
def _style_hits(text: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    hits = []
    for style in STYLE_PRIORITY:
        found = tuple(dict.fromkeys(m.group(0).lower() for m in _PATTERNS[style].finditer(text)))
        if found:
            hits.append((style, found))
    return tuple(hits)


def detect_style(text: str) -> tuple[str | None, list[str]]:
    """The style `text` points to and the keywords that said so; (None, []) when nothing matches.

    The style with the most matching keywords wins; ties go to the more specific style
    (`STYLE_PRIORITY`). The caller decides the default (the rules enhancer looks at the idea's content).
    """
    hits = style_hits(text)
    if not hits:
        return None, []
    best = max(STYLE_PRIORITY, key=lambda s: (len(hits.get(s, [])), -STYLE_PRIORITY.index(s)))
    return best, hits[best]


# ----------------------------------------------------------------------------------------------
# The old fixed feedback rules, as data only: refinement rounds now parse feedback into edits
# (enhancers/feedback.py, where these rules live on as entries of its grammar). Kept because
# craft_checks reads their words as writer vocabulary; `feedback.vocabulary()` is the fuller list.


@dataclass(frozen=True)
class FeedbackRule:
    name: str
    triggers: tuple[str, ...]
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    negative: tuple[str, ...] = ()
    simplify: bool = False  # keep only the first few tags of the previous prompt


MOOD_TAGS = ("moody atmosphere", "dramatic shadows", "low-key lighting")
BRIGHT_TAGS = ("bright lighting", "vibrant colors", "cheerful atmosphere")

FEEDBACK_RULES: tuple[FeedbackRule, ...] = (
    FeedbackRule(
        "no text",
        ("no text", "without text", "remove text", "no words", "no letters", "no watermark"),
        negative=("text", "watermark", "letters", "signature"),
    ),
    FeedbackRule(
        "moodier",
        ("moodier", "moody", "darker", "gloomier", "more atmospheric", "mood"),
        add=MOOD_TAGS,
        remove=BRIGHT_TAGS,
        negative=("bright colors", "flat lighting"),
    ),
    FeedbackRule(
        "brighter",
        ("brighter", "lighter", "more cheerful", "happier", "sunnier", "more colorful", "more colourful"),
        add=BRIGHT_TAGS,
        remove=MOOD_TAGS,
        negative=("dark", "gloomy", "underexposed"),
    ),
    FeedbackRule(
        "more detailed",
        ("more detailed", "more detail", "more details", "sharper", "more intricate"),
        add=("highly detailed", "intricate details", "sharp focus"),
        negative=("blurry", "lowres"),
    ),
    FeedbackRule(
        "simpler",
        ("simpler", "simple", "less busy", "minimal", "minimalist", "cleaner", "less cluttered"),
        add=("minimalist", "simple composition", "clean background"),
        negative=("cluttered", "busy background"),
        simplify=True,
    ),
    FeedbackRule("warmer", ("warmer", "warm"), add=("warm color palette", "golden hour light")),
    FeedbackRule("cooler", ("cooler", "colder", "cool tones"), add=("cool color palette", "blue tones")),
)
