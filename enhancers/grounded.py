"""Grounded fusion without any LLM: the user's idea plus the modifiers its examples share.

Real Stable Diffusion prompts are a subject ("a lighthouse on a cliff") followed by modifier
phrases ("by greg rutkowski", "oil painting", "volumetric lighting", "8k"). Given the example
prompts the RAG step picked, `GroundedEnhancer`:

1. splits each example into phrases (on `,`, `|`, `;`) and drops its first clause (the
   example's subject, which must never be copied into the user's prompt);
2. classifies the other phrases with the small keyword tables below (artist, medium, style,
   lighting, camera, quality); phrases that match no table are content details of that
   example's scene ("blue eyes", "a red car") and are not carried over;
3. scores each modifier by how often it recurs across the examples, each occurrence weighted
   by the example's similarity to the idea (`Example.score`) and its popularity
   (`1 + log1p(Example.count)`);
4. keeps the idea verbatim at the start and appends the best modifiers while the prompt fits
   the CLIP token budget (`request.token_budget`).

For families whose profile is not a tag list (sdxl / turbo: a sentence plus a few tags; sd3 /
flux: prose) the same chosen modifiers are written in that form (`_written`): a medium names
the picture ("A digital painting of ..."), styles "in a ... style", lighting and camera "with
...", artists "by ..."; quality boilerplate is left out.

The result is deterministic (ties broken alphabetically). The negative prompt and the style
come from the rule-based enhancer (composed, not duplicated here); with no examples, or for a
refinement round (previous prompt + feedback), the whole request is delegated to it and the
result's `fallback_reasons` says so.

Deliberately not here: retrieval, choosing which examples to use (see `rag/assistant.py`),
and any model call. The keyword tables are short on purpose: they recognise the vocabulary
that dominates DiffusionDB prompts, not every artist who ever lived ("by X" catches the rest).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from core.settings import Settings
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult, Example
from enhancers.blocklist import Blocklist, load_blocklist
from enhancers.camera import suited_descriptors
from enhancers.lighting_framing import TIME, axes_of, repeats_axis
from enhancers.looks import Look, anchor_noun, clean_negative, commercial, fits, held_media, look_for_request
from enhancers.media import clash, coherent, media_of
from enhancers.profiles import PromptProfile, is_boilerplate, mixed_prompt, profile_for, prose_prompt, split_tags
from enhancers.rules import RuleBasedEnhancer, clean_head, fit_tags, join_prompt
from enhancers.styles import STYLE_SPECS
from enhancers.tokens import count_clip_tokens

# Phrase separators used in real prompts. Periods only split when followed by a space, so
# "f/1.8" and "4.0" survive.
_SPLIT_RE = re.compile(r"\s*(?:[,|;]|\.\s+|\n)\s*")
_SPACE_RE = re.compile(r"\s+")
# DiffusionDB prompts were tokenised with spaces between digits ("8 k", "1 9 5 0", "3 5 mm").
_SPLIT_DIGITS_RE = re.compile(r"(?<=\d) (?=[\dk])")
_WEIGHT_RE = re.compile(r"[()\[\]{}]|:\s*[\d.]+\s*$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# Keyword tables: a phrase belongs to the first category with a keyword that is a whole word
# (or words) of it. Order matters: "by ..." is an artist even if it says "painting".
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "artist": (
        "by", "art by", "in the style of", "style of", "greg rutkowski", "alphonse mucha", "artgerm",
        "wlop", "ruan jia", "ross tran", "makoto shinkai", "studio ghibli", "beeple", "mucha",
        "james jean", "craig mullins", "simon stalenhag", "moebius", "zdzislaw beksinski", "giger",
        "thomas kinkade", "ilya kuvshinov", "krenz cushart", "loish", "tom bagshaw", "frank frazetta",
    ),
    "quality": (
        "8k", "4k", "16k", "hd", "uhd", "hdr", "highly detailed", "high detail", "hyper detailed",
        "ultra detailed", "extremely detailed", "intricate", "intricate details", "detailed",
        "masterpiece", "award winning", "award-winning", "best quality", "high quality",
        "sharp focus", "smooth", "trending on artstation", "artstation", "trending on cgsociety",
        "cgsociety", "deviantart", "pixiv", "behance", "featured", "octane render", "octane",
        "unreal engine", "unreal engine 5", "redshift", "vray", "ray tracing", "hyperrealistic",
        "hyper realistic", "photorealistic", "ultra realistic", "realistic", "4 k", "8 k",
        "high resolution", "highres", "elegant", "beautiful", "stunning", "epic",
    ),
    "medium": (
        "oil painting", "painting", "watercolor", "watercolour", "digital painting", "digital art",
        "concept art", "illustration", "matte painting", "sketch", "drawing", "pencil", "charcoal",
        "ink", "gouache", "acrylic", "pastel", "3d render", "render", "cgi", "photograph", "photo",
        "photography", "polaroid", "sculpture", "pixel art", "vector art", "anime", "manga",
        "comic", "poster", "key visual", "lithograph", "engraving", "woodcut", "mural", "fresco",
        "tarot card", "character design", "fan art", "cel shaded", "low poly", "isometric",
    ),
    "style": (
        "cyberpunk", "steampunk", "fantasy", "dark fantasy", "sci-fi", "sci fi", "surreal",
        "surrealism", "impressionism", "impressionist", "expressionism", "art nouveau", "art deco",
        "baroque", "renaissance", "rococo", "gothic", "vaporwave", "synthwave", "retrowave",
        "minimalist", "minimalism", "pop art", "ukiyo-e", "ukiyo e", "realism", "hyperrealism",
        "cinematic", "dramatic", "moody", "ethereal", "dreamy", "whimsical", "vintage", "retro",
        "futuristic", "dystopian", "utopian", "psychedelic", "lovecraftian", "cosmic horror",
        "noir", "film noir", "symmetrical", "symmetry", "highly stylized", "stylized",
    ),
    "lighting": (
        "lighting", "light", "lights", "lit", "volumetric", "god rays", "golden hour", "sunset",
        "sunrise", "backlit", "backlighting", "rim light", "rim lighting", "glow", "glowing",
        "neon", "bioluminescent", "soft light", "hard light", "studio lighting", "ambient occlusion",
        "global illumination", "chiaroscuro", "dramatic lighting", "cinematic lighting", "shadows",
        "atmospheric", "fog", "mist", "haze",
    ),
    "camera": (
        "lens", "mm", "35mm", "50mm", "85mm", "wide angle", "wide-angle", "telephoto", "macro",
        "bokeh", "depth of field", "dof", "f/1.8", "f/2.8", "close up", "close-up", "closeup",
        "full body", "full shot", "portrait", "headshot", "aerial view", "aerial", "wide shot",
        "establishing shot", "canon", "nikon", "sony", "leica", "hasselblad", "kodak", "fujifilm",
        "film grain", "shallow depth of field", "tilt shift", "tilt-shift", "long exposure",
    ),
}
CATEGORIES: tuple[str, ...] = tuple(CATEGORY_KEYWORDS)
# How many phrases of one category a fused prompt may take (ten artists read as noise).
CATEGORY_LIMITS: dict[str, int] = {"artist": 2, "quality": 4, "medium": 2, "style": 3, "lighting": 2, "camera": 2}
_OUTPUT_ORDER: tuple[str, ...] = ("medium", "style", "lighting", "camera", "artist", "quality")
MAX_PHRASE_WORDS = 8  # longer "modifiers" are scene descriptions, not modifiers


@dataclass(frozen=True)
class Modifier:
    """A modifier phrase scored across the examples that contain it."""

    phrase: str
    category: str
    weight: float
    examples: int  # in how many examples it occurs


def normalize_phrase(phrase: str) -> str:
    """Lower-case, collapse spaces, drop weights/brackets, and join split digits ("8 k" -> "8k")."""
    text = _CONTROL_RE.sub(" ", phrase)
    text = _WEIGHT_RE.sub(" ", text.lower())
    text = _SPACE_RE.sub(" ", text).strip(" .:-_'\"!*")
    return _SPLIT_DIGITS_RE.sub("", text)


def split_phrases(text: str) -> list[str]:
    """The phrases of a prompt, normalised, empty ones dropped, in order."""
    return [p for p in (normalize_phrase(part) for part in _SPLIT_RE.split(text)) if p]


def subject_of(text: str) -> str:
    """The subject of a prompt: its first clause, cut before a trailing ' by …' credit."""
    phrases = split_phrases(text)
    if not phrases:
        return ""
    first = phrases[0]
    cut = re.split(r"\s+(?:by|in the style of|trending on)\s+", first, maxsplit=1)[0]
    return cut.strip() or first


def _contains_words(phrase: str, keyword: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(keyword)}(?![\w-])", phrase) is not None


# Words that may sit around a modifier keyword without making the phrase a scene description.
_FILLER_WORDS = frozenset(
    "a an the of and with in on very highly extremely ultra super hyper art artwork style styled "
    "shot trending featured perfect beautiful beautifully gorgeous amazing professional soft hard "
    "dark bright warm cold vivid detailed dramatic cinematic epic 8k 4k hd".split()
)
_ARTICLES = frozenset(("a", "an", "the", "some", "two", "three", "many", "his", "her", "their", "its"))
_ART_NOUNS = ("art", "painting", "illustration", "render", "photo", "photograph", "drawing", "artwork", "sketch",
              "poster")
_BY_SPLIT_RE = re.compile(rf"^(.*\b(?:{'|'.join(_ART_NOUNS)}))\s+(by\s+.+)$")


def _is_artist_credit(phrase: str) -> bool:
    return phrase.startswith(("by ", "art by ", "in the style of ", "style of ")) and len(phrase.split()) <= 7


# Nouns that name a look rather than a thing ("moody atmosphere", "warm color palette").
_MODIFIER_NOUNS = frozenset(
    "art style look aesthetic atmosphere mood vibe colors colours color colour palette tones tone texture textures "
    "details detail composition lighting light lights shadows rays glow haze render rendering photo photograph "
    "painting illustration drawing sketch design shot angle view lens focus grain contrast saturation quality "
    "resolution effect effects scheme hues shading strokes brushstrokes lines outlines background bokeh "
    "portrait perspective symmetry scale".split()
)
_COLOUR_WORDS = frozenset(
    "red blue green yellow orange purple violet pink black white gold golden silver teal cyan magenta brown gray "
    "grey pastel neon crimson amber turquoise monochrome sepia".split()
)


# Common nouns with an adjective's ending ("psychedelic therapy", "cyberpunk city" are scenes).
_NOUNS_LIKE_ADJECTIVES = frozenset(
    "therapy city party body story army lady baby family country galaxy factory library history jewelry "
    "jewellery puppy kitty bunny journey monkey valley alley chimney turkey key boy toy guy day bay tray fly "
    "butterfly dragonfly cherry berry strawberry lily daisy poppy ivy pony candy honey money energy academy "
    "ceremony colony company destiny dynasty enemy gallery harmony industry laundry legacy luxury melody memory "
    "mystery navy nursery pantry poetry sanctuary society symphony technology theory tragedy trophy university "
    "victory warrior soldier sailor monster flower tower river water computer".split()
)


def _modifier_word(word: str) -> bool:
    """Whether a word may sit in a modifier phrase: a look noun, a colour, a number or an adjective."""
    if word in _NOUNS_LIKE_ADJECTIVES:
        return False
    return (word in _MODIFIER_NOUNS or word in _COLOUR_WORDS or any(c.isdigit() for c in word)
            or word.endswith(("ic", "al", "ed", "ous", "ive", "ful", "ish", "less", "ing", "ly", "y", "est", "er",
                              "ary", "ant", "ent", "ile", "ible", "able", "ar")))


def classify_phrase(phrase: str) -> str | None:
    """The modifier category of a normalised phrase, or None for content (scene) phrases.

    The category is the one with the longest matching keyword; a phrase is a modifier only
    if at most one of its words is neither a keyword nor a filler word ("serene smile
    surrounded by lights" mentions lights but is a scene detail, not a lighting modifier).
    """
    if not phrase or len(phrase.split()) > MAX_PHRASE_WORDS:
        return None
    if _is_artist_credit(phrase):
        return "artist"
    best: tuple[int, str] | None = None
    found: list[str] = []
    for category, keywords in CATEGORY_KEYWORDS.items():
        for keyword in keywords:
            if keyword in ("by", "art by", "in the style of", "style of") or not _contains_words(phrase, keyword):
                continue
            found.append(keyword)
            if best is None or len(keyword) > best[0]:
                best = (len(keyword), category)
    if best is None:
        return None
    covered = phrase
    for keyword in sorted(found, key=len, reverse=True):  # "studio lighting" before "lighting"
        covered = covered.replace(keyword, " ")
    leftover = [w for w in covered.split() if w not in _FILLER_WORDS]
    if leftover and phrase.split()[0] in _ARTICLES:
        return None  # "a beautiful terrace", "the glowing lamp": a thing in the example's scene
    if any(not _modifier_word(w) for w in leftover):
        return None  # "fantasy costume", "neon sign": a thing, described with a modifier word
    return best[1] if len(leftover) <= 1 else None


_NOT_IN_NAMES = frozenset("concept environment art artist artists style painting paintings photo photography "
                          "illustration design render detail details lighting".split())


def _plausible_name(name: str) -> bool:
    """Whether the words after "by" can be someone's name: not a lone adjective, no art nouns."""
    words = name.split()
    if not words or any(w in _NOT_IN_NAMES for w in words):
        return False
    return len(words) > 1 or not words[0].endswith(("ive", "ic", "ous", "ful", "al", "ed", "ing", "ish", "less"))


def modifier_phrases(text: str, scene: frozenset[str] | set[str] = frozenset()) -> list[tuple[str, str]]:
    """(phrase, category) for each modifier of a prompt, its subject (first clause) excluded.

    "digital painting by greg rutkowski" becomes a medium and an artist; a bare name of two or
    three words right after an artist credit ("by moebius, jean giraud") is an artist too.
    Phrases in `scene` (the index's statistics know them as subjects of other prompts) are scene.
    """
    out: list[tuple[str, str]] = []
    previous: str | None = None
    for raw in split_phrases(text)[1:]:
        raw = re.sub(r"^(?:and|&)\s+", "", raw)  # "..., artgerm, and greg rutkowski"
        if raw in scene:
            previous = None
            continue
        match = _BY_SPLIT_RE.match(raw)
        parts = [match.group(1), match.group(2)] if match else [raw]
        for phrase in parts:
            category = classify_phrase(phrase)
            words = phrase.split()
            if (category is None and previous == "artist" and 2 <= len(words) <= 3 and all(w.isalpha() for w in words)
                    and "by" not in words):  # "edited by craola" is no name
                category = "artist"
            if category == "artist":  # one key per artist: "art by x", "x" and "by x" agree
                phrase = "by " + re.sub(r"^(?:art by|by|in the style of|style of)\s+", "", phrase)
                if not _plausible_name(phrase[3:]):
                    category = None  # "by expressive", "by environment concept": no one's name
            if category is not None:
                out.append((phrase, category))
            previous = category
    return out


def example_weight(example: Example) -> float:
    """How much one example's modifiers count: similarity times log popularity."""
    similarity = max(example.score, 0.0) + 0.05  # a zero-score example still counts a little
    return similarity * (1.0 + math.log1p(example.count))


def score_modifiers(examples: Sequence[Example], blocklist: Blocklist | None = None,
                    scene: frozenset[str] | set[str] = frozenset()) -> list[Modifier]:
    """Modifiers across `examples`, best first: weight = sum of example weights x recurrence.

    A phrase `blocklist` blocks (a word or an artist name the user does not want) is skipped,
    so the next-best modifier takes its place instead of being removed afterwards.
    """
    totals: dict[str, float] = {}
    seen_in: dict[str, int] = {}
    categories: dict[str, str] = {}
    for example in examples:
        weight = example_weight(example)
        # modifier_phrases skips the example's subject (never copied) and scene details.
        for phrase, category in dict(modifier_phrases(example.text, scene)).items():  # once per example
            if blocklist and blocklist.blocks(phrase):
                continue
            totals[phrase] = totals.get(phrase, 0.0) + weight
            seen_in[phrase] = seen_in.get(phrase, 0) + 1
            categories[phrase] = category
    modifiers = [
        # A phrase several examples agree on is the shared style; recurrence multiplies.
        Modifier(p, categories[p], totals[p] * seen_in[p], seen_in[p])
        for p in totals
    ]
    modifiers.sort(key=lambda m: (-m.weight, m.phrase))
    return modifiers


def _redundant(phrase: str, taken: Iterable[str]) -> bool:
    """A phrase already said by the idea or a taken modifier ("artstation" after "trending on artstation"),
    or one that names a time of day, lighting set-up, framing or lens a taken phrase already fixes
    ("golden hour" after "at sunrise", "wide shot" after "macro detail shot": lighting_framing.py)."""
    taken = list(taken)
    if repeats_axis(phrase, set().union(*(axes_of(t) for t in taken))):
        return True
    phrase_stem = _stemmed(phrase)  # "mist" after "misty", "volumetric light" after "volumetric lighting"
    return any(_contains_words(t, phrase) or _contains_words(phrase, t)
               or _contains_words(_stemmed(t), phrase_stem) or _contains_words(phrase_stem, _stemmed(t))
               for t in taken)


_STEM_RE = re.compile(r"(?<=\w{3})(?:ing|y|s)\b")


def _stemmed(phrase: str) -> str:
    """Each word less a trailing -ing, -y or -s (enough to see "misty" and "mist" as one word)."""
    return _STEM_RE.sub("", phrase)


# Genres change what a picture is about, not how it looks: one needs two examples agreeing on it.
_GENRE_RE = re.compile(r"(?<![\w-])(?:cyberpunk|steampunk|dieselpunk|solarpunk|fantasy|dark fantasy|sci-fi|sci fi|"
                       r"science fiction|futuristic|dystopian|utopian|post-apocalyptic|lovecraftian|cosmic horror|"
                       r"horror|vaporwave|synthwave|retrowave)(?![\w-])")


def fuse(
    idea: str,
    modifiers: Sequence[Modifier],
    *,
    token_budget: int,
    max_modifiers: int,
    skip: int = 0,
    look: Look | None = None,
    artist_media: Mapping[str, str] | None = None,
    artist_credits: bool = True,
) -> tuple[str, list[Modifier]]:
    """The idea verbatim, then up to `max_modifiers` modifiers that fit `token_budget`.

    `skip` leaves out that many modifiers after the top two (how alternative candidates differ).
    A genre ("cyberpunk", "sci-fi") needs two examples sharing it.
    One look per prompt: a modifier whose medium (or whose artist's medium, `artist_media`)
    clashes with the idea's, the `look`'s or a modifier already taken is passed over; with
    `artist_credits` off no artist is taken.
    """

    base = clean_head(idea)
    media = set(media_of(base)) | ({look.family} if look else set())
    ordered = list(modifiers[:2]) + list(modifiers[2 + skip :]) if skip else list(modifiers)
    idea_norm = normalize_phrase(base)
    taken: list[Modifier] = []
    per_category: dict[str, int] = {}
    prompt = base
    for modifier in ordered:
        if len(taken) >= max_modifiers:
            break
        if per_category.get(modifier.category, 0) >= CATEGORY_LIMITS.get(modifier.category, 2):
            continue
        if _redundant(modifier.phrase, [idea_norm, *(m.phrase for m in taken)]):
            continue
        if modifier.examples < 2 and _GENRE_RE.search(modifier.phrase):
            continue  # one example's "cyberpunk" or "sci-fi" would change what the picture is about
        if not artist_credits and (modifier.category == "artist" or not commercial(modifier.phrase, base)):
            continue  # an advert: no credits, no fan-art words
        if look and not fits(modifier.phrase, look, artist_media):
            continue
        mine = held_media(modifier.phrase, artist_media)
        if any(clash(m, held) for m in mine for held in media):
            continue
        attempt = f"{prompt}, {modifier.phrase}"
        if count_clip_tokens(attempt) > token_budget:
            continue  # a shorter modifier further down may still fit
        prompt = attempt
        media |= mine
        taken.append(modifier)
        per_category[modifier.category] = per_category.get(modifier.category, 0) + 1
    # Chosen by weight, written in the usual reading order: medium, style, ..., quality last.
    taken.sort(key=lambda m: _OUTPUT_ORDER.index(m.category))
    prompt = ", ".join([base, *(m.phrase for m in taken)])
    return prompt, taken


# Fewer modifiers than this from the examples (e.g. examples written as plain sentences, with
# no comma-separated modifiers) and the rules' style descriptors fill the gap, so grounding
# never leaves a user with a bare idea where the plain rules would have helped.
MIN_GROUNDED_MODIFIERS = 3


def _top_up(prompt: str, request: EnhanceRequest, rules_result: EnhanceResult, room: int,
            look: Look) -> tuple[str, int]:
    """Append up to `room` of the rules enhancer's own tags (for the same look) that fit the budget."""

    rules_tail = rules_result.prompt[len(clean_head(request.idea)):].lstrip(" ,")
    present = normalize_phrase(prompt)
    tags = [t for t in split_tags(rules_tail)
            if t and not _redundant(normalize_phrase(t), split_phrases(present))]
    tags = [t for t in coherent(tags, held_media(prompt, request.artist_media) | {look.family})
            if fits(t, look)][: max(room, 0)]  # never a second medium
    kept, _ = fit_tags(prompt, tags, request.token_budget)
    return join_prompt(prompt, kept), len(kept)


def _with_anchor(prompt: str, request: EnhanceRequest, look: Look) -> str:
    """The look's anchor right after the idea; the last tags give way while it is over budget."""

    head = clean_head(request.idea)
    tags = split_tags(prompt[len(head):].lstrip(" ,")) if prompt.startswith(head) else []
    kept, _ = fit_tags(head, [look.anchor, *tags], request.token_budget)
    return join_prompt(head, kept) if kept[:1] == [look.anchor] else prompt


def max_modifiers_for(creativity: float) -> int:
    """0 creativity keeps 3 modifiers, 1 allows 12 (the token budget usually stops earlier)."""
    return 3 + round(9 * creativity)


class GroundedEnhancer(Enhancer):
    """Deterministic fusion of the idea with the modifiers its example prompts share."""

    name = "grounded"
    supports_examples = True
    thread_safe = True  # pure Python, no state between calls

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        return True, "built in: the idea plus modifiers shared by its examples"

    def __init__(self, rules: Enhancer | None = None) -> None:
        self._rules = rules

    def _rules_enhancer(self) -> Enhancer:
        if self._rules is None:
            self._rules = RuleBasedEnhancer()
        return self._rules

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        rules = self._rules_enhancer()
        if not request.examples or request.previous_prompt:
            # Nothing to ground on, or a refinement round (the rules revise a previous prompt).
            result = rules.enhance(request)
            why = "no examples to ground on" if not request.examples else "refinement rounds are revised by the rules"
            result.fallback_reasons = {**result.fallback_reasons, self.name: why}
            return result
        # 1. one look for the whole prompt (the idea's, the brief's or style's, the examples' agreement, else auto)
        look, look_why = look_for_request(request)
        scene = frozenset(normalize_phrase(p) for p in request.scene_phrases)
        modifiers = score_modifiers(request.examples, load_blocklist().without(request.idea), scene)
        limit = max_modifiers_for(request.creativity)
        fused: list[tuple[str, list[Modifier]]] = []
        seen: set[str] = set()
        # 2. fusions: a few spare ones, since in a sentence family two of them can read the same once written
        for skip in range(request.n_candidates * 4):
            prompt, used = fuse(
                request.idea, modifiers, token_budget=request.token_budget, max_modifiers=limit, skip=skip,
                look=look, artist_media=request.artist_media, artist_credits=request.artist_credits,
            )
            if prompt not in seen:
                seen.add(prompt)
                fused.append((prompt, used))
            if len(fused) == request.n_candidates * 3:
                break
        # 3. style and negative prompt: the rule-based enhancer's, for the same look
        style = request.style if request.style != "auto" else look.style
        base = rules.enhance(request.model_copy(update={
            "examples": [], "n_candidates": 1, "style": style, "look": look.name,
        }))
        look_note = f"look: {look.name} ({look_why})"
        profile = profile_for(request.model_family)
        if profile.form != "tags":  # sentence families: the same modifiers, written as the profile asks
            written = dict(_written(request, used, base.style, profile, limit, look) for _, used in fused)  # distinct
            candidates = [Candidate(prompt, _negative_for(base.negative_prompt, look, prompt, request),
                                    f"{look_note}; {why}")
                          for prompt, why in written.items()]
            candidates = candidates[: request.n_candidates]
            return self.make_result(request, candidates, style=base.style, started=started, look=look,
                                    notices=base.notices)  # e.g. "negative ignored"
        candidates: list[Candidate] = []
        for prompt, used in fused[: request.n_candidates]:
            topped = 0
            if not held_media(prompt, request.artist_media):  # say the look: "…, professional photograph, …"
                prompt = _with_anchor(prompt, request, look)
            if len(used) < MIN_GROUNDED_MODIFIERS:
                prompt, topped = _top_up(prompt, request, base, limit - len(used), look)
            rationale = f"{look_note}; " + _how(prompt, used, len(request.examples))
            if topped:
                rationale += f"; topped up with {topped} rule-based descriptors for the {look.name} look"
            candidates.append(Candidate(prompt, _negative_for(base.negative_prompt, look, prompt, request), rationale))
        return self.make_result(request, candidates, style=base.style, started=started, look=look)


def _negative_for(negative: str, look: Look, prompt: str, request: EnhanceRequest) -> str:
    """The look's negative less what this fused prompt holds (an example's medium, its artists')."""
    return clean_negative(negative, look, prompt, asked=request.idea, artist_media=request.artist_media)[0]


def _how(prompt: str, used: list[Modifier], n_examples: int) -> str:
    """The "How" note of a fused prompt, from what the final prompt holds (never a dropped modifier)."""
    present = [m for m in used if _contains_words(normalize_phrase(prompt), m.phrase)]
    if not present:
        return "the examples share no modifier that fits"
    return (f"kept the idea verbatim and added {_plural(len(present), 'modifier')} from "
            f"{_plural(n_examples, 'example')}: " + "; ".join(f"{m.phrase} ({m.category})" for m in present))


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


# ----------------------------------------------------------------------------------------------
# Sentence families (sdxl / turbo: a sentence plus a few tags; sd3 / flux: prose).

def _written(request: EnhanceRequest, used: list[Modifier], style: str, profile: PromptProfile,
             limit: int, look: Look) -> tuple[str, str]:
    """(prompt, rationale) of one candidate, its modifiers written in `profile`'s form.

    The first medium modifier names the medium ("A digital painting of ..."; the look's anchor
    when no example gave one), styles become "in a ... style", lighting / camera nouns "with ...",
    artists "by ..."; adjectives ("photorealistic", "glowing") go to the tags, never after "with".
    Too few modifiers: the rules' descriptors of `style` that fit the look fill in.
    """

    idea = clean_head(request.idea)
    media = media_of(idea)
    by_category: dict[str, list[str]] = {}
    for modifier in used:
        if modifier.category == "quality" and (is_boilerplate(modifier.phrase) or profile.form == "prose"):
            continue
        by_category.setdefault(modifier.category, []).append(modifier.phrase)
    mediums = by_category.get("medium", [])
    anchor = None if media else (mediums[0] if mediums else look.anchor)
    if anchor and profile.form == "prose":
        anchor = anchor_noun(anchor)
    styles = by_category.get("style", [])
    artists = by_category.get("artist", [])
    nouns = [p for p in [*by_category.get("lighting", []), *by_category.get("camera", [])] if reads_after_with(p)]
    adjectives = [p for p in [*by_category.get("lighting", []), *by_category.get("camera", []),
                              *by_category.get("quality", [])] if p not in nouns]
    written = len(styles) + len(artists) + len(nouns) + len(adjectives) + bool(mediums)  # boilerplate does not count
    if written < MIN_GROUNDED_MODIFIERS:  # top up from the rules' descriptors that fit the look
        spec = STYLE_SPECS.get(style) or STYLE_SPECS["photography"]
        present = " ".join([idea, *nouns, *adjectives, *styles]).lower()
        extra = [d for d in suited_descriptors(spec.descriptors, idea) if not is_boilerplate(d) and fits(d, look)
                 and (request.artist_credits or commercial(d, idea))
                 and not _redundant(d.lower(), [*split_phrases(present), *(m.phrase for m in used)])]
        held = media | media_of(anchor or "") | {look.family}
        extra = coherent(extra, held)[: max(limit - written, 0)]
        nouns += [d for d in extra if reads_after_with(d)]
        adjectives += [d for d in extra if not reads_after_with(d)]
    if profile.form == "prose":
        adjectives = []  # prose carries no tag list; its adjectives would dangle
    parts = [styles, artists, adjectives, nouns]  # dropped from the end of the last list first when over budget

    def render() -> str:
        if profile.form == "prose":
            return prose_prompt(idea, anchor, parts[3], styles=parts[0], artists=parts[1])
        tags = [*parts[2], *parts[0], *parts[1], *parts[3][2:]][: profile.max_tags]
        return mixed_prompt(idea, anchor, parts[3][:2], tags)

    prompt = render()
    while count_clip_tokens(prompt) > request.token_budget and any(parts):
        next(p for p in reversed(parts) if p).pop()
        prompt = render()
    present = [m for m in used if m.phrase in prompt.lower()]
    rationale = (f"kept the idea and wrote {_plural(len(present), 'modifier')} from "
                 f"{_plural(len(request.examples), 'example')} as {profile.form} for {profile.label}: "
                 + "; ".join(f"{m.phrase} ({m.category})" for m in present)) if present \
        else f"the examples share no modifier that fits; written as {profile.form}"
    return prompt, rationale


_ADJECTIVE_ENDINGS = ("ic", "al", "ed", "ous", "ive", "ful", "lit", "ish", "less", "able", "y")
_NOUN_WORDS = frozenset("lighting light lights shadows shadow glow haze fog mist bokeh grain lens focus "
                        "photography rays sky colors colours palette tones atmosphere composition".split())


_FRAMINGS = frozenset(("portrait", "close up", "close-up", "closeup", "full body", "full shot", "headshot", "wide shot",
                       "establishing shot", "aerial view", "aerial", "macro", "extreme close-up", "medium shot"))


_PREPOSITIONS = frozenset("in at on under by from with during through over above below behind beneath into "
                          "inside near against across around among amid".split())


def reads_after_with(phrase: str) -> bool:
    """Whether "with <phrase>" reads as English: the phrase ends in a noun ("volumetric lighting",
    "85mm lens"), not an adjective ("photorealistic", "glowing", "highly detailed")."""
    words = phrase.lower().split()
    if not words or phrase.lower() in _FRAMINGS or words[0] in _PREPOSITIONS:
        return False  # "in fog", "by moonlight", "at dusk" read on their own, never after "with"
    if axes_of(phrase) == {TIME}:
        return False  # "with sunset" is not English; "sunset" reads as a tag
    last = words[-1]
    if last in _NOUN_WORDS or any(ch.isdigit() for ch in last):
        return len(words) > 1 or last in _NOUN_WORDS
    if len(words) == 1 and last.endswith("ing"):
        return False
    return not last.endswith(_ADJECTIVE_ENDINGS) and last not in _FILLER_WORDS
