"""One time of day, one lighting set-up, one mood, one framing and one lens per prompt.

A prompt that says "crisp rim lighting, golden hour, cinematic lighting" or "macro detail shot,
wide shot" asks the image model for two pictures at once, like a prompt with two media
(media.py). The writers hold each of these *axes* once: the idea's own choice wins, then the
first modifier that names the axis, and any later phrase naming the same axis again is left out.

Axes, each read from one clause (a comma-separated phrase, or a "with … and …" part of one):

- `time`: the time of day ("at sunrise", "golden hour", "under the stars", "midday sun"), which a
  studio fixes too ("minimal studio" takes no sunset);
- `lighting`: a lighting set-up, a clause that ends in a light word ("crisp rim lighting",
  "soft window light", "neon glow", "candlelight") or names one ("backlit", "chiaroscuro").
  Atmosphere is not a set-up: fog and haze join any light, and so does one `light effect`
  ("volumetric lighting", "god rays"), an axis of its own;
- `mood`: a clause that ends in "mood" or "atmosphere" ("calm mood", "moody atmosphere");
- `distance`: how close the camera stands ("macro", "close-up", "full body", "wide shot");
- `viewpoint`: where it looks from ("overhead", "flat lay", "aerial", "low angle", "three-quarter");
- `lens`: a focal length or a named lens ("85mm", "wide-angle lens", "fisheye"; a lens clause fixes no
  distance: "100mm macro lens" suits a macro shot); `aperture`: "f/1.8".

`axes_of(text)` says which axes a text fixes, `repeats_axis(phrase, held)` which of a phrase's axes
are held already, and `stacked(prompt)` the axes a finished prompt names twice (a craft check).

Deliberately not here: which phrase is best (the enhancers rank them), whether a lighting suits a
scene (campaign/scene_fit.py), media (media.py). Words outside these tables fix no axis.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

TIME, LIGHTING, LIGHT_EFFECT, MOOD = "time", "lighting", "light effect", "mood"
DISTANCE, VIEWPOINT, LENS, APERTURE = "distance", "viewpoint", "lens", "aperture"
AXES = (TIME, LIGHTING, LIGHT_EFFECT, MOOD, DISTANCE, VIEWPOINT, LENS, APERTURE)


def _words(*phrases: str) -> re.Pattern[str]:
    return re.compile(r"(?<![\w-])(?:" + "|".join(phrases) + r")(?![\w-])", re.IGNORECASE)


_TIME_RE = _words(
    r"dawn", r"sunrise", r"early morning", r"during the day", r"in the daytime", r"morning light", r"golden hour",
    r"daylight", r"daytime",
    r"midday", r"noon", r"afternoon", r"sunny day", r"sunset", r"dusk", r"evening", r"twilight", r"blue hour",
    r"night", r"nighttime", r"at night", r"midnight", r"moonlight", r"moonlit", r"starlight", r"starry night",
    r"under the stars", r"night sky",
)
_STUDIO_RE = re.compile(r"(?<![\w-])studio(?![\w-])(?! ghibli)", re.IGNORECASE)
# a clause that ends in one of these is a lighting set-up ("soft window light", "neon glow")
_SETUP_END_RE = re.compile(r"(?<![\w-])(?:lighting|light|lights|lit|glow|sun|sunlight|daylight|moonlight|"
                           r"candlelight|lamplight|firelight|softbox)$", re.IGNORECASE)
_SETUP_RE = _words(r"backlit", r"backlighting", r"back lighting", r"rim light", r"rim lighting", r"chiaroscuro",
                   r"softbox", r"studio lighting")
# a whole clause of light effect or atmosphere is no set-up ("volumetric soft lighting" is one)
_EFFECT_CLAUSE_RE = re.compile(r"^(?:volumetric(?: light| lighting| lights)?|god rays|light rays|crepuscular rays)$",
                               re.IGNORECASE)
_ATMOSPHERE_RE = _words(r"fog", r"foggy", r"mist", r"misty", r"haze", r"hazy")
_DISTANCE_RE = _words(
    r"extreme close-up", r"extreme close up", r"close-up", r"close up", r"closeup", r"macro", r"detail shot",
    r"headshot", r"medium shot", r"mid shot", r"full body", r"full-body", r"full shot", r"full length",
    r"wide shot", r"long shot", r"establishing shot", r"wide establishing shot", r"extreme wide shot",
    r"panoramic", r"panorama",
)
_VIEWPOINT_RE = _words(
    r"overhead", r"top-down", r"top down", r"flat lay", r"flatlay", r"bird's eye", r"birds eye", r"bird's-eye",
    r"aerial", r"aerial view", r"drone shot", r"from above", r"from below", r"low angle", r"low-angle",
    r"worm's eye", r"high angle", r"high-angle", r"eye level", r"eye-level", r"three-quarter", r"three quarter",
    r"side view", r"profile view", r"front view", r"isometric", r"dutch angle",
)
_LENS_RE = re.compile(r"(?<![\w-])(?:\d+\s?mm(?: lens)?|[\w-]+ lens|lens|fisheye|fish-eye|telephoto)"
                      r"(?![\w-])(?! flares?\b)", re.IGNORECASE)
_MOOD_RE = re.compile(r"(?<![\w-])(?:mood|atmosphere|vibe|vibes|ambience|ambiance)$", re.IGNORECASE)
_APERTURE_RE = re.compile(r"(?<![\w-])f/\s?\d", re.IGNORECASE)
# "with cinematic lighting and volumetric light": the parts of a written (sentence) prompt
_CLAUSE_SPLIT_RE = re.compile(r"\s*(?:[,;|\n]|\.\s+|\.$|\bwith\b|\band\b)\s*", re.IGNORECASE)


def clauses(text: str) -> list[str]:
    """The text's clauses: comma-separated phrases, and the "with … and …" parts of a sentence."""
    return [c.strip(" .") for c in _CLAUSE_SPLIT_RE.split(text) if c and c.strip(" .")]


def clause_axes(clause: str) -> set[str]:
    """The axes one clause fixes."""
    found = set()
    if _TIME_RE.search(clause) or _STUDIO_RE.search(clause):  # a studio has no time of day
        found.add(TIME)
    if _EFFECT_CLAUSE_RE.search(clause):
        found.add(LIGHT_EFFECT)
    elif not _ATMOSPHERE_RE.search(clause) and (_SETUP_END_RE.search(clause) or _SETUP_RE.search(clause)):
        found.add(LIGHTING)
    if _MOOD_RE.search(clause):
        found.add(MOOD)
    lens = _LENS_RE.search(clause)
    if _DISTANCE_RE.search(clause) and not lens:  # "100mm macro lens" is the lens a macro shot takes
        found.add(DISTANCE)
    if _VIEWPOINT_RE.search(clause):
        found.add(VIEWPOINT)
    if lens:
        found.add(LENS)
    if _APERTURE_RE.search(clause):
        found.add(APERTURE)
    return found


def axes_of(text: str) -> set[str]:
    """Every axis some clause of `text` fixes."""
    return set().union(*(clause_axes(c) for c in clauses(text)))


def repeats_axis(phrase: str, held: Iterable[str]) -> set[str]:
    """The axes `phrase` would name a second time, given the axes already `held`."""
    return axes_of(phrase) & set(held)


def stacked(prompt: str) -> list[str]:
    """Each axis named by two or more clauses of a finished prompt, as "axis: clause / clause"."""
    by_axis: dict[str, list[str]] = {}
    for clause in clauses(prompt):
        for axis in sorted(clause_axes(clause)):
            by_axis.setdefault(axis, []).append(clause)
    return [f"{axis}: {' / '.join(found)}" for axis, found in by_axis.items() if len(found) > 1]


__all__ = ["APERTURE", "AXES", "DISTANCE", "LENS", "LIGHTING", "LIGHT_EFFECT", "MOOD", "TIME", "VIEWPOINT", "axes_of",
           "clause_axes", "clauses", "repeats_axis", "stacked"]
