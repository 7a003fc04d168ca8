"""Brand rules on one prompt: must-haves present, must-nots absent, no text in the image.

`apply_brand(prompt, negative, rules, token_budget=77)` returns a `BrandCheck`: the prompt and
negative prompt after the rules, the `changes` made (said, never silent) and the `problems`
left (non-empty → the variant is a `brand_violation`, shown to the reviewer, never shipped as ok).

What each rule does, and why:
- a must-not word means "do not show this": every must-not goes into the negative prompt. In
  the prompt, the comma-separated phrase holding it is dropped when it is a modifier ("..., with
  a cigarette"); when it sits in the first phrase (the subject line) dropping it would change
  what the image is of, so that is a problem instead;
- must-have words and brand colours must appear within the CLIP token budget (words past token
  77 are cut by SD's text encoder, i.e. absent). A missing one is appended as a phrase when it
  fits; when it does not fit, that is a problem. A must-have in the negative prompt (a style's
  stock negative "color" against a brand colour) is removed from the negative;
- `no_text` adds text / letters / watermark / caption / logo / signature / typography to the
  negative, and drops prompt modifiers that ask for lettering;
- artist credits ("by X", "art by X and Y", "in the style of X", a prose "…, by x and y.") leave
  the prompt unless the brief sets `artist_credits: true` (`artist_credits=False` here): a living
  artist's name in an advert is a legal and brand risk, and not every enhancer honours
  `EnhanceRequest.artist_credits` yet. A bare "by" is a credit only when a name follows it
  ("by a lake", "by night", "lit by neon" stay); names the brief itself writes are kept;
- `foreign` words (fan-art sites such as artstation / pixiv, and genre words such as "fantasy
  art" in a product shot: steer.py decides which) are cut out of their phrase, and a phrase left
  empty ("trending on") goes with them.
Every removal is recorded in `changes`.

Matching is whole-word and case-insensitive, plurals included ("bottle" matches "bottles").
Deliberately not here: synonyms or semantic matching ("cig" for "cigarette"): brand lists are
words the team chose, matched as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from campaign.brief import BrandRules
from enhancers.tokens import count_clip_tokens

TEXT_NEGATIVES: tuple[str, ...] = ("text", "letters", "watermark", "caption", "logo", "signature", "typography")
TEXT_WORDS: tuple[str, ...] = ("text", "lettering", "typography", "caption", "words", "letters", "title",
                               "signage", "slogan", "font", "watermark", "logo", "signature")
_SPLIT = re.compile(r"\s*,\s*")
FAN_ART_SITES: tuple[str, ...] = ("trending on artstation", "artstation", "pixiv", "deviantart", "cgsociety",
                                  "behance")
GENRE_WORDS: tuple[str, ...] = ("fantasy art", "concept art", "fantasy")
# "art by X", "painted by X", "in the style of X": always a credit; a bare "by X" only when X is a name
_CREDIT = re.compile(
    r"(?:(?<=^)|(?<=\s))(?:(?P<lead>(?:art|artwork|painting|painted|illustration|illustrated|drawn|drawing|photo|"
    r"photograph|photographed|poster|render|rendered|sketch|style|inspired)\s+by|in the style of|in the manner of|"
    r"style of)|(?P<by>by))\s+(?P<names>[^.!;]+?)\s*(?P<end>[.!;]?)\s*$", re.IGNORECASE)
# what follows a prepositional "by" ("by a lake", "by night"): never the start of an artist's name
_NOT_A_NAME = frozenset(
    "a an the this that these those its his her their our my your one two some each every day night hand "
    "moonlight candlelight firelight lamplight starlight sunlight daylight twilight dawn dusk sunset sunrise "
    "far itself".split())
_NAMES_SPLIT = re.compile(r"\s*(?:,|\band\b|&|/)\s*", re.IGNORECASE)
_FILLER = re.compile(r"^(?:\s|\b(?:trending|featured|popular|on|in|at|and|art|style|hq|by|of|the|a)\b|[.!;&])*$",
                     re.IGNORECASE)


@dataclass
class BrandCheck:
    prompt: str
    negative_prompt: str
    changes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def word_pattern(word: str) -> re.Pattern[str]:
    """Whole word or phrase, any case, any spacing, optional plural s/es."""
    body = r"\s+".join(re.escape(part) for part in word.lower().split())
    return re.compile(rf"(?<![\w-]){body}(?:s|es)?(?![\w-])", re.IGNORECASE)


def contains(text: str, word: str) -> bool:
    return word_pattern(word).search(text) is not None


def _phrases(text: str) -> list[str]:
    return [p for p in _SPLIT.split(text.strip()) if p.strip()]


def _join(phrases: list[str]) -> str:
    return ", ".join(p.strip() for p in phrases)


def _within_budget(prompt: str, word: str, budget: int) -> bool:
    """The word occurs early enough that the CLIP encoder still reads it."""
    found = word_pattern(word).search(prompt)
    return found is not None and count_clip_tokens(prompt[: found.end()]) <= budget


def _credit(phrase: str, keep: str) -> re.Match[str] | None:
    """The artist credit ending `phrase` (None when there is none, or only a prepositional "by")."""
    found = _CREDIT.search(phrase)
    if found is None:
        return None
    names = [n for n in _NAMES_SPLIT.split(found.group("names")) if n.strip()]
    if not names or (keep and all(contains(keep, n) for n in names)):
        return None
    if found.group("by"):  # bare "by": at the start of a phrase, or a first-and-last name after a noun
        first = found.group("names").split()[0].lower()
        at_start = not phrase[: found.start()].strip()
        if first in _NOT_A_NAME or not (at_start or len(names[0].split()) in (2, 3)):
            return None
    return found


def _edit_sentences(prompt: str, edit) -> str:
    """`prompt` with `edit(sentence)` applied to each sentence of each comma phrase; a sentence it
    returns empty goes, handing its full stop to the sentence before, and no ". ," is left behind."""
    out: list[str] = []
    for phrase in _phrases(prompt):
        sentences: list[str] = []
        parts = re.split(r"(?<=[.!;])\s+", phrase)
        for sentence in parts:
            edited = edit(sentence)
            if edited.strip(" .!;"):
                sentences.append(edited)
                continue
            end = sentence.rstrip()[-1:] if sentence.rstrip().endswith((".", "!", ";")) else ""
            before = sentences if sentences else out
            if end and before and not before[-1].endswith((".", "!", ";")):
                before[-1] += end
        if sentences and not phrase.endswith((".", "!", ";")):
            sentences[-1] = sentences[-1].rstrip(" .!;")  # "palette. pixiv" → "palette", not "palette."
        if sentences:
            out.append(" ".join(sentences))
    return re.sub(r"([.!;]),\s+", r"\1 ", _join(out))  # "trail., Soft light." → "trail. Soft light."


def drop_credits(prompt: str, keep: str = "") -> tuple[str, list[str]]:
    """`prompt` without its artist credits; (prompt, the credits removed). Credits `keep` names stay.

    A credit ends its comma phrase or its sentence ("…, by x and y." / "painted by x. Soft light.");
    a phrase or sentence that was only a credit goes whole.
    """
    removed: list[str] = []

    def edit(sentence: str) -> str:
        found = _credit(sentence, keep)
        if found is None:
            return sentence
        removed.append(found.group(0).strip().rstrip(".!;"))
        rest = sentence[: found.start()].rstrip()
        return rest + found.group("end") if rest.strip() else ""

    return _edit_sentences(prompt, edit), removed


def drop_words(prompt: str, words: list[str]) -> tuple[str, list[str]]:
    """`prompt` without `words` (whole words, any case); a phrase left empty ("trending on") goes too."""
    removed: list[str] = []

    def edit(sentence: str) -> str:
        edited = sentence
        for word in words:  # longest first in the lists: "trending on artstation" before "artstation"
            if contains(edited, word):
                removed.append(word)
                edited = word_pattern(word).sub("", edited)
        if edited == sentence:
            return sentence
        edited = re.sub(r"\s{2,}", " ", edited).strip()
        return "" if _FILLER.match(edited) else edited

    return _edit_sentences(prompt, edit), list(dict.fromkeys(removed))


def apply_brand(prompt: str, negative: str, rules: BrandRules, *, token_budget: int = 77,
                artist_credits: bool = True, foreign: list[str] | tuple[str, ...] = (),
                keep: str = "") -> BrandCheck:
    """The prompt and negative after the brand rules, with what changed and what is still wrong.

    `artist_credits=False` removes artist credits (but those `keep`, the brief's own text, names);
    `foreign` lists words to cut out of the prompt (steer.foreign_words).
    """
    check = BrandCheck(prompt, negative)
    # 0. no artist credits unless the brief allows them; no words foreign to the angle
    if not artist_credits:
        check.prompt, credits = drop_credits(check.prompt, keep)
        if credits:
            check.changes.append(f"dropped {', '.join(map(repr, credits))} from the prompt (artist credits are "
                                 "off; set artist_credits: true in the brief to keep them)")
    if foreign:
        check.prompt, words = drop_words(check.prompt, list(foreign))
        if words:
            check.changes.append(f"dropped {', '.join(map(repr, words))} from the prompt (fan-art site or genre "
                                 "words foreign to the campaign's angle)")
    forbidden = list(rules.must_not) + (list(TEXT_WORDS) if rules.no_text else [])
    required = [*rules.must_have, *rules.colours]
    # 1. must-nots: drop the modifier phrases that hold one; the subject line cannot be dropped
    phrases = _phrases(check.prompt)
    kept = phrases[:1]
    for phrase in phrases[1:]:
        hits = [w for w in forbidden if contains(phrase, w) and not any(contains(phrase, r) for r in required)]
        if hits:
            check.changes.append(f"dropped {phrase!r} from the prompt (brand must-not: {', '.join(hits)})")
        else:
            kept.append(phrase)
    check.prompt = _join(kept)
    if phrases:
        for word in forbidden:
            if contains(phrases[0], word):
                check.problems.append(f"must-not word {word!r} is part of the subject line: {phrases[0]!r}")
    # 2. must-nots belong in the negative prompt (that is what they mean); and "no text" there too
    negatives = _phrases(check.negative_prompt)
    for word in [*rules.must_not, *(TEXT_NEGATIVES if rules.no_text else ())]:
        if not any(contains(n, word) for n in negatives):
            negatives.append(word)
    # 3. must-haves: out of the negative, into the prompt within the token budget
    cleaned = [n for n in negatives if not any(contains(n, r) for r in required)]
    if len(cleaned) != len(negatives):
        dropped = [n for n in negatives if n not in cleaned]
        check.changes.append(f"removed {', '.join(map(repr, dropped))} from the negative (a brand must-have)")
    check.negative_prompt = _join(cleaned)
    for word in required:
        if _within_budget(check.prompt, word, token_budget):
            continue
        if contains(check.prompt, word):
            check.problems.append(f"must-have {word!r} comes after the {token_budget}-token budget; "
                                  "the model will not read it")
            continue
        candidate = _join([*_phrases(check.prompt), word])
        if count_clip_tokens(candidate) <= token_budget:
            check.prompt = candidate
            check.changes.append(f"appended must-have {word!r}")
        else:
            check.problems.append(f"must-have {word!r} is missing and does not fit the {token_budget}-token budget")
    return check
