"""Which lightings and compositions a campaign scene can take: no studio softbox on a mountain peak.

A plan crosses scenes with lightings and compositions (plan.py). Crossed blindly, a variant reads
"on a snowy mountain peak, ..., studio softbox lighting" or "at a rainy city bus stop, overhead
flat lay", and the image model gets two places at once. Here each built-in scene has a *setting*
(studio, indoors, outdoors) and, when its words fix one, a *time* (day, dusk / dawn, night); each
built-in lighting and composition says which settings and times it belongs to. `fits(dimension,
value, scene)` is the one question the planner asks.

Deliberately simple: words the tables do not know (a brief's own scenes or lightings) fit
everything, so a brief is never refused for its wording, and the planner falls back to the
blind cross when a brief's lists leave nothing that fits.
"""

from __future__ import annotations

import re

STUDIO, INDOORS, OUTDOORS = "studio", "indoors", "outdoors"
DAY, TWILIGHT, NIGHT = "day", "twilight", "night"

_SETTING_WORDS: tuple[tuple[str, str], ...] = (
    (STUDIO, r"studio|backdrop"),
    (INDOORS, r"kitchen|cafe|caf\u00e9|greenhouse|station|office|library|living room|bedroom|shop|store|museum|"
              r"restaurant|bar\b|gym|indoors?|interior"),
    (OUTDOORS, r"forest|rooftop|beach|mountain|trail|street|canyon|desert|lake|field|peak|sailboat|sea\b|"
               r"campfire|stars|bus stop|rainforest|pool|park|ramp|garden|city|river|meadow|snow|outdoors?"),
)
_TIME_WORDS: tuple[tuple[str, str], ...] = (
    (NIGHT, r"night|stars|midnight|neon|moonlit|campfire"),
    (TWILIGHT, r"dusk|dawn|sunrise|sunset|twilight"),
)

# value → (settings it belongs to, times it belongs to); None: any
_LIGHTING: dict[str, tuple[set[str] | None, set[str] | None]] = {
    "golden hour light": ({OUTDOORS, INDOORS}, {DAY, TWILIGHT}),
    "soft window light": ({INDOORS, STUDIO}, {DAY, TWILIGHT}),
    "neon glow": ({OUTDOORS, INDOORS}, {NIGHT, TWILIGHT}),
    "overcast diffused light": ({OUTDOORS, INDOORS}, {DAY}),
    "harsh midday sun": ({OUTDOORS}, {DAY}),
    "studio softbox lighting": ({STUDIO, INDOORS}, None),
    "candlelight": ({INDOORS, OUTDOORS}, {NIGHT, TWILIGHT}),
    "moonlight": ({OUTDOORS}, {NIGHT}),
    "backlit silhouette": ({OUTDOORS}, {DAY, TWILIGHT}),
    "colorful gel lighting": ({STUDIO, INDOORS}, None),
    "bright commercial lighting": ({STUDIO, INDOORS}, None),
    "crisp rim lighting": (None, None),
    "soft commercial studio lighting": ({STUDIO}, None),
    "natural daylight": ({OUTDOORS, INDOORS}, {DAY}),
}
_COMPOSITION: dict[str, set[str] | None] = {
    "overhead flat lay": {STUDIO, INDOORS},  # a flat lay needs a table or a floor to lay things on
    "wide establishing shot": {OUTDOORS, INDOORS},  # a seamless backdrop has nothing to establish
}


def _first(table: tuple[tuple[str, str], ...], scene: str) -> str | None:
    lowered = scene.lower()
    return next((name for name, words in table if re.search(rf"\b(?:{words})", lowered)), None)


def scene_setting(scene: str) -> str | None:
    """studio / indoors / outdoors, None when the words do not say."""
    return _first(_SETTING_WORDS, scene)


def scene_time(scene: str) -> str | None:
    """night / twilight when the scene's words fix the time, else None (any time of day)."""
    return _first(_TIME_WORDS, scene)


def fits(dimension: str, value: str, scene: str) -> bool:
    """Can a variant set in `scene` take this lighting / composition? Unknown words fit anything."""
    setting, time = scene_setting(scene), scene_time(scene)
    if dimension == "lighting" and value in _LIGHTING:
        settings, times = _LIGHTING[value]
        return ((settings is None or setting is None or setting in settings)
                and (times is None or time is None or time in times))
    if dimension == "composition" and value in _COMPOSITION:
        settings = _COMPOSITION[value]
        return settings is None or setting is None or setting in settings
    return True


def angle_fits(angle: dict[str, str]) -> bool:
    """Every dimension of `angle` fits its scene."""
    scene = angle.get("scene", "")
    return all(fits(dim, angle[dim], scene) for dim in ("lighting", "composition") if dim in angle)
