"""How a brief steers its variants beyond the angle lists: subject kind, audience, message, look.

- `subject_kind(brief)`: product / scene / person — the brief's `subject_kind`, or (auto) the
  first of the subject's words found in `PRODUCT_NOUNS` / `PERSON_NOUNS`, else "scene". A product
  gets commercial product-photography words in its idea (`product_words`): a studio or lifestyle
  product shot per style, its materials ("brushed steel finish"), a clean / uncluttered
  background, and the product compositions and lightings of plan.py.
- `cue_matches(brief, value)`: which words of the audience and the message point to a scene or a
  mood value — the word itself ("city" → "on a city rooftop at dusk") or a cue of the small
  `CUES` table ("hikers" → trail, mountain, ..., adventurous). plan.py ranks values by it, and
  each variant's manifest record says which words chose its scene and mood (`steering`).
- `context_text(brief)`: "for <audience>; <message>" — passed to the writer as
  `EnhanceRequest.context` (shapes the scene and mood, never copied in as a subject).
- `look_for(brief, style)`: the look the writer is asked for; "photograph" for the photographic
  styles (and for a realistic product shot), else None (the writer decides from the style).
- `foreign_words(brief, angle)`: fan-art sites (always) and fantasy / concept-art genre words
  (in a product shot) the brand pass removes, unless the brief's own words or the angle ask for them.

Everything is a table lookup: deterministic, and explainable in the manifest. Deliberately not
here: semantic matching (embeddings) of audience to scenes, and the removal itself (brand.py).
"""

from __future__ import annotations

import re
from typing import Any

from campaign.brand import FAN_ART_SITES, GENRE_WORDS, contains
from campaign.brief import Brief

PRODUCT_NOUNS: tuple[str, ...] = (
    "bottle", "flask", "tumbler", "mug", "cup", "can", "jar", "box", "bag", "backpack", "handbag", "wallet",
    "shoe", "sneaker", "boot", "sandal", "watch", "headphones", "earbuds", "speaker", "phone", "smartphone",
    "laptop", "tablet", "camera", "lamp", "chair", "sofa", "table", "desk", "bicycle", "bike", "scooter",
    "car", "helmet", "jacket", "hoodie", "shirt", "dress", "sunglasses", "glasses", "perfume", "fragrance",
    "cream", "lotion", "serum", "lipstick", "shampoo", "soap", "candle", "kettle", "blender", "toaster",
    "knife", "pan", "pot", "controller", "keyboard", "mouse", "drone", "ring", "necklace", "bracelet",
    "product", "package", "packaging", "gadget", "device", "appliance", "tent", "stove", "cooler",
)
PERSON_NOUNS: tuple[str, ...] = (
    "person", "people", "man", "woman", "men", "women", "girl", "boy", "child", "children", "kid", "family",
    "portrait", "model", "athlete", "runner", "hiker", "cyclist", "chef", "worker", "couple", "friends",
)
# finishes and materials a product is made of, longest first ("brushed steel" before "steel")
FINISHES = ("brushed", "polished", "matte", "satin", "anodized", "stainless", "hammered", "frosted", "glossy")
MATERIALS = ("steel", "aluminium", "aluminum", "titanium", "copper", "brass", "chrome", "leather", "glass",
             "ceramic", "porcelain", "wood", "wooden", "bamboo", "marble", "concrete", "cotton", "linen",
             "wool", "silk", "denim", "carbon fiber", "gold", "silver", "stone", "rubber")
# audience / message word (singular) → words of scenes and moods it points to
CUES: dict[str, tuple[str, ...]] = {
    "hiker": ("trail", "mountain", "peak", "forest", "canyon", "lake", "campfire", "adventurous"),
    "hiking": ("trail", "mountain", "peak", "forest", "canyon", "lake", "campfire", "adventurous"),
    "outdoor": ("trail", "mountain", "forest", "lake", "beach", "canyon", "adventurous"),
    "summit": ("peak", "mountain", "adventurous", "bold"),
    "mountain": ("peak", "trail", "adventurous"),
    "adventure": ("trail", "peak", "canyon", "desert", "rainforest", "adventurous", "bold"),
    "explorer": ("trail", "canyon", "desert", "rainforest", "adventurous"),
    "camping": ("campfire", "forest", "lake", "cozy", "adventurous"),
    "cyclist": ("city", "street", "rooftop", "energetic"),
    "cycling": ("city", "street", "rooftop", "energetic"),
    "runner": ("trail", "street", "energetic", "bold"),
    "athlete": ("trail", "skate", "pool", "energetic", "bold"),
    "fitness": ("skate", "pool", "trail", "energetic"),
    "sport": ("skate", "pool", "trail", "energetic", "bold"),
    "city": ("city", "street", "rooftop", "train", "bus"),
    "urban": ("city", "street", "rooftop", "train", "bus", "neon"),
    "commuter": ("train", "bus", "street", "city", "office"),
    "commute": ("train", "bus", "street", "city", "office"),
    "office": ("office", "calm"),
    "work": ("office", "train", "calm"),
    "professional": ("office", "train", "calm"),
    "student": ("library", "cafe", "skate", "playful"),
    "weekend": ("lake", "beach", "cafe", "campfire", "calm", "joyful"),
    "family": ("kitchen", "beach", "sunflower", "joyful", "playful"),
    "kid": ("sunflower", "beach", "skate", "playful", "joyful"),
    "home": ("kitchen", "library", "cafe", "cozy"),
    "morning": ("kitchen", "sunrise", "window", "calm"),
    "night": ("neon", "night", "stars", "mysterious"),
    "travel": ("train", "sailboat", "beach", "desert", "adventurous"),
    "summer": ("beach", "pool", "sailboat", "sunflower", "joyful"),
    "winter": ("snowy", "cozy"),
    "eco": ("forest", "greenhouse", "plants", "rainforest", "calm"),
    "sustainable": ("forest", "greenhouse", "plants", "rainforest", "calm"),
    "nature": ("forest", "greenhouse", "lake", "rainforest", "calm"),
    "luxury": ("studio", "rooftop", "pool", "calm", "bold"),
    "premium": ("studio", "minimalist", "bold"),
}
_STOPWORDS = frozenset("a an and the of to from for in on at by with who what one our your their its".split())
_WORD = re.compile(r"[a-z][a-z'-]+")
_PHOTOGRAPHIC = ("photography", "cinematic")  # styles whose look is a photograph


def subject_kind(brief: Brief) -> tuple[str, str]:
    """(kind, why): the brief's subject_kind, or the one its subject's words point to."""
    if brief.subject_kind != "auto":
        return brief.subject_kind, "subject_kind in the brief"
    for kind, nouns in (("product", PRODUCT_NOUNS), ("person", PERSON_NOUNS)):
        found = next((n for n in nouns if contains(brief.subject, n)), None)
        if found is not None:
            return kind, f"auto: {found!r} in the subject names a {kind}"
    return "scene", "auto: the subject names no product or person"


def materials(subject: str) -> list[str]:
    """The materials (with their finish) a subject names: 'a brushed steel bottle' → ['brushed steel']."""
    found = []
    for material in MATERIALS:
        match = re.search(rf"\b(?:(?:{'|'.join(FINISHES)})\s+)?{re.escape(material)}\b", subject, re.IGNORECASE)
        if match and not any(material in f for f in found):
            found.append(match.group(0).lower())
    return found


def is_studio(scene: str) -> bool:
    return contains(scene, "studio") or contains(scene, "backdrop")


def product_words(style: str, scene: str, subject: str) -> list[str]:
    """The product-photography phrases of a product angle's idea (after its style words)."""
    setting = "studio" if is_studio(scene) else "lifestyle"
    shot = {"photography": f"{setting} product photography", "cinematic": "commercial product shot",
            "realistic": f"{setting} product shot", "artistic": "advertising product shot"}.get(style)
    if shot is None:  # coloring book, a user style: its own words; no photography language
        return []
    background = "clean background" if setting == "studio" else "uncluttered background"
    return [shot, *(f"{m} finish" for m in materials(subject)[:1]), background]


def brief_words(brief: Brief) -> list[tuple[str, str]]:
    """(word, field) of the audience and the message, singular, stopwords and numbers left out."""
    words = []
    for name in ("audience", "message"):
        for word in _WORD.findall(getattr(brief, name).lower()):
            if word in _STOPWORDS or len(word) < 3:
                continue
            single = word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 4 else word
            if (single, name) not in words:
                words.append((single, name))
    return words


def cue_matches(brief: Brief, value: str) -> list[str]:
    """The audience / message words that point to `value` ('hiker (audience)'), in brief order."""
    matched = []
    for word, name in brief_words(brief):
        hints = (word, *CUES.get(word, ()))
        if any(contains(value, hint) for hint in hints):
            matched.append(f"{word} ({name})")
    return matched


def context_text(brief: Brief) -> str | None:
    """What the writer is told about who the picture is for and what it says (None: the brief says neither)."""
    parts = [f"for {brief.audience}" if brief.audience else "", brief.message]
    text = "; ".join(p for p in parts if p)
    return text or None


def look_for(brief: Brief, style: str) -> str | None:
    """The look to ask the writer for: a photograph for photographic styles (and realistic products)."""
    if style in _PHOTOGRAPHIC or (style == "realistic" and subject_kind(brief)[0] == "product"):
        return "photograph"
    return None


def asked_text(brief: Brief, angle: dict[str, str]) -> str:
    """The brief's own words and the angle's: what they ask for is never removed as foreign."""
    return "\n".join([brief.subject, brief.audience, brief.message, *brief.brand.must_have,
                      *(v for k, v in angle.items() if k != "size")])


def foreign_words(brief: Brief, angle: dict[str, str]) -> list[str]:
    """Fan-art sites, and in a product shot the fantasy / concept-art genre words, not asked for
    (asking for "fantasy" spares "fantasy art" too; "artstation", "trending on artstation")."""
    words = [*FAN_ART_SITES, *(GENRE_WORDS if subject_kind(brief)[0] == "product" else ())]
    asked = asked_text(brief, angle)
    spared = [w for w in words if contains(asked, w)]
    return [w for w in words if not any(contains(w, s) for s in spared)]


def steering(brief: Brief, angle: dict[str, str]) -> dict[str, Any]:
    """What the manifest records of how the brief steered one variant (see the module docstring)."""
    kind, why = subject_kind(brief)
    return {
        "subject_kind": kind, "subject_kind_by": why,
        "scene": {"value": angle.get("scene"), "chosen_by": cue_matches(brief, angle.get("scene", ""))},
        "mood": {"value": angle.get("mood"), "chosen_by": cue_matches(brief, angle.get("mood", ""))},
        "context": context_text(brief), "look": look_for(brief, angle.get("style", "")),
        "artist_credits": brief.artist_credits,
    }
