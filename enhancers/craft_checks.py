"""Prompt-craft checks: does a written prompt argue with itself? Pure functions over text.

A keyless writer can produce a prompt that reads well in parts and still fails as a whole. Each
check here answers one such question and returns what it found (empty / True = fine), so a
benchmark, the eval harness or a test can count and show the cases:

- `negative_contradictions`: negative-prompt terms that ban what the positive asks for: a
  medium the prompt names ("painting" banned under "oil painting" or "watercolor"), the medium
  an artist credited in the prompt implies (`artist_media`, e.g. "justin gerard" → "digital"),
  or words the idea or the feedback ask for ("fog" banned for "a foggy pier").
- `broken_joins`: seams a sentence writer leaves: "with during", "with and", "with
  photorealistic.", a dangling "with" / "and" / "of" before a stop, ". ,", ", ,", ",.", "..".
- `scene_leaks`: nouns of the examples' scenes (their subject clause and their comma phrases
  that are not modifiers) that turn up in the prompt though the idea and feedback never said
  them ("a beautiful terrace" in a snow-cabin prompt).
- `stacked_axes`: a time of day, lighting set-up, framing or lens said twice when the idea and the
  feedback said it at most once ("crisp rim lighting ... with cinematic lighting", "macro detail
  shot ... wide shot"; the axes of `lighting_framing`).
- `brand_violations`: artist credits ("by X", "in the style of X", well-known names) when a
  campaign forbids them, and fan-art sites / genre words (artstation, pixiv, deviantart,
  cgsociety, fantasy art, "fantasy").
- `idea_kept`, `within_budget`, `feedback_failures` / `feedback_honoured` (a case's explicit
  expectations: must_include any-of groups, must_exclude, negative_must_include,
  negative_must_exclude).

Deliberately not here: fixing anything (the writers do that), aggregation into rates
(benchmarks/bench_prompt_craft.py, evaluation/summary.py) and any model call. Word matching is
lexical (whole words, a plural "s" ignored); nouns are told from modifiers with the keyword
tables of `grounded` / `media` / `styles` and a few suffix rules, not a tagger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from enhancers.grounded import CATEGORY_KEYWORDS, classify_phrase, modifier_phrases, split_phrases, subject_of
from enhancers.lighting_framing import clause_axes, clauses
from enhancers.media import MEDIUM_PHRASES, clash, media_of
from enhancers.styles import FEEDBACK_RULES, STYLE_SPECS
from enhancers.tokens import count_clip_tokens

# fmt: off
STOPWORDS = frozenset(
    "a an the of and or with without in on at by for from to into onto over under above below near "
    "behind beside between through during while as is are was were be been being it its this that "
    "these those his her their our your my some any no not very more most less few many much one two "
    "three up down out off around across along against among next top front back side inside outside "
    "made make like just only all each every other another than then there here who which what when "
    "where how so but if".split()
)
# Adjectives with no telling suffix (the suffix rules below catch "-ic", "-ous", "-ful", ...).
ADJECTIVES = frozenset(
    "beautiful stunning gorgeous pretty cute epic elegant intricate detailed realistic cinematic dramatic "
    "moody dreamy ethereal whimsical vintage retro futuristic surreal symmetrical stylized minimalist "
    "atmospheric vibrant vivid sharp smooth soft hard warm cool cold hot muted desaturated saturated dark "
    "bright light pale deep rich gloomy misty foggy hazy rainy snowy sunny cloudy stormy shiny glossy matte "
    "grainy dusty gritty eerie spooky cozy fluffy fuzzy silky airy earthy smoky icy milky rusty wavy curly "
    "leafy rocky sandy grassy muddy windy starry dewy frosty chilly edgy punchy painterly pastel neon golden "
    "silver red orange yellow green blue purple violet pink brown black white gray grey teal cyan magenta "
    "crimson scarlet azure emerald old new young ancient modern tiny small little big large huge giant tall "
    "short long wide narrow thin thick high low quiet calm serene peaceful lush lonely empty busy crowded "
    "abandoned ornate rustic quaint sleek clean simple plain bold subtle delicate lovely majestic mysterious "
    "magical colorful colourful hyperrealistic photorealistic ultrarealistic hd 4k 8k 16k uhd hdr full "
    "wet dry fresh ripe glowing shimmering sparkling flowing wooden woolen woollen silken oaken earthen ashen leaden "
    "metallic dim surrealist impressionist expressionist".split()
)
_ADJ_SUFFIXES = ("istic", "ical", "ous", "ful", "less", "ive", "able", "ible", "esque", "ish")
_NOT_ADJECTIVES = frozenset("plastic magic music fabric mosaic traffic logic comic tunic picnic relic clinic "
                            "attic topic critic ceramic mechanic olive archive captive native detective "
                            "cable table stable fable vegetable constable timetable "
                            "dish fish radish polish finish relish varnish".split())
# Nouns ending in "-ing" (other "-ing" words are verbs or participles, not scene objects).
_ING_NOUNS = frozenset("building ceiling painting clothing wedding king ring wing spring string swing evening "
                       "morning lightning railing stocking pudding dumpling earring sibling icing frosting awning "
                       "carving drawing dwelling landing thing viking".split())
# Words about the picture rather than in it ("A concept artwork of ...", "telephoto zoom").
WRITING_WORDS = ("artwork", "image", "picture", "style", "scene", "shot", "view", "zoom", "composition", "colors",
                 "colours", "tones", "palette", "details", "texture", "textures")
# Fan-art sites and genre words that a brand's prompt must not carry.
FAN_ART_TERMS = ("trending on artstation", "artstation", "pixiv", "deviantart", "cgsociety", "fan art",
                 "fanart", "fantasy art", "dark fantasy", "fantasy")
# Well-known artist names real prompts credit without "by" (grounded's artist table adds more).
_KNOWN_ARTISTS = ("greg rutkowski", "alphonse mucha", "artgerm", "wlop", "ruan jia", "ross tran",
                  "makoto shinkai", "studio ghibli", "beeple", "james jean", "craig mullins", "simon stalenhag",
                  "moebius", "zdzislaw beksinski", "giger", "thomas kinkade", "ilya kuvshinov", "krenz cushart",
                  "loish", "tom bagshaw", "frank frazetta")
# "lit by candles", "surrounded by trees", "by the sea", "by night": "by" that credits nobody.
_BY_NOT_CREDIT_BEFORE = frozenset(
    "lit illuminated surrounded covered framed made guided followed flanked lined accompanied watched held "
    "pulled driven powered inspired shaped carved crossed bathed backlit overgrown filled topped crowned "
    "dominated hit struck caught chased attacked eaten worn owned fed ridden led stands standing sitting "
    "sits passing passers side step little one day".split()
)
_BY_NOT_CREDIT_AFTER = frozenset(
    "a an the his her their its our my your night day candlelight moonlight sunlight firelight lamplight "
    "starlight hand itself himself herself themselves water sea river lake window fire".split()
)
# fmt: on

_WORD_RE = re.compile(r"[a-z0-9][a-z0-9'-]*")
_TERM_SPLIT_RE = re.compile(r"\s*[,;|\n]\s*")
_NEGATION_RE = re.compile(
    r"\b(?:no|not|without|remove|removing|drop|lose|less|fewer|never|avoid|instead of|rather than|get rid of|"
    r"don't want|do not want)\s+(.*?)(?=[,.;!?]|\bbut\b|\band\b|$)",
    re.IGNORECASE,
)


def words(text: str) -> list[str]:
    """Lower-case words of `text` (weights and brackets ignored)."""
    return _WORD_RE.findall(re.sub(r"[()\[\]{}]|:\s*\d+(?:\.\d+)?", " ", text.lower()))


def stem(word: str) -> str:
    """A plural-insensitive key: "cabins" / "cabin", "boxes" / "box", "skies" / "sky"."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def has_phrase(text: str, phrase: str) -> bool:
    """Whether `phrase` occurs in `text` as whole words (any case; a trailing plural "s" allowed)."""
    target = [stem(w) for w in words(phrase)]
    if not target:
        return False
    have = [stem(w) for w in words(text)]
    n = len(target)
    return any(have[i : i + n] == target for i in range(len(have) - n + 1))


def root(word: str) -> str:
    """The noun under a "-y" adjective: "foggy" → "fog", "misty" → "mist", "snowy" → "snow"."""
    if len(word) > 4 and word.endswith("y") and not word.endswith(("ey", "ay", "oy", "ly")):
        base = word[:-1]
        return base[:-1] if base[-1] == base[-2] else base
    return word


def asked_words(*texts: str) -> set[str]:
    """Stems of the content words `texts` ask for, less those in a "no ..." / "without ..."
    clause ("at night, no mist" asks for "night", not "mist"); "foggy" asks for "fog" too."""
    asked: set[str] = set()
    for text in texts:
        kept = _NEGATION_RE.sub(" ", text or "")
        for w in words(kept):
            if w not in STOPWORDS:
                asked |= {stem(w), root(w)}
    return asked


def negative_terms(negative: str) -> list[str]:
    """The comma-separated terms of a negative prompt, stripped, empty ones dropped."""
    return [t.strip(" .") for t in _TERM_SPLIT_RE.split(negative or "") if t.strip(" .")]


# ----------------------------------------------------------------------------------------------
# Negative prompt against positive prompt


def credited_artists(prompt: str) -> list[str]:
    """Lower-case names credited in `prompt` ("by X", "art by X", "in the style of X and Y",
    well-known names); "lit by candles", "by the sea", "in the style of a 1970s film" credit nobody."""
    names: list[str] = []
    text = prompt.lower()
    for match in _CREDIT_RE.finditer(text):
        before = text[: match.start()].split()
        if match.group(1) == "by" and before and before[-1].strip(",.;") in _BY_NOT_CREDIT_BEFORE:
            continue
        for part in re.split(r"\s+(?:and|&)\s+", match.group(2)):
            name = " ".join(_CREDIT_STOP_RE.split(part)[0].split()[:4])
            if name and name.split()[0] not in _BY_NOT_CREDIT_AFTER and name.split()[0] not in STOPWORDS:
                names.append(name)
    if any(name in text for name in _KNOWN_ARTISTS):  # a cheap substring test first
        names += [name for name in _KNOWN_ARTISTS if name in text and has_phrase(text, name) and name not in names]
    return list(dict.fromkeys(names))


_CREDIT_RE = re.compile(r"\b(in the style of|style of|by)\s+([a-z][^,.;:!?|\n()]*)")
_CREDIT_STOP_RE = re.compile(r"\s+(?:with|in|on|at|for|from|of|as|under|over|during|while|who|that)\b")


def _covers(banned: str, asked: str) -> bool:
    """Whether banning medium family `banned` bans `asked` too: the same family, or the generic
    "paint" (a painting of unstated kind) and a paint medium it is compatible with."""
    if banned == asked:
        return True
    return "paint" in (banned, asked) and not clash(banned, asked)


def negative_contradictions(prompt: str, negative: str, *, idea: str = "", feedback: str = "",
                            artist_media: Mapping[str, str] | None = None) -> list[str]:
    """Negative terms that ban what the positive asks for (empty: no contradiction).

    A term contradicts when it names a medium family the prompt, the idea or the feedback names
    (or covers it: "painting" bans oil painting and watercolor), one that an artist credited in
    the prompt implies (`artist_media`: lower-case name → family), or when every content word of
    the term is asked for by the idea or the feedback (outside their "no ..." clauses).
    Peer media that merely may share a prompt (anime beside digital art) are a legitimate ban.
    """
    # a medium the feedback asks for replaces the idea's ("as a watercolor" after "a photo of ...")
    asked_media = media_of(_without_negations(feedback)) or media_of(_without_negations(idea))
    positive_media = set(media_of(prompt)) | set(asked_media)
    for name in credited_artists(prompt):
        family = (artist_media or {}).get(name)
        if family:
            positive_media.add(family)
    asked = asked_words(idea, feedback)
    found = []
    for term in negative_terms(negative):
        banned = media_of(term) if len(words(term)) <= 4 else frozenset()
        if any(_covers(b, p) for b in banned for p in positive_media):
            found.append(term)
            continue
        content = [stem(w) for w in words(term) if w not in STOPWORDS]
        if content and all(w in asked for w in content):
            found.append(term)
    return found


def _without_negations(text: str) -> str:
    return _NEGATION_RE.sub(" ", text or "")


# ----------------------------------------------------------------------------------------------
# Broken joins

_FUNCTION = r"with|and|of|the|an|a|by|or"
_SEAMS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # ". ,", ", ,", ",.", ".." (an ellipsis "..." is the user's own punctuation, not a seam)
    ("punctuation", re.compile(r"[.;:!?]\s*,|,\s*,|,\s*[.;:!?]|(?<![\d.])\.\s*\.(?![.\d])")),
    # "with with", "a a", "in an epic style style" (a word of three letters or more written twice)
    ("doubled word", re.compile(rf"\b({_FUNCTION}|in|on|at|to|[a-z][a-z'-]{{2,}})\s+\1\b", re.IGNORECASE)),
    # "with during", "with and": never English; "with at least", "with on-camera flash" are
    ("with + preposition", re.compile(
        r"\bwith\s+(?:during|and|or|with|at(?!\s+(?:least|most)\b)|in|on|while|into|through|of|from|by|but)(?![\w-])",
        re.IGNORECASE)),
    # "by artgerm, by and sakimichan"
    ("function word + and", re.compile(r"\b(?:by|of|the|an?)\s+and\b", re.IGNORECASE)),
    ("dangling word", re.compile(rf"\b(?:{_FUNCTION})\s*(?:[,.;:!?]|$)", re.IGNORECASE)),
    ("leading punctuation", re.compile(r"^\s*[,.;:]")),
)
# "plan a.", "vitamin a,", "side by,": a function word that ends a phrase on purpose
_DANGLING_OK_BEFORE = frozenset("plan vitamin type grade class size model series formula side stand passers "
                                "passing close near nearby".split())
_WITH_LONE_WORD_RE = re.compile(r"\bwith\s+([a-z][\w-]*)\s*(?=[.;!?]|$)", re.IGNORECASE)


def is_adjective(word: str) -> bool:
    """A word that cannot stand alone as the object of "with" ("photorealistic", "moody")."""
    w = word.lower()
    if w in _NOT_ADJECTIVES:
        return False
    return w in ADJECTIVES or (len(w) > 5 and w.endswith(_ADJ_SUFFIXES)) or (len(w) > 4 and w.endswith("ic"))


def broken_joins(prompt: str) -> list[str]:
    """The seams of `prompt`, each as the text around it (empty: every join reads as English).

    "with natural lighting and bokeh." and "lit by candles, at night." pass; "with during",
    "with with", "with and", "... and.", "with.", ". ,", ", ,", ",.", "..", a sentence ending in
    "with" / "and" / "of", and "with photorealistic." (with + a lone adjective + a stop) do not.
    """
    found: list[str] = []
    for _kind, pattern in _SEAMS:
        for match in pattern.finditer(prompt):
            if _kind == "dangling word" and _dangling_is_fine(prompt, match):
                continue
            found.append(_around(prompt, match.start(), match.end()))
    for match in _WITH_LONE_WORD_RE.finditer(prompt):
        if is_adjective(match.group(1)):
            found.append(_around(prompt, match.start(), match.end() + 1))
    return list(dict.fromkeys(found))


def _dangling_is_fine(prompt: str, match: re.Match[str]) -> bool:
    before = prompt[: match.start()].split()
    word = match.group(0).strip(" ,.;:!?").lower()
    if before and before[-1].lower().strip(",.;") in _DANGLING_OK_BEFORE:
        return True
    # an A1111 weight "(word:1.2)" or a title-case letter "Plan A" is not a function word
    return word == "a" and match.group(0)[0] == "A"


def _around(text: str, start: int, end: int, pad: int = 12) -> str:
    return text[max(0, start - pad) : min(len(text), end + pad)].strip()


# ----------------------------------------------------------------------------------------------
# Scene leaks


@lru_cache(maxsize=1)
def _modifier_vocabulary() -> frozenset[str]:
    """Words of the writers' own modifier tables (grounded's keywords, the media lexicon, the
    rules' style descriptors and feedback tags): the writers may add these with no example."""

    texts: list[str] = [k for keys in CATEGORY_KEYWORDS.values() for k in keys]
    texts += [p for phrases in MEDIUM_PHRASES.values() for p in phrases]
    for spec in STYLE_SPECS.values():
        texts += [*spec.keywords, *spec.anchors, *spec.descriptors, *spec.quality, *spec.negative]
    for rule in FEEDBACK_RULES:
        texts += [*rule.triggers, *rule.add, *rule.remove, *rule.negative]
    texts += WRITING_WORDS
    return frozenset(stem(w) for t in texts for w in words(t))


def is_noun_like(word: str) -> bool:
    """A content word that could name a thing in a scene (not a stop word, adjective, verb form or number)."""
    w = word.lower()
    if w in STOPWORDS or len(w) < 3 or any(c.isdigit() for c in w) or is_adjective(w):
        return False
    if w.endswith("ing") and w not in _ING_NOUNS:
        return False
    return not (w.endswith("ly") or (w.endswith("ed") and not w.endswith("eed") and len(w) > 4))


def scene_phrases(example: str) -> list[str]:
    """An example's scene: its subject clause and its comma phrases that are not modifiers."""
    phrases = split_phrases(example)
    scene = [subject_of(example)] if phrases else []
    # "wildlife photography": a short phrase naming a medium is a modifier, whatever its first word
    scene += [p for p in phrases[1:] if classify_phrase(p) is None and not (len(p.split()) <= 3 and media_of(p))]
    return [p for p in scene if p]


def _modifier_words(example: str) -> set[str]:
    """Stems of the words of an example's modifiers ("by greg rutkowski", "jean giraud" after it)."""
    return {stem(w) for phrase, _ in modifier_phrases(example) for w in words(phrase)}


def scene_leaks(prompt: str, idea: str, examples_texts: Sequence[str], *, feedback: str = "") -> list[str]:
    """Nouns of the examples' scenes that the prompt carries and the idea / feedback never said.

    Counted: noun-like words of each example's subject clause and of its non-modifier phrases,
    less the words of the examples' own modifiers and of the writers' modifier tables (which a
    prompt may carry with no example), compared plural-insensitively. Returned in the order they appear in the prompt.
    """
    said = {stem(w) for w in words(f"{idea} {feedback}")}
    vocabulary = _modifier_vocabulary()
    scene: set[str] = set()
    modifiers: set[str] = set()
    for example in examples_texts:
        for phrase in scene_phrases(example):
            scene |= {stem(w) for w in words(phrase) if is_noun_like(w)}
        modifiers |= _modifier_words(example)
    # a word the examples also use as a modifier ("portrait", an artist's name) is style, not scene
    scene -= said | vocabulary | modifiers
    leaked = [w for w in words(prompt) if stem(w) in scene]
    return list(dict.fromkeys(leaked))


# ----------------------------------------------------------------------------------------------
# Brand rules, the idea, the budget, feedback expectations


def brand_violations(prompt: str, *, artist_credits: bool = False, idea: str = "") -> list[str]:
    """Artist credits (unless `artist_credits`) and fan-art words in `prompt`; the idea's own words pass."""
    found: list[str] = []
    if not artist_credits:
        found += [f"artist credit: {name}" for name in credited_artists(prompt) if not has_phrase(idea, name)]
    covered = prompt.lower()
    for term in FAN_ART_TERMS:  # longest first in the table: "fantasy art" is one finding, not two
        if has_phrase(covered, term) and not has_phrase(idea, term):
            found.append(f"fan-art word: {term}")
            covered = re.sub(rf"(?<![\w-]){re.escape(term)}(?![\w-])", " ", covered)
    return found


def stacked_axes(prompt: str, idea: str = "", feedback: str = "") -> list[str]:
    """Axes (time of day, lighting set-up, framing, lens) more clauses of `prompt` name than the idea's
    and the feedback's own clauses do, when that is two or more: "lighting: crisp rim lighting / ..."."""
    def naming(text: str) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for clause in clauses(text):
            for axis in sorted(clause_axes(clause)):
                found.setdefault(axis, []).append(clause)
        return found

    said = naming(f"{idea}, {feedback}")
    return [f"{axis}: {' / '.join(named)}" for axis, named in naming(prompt).items()
            if len(named) > max(1, len(said.get(axis, [])))]


def idea_kept(prompt: str, idea: str) -> bool:
    """Whether every content word of the idea is in the prompt (plural-insensitive)."""
    have = {stem(w) for w in words(prompt)}
    return all(stem(w) in have for w in words(idea) if w not in STOPWORDS)


def within_budget(prompt: str, budget: int) -> bool:
    """Whether the prompt fits `budget` CLIP tokens (start and end tokens included)."""
    return count_clip_tokens(prompt) <= budget


EXPECTATION_KEYS = ("must_include", "must_exclude", "negative_must_include", "negative_must_exclude")


def feedback_failures(prompt: str, negative: str, expectation: Mapping[str, Any]) -> list[str]:
    """What of `expectation` the result misses, one line each (empty: honoured).

    `must_include`: groups of phrases, each group satisfied by any one of its phrases;
    `must_exclude`: phrases the prompt must not hold; `negative_must_include` /
    `negative_must_exclude`: the same for the negative prompt. Phrases match as whole words.
    """
    unknown = set(expectation) - set(EXPECTATION_KEYS) - {"clause"}
    if unknown:
        raise ValueError(f"unknown expectation keys {sorted(unknown)}; use {', '.join(EXPECTATION_KEYS)}")
    failures = []
    for group in expectation.get("must_include", []):
        options = [group] if isinstance(group, str) else list(group)
        if not any(has_phrase(prompt, p) for p in options):
            failures.append(f"prompt lacks {' / '.join(options)}")
    failures += [f"prompt has {p}" for p in expectation.get("must_exclude", []) if has_phrase(prompt, p)]
    failures += [f"negative lacks {p}" for p in expectation.get("negative_must_include", [])
                 if not has_phrase(negative, p)]
    failures += [f"negative has {p}" for p in expectation.get("negative_must_exclude", []) if has_phrase(negative, p)]
    return failures


def feedback_honoured(prompt: str, negative: str, expectation: Mapping[str, Any]) -> bool:
    """Whether the result meets every part of one feedback clause's `expectation`."""
    return not feedback_failures(prompt, negative, expectation)
