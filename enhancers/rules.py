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
   surrounding whitespace and trailing `.,;:` (so no "idea., tag" seam). If the idea alone is over budget it is
   returned unchanged with no tags, and the result's token_count says so.
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

Refinement (previous_prompt + feedback): `feedback.parse_feedback` turns the feedback into a
list of edits (time of day, weather, season, viewpoint, look, colour, mood, removals, additions
as written) and `feedback.apply_edits` applies them to the previous prompt in its form: what an
edit displaces leaves ("at night" takes golden hour out), new phrases go right after the idea,
a look the feedback asks for decides the look, style tables and negative. Clauses it cannot
apply are said in the notices; the rationale is the "How" note of the final prompt.

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

from core.settings import Settings
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.camera import suited_descriptors
from enhancers.feedback import apply_edits, explain, parse_feedback, variant_extras
from enhancers.lighting_framing import axes_of, repeats_axis
from enhancers.looks import (
    LOOKS,
    Look,
    anchor_noun,
    clean_negative,
    commercial,
    fits,
    look_for_request,
    negative_blocker,
    negative_media,
)
from enhancers.media import coherent, media_of, style_for_content, style_for_media
from enhancers.profiles import (
    PROSE_ANCHORS,
    SD1_QUALITY,
    PromptProfile,
    is_boilerplate,
    mixed_prompt,
    profile_for,
    prompt_form,
    prose_prompt,
    split_tags,  # noqa: F401 (re-exported: tests import it from here)
)
from enhancers.styles import STYLE_SPECS, StyleSpec, detect_style, style_hits
from enhancers.tokens import clip_token_ids, count_clip_tokens

_MAX_ATTEMPTS = 24  # tries to find a candidate distinct from the earlier ones


class RuleBasedEnhancer(Enhancer):
    """Keyword style detection + style tables + a CLIP token budget. Needs nothing installed."""

    name: ClassVar[str] = "rules"
    supports_examples: ClassVar[bool] = True
    supports_negative_prompt: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True  # pure Python, no state between calls

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        return True, "built in, no model"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        idea = clean_head(request.idea)
        idea_media = media_of(idea)
        budget = request.token_budget
        # 1. style and look (one medium + style family), and the target model's profile (the prompt's form)
        style, style_reason, look, look_reason = resolve_style_and_look(request)
        spec = spec_for_look(STYLE_SPECS[style], look, commercial_only=not request.artist_credits, idea=request.idea)
        profile = profile_for(request.model_family)
        if profile.quality_tags and style != "coloring book":  # SD 1.x's "masterpiece, best quality"
            spec = replace(spec, quality=tuple(dict.fromkeys([*spec.quality, *SD1_QUALITY])))
        elif not profile.quality_tags:  # other families: real descriptors, no boilerplate
            spec = replace(spec, quality=(), descriptors=tuple(d for d in spec.descriptors if not is_boilerplate(d)))
        if request.previous_prompt:  # a refinement round: the feedback's edits on the previous prompt
            return self._refined(request, idea, style, style_reason, look, look_reason, profile, started)
        if profile.form != "tags":
            return self._written(request, idea, style, f"{style_reason}; look {look.name}: {look_reason}", spec,
                                 profile, started, look)
        # 2. what may be added (fixed tags always wanted; pool tags vary between candidates)
        head, fixed, pool, negative_first, notes = idea, [], _ranked_pool(spec, request), [], []
        # 3./4. candidates that fit the budget, distinct when the budget leaves room
        seed = _request_seed(request, style)
        n_desc = _share(request.creativity, len(spec.descriptors))
        n_qual = _share(request.creativity, len(spec.quality))
        # The idea already names its style or a medium: no anchor (its own medium stands).
        names_style = style in style_hits(head) or bool(idea_media)
        held = idea_media | {look.family}
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
                media=held,
            )
            prompts.append(prompt)
            if variant == 0:
                dropped_best = dropped
        # 5. negative prompt
        negative = ", ".join(fit_tags("", _negative_terms(negative_first, spec, idea, look), budget)[0])
        candidates = [Candidate(p, clean_negative(negative, look, p, asked=idea, artist_media=request.artist_media)[0])
                      for p in prompts]
        rationale = _rationale(style, f"{style_reason}; look {look.name}: {look_reason}", request, head_tokens,
                               budget, dropped_best, notes)
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale, look=look)


    def _written(self, request: EnhanceRequest, idea: str, style: str, style_reason: str, spec: StyleSpec,
                 profile: PromptProfile, started: float, look: Look) -> EnhanceResult:
        """Sentence families (sdxl, turbo: a sentence plus a few tags; sd3, flux: prose)."""
        names_style = style in style_hits(idea) or bool(media_of(idea))
        idea_media = media_of(idea) | {look.family}
        budget = request.token_budget
        seed = _request_seed(request, style)
        n_desc = _share(request.creativity, len(spec.descriptors))
        prompts, notes = [], []
        pool = _ranked_pool(spec, request)
        for variant in range(request.n_candidates):
            prompt = _written_candidate(idea, pool, style, spec, profile, variant, seed, n_desc, names_style,
                                        idea_media, budget, prompts, look)
            prompts.append(prompt)
        negative = ", ".join(fit_tags("", _negative_terms([], spec, idea, look), budget)[0])
        candidates = [Candidate(p, clean_negative(negative, look, p, asked=idea, artist_media=request.artist_media)[0])
                      for p in prompts]
        head_tokens = count_clip_tokens(idea)
        rationale = _rationale(style, style_reason, request, head_tokens, budget, 0, notes)
        rationale += f"; written for {profile.label} ({profile.form})"
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale, look=look)


    def _refined(self, request: EnhanceRequest, idea: str, style: str, style_reason: str, look: Look,
                 look_reason: str, profile: PromptProfile, started: float) -> EnhanceResult:
        """A refinement round: the feedback as a list of edits on the previous prompt (`feedback.py`),
        each applied or said in the notices; the rationale is the "How" note of the final prompt."""
        # 1. the edits; a look the feedback asks for decides the look and the style's tables
        edits = parse_feedback(request.feedback or "")
        asked = next((LOOKS[e.look] for e in edits if e.look in LOOKS), None)
        if asked is not None:
            style, look = asked.style, asked  # the feedback asks for this look
        spec = _refinement_spec(style, look, profile, commercial_only=not request.artist_credits, idea=idea)
        # 2. the revision (candidate 1); later candidates add a few of the style's descriptors at the end
        # the previous prompt is revised in the form it is written in (a tag list stays one on sdxl)
        form = prompt_form(request.previous_prompt or "") if profile.form != "tags" else "tags"
        revision = apply_edits(request.previous_prompt or "", idea, edits, form=form, budget=request.token_budget)
        pool = [d for d in _ranked_pool(spec, request) if fits(d, look) and d.lower() not in revision.prompt.lower()]
        seed = _request_seed(request, style)
        prompts = [revision.prompt]
        for variant in range(1, request.n_candidates):
            prompt = revision.prompt
            for attempt in range(_MAX_ATTEMPTS):
                prompt = apply_edits(request.previous_prompt or "", idea, edits, form=form,
                                     budget=request.token_budget,
                                     extras=variant_extras(pool, variant, seed, attempt)).prompt
                if prompt not in prompts:
                    break
            prompts.append(prompt)
        # 3. the negative: what the feedback bans first, never what it asks for
        allowed = {t.lower() for t in revision.negative_remove}
        head = revision.head or idea  # the idea less what a removal took out of it ("no ducks")
        terms = [t for t in _negative_terms(revision.negative_add, spec, head, look) if t.lower() not in allowed]
        negative = ", ".join(fit_tags("", terms, request.token_budget)[0])
        # 4. the result, its "How" note and what could not be applied
        rationale = explain(request.previous_prompt or "", revision.prompt, revision)
        asked_for = f"{head}\n{' '.join(e.phrase for e in edits if e.kind != 'remove')}"
        candidates = [Candidate(p, clean_negative(negative, look, p, asked=asked_for,
                                                  artist_media=request.artist_media)[0])
                      for p in prompts]
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale, look=look,
                                notices=revision.notices)


# ----------------------------------------------------------------------------------------------
# Pure helpers (tested through `enhance`, small enough to read at a glance).


def _written_candidate(idea: str, pool: list[str], style: str, spec: StyleSpec, profile: PromptProfile,
                       variant: int, seed: int, n_desc: int, names_style: bool, media: frozenset[str],
                       budget: int, earlier: list[str], look: Look) -> str:
    """One candidate in the profile's form (mixed or prose), fitted to the budget, unlike `earlier`."""
    prompt = idea
    for attempt in range(_MAX_ATTEMPTS):
        rng = None if variant == 0 and attempt == 0 else random.Random(seed + 1009 * variant + attempt)
        k = min(len(pool), n_desc + attempt // 6)
        picks = pool[:k] if rng is None else rng.sample(pool, k)
        anchors = [a for a in PROSE_ANCHORS[style] if fits(a, look)] if profile.form == "prose" else spec.anchors
        anchors = anchors or [anchor_noun(look.anchor) if profile.form == "prose" else look.anchor]
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


def resolve_style_and_look(request: EnhanceRequest) -> tuple[str, str, Look, str]:
    """(style, why, look, why): the look is decided first-class (`looks.look_for_request`); with
    style "auto" the style follows the look unless the idea's own words named a style."""
    style, style_reason = choose_style(request)
    guessed = request.style == "auto" and (style, style_reason) == style_for_content(request.idea)
    look, look_reason = look_for_request(request.model_copy(update={"style": request.style if guessed else style}))
    if guessed:
        style, style_reason = look.style, f"suits the {look.name} look"
    return style, style_reason, look, look_reason


def _refinement_spec(style: str, look: Look, profile: PromptProfile, *, commercial_only: bool = False,
                     idea: str = "") -> StyleSpec:
    """The style's tables for `look`, with the profile's quality words (as a first round has them)."""
    spec = spec_for_look(STYLE_SPECS[style], look, commercial_only=commercial_only, idea=idea)
    if profile.quality_tags and style != "coloring book":
        return replace(spec, quality=tuple(dict.fromkeys([*spec.quality, *SD1_QUALITY])))
    return replace(spec, quality=(), descriptors=tuple(d for d in spec.descriptors if not is_boilerplate(d)))


def spec_for_look(spec: StyleSpec, look: Look, *, commercial_only: bool = False, idea: str = "") -> StyleSpec:
    """The style's tables less what does not fit the look (a photo lens in a watercolor), and for an
    advert (`commercial_only`) less fan-art words ("trending on artstation"); the look's own anchor
    when none of the style's fits."""
    if commercial_only:
        spec = replace(spec, descriptors=tuple(d for d in spec.descriptors if commercial(d)),
                       quality=tuple(q for q in spec.quality if commercial(q)))
    anchors = tuple(a for a in spec.anchors if fits(a, look) and media_of(a) <= {look.family} | media_of(look.anchor))
    descriptors = suited_descriptors([d for d in spec.descriptors if fits(d, look)], idea)  # the subject's kit
    return replace(spec, anchors=anchors or (look.anchor,), descriptors=descriptors,
                   quality=tuple(q for q in spec.quality if fits(q, look)))


def choose_style(request: EnhanceRequest) -> tuple[str, str]:
    """The concrete style to write the request in and why (for the rationale): the requested one, else
    detected from the idea's words, its medium, the previous prompt, the examples, then its content."""
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


MAX_NEGATIVE_MEDIA = 4  # media a negative bans (the look's rivals): enough to steer, not to crowd it


def _negative_terms(first: list[str], spec: StyleSpec, idea: str, look: Look) -> list[str]:
    """The negative prompt's terms for `look`: feedback's first, then rival media (never the look's own,
    never one the idea names), then the style's other terms; none that forbids what the idea asks for."""
    idea_media = media_of(idea)
    rivals = [t for t in _unique([*(t for t in spec.negative if media_of(t)), *negative_media(look, idea_media)])
              if not negative_blocker(t, look, idea, asked=idea)][:MAX_NEGATIVE_MEDIA]
    others = [t for t in spec.negative if not media_of(t)]
    lowered = idea.lower()
    return [
        term for term in _unique([*first, *rivals, *others])
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
    """Drop tags the head already says (whole words, any case), repeated tags, and a tag naming a time
    of day, lighting set-up, framing or lens the head or an earlier tag fixes (lighting_framing.py:
    "studio lighting" in the idea, so no "natural lighting")."""
    lowered = head.lower()
    held = axes_of(head)
    kept: list[str] = []
    for tag in _unique(tags):
        if re.search(r"(?<!\w)" + re.escape(tag.lower()) + r"(?!\w)", lowered) or repeats_axis(tag, held):
            continue
        kept.append(tag)
        held |= axes_of(tag)
    return kept


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
