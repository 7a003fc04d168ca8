"""The rule-based enhancer: deterministic, offline, instant — and the end of every fallback chain.

What it does, in order:
1. Style: the requested one, or (style="auto") the style whose keywords occur most in the idea
   (`styles.detect_style`); if the idea names none, a refinement's previous prompt, then the
   examples' words decide; else "artistic" (`styles.DEFAULT_STYLE`).
2. Tags: a style anchor ("professional photograph", "coloring book page", ...) unless the idea
   already names its style, then style descriptors and quality tags from `styles.STYLE_SPECS`.
   Their number grows with creativity: round(creativity * table size) of each, so 0.0 adds
   only the anchor and 1.0 adds every tag. Tags the idea already contains are skipped.
3. Budget: the prompt is `idea, tag, tag, ...` and must fit `request.token_budget` CLIP tokens
   (start/end included). Tags are in priority order and dropped from the end until it fits.
   The idea is never cut, reordered or rewritten: it appears verbatim (whitespace-trimmed) at
   the start. If the idea alone is over budget it is returned unchanged with no tags, and the
   result's token_count says so.
4. Candidates: candidate 1 takes the highest-priority tags; candidates 2..n take turns over the
   anchors and draw other descriptor subsets/orders with a `random.Random` seeded from a hash
   of the request, so the same request always gives the same candidates, best first. There are
   always n candidates; they are distinct unless the budget leaves no room for any tag.
5. Negative prompt: the style's table (coloring book: no colour fill, shading, grayscale...;
   photography: no cartoon, illustration...), fitted to the same budget.

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
from functools import lru_cache
from typing import ClassVar

from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.styles import DEFAULT_STYLE, STYLE_SPECS, StyleSpec, detect_style, feedback_effects, style_hits
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
        idea = request.idea.strip()
        budget = request.token_budget
        # 1. style
        style, style_reason = resolve_style(request)
        spec = STYLE_SPECS[style]
        # 2. what may be added (fixed tags always wanted; pool tags vary between candidates)
        if request.previous_prompt:
            head, fixed, pool, negative_first, notes = _refinement_plan(request, idea, spec)
        else:
            head, fixed, pool, negative_first, notes = idea, [], _ranked_pool(spec, request), [], []
        # 3./4. candidates that fit the budget, distinct when the budget leaves room
        seed = _request_seed(request, style)
        n_desc = _share(request.creativity, len(spec.descriptors))
        n_qual = _share(request.creativity, len(spec.quality))
        names_style = style in style_hits(head)  # the idea already names its style: no anchor
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
            )
            prompts.append(prompt)
            if variant == 0:
                dropped_best = dropped
        # 5. negative prompt
        negative = ", ".join(fit_tags("", _unique([*negative_first, *spec.negative]), budget)[0])
        candidates = [Candidate(p, negative) for p in prompts]
        rationale = _rationale(style, style_reason, request, head_tokens, budget, dropped_best, notes)
        return self.make_result(request, candidates, style=style, started=started, rationale=rationale)


# ----------------------------------------------------------------------------------------------
# Pure helpers (tested through `enhance`, small enough to read at a glance).


def resolve_style(request: EnhanceRequest) -> tuple[str, str]:
    """The style to use and why (for the rationale)."""
    if request.style != "auto":
        return request.style, "requested"
    style, keywords = detect_style(request.idea.strip())
    if style:
        return style, "detected from " + ", ".join(repr(k) for k in keywords[:3])
    if request.previous_prompt:
        style, keywords = detect_style(request.previous_prompt)
        if style:
            return style, "taken from the previous prompt (" + ", ".join(repr(k) for k in keywords[:3]) + ")"
    if request.examples:
        style, keywords = detect_style(" \n ".join(e.text for e in request.examples))
        if style:
            return style, "taken from the examples (" + ", ".join(repr(k) for k in keywords[:3]) + ")"
    return DEFAULT_STYLE, "the default: no style words in the idea"


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


def split_tags(text: str) -> list[str]:
    """Split a prompt on commas that are outside (), [] and {} (prompt-weight syntax)."""
    parts, depth, current = [], 0, []
    for char in text:
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        if char == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


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
