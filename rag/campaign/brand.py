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
  negative, and drops prompt modifiers that ask for lettering.

Matching is whole-word and case-insensitive, plurals included ("bottle" matches "bottles").
Deliberately not here: synonyms or semantic matching ("cig" for "cigarette"): brand lists are
words the team chose, matched as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from enhancers.tokens import count_clip_tokens
from rag.campaign.brief import BrandRules

TEXT_NEGATIVES: tuple[str, ...] = ("text", "letters", "watermark", "caption", "logo", "signature", "typography")
TEXT_WORDS: tuple[str, ...] = ("text", "lettering", "typography", "caption", "words", "letters", "title",
                               "signage", "slogan", "font", "watermark", "logo", "signature")
_SPLIT = re.compile(r"\s*,\s*")


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


def apply_brand(prompt: str, negative: str, rules: BrandRules, *, token_budget: int = 77) -> BrandCheck:
    """The prompt and negative after the brand rules, with what changed and what is still wrong."""
    check = BrandCheck(prompt, negative)
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
