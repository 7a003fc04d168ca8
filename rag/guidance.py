"""Modifier chips: the phrases similar real prompts use, grouped, counted and ready to add.

Given the prompts retrieved for an idea, `mine_chips` finds their modifier phrases ("oil
painting", "by greg rutkowski", "volumetric lighting", "moody", "8k") with the grounded
enhancer's phrase splitter and keyword tables (`enhancers.grounded.modifier_phrases`), files
each under one of `CATEGORIES` (medium, style, artist, lighting, camera, mood, quality) and
counts in how many of the prompts it occurs (count and share). Within a category, chips are
ranked by that count, then by the rank of the best prompt that used them. Phrases already in
the current prompt are marked, so a page can show what is left to try.

On top of the grounded tables this module knows two things:

- mood: a small lexicon ("moody", "serene", "eerie", ...); a phrase made only of mood words
  (and fillers such as "very") is a mood, which the grounded tables would file under style or
  not recognise at all;
- artists: a name that some prompt of the set credits with "by X" / "art by X" / "in the style
  of X" is a known name for the whole set, so "..., greg rutkowski" in another prompt counts
  for the same artist chip; "by X and Y" credits two artists. A subject clause's own credit
  ("a flying frog by roger dean") is kept when it follows an art noun ("painting by ...") or
  names a known artist; a leading medium ("digital painting of a temple") is kept too.

`add_chip(prompt, phrase, weight=...)` appends a phrase with a clean ", " join, optionally in
A1111 weight syntax `(phrase:1.2)`, re-weights a phrase that is already there, and refuses
(saying why) when the result would not fit the CLIP token budget.

Deliberately not here: retrieval (rag/retriever.py), the fused prompt itself (enhancers/), and
any rendering. Everything is pure and deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from core.errors import InputError
from enhancers.grounded import (
    CATEGORY_KEYWORDS,
    classify_phrase,
    modifier_phrases,
    normalize_phrase,
    split_phrases,
)
from enhancers.tokens import count_clip_tokens
from generate.prompt_syntax import BREAK_FRAGMENT, has_syntax, parse_weights, prompt_schedule

CATEGORIES: tuple[str, ...] = ("medium", "style", "artist", "lighting", "camera", "mood", "quality")
DEFAULT_PER_CATEGORY = 8
DEFAULT_WEIGHT = 1.2  # what a page offers first: noticeable, rarely overcooked
MIN_WEIGHT, MAX_WEIGHT = 0.1, 2.0  # A1111's useful range; outside it images fall apart

MOOD_WORDS = frozenset(
    "moody gloomy melancholic melancholy somber sombre serene peaceful calm tranquil quiet eerie ominous "
    "creepy spooky sinister menacing mysterious dreamy ethereal whimsical romantic nostalgic cozy cosy "
    "cheerful happy joyful playful sad lonely dark grim bleak haunting haunted uplifting hopeful dramatic "
    "tense chaotic magical mystical enchanting majestic epic heroic cute".split()
)
# Words that may accompany a mood word without making the phrase something else.
_MOOD_FILLERS = frozenset(
    "a an the and very so slightly deeply feeling mood atmosphere vibe vibes tone".split()
)
# Names the grounded tables know as artists (its credit patterns "by", "art by"... excluded).
KNOWN_ARTISTS: frozenset[str] = frozenset(
    k for k in CATEGORY_KEYWORDS["artist"] if k not in ("by", "art by", "in the style of", "style of")
)
_CREDIT_RE = re.compile(r"^(?:art by|by|in the style of|style of)\s+")
_AND_RE = re.compile(r"\s+(?:and|&)\s+")
_ART_NOUN_CREDIT_RE = re.compile(
    r"\b(?:art|painting|illustration|render|photo|photograph|drawing|artwork|sketch|poster|portrait)\s+by\s+(.+)$"
)
_LEADING_MEDIUM_RE = re.compile(r"^(?:(?:an?|the)\s+)?(.+?)\s+(?:of|depicting|showing)\s+\S")
# What follows a name in a credit without being part of it ("greg rutkowski style", "... on artstation").
_CREDIT_TAIL_RE = re.compile(
    r"\s+(?:(?:on|from|via|at|trending|featured|in|of|with|for|as)\s.*|style|art|artwork|and others)$"
)
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '.-][^\W\d_]+){0,3}$")


@dataclass(frozen=True)
class Chip:
    """One modifier phrase and how often the similar prompts use it."""

    phrase: str
    category: str
    count: int  # in how many of the prompts it occurs (once per prompt)
    share: float  # count / number of prompts
    best_rank: int  # 1-based rank of the best-ranked prompt that uses it
    in_prompt: bool = False  # already said by the current prompt


@dataclass(frozen=True)
class Guidance:
    """The chips mined from `n_prompts` similar prompts, best first within each category."""

    n_prompts: int
    chips: tuple[Chip, ...] = field(default_factory=tuple)

    def by_category(self) -> dict[str, list[Chip]]:
        """Category -> its chips, in `CATEGORIES` order; empty categories left out."""
        grouped: dict[str, list[Chip]] = {c: [] for c in CATEGORIES}
        for chip in self.chips:
            grouped[chip.category].append(chip)
        return {c: chips for c, chips in grouped.items() if chips}

    def marked(self, prompt: str) -> Guidance:
        """The same chips, `in_prompt` recomputed for `prompt` (after an edit or a new round)."""
        chips = tuple(replace(c, in_prompt=in_prompt(c.phrase, prompt)) for c in self.chips)
        return replace(self, chips=chips)


@dataclass(frozen=True)
class ChipEdit:
    """What `add_chip` did: the new prompt (unchanged when not added), its tokens and why."""

    prompt: str
    added: bool
    token_count: int
    token_budget: int
    message: str


# --- classification ---------------------------------------------------------------------------


def is_mood(phrase: str) -> bool:
    words = phrase.split()
    return any(w in MOOD_WORDS for w in words) and all(w in MOOD_WORDS or w in _MOOD_FILLERS for w in words)


def classify(phrase: str) -> str | None:
    """The chip category of a normalised phrase (mood first, then the grounded tables), or None."""
    if is_mood(phrase):
        return "mood"
    return classify_phrase(phrase)


def _artist_names(credit: str) -> list[str]:
    """'by makoto shinkai and kan liu' -> ['makoto shinkai', 'kan liu']."""
    names = [_CREDIT_TAIL_RE.sub("", n.strip()) for n in _AND_RE.split(_CREDIT_RE.sub("", credit).strip())]
    return [n for n in names if _NAME_RE.match(n)]


def credited_artists(prompts: Iterable[str]) -> set[str]:
    """Every name some prompt credits with 'by X' / 'art by X' / 'in the style of X'."""
    names: set[str] = set()
    for text in prompts:
        for phrase, category in modifier_phrases(text):
            if category == "artist":
                names.update(_artist_names(phrase))
        names.update(_subject_credit(text, set()))
    return names


def _subject_credit(text: str, known: set[str]) -> list[str]:
    """Artist names credited inside a prompt's first clause ('a flying frog by roger dean')."""
    phrases = split_phrases(text)
    if not phrases:
        return []
    first = phrases[0]
    match = _ART_NOUN_CREDIT_RE.search(first)
    if match:
        return _artist_names(match.group(1))
    if " by " in first:
        names = _artist_names(first.rsplit(" by ", 1)[1])
        return [n for n in names if n in known or n in KNOWN_ARTISTS]
    return []


def _subject_medium(text: str) -> str | None:
    """A leading medium/style of a prompt's first clause ('digital painting of a temple')."""
    phrases = split_phrases(text)
    match = _LEADING_MEDIUM_RE.match(phrases[0]) if phrases else None
    if not match:
        return None
    words = match.group(1).split()
    # The longest tail that names a medium/style: "a colorful digital painting of" -> "digital painting".
    for start in range(max(0, len(words) - 4), len(words)):
        head = " ".join(words[start:])
        if classify(head) in ("medium", "style"):
            return head
    return None


def prompt_modifiers(text: str,
                     known_artists: set[str] | frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(phrase, category) of every modifier of one prompt, each phrase once, in order.

    Artists are keyed as "by <name>" (one chip per artist however the prompt credits them).
    """
    known = set(known_artists) | KNOWN_ARTISTS
    out: dict[str, str] = {}
    medium = _subject_medium(text)
    if medium:
        out[medium] = classify(medium) or "medium"
    for name in _subject_credit(text, known):
        out[f"by {name}"] = "artist"
    for phrase, category in modifier_phrases(text):
        if category == "artist":
            for name in _artist_names(phrase) or [phrase.removeprefix("by ")]:
                out.setdefault(f"by {name}", "artist")
            continue
        if phrase in known:
            out.setdefault(f"by {phrase}", "artist")
            continue
        out.setdefault(phrase, "mood" if is_mood(phrase) else category)
    # Bare known names the grounded tables did not see as modifiers ("..., roger dean").
    for phrase in split_phrases(text)[1:]:
        if phrase in known and f"by {phrase}" not in out:
            out[f"by {phrase}"] = "artist"
        elif is_mood(phrase) and phrase not in out:
            out[phrase] = "mood"
    return list(out.items())


# --- mining -----------------------------------------------------------------------------------


def mine_chips(
    prompts: Sequence[str],
    current_prompt: str = "",
    *,
    per_category: int = DEFAULT_PER_CATEGORY,
    min_count: int = 1,
) -> Guidance:
    """Chips from `prompts` (best-ranked first), at most `per_category` per category.

    A chip's `count` is the number of prompts that use the phrase; `in_prompt` marks the ones
    `current_prompt` already says.
    """
    if per_category < 1:
        raise InputError(f"per_category must be at least 1, got {per_category}")
    if min_count < 1:
        raise InputError(f"min_count must be at least 1, got {min_count}")
    texts = [t for t in prompts if t and t.strip()]
    known = credited_artists(texts)
    counts: dict[str, int] = {}
    best: dict[str, int] = {}
    categories: dict[str, str] = {}
    for rank, text in enumerate(texts, start=1):
        for phrase, category in prompt_modifiers(text, known):
            counts[phrase] = counts.get(phrase, 0) + 1
            best.setdefault(phrase, rank)
            categories.setdefault(phrase, category)
    n = len(texts)
    ranked = sorted(counts, key=lambda p: (-counts[p], best[p], p))
    taken: dict[str, int] = {}
    chips: list[Chip] = []
    for phrase in ranked:
        category = categories[phrase]
        if counts[phrase] < min_count or taken.get(category, 0) >= per_category:
            continue
        taken[category] = taken.get(category, 0) + 1
        chips.append(Chip(phrase, category, counts[phrase], round(counts[phrase] / n, 4), best[phrase],
                          in_prompt(phrase, current_prompt)))
    return Guidance(n, tuple(chips))


# --- the current prompt -----------------------------------------------------------------------


def _plain(prompt: str) -> str:
    """The prompt lower-cased, weight syntax and brackets gone: '(Oil Painting:1.2)' -> 'oil painting'."""
    text = re.sub(r":\s*[+-]?(?:\d+\.?\d*|\.\d+)\s*(?=[)\]])", " ", prompt)
    return normalize_phrase(re.sub(r"[()\[\]{}]", " ", text))


def in_prompt(phrase: str, prompt: str) -> bool:
    """Whether `prompt` already says `phrase` (whole words; an artist by their name alone)."""
    if not prompt.strip():
        return False
    plain = _plain(prompt)
    target = phrase.removeprefix("by ") if phrase.startswith("by ") else phrase
    return re.search(rf"(?<![\w-]){re.escape(target)}(?![\w-])", plain) is not None


def weighted(phrase: str, weight: float | None) -> str:
    """`phrase` in A1111 syntax: '(phrase:1.2)'; weight None or 1 gives the bare phrase."""
    if weight is None or round(weight, 2) == 1.0:
        return phrase
    if not MIN_WEIGHT <= weight <= MAX_WEIGHT:
        raise InputError(f"weight must be between {MIN_WEIGHT} and {MAX_WEIGHT}, got {weight}")
    escaped = re.sub(r"([()\[\]:\\])", r"\\\1", phrase)
    number = f"{weight:.2f}".rstrip("0").rstrip(".")
    return f"({escaped}:{number})"


def prompt_tokens(prompt: str) -> int:
    """CLIP tokens of what the text encoder reads: weight syntax counts as the words it wraps.

    A prompt whose brackets do not parse (a half-finished hand edit) is counted as written; the
    generation step reports the syntax error itself.
    """

    try:
        if not has_syntax(prompt):
            return count_clip_tokens(prompt)
        final = prompt_schedule(prompt, 20)[-1][1]
        text = "".join(f.text if f is not BREAK_FRAGMENT else " " for f in parse_weights(final))
    except InputError:
        return count_clip_tokens(prompt)
    return count_clip_tokens(text)


def _segments(prompt: str) -> list[str]:
    return [s.strip() for s in prompt.split(",") if s.strip()]


def add_chip(prompt: str, phrase: str, *, weight: float | None = None, token_budget: int = 77) -> ChipEdit:
    """`prompt` with `phrase` appended (", " join), optionally weighted; refused if over budget.

    A phrase the prompt already has as one of its comma-separated parts is re-weighted in place
    when a different weight is asked for, otherwise left alone.
    """
    phrase = " ".join(phrase.split())
    if not phrase:
        raise InputError("phrase must contain some text, got an empty string")
    text = weighted(phrase, weight)
    segments = _segments(prompt)
    key = _plain(phrase)
    for i, segment in enumerate(segments):
        if _plain(segment) == key:
            if segment == text:
                return _unchanged(prompt, token_budget, f"{phrase!r} is already in the prompt")
            segments[i] = text
            new = ", ".join(segments)
            return _checked(prompt, new, phrase, token_budget, verb="re-weighted")
    if in_prompt(phrase, prompt) and weight is None:
        return _unchanged(prompt, token_budget, f"{phrase!r} is already in the prompt")
    new = ", ".join([*segments, text]) if segments else text
    return _checked(prompt, new, phrase, token_budget, verb="added")


def _unchanged(prompt: str, budget: int, message: str) -> ChipEdit:
    return ChipEdit(prompt, False, prompt_tokens(prompt), budget, message)


def _checked(old: str, new: str, phrase: str, budget: int, *, verb: str) -> ChipEdit:
    tokens = prompt_tokens(new)
    if tokens > budget:
        return ChipEdit(old, False, prompt_tokens(old), budget,
                        f"{phrase!r} was not added: the prompt would take {tokens} CLIP tokens, over the "
                        f"budget of {budget}; remove a phrase first")
    return ChipEdit(new, True, tokens, budget, f"{verb} {phrase!r} ({tokens}/{budget} tokens)")


__all__ = [
    "CATEGORIES", "DEFAULT_WEIGHT", "Chip", "ChipEdit", "Guidance", "add_chip", "classify",
    "credited_artists", "in_prompt", "mine_chips", "prompt_modifiers", "prompt_tokens", "weighted",
]
