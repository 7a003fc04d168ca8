"""Camera and light words that suit what a photograph shows: no 85mm bokeh on a lighthouse in a storm.

The photography tables (styles.py) are written for the commonest photo, a portrait: "85mm lens",
"f/1.8", "shallow depth of field", "bokeh", "natural lighting", "golden hour". Pasted onto a
landscape at night they argue with the idea ("a lighthouse in a storm at night, natural lighting,
85mm lens, bokeh"). `suited_descriptors(descriptors, idea)` swaps the portrait kit for the kit a
photographer would carry for the subject, and drops daylight words the idea's own time or weather
rules out:

- people and animals keep the portrait kit;
- small things (food, products, flowers, insects) get a macro lens;
- places (landscapes, buildings, cities, the sea, rooms and interiors) get a wide-angle lens stopped down, deep depth
  of field, no bokeh, and a long exposure when the scene is at night or in a storm;
- night, storms, fog, rain, dusk, neon or a studio drop "natural lighting" and "golden hour"
  (an idea that says "golden hour" or "sunset" keeps its own words: the idea is never edited).

Deliberately word lists, not a classifier: a subject the lists do not know keeps the tables as
they are, which is what the writer did before.
"""

from __future__ import annotations

import re

_PEOPLE = re.compile(r"\b(?:portrait|face|headshot|selfie|man|men|woman|women|girl|boy|child|children|kid|baby|"
                     r"person|people|couple|family|bride|groom|model|dancer|king|queen|knight|warrior|"
                     r"cat|kitten|dog|puppy|fox|wolf|bird|owl|horse|lion|tiger|bear|deer|animal)s?\b", re.I)
_SMALL = re.compile(r"\b(?:food|dish|ramen|noodles|sushi|burger|pizza|cake|dessert|coffee|tea|cup|mug|kettle|"
                    r"bottle|perfume|watch|ring|jewel(?:le)?ry|necklace|sneaker|shoe|handbag|product|"
                    r"flower|rose|leaf|insect|bee|butterfly|ladybug|snail|mushroom|fruit|berries|"
                    r"dew|droplet|macro)s?\b", re.I)
_PLACE = re.compile(r"\b(?:landscape|seascape|cityscape|skyline|panorama|vista|lighthouse|mountain|valley|"
                    r"canyon|desert|forest|jungle|ocean|sea|coast|beach|shore|cliff|island|lake|river|"
                    r"waterfall|glacier|field|meadow|city|street|town|village|harbou?r|bridge|castle|"
                    r"cathedral|church|temple|tower|ruins|building|architecture|house|cabin|palace|"
                    r"room|interior|kitchen|library|nook|bedroom|bathroom|hallway|lobby|cafe|restaurant|attic|"
                    r"greenhouse)s?\b", re.I)
_DARK_OR_WEATHER = re.compile(r"\b(?:night|midnight|nighttime|storm|stormy|thunderstorm|lightning|fog|foggy|"
                              r"mist|misty|rain|rainy|dusk|twilight|moonlight|moonlit|neon|studio|indoors?|"
                              r"candle ?lit|candlelight|underwater)\b", re.I)
_LONG_EXPOSURE = re.compile(r"\b(?:night|midnight|storm|stormy|waves?|sea|ocean|waterfall|river|stars|"
                            r"starry|traffic)\b", re.I)
_KEEPS_ITS_OWN = re.compile(r"\b(?:golden hour|sunset|sunrise|daylight|sunlit|sunny)\b", re.I)

PORTRAIT_KIT = ("85mm lens", "f/1.8", "shallow depth of field", "bokeh")
WIDE_KIT = {"85mm lens": "24mm wide-angle lens", "f/1.8": "f/8", "shallow depth of field": "deep depth of field",
            "bokeh": None}
MACRO_KIT = {"85mm lens": "100mm macro lens", "f/1.8": "f/2.8"}
DAYLIGHT = ("natural lighting", "golden hour")


def subject_kind(idea: str) -> str | None:
    """"people" (people, animals), "small" (food, products, flowers), "place", or None (unknown)."""
    if _PEOPLE.search(idea):
        return "people"
    if _SMALL.search(idea):
        return "small"
    if _PLACE.search(idea):
        return "place"
    return None


def suited_descriptors(descriptors: tuple[str, ...] | list[str], idea: str) -> tuple[str, ...]:
    """`descriptors` with the camera kit swapped for the idea's subject and daylight words dropped
    when the idea's time or weather rules them out (order kept; nothing added but a long exposure)."""
    kind = subject_kind(idea)
    swap = WIDE_KIT if kind == "place" else MACRO_KIT if kind == "small" else {}
    dark = bool(_DARK_OR_WEATHER.search(idea)) and not _KEEPS_ITS_OWN.search(idea)
    long_exposure = kind == "place" and bool(_LONG_EXPOSURE.search(idea))
    out: list[str] = []
    for descriptor in descriptors:
        key = descriptor.lower()
        if dark and key in DAYLIGHT:
            continue
        replacement = swap.get(key, descriptor)
        # the wide lens of a night or storm scene comes with its long exposure (right after it: kept
        # when the writer takes only the first few descriptors)
        for word in (replacement, "long exposure" if long_exposure and key == "85mm lens" else None):
            if word and word not in out:
                out.append(word)
    return tuple(out)
