"""The rule-based enhancer: deterministic, offline, instant — and the end of every fallback chain.

What it does, in order:
1. Style: the requested one, or (style="auto") the style whose keywords occur most in the idea
   (`styles.detect_style`); else the style that suits a medium the idea names ("in the style of
   a video game"); else a refinement's previous prompt, then the examples' words decide; else
   the idea's content (`media.style_for_content`: dragons and wizards get illustration, what
   can be photographed gets photography).
2. Tags: a style anchor ("professional photograph", "coloring book page", ...) unless the idea
   already names its style or a medium, then style descriptors and quality tags from
   `styles.STYLE_SPECS`. Their number grows with creativity: round(creativity * table size) of
   each, so 0.0 adds only the anchor and 1.0 adds every tag. Tags the idea already contains are
   skipped, and so is any tag whose medium clashes with the idea's (`media.coherent`): one
   medium per prompt, and the idea's own medium is never overridden.
3. Budget: the prompt is `idea, tag, tag, ...` and must fit `request.token_budget` CLIP tokens
   (start/end included). Tags are in priority order and dropped from the end until it fits.
   The idea is never cut, reordered or rewritten: it appears verbatim at the start, less
   surrounding whitespace and trailing `.,;:` (so no "idea., tag" seam). If the idea alone is over budget it is returned unchanged with no tags, and the
   result's token_count says so.
4. Candidates: candidate 1 takes the highest-priority tags; candidates 2..n take turns over the
   anchors and draw other descriptor subsets/orders with a `random.Random` seeded from a hash
   of the request, so the same request always gives the same candidates, best first. There are
   always n candidates; they are distinct unless the budget leaves no room for any tag.
5. Negative prompt: the style's table (coloring book: no colour fill, shading, grayscale...;
   photography: no cartoon, illustration...), less any term that would forbid what the idea
   asks for ("a 3d render of a cartoon fox" keeps "cartoon" out), fitted to the same budget.

The target model's profile (`profiles.py`, from `request.model_family`) decides the form: the
tag list above for sd1 (with "masterpiece, best quality" at the end of the quality tags);
for sdxl / turbo the idea, a short clause ("professional photograph with natural lighting and
85mm lens"), a full stop and a few tags; for sd3 / flux / other plain sentences ("A
professional photograph of <idea>, with natural lighting and bokeh."). Families other than sd1
get no quality boilerplate. The idea's words are kept in every form.

Examples (from the RAG step) are used lightly: style descriptors that also occur in an
example are promoted to the front, and with style="auto" an idea without style words takes the
examples' style. Example text itself is never copied in (it is untrusted; fusing it is rag/'s job).

Refinement (previous_prompt + feedback): the previous prompt is kept, `styles.feedback_effects`
turns the feedback into tags to add ("moodier" → mood tags, "brighter", "more detailed",
"warmer", "add a red hat" → "a red hat"), tags to remove ("simpler" keeps only the first two
tags; "brighter" removes mood tags) and negative terms ("no text" → text, watermark...;
"no people" → people). Added tags go right after the idea so they carry weight.

Deliberately not here: any model, network or randomness that is not derived from the request.
"""

from __future__ import annotations

import hashlib
import random
import re
import time
from dataclasses import replace
from functools import lru_cache
from typing import ClassVar

from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.media import coherent, media_of, style_for_content, style_for_media
from enhancers.profiles import (
    PROSE_ANCHORS,
    SD1_QUALITY,
    PromptProfile,
    is_boilerplate,
    join_and,
    mixed_prompt,
    profile_for,
    prose_prompt,
    split_tags,
)
from enhancers.styles import STYLE_SPECS, StyleSpec, detect_style, feedback_effects, style_hits
from enhancers.tokens import clip_token_ids, count_clip_tokens

SIMPLIFY_KEEP = 2  # "simpler" feedback keeps this many tags of the previous prompt
_MAX_ATTEMPTS = 24  # tries to find a candidate distinct from the earlier ones


class RuleBasedEnhancer(Enhancer):
    """Keyword style detection + style tables + a CLIP token budget. Needs nothing installed."""

    name: ClassVar[str] = "rules"
    supports_examples: ClassVar[bool] = True
    supports_negative_prompt: ClassVar[bool] = True

    def enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        idea = clean_head(request.idea)
        idea_media = media_of(idea)
        budget = request.token_budget
        # 1. style, and the target model's profile (the form the prompt takes)
        style, style_reason = resolve_style(request)
        spec = STYLE_SPECS[style]
        profile = profile_for(request.model_family)
        if profile.quality_tags and style != "coloring book":  # SD 1.x's "masterpiece, best quality"
            spec = replace(spec, quality=tuple(dict.fromkeys([*spec.quality, *SD1_QUALITY])))
        elif not profile.quality_tags:  # other families: real descriptors, no boilerplate
            spec = replace(spec, quality=(), descriptors=tuple(d for d in spec.descriptors if not is_boilerplate(d)))
        if profile.form != "tags" and not (profile.form == "mixed" and request.previous_prompt):
            return self._written(request, idea, style, style_reason, spec, profile, started)
        # 2. what may be added (fixed tags always wanted; pool tags vary between candidates)
        if request.previous_prompt:
            head, fixed, pool, negative_first, notes = _refinement_plan(request, idea, spec)
        else:
            head, fixed, pool, negative_first, notes = idea, [], _ranked_pool(spec, request), [], []
        # 3./4. candidates that fit the budget, distinct when the budget leaves room
        seed = _request_seed(request, style)
        n_desc = _share(request.creativity, len(spec.descriptors))
        n_qual = _share(request.creativity, len(spec.quality))
        # The idea already names its style or a medium: no anchor (its own medium stands).
        names_style = style in style_hits(head) or bool(idea_media)
        prompts: list[str] = []
        dropped_best = 0
        head_tokens = count_clip_tokens(head)
        for variant in range(request.n_candidates):
            prompt, dropped = _distinct_candidate(
                head,
                head_tokens,
                fixed,
                pool,
                spec,
                variant,
                seed,
                n_desc,
                n_qual,
                names_style,
                budget,
                prompts,
                refining=bool(request.previous_prompt),
                media=idea_media,
            )
            prompts.append(prompt)
            if variant == 0:
                dropped_best = dropped
        # 5. negative prompt
        negative = ", ".join(fit_tags("", _negative_terms(negative_first, spec, idea, idea_media), budget)[0])
        candidates = [Candidate(p, negative) for p in prompts]
        rationale = _rationale(style, style_reason, request, head_tokens, budget, dropped_best, notes)
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale)


    def _written(self, request: EnhanceRequest, idea: str, style: str, style_reason: str, spec: StyleSpec,
                 profile: PromptProfile, started: float) -> EnhanceResult:
        """Sentence families (sdxl, turbo: a sentence plus a few tags; sd3, flux: prose)."""
        idea_media = media_of(idea)
        budget = request.token_budget
        seed = _request_seed(request, style)
        n_desc = _share(request.creativity, len(spec.descriptors))
        names_style = style in style_hits(idea) or bool(idea_media)
        if request.previous_prompt:  # prose refinement: the previous prompt stays, feedback adds a sentence
            prompts, notes = _prose_refinement(request, spec, seed), []
        else:
            prompts, notes = [], []
            pool = _ranked_pool(spec, request)
            for variant in range(request.n_candidates):
                prompt = _written_candidate(idea, pool, style, spec, profile, variant, seed, n_desc, names_style,
                                            idea_media, budget, prompts)
                prompts.append(prompt)
        negative = ", ".join(fit_tags("", _negative_terms(_refinement_negative(request), spec, idea, idea_media),
                                      budget)[0])
        candidates = [Candidate(p, negative) for p in prompts]
        head_tokens = count_clip_tokens(idea)
        rationale = _rationale(style, style_reason, request, head_tokens, budget, 0, notes)
        rationale += f"; written for {profile.label} ({profile.form})"
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale)


# ----------------------------------------------------------------------------------------------
# Pure helpers (tested through `enhance`, small enough to read at a glance).


def _written_candidate(idea: str, pool: list[str], style: str, spec: StyleSpec, profile: PromptProfile,
                       variant: int, seed: int, n_desc: int, names_style: bool, media: frozenset[str],
                       budget: int, earlier: list[str]) -> str:
    """One candidate in the profile's form (mixed or prose), fitted to the budget, unlike `earlier`."""
    prompt = idea
    for attempt in range(_MAX_ATTEMPTS):
        rng = None if variant == 0 and attempt == 0 else random.Random(seed + 1009 * variant + attempt)
        k = min(len(pool), n_desc + attempt // 6)
        picks = pool[:k] if rng is None else rng.sample(pool, k)
        anchors = PROSE_ANCHORS[style] if profile.form == "prose" else spec.anchors
        anchor = None if names_style else anchors[variant % len(anchors)]
        words = coherent([*([anchor] if anchor else []), *picks], media)  # one medium per prompt
        if anchor and words[:1] != [anchor]:
            anchor = None
        details = _unique_against(idea, words[1:] if anchor else words)
        prompt = _fit_written(idea, anchor, details, profile, budget)
        if prompt not in earlier:
            break
    return prompt


def _fit_written(idea: str, anchor: str | None, details: list[str], profile: PromptProfile, budget: int) -> str:
    """The longest rendering that fits `budget`: details drop from the end, then the anchor."""

    def render(anchor: str | None, details: list[str]) -> str:
        if profile.form == "prose":
            return prose_prompt(idea, anchor, details)
        clause, tags = details[:2], details[2:][: profile.max_tags]
        return mixed_prompt(idea, anchor, clause, tags)

    details = list(details)
    while True:
        prompt = render(anchor, details)
        if count_clip_tokens(prompt) <= budget:
            return prompt
        if details:
            details.pop()
        elif anchor:
            anchor = None
        else:  # the idea alone is over budget: returned as written (token_count says so)
            return prompt


def _refinement_negative(request: EnhanceRequest) -> list[str]:
    return list(feedback_effects(request.feedback).negative) if request.feedback else []


def _prose_refinement(request: EnhanceRequest, spec: StyleSpec, seed: int) -> list[str]:
    """Prose refinement rounds: the previous prompt, less removed phrases, plus "With ... ." for added ones."""
    previous = (request.previous_prompt or "").strip()
    effects = feedback_effects(request.feedback or "")
    for phrase in effects.remove:
        previous = re.sub(rf"(?:,\s*|\s+and\s+)?(?<!\w){re.escape(phrase)}(?!\w)", "", previous, flags=re.IGNORECASE)
    previous = previous.rstrip(" ,;:")
    if previous and not previous.endswith((".", "!", "?")):
        previous += "."
    added = [a for a in effects.add if a.lower() not in previous.lower()]
    pool = [d for d in spec.descriptors if d.lower() not in previous.lower() and d not in added]
    prompts: list[str] = []
    for variant in range(request.n_candidates):
        extra = random.Random(seed + variant).sample(pool, min(len(pool), variant)) if variant else []
        words = [*added, *extra]
        prompt = previous + (" " + _capital_first("with " + join_and(words)) + "." if words else "")
        while count_clip_tokens(prompt) > request.token_budget and words:
            words.pop()
            prompt = previous + (" " + _capital_first("with " + join_and(words)) + "." if words else "")
        prompts.append(prompt)
    return prompts


def _capital_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def resolve_style(request: EnhanceRequest) -> tuple[str, str]:
    """The style to use and why (for the rationale)."""
    if request.style != "auto":
        return request.style, "requested"
    idea = request.idea.strip()
    style, keywords = detect_style(idea)
    if style:
        return style, "detected from " + ", ".join(repr(k) for k in keywords[:3])
    style = style_for_media(media_of(idea))
    if style:
        return style, "suits the medium the idea names"
    if request.previous_prompt:
        style, keywords = detect_style(request.previous_prompt)
        if style:
            return style, "taken from the previous prompt (" + ", ".join(repr(k) for k in keywords[:3]) + ")"
    if request.examples:
        style, keywords = detect_style(" \n ".join(e.text for e in request.examples))
        if style:
            return style, "taken from the examples (" + ", ".join(repr(k) for k in keywords[:3]) + ")"
    return style_for_content(idea)


def clean_head(idea: str) -> str:
    """The idea as a prompt's head: trimmed, less trailing `.`, `,`, `;`, `:` (no "idea., tag" seams)."""
    return idea.strip().rstrip(".,;: \t\n").strip() or idea.strip()


def _negative_terms(first: list[str], spec: StyleSpec, idea: str, idea_media: frozenset[str]) -> list[str]:
    """The negative prompt's terms, less any that would forbid what the idea asks for."""
    lowered = idea.lower()
    return [
        term for term in _unique([*first, *spec.negative])
        if not (media_of(term) & idea_media) and not re.search(rf"(?<!\w){re.escape(term.lower())}(?!\w)", lowered)
    ]


def _share(creativity: float, size: int) -> int:
    # round-half-up, so the count never falls as creativity rises (monotonic by construction)
    return int(creativity * size + 0.5)


def _ranked_pool(spec: StyleSpec, request: EnhanceRequest) -> list[str]:
    """Style descriptors, those also seen in the examples first (stable within each group)."""
    if not request.examples:
        return list(spec.descriptors)
    seen = " \n ".join(e.text.lower() for e in request.examples)
    return sorted(spec.descriptors, key=lambda tag: tag.lower() not in seen)


def _request_seed(request: EnhanceRequest, style: str) -> int:
    # hashlib, not hash(): Python salts str hashes per process, which would break determinism.
    key = "\x00".join(
        [
            request.idea.strip(),
            style,
            f"{request.creativity:.4f}",
            request.model_family,
            request.previous_prompt or "",
            request.feedback or "",
        ]
    )
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def _candidate_tags(
    fixed: list[str],
    pool: list[str],
    spec: StyleSpec,
    variant: int,
    rng: random.Random | None,
    n_desc: int,
    n_qual: int,
    names_style: bool,
    extra: int,
    refining: bool,
) -> list[str]:
    """Tags of one candidate in priority order (the order they appear in the prompt)."""
    if refining:  # keep the previous prompt; variants add style descriptors at the end
        k = min(len(pool), variant + extra)
        picks = pool[:k] if rng is None else rng.sample(pool, k)
        return [*fixed, *picks]
    anchor = [] if names_style else [spec.anchors[variant % len(spec.anchors)]]
    k = min(len(pool), n_desc + extra)
    descriptors = pool[:k] if rng is None else rng.sample(pool, k)
    return [*anchor, *descriptors, *spec.quality[:n_qual]]


def _distinct_candidate(
    head: str,
    head_tokens: int,
    fixed: list[str],
    pool: list[str],
    spec: StyleSpec,
    variant: int,
    seed: int,
    n_desc: int,
    n_qual: int,
    names_style: bool,
    budget: int,
    earlier: list[str],
    *,
    refining: bool,
    media: frozenset[str] = frozenset(),
) -> tuple[str, int]:
    """Prompt of candidate `variant` (and how many tags the budget dropped), unlike `earlier`."""
    prompt, dropped = head, 0
    if head_tokens > budget:  # no room for any tag: every candidate is the idea itself
        return head, len(fixed)
    for attempt in range(_MAX_ATTEMPTS):
        # variant 0 is the best (highest-priority tags, no sampling); later ones draw subsets,
        # and every 6 failed attempts one more descriptor is allowed, to escape small pools.
        rng = None if variant == 0 and attempt == 0 else random.Random(seed + 1009 * variant + attempt)
        tags = _candidate_tags(
            fixed, pool, spec, variant, rng, n_desc, n_qual, names_style, attempt // 6, refining
        )
        # One medium per prompt: the idea's (and a refinement's kept tags') medium wins.
        held = media.union(*(media_of(t) for t in fixed)) if refining else media
        tags = [*fixed, *coherent(tags[len(fixed):], held)] if refining else coherent(tags, held)
        kept, dropped = fit_tags(head, _unique_against(head, tags), budget, head_tokens)
        prompt = join_prompt(head, kept)
        if prompt not in earlier:
            break
    return prompt, dropped


def join_prompt(head: str, tags: list[str]) -> str:
    if not tags:
        return head
    if not head:
        return ", ".join(tags)
    separator = " " if head.endswith((",", ";")) else ", "
    return head + separator + ", ".join(tags)


@lru_cache(maxsize=4096)
def _tag_cost(tag: str) -> int:
    """Tokens that ', tag' adds (the comma is one CLIP token)."""
    return 1 + len(clip_token_ids(tag))


def fit_tags(
    head: str, tags: list[str], budget: int, head_tokens: int | None = None
) -> tuple[list[str], int]:
    """Keep tags (priority order) while `head, tags...` fits `budget`; return (kept, dropped count).

    Token costs of tags are additive under CLIP's pre-tokenizer, except where the head's last
    punctuation merges with the comma; the final exact count below settles that case.
    """
    total = head_tokens if head_tokens is not None else count_clip_tokens(head)
    if total > budget:
        return [], len(tags)
    if not head:
        total -= 1  # the first tag has no leading comma
    kept: list[str] = []
    for tag in tags:
        cost = _tag_cost(tag)
        if total + cost > budget:
            break
        kept.append(tag)
        total += cost
    while kept and count_clip_tokens(join_prompt(head, kept)) > budget:
        kept.pop()
    return kept, len(tags) - len(kept)


def _unique(items: list[str]) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for item in items:
        key = item.strip().lower()
        if key and key not in seen:
            seen.add(key)
            out.append(item.strip())
    return out


def _unique_against(head: str, tags: list[str]) -> list[str]:
    """Drop tags the head already says (whole words, any case) and repeated tags."""
    lowered = head.lower()
    return [t for t in _unique(tags) if not re.search(r"(?<!\w)" + re.escape(t.lower()) + r"(?!\w)", lowered)]


def _refinement_plan(
    request: EnhanceRequest, idea: str, spec: StyleSpec
) -> tuple[str, list[str], list[str], list[str], list[str]]:
    """(head, fixed tags, variant pool, negative terms first, notes) for a refinement round."""
    previous = (request.previous_prompt or "").strip()
    effects = feedback_effects(request.feedback or "")
    # The previous prompt normally starts with the idea; if it does not, the idea goes first.
    rest = previous[len(idea) :] if previous.lower().startswith(idea.lower()) else previous
    kept_previous = split_tags(rest.lstrip(" ,;"))
    removed = {t.lower() for t in effects.remove}
    kept_previous = [t for t in kept_previous if t.lower() not in removed]
    if effects.simplify:
        kept_previous = kept_previous[:SIMPLIFY_KEEP]
    fixed = _unique([*effects.add, *kept_previous])
    already = " ".join(fixed).lower()
    pool = [d for d in spec.descriptors if d.lower() not in already]
    if effects.rules:
        notes = ["feedback rules applied: " + ", ".join(effects.rules)]
    elif request.feedback:
        notes = ["no feedback rule matched; previous prompt kept"]
    else:
        notes = []
    return idea, fixed, pool, list(effects.negative), notes


def _rationale(
    style: str,
    style_reason: str,
    request: EnhanceRequest,
    head_tokens: int,
    budget: int,
    dropped: int,
    notes: list[str],
) -> str:
    parts = [f"rules: style {style} ({style_reason}), creativity {request.creativity:g}"]
    if head_tokens > budget:
        parts.append(
            f"the idea alone takes {head_tokens} of {budget} CLIP tokens: returned unchanged, no tags"
        )
    elif dropped:
        parts.append(f"{dropped} lowest-priority tag(s) dropped to fit {budget} CLIP tokens")
    if request.examples:
        parts.append(f"{len(request.examples)} example(s) used to rank tags (their text is not copied)")
    return "; ".join([*parts, *notes])
