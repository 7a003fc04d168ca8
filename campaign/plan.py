"""Planning a campaign: the variant angles, and one drafted prompt per angle.

An *angle* is what makes a variant different: style × scene × mood × composition × lighting
(+ the image size it is made at). `plan_angles(brief)` covers the brief deterministically from its seed:
styles take turns (every style in the brief is used, evenly), and each variant takes the
(scene, mood, composition, lighting) not used yet whose values were least used so far with that style,
then least used overall, ties broken by the brief's audience and message (a scene or mood more of
their words point to comes first, and its uses count for less, so it may recur: steer.cue_matches),
then by a seeded shuffle — so a 20-variant plan spreads over scenes, moods and compositions instead
of repeating the first few, and no two angles repeat while unused ones remain. A product subject
(steer.subject_kind) draws from product-shot compositions and commercial lightings. `redraw_angle` is one re-roll:
a new scene / mood / composition for the same style and size, seeded by (campaign seed, variant id, attempt, draw),
so a re-run redraws the same; `replan_candidates` draws several, of which the runner keeps the one whose idea is
farthest from the prompts already accepted.

`draft_variant(assistant, brief, ...)` turns one angle into a `Draft`: the idea text
("<subject> <scene>, <style words>, [<product shot words>,] <mood> mood, <composition>, <lighting>,
<must-haves>"), retrieval of real prompts for it (the style words steer it to examples of that
style, so a coloring-book angle fuses coloring-book modifiers), fusion (`PromptAssistant.fuse` with
the angle's style, and the request's look, context and artist_credits: `request_options`) and the
brand rules (brand.py: also no artist credits unless the brief allows them, no fan-art words).

`SharedEmbedder` is the one embedder a run's threads share (serialised, batched, memoised).

Deliberately not here: diversity between variants (diversity.py), thread pools, files (runner.py).
The audience and the message are not put into the idea: an image model draws words literally.
They choose scenes and moods (above), reach the writer as `EnhanceRequest.context`, and each
variant's `steering` record says how.
"""

from __future__ import annotations

import hashlib
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from campaign.brand import apply_brand, contains
from campaign.brief import NO_IMAGES, Brief
from campaign.scene_fit import angle_fits, fits
from campaign.steer import (
    asked_text,
    context_text,
    cue_matches,
    foreign_words,
    look_for,
    product_words,
    steering,
    subject_kind,
)
from enhancers.base import TOKEN_BUDGET
from enhancers.profiles import resolve_family
from enhancers.styles import STYLE_SPECS
from generate.base import MAX_SEED
from generate.dynamic import expand_prompt, is_dynamic
from index.embedder import Embedder
from rag.assistant import default_picks, to_examples

SCENES: tuple[str, ...] = (
    "on a sunlit kitchen counter", "in a misty pine forest", "on a city rooftop at dusk",
    "on a beach at sunrise", "in a minimalist white studio", "on a mountain trail",
    "in a cozy cafe", "on a neon-lit street at night", "in a desert canyon", "by a lake in autumn",
    "in a greenhouse full of plants", "on a snowy mountain peak", "on a sailboat deck at sea",
    "in a busy train station", "in a sunflower field", "at a campfire under the stars",
    "in a modern office by a window", "on a rainy city bus stop", "in a tropical rainforest",
    "at a rooftop swimming pool", "in a vintage library", "on a skate park ramp",
)
MOODS: tuple[str, ...] = (
    "joyful", "calm", "adventurous", "nostalgic", "energetic", "mysterious", "cozy", "bold",
    "dreamy", "playful",
)
COMPOSITIONS: tuple[str, ...] = (
    "close-up product shot", "wide establishing shot", "overhead flat lay", "low angle hero shot",
    "off-center with negative space", "symmetrical centered composition", "lifestyle shot in use",
    "macro detail shot",
)
LIGHTINGS: tuple[str, ...] = (
    "golden hour light", "soft window light", "neon glow", "overcast diffused light", "harsh midday sun",
    "studio softbox lighting", "candlelight", "moonlight", "backlit silhouette", "colorful gel lighting",
)
# a product's built-in lists: studio settings besides the lifestyle ones, product-shot framings, commercial light
PRODUCT_SCENES: tuple[str, ...] = ("in a minimalist white studio", "on a seamless studio backdrop",
                                   *(s for s in SCENES if s != "in a minimalist white studio"))
PRODUCT_COMPOSITIONS: tuple[str, ...] = (
    "three-quarter hero shot", "lifestyle shot in use", "close-up product shot", "low angle hero shot",
    "overhead flat lay", "macro detail shot", "off-center with negative space", "symmetrical centered composition",
)
PRODUCT_LIGHTINGS: tuple[str, ...] = (
    "studio softbox lighting", "bright commercial lighting", "soft window light", "golden hour light",
    "overcast diffused light", "crisp rim lighting", "soft commercial studio lighting", "natural daylight",
)
DIMENSIONS = ("scene", "mood", "composition", "lighting")
STEERED = ("scene", "mood")  # the dimensions the audience and the message rank
REPLAN_DRAWS = 6  # angles drawn per re-plan; the one farthest from the accepted prompts is used


def variant_ids(count: int) -> list[str]:
    """v001, v002, ... (zero-padded so names sort in variant order)."""
    width = max(3, len(str(count)))
    return [f"v{i + 1:0{width}d}" for i in range(count)]


def angle_values(brief: Brief) -> dict[str, list[str]]:
    """The values each dimension may take: the brief's lists, else the built-in ones (a product's own)."""
    product = subject_kind(brief)[0] == "product"
    return {"scene": list(brief.scenes or (PRODUCT_SCENES if product else SCENES)), "mood": list(brief.moods or MOODS),
            "composition": list(brief.compositions or (PRODUCT_COMPOSITIONS if product else COMPOSITIONS)),
            "lighting": list(brief.lightings or (PRODUCT_LIGHTINGS if product else LIGHTINGS))}


def relevance(brief: Brief, values: dict[str, list[str]]) -> dict[str, dict[str, int]]:
    """Per dimension, value → how many audience / message words point to it (0 outside STEERED)."""
    return {dim: {v: len(cue_matches(brief, v)) if dim in STEERED else 0 for v in vals}
            for dim, vals in values.items()}


def plan_angles(brief: Brief) -> list[dict[str, str]]:
    """One angle per variant, covering the brief's styles, scenes, moods, compositions and lightings."""
    rng = random.Random(f"{brief.seed}:plan")
    values = angle_values(brief)
    order = {dim: {v: rank for rank, v in enumerate(rng.sample(vals, len(vals)))} for dim, vals in values.items()}
    # a value the audience / message point to (score s) counts its uses as 1/(1+s) and goes first among equals
    score = relevance(brief, values)
    used: dict[str, Counter] = {dim: Counter() for dim in DIMENSIONS}
    used_with_style: Counter = Counter()
    taken: set[tuple[str, ...]] = set()
    angles = []
    for i in range(brief.variants):
        style = brief.styles[i % len(brief.styles)]
        # each dimension's values, best first: least used with this style, least used at all, seeded order
        ranked = [sorted(values[d], key=lambda v, d=d: (used_with_style[(style, d, v)] / (1 + score[d][v]),
                                                        used[d][v] / (1 + score[d][v]), -score[d][v], order[d][v]))
                  for d in DIMENSIONS]
        # the best combination not used yet whose lighting and composition suit its scene (scene_fit);
        # then the best one not used yet; the first one when every combination is taken
        combos = list(itertools.islice(itertools.product(*ranked), 10_000))
        combo = next((c for c in combos if c not in taken and angle_fits(dict(zip(DIMENSIONS, c)))),
                     next((c for c in combos if c not in taken), combos[0]))
        taken.add(combo)
        angle = {"style": style}
        for dim, value in zip(DIMENSIONS, combo):
            used[dim][value] += 1
            used_with_style[(style, dim, value)] += 1
            angle[dim] = value
        angle["size"] = brief.sizes[i % len(brief.sizes)]
        angles.append(angle)
    return angles


def redraw_angle(brief: Brief, angle: dict[str, str], variant_id: str, attempt: int,
                 draw: int = 0) -> dict[str, str]:
    """A re-rolled angle: same style and size, a new scene / mood / composition / lighting where there is one.

    Seeded by (campaign seed, variant id, attempt, draw): the same call always redraws the same.
    """
    rng = random.Random(f"{brief.seed}:{variant_id}:{attempt}:{draw}")
    values = angle_values(brief)
    new = dict(angle)
    for dim in DIMENSIONS:  # scene first: the lighting and composition are drawn among those that suit it
        others = [v for v in values[dim] if v != angle.get(dim)] or values[dim][:1]
        if dim != "scene":  # a new value that suits the scene, else the one value that does, else any
            others = ([v for v in others if fits(dim, v, new["scene"])]
                      or [v for v in values[dim] if fits(dim, v, new["scene"])] or others)
        new[dim] = rng.choice(others)
    return new


def replan_candidates(brief: Brief, angle: dict[str, str], variant_id: str, attempt: int,
                      draws: int = REPLAN_DRAWS) -> list[dict[str, str]]:
    """The distinct angles a near-duplicate may be re-planned to at `attempt` (the runner keeps the
    one whose idea is least like the prompts accepted so far: cheap embeddings, not a slow fusion)."""
    candidates = [redraw_angle(brief, angle, variant_id, attempt, draw) for draw in range(draws)]
    return list({tuple(sorted(c.items())): c for c in candidates}.values())


def variant_subject(brief: Brief, variant_id: str, attempt: int) -> str:
    """The brief's subject for one variant. A dynamic-prompts template ("a {red|teal} bottle",
    "__product__") is drawn per variant, seeded by (campaign seed, variant id, attempt), so a
    re-run draws the same words and a re-roll (a new attempt) may draw others."""
    if not is_dynamic(brief.subject):
        return brief.subject
    key = f"{brief.seed}:{variant_id}:{attempt}:subject".encode("utf-8")
    seed = int.from_bytes(hashlib.blake2b(key, digest_size=4).digest(), "big")
    return expand_prompt(brief.subject, seed=seed)[0]


def variant_family(brief: Brief, index: int) -> str:
    """The model family variant number `index` is written for: the brief's, or (auto) the family
    of the image model its backend uses (backends take turns; prompts only: sdxl)."""
    if brief.model_family != "auto":
        return brief.model_family
    backend = brief.backends[index % len(brief.backends)]
    return resolve_family("auto", backend=None if backend == NO_IMAGES else backend, model=brief.model)


def angle_idea(brief: Brief, angle: dict[str, str], subject: str | None = None) -> str:
    """The idea text an angle becomes (what is retrieved for and fused); `subject` defaults to the brief's."""
    subject = brief.subject if subject is None else subject
    style = angle["style"]
    shot = product_words(style, angle["scene"], subject) if subject_kind(brief)[0] == "product" else []
    # a product photograph's shot words name its style ("studio product photography"): no second anchor
    named = "" if shot and style == "photography" else style_words(style)
    parts = [f"{subject} {angle['scene']}", named, *shot, f"{angle['mood']} mood", angle["composition"],
             angle["lighting"]]
    parts = [part for part in parts if part]
    parts += [word for word in brief.brand.must_have if not contains(", ".join(parts), word)]
    if brief.brand.colours:
        parts.append(" and ".join(brief.brand.colours) + " colour palette")
    return ", ".join(parts)


def style_words(style: str) -> str:
    """The words that name a style in an idea ('cinematic film still'): every enhancer, and the
    retrieval query, then know the variant's style — not only the ones that read `style=`."""
    spec = STYLE_SPECS.get(style)
    return spec.anchors[0] if spec is not None else ""  # a user style's own text wraps the prompt later


def request_options(brief: Brief, angle: dict[str, str]) -> dict[str, Any]:
    """What the brief adds to the variant's EnhanceRequest: the look, who it is for and what it
    says (context), and whether artists may be credited."""
    return {"look": look_for(brief, angle["style"]), "context": context_text(brief),
            "artist_credits": brief.artist_credits}


def fuse_takes(assistant: Any, options: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the options `assistant.fuse` passes on to the request, the names it does not take).

    PromptAssistant.fuse learns look / context / artist_credits with issue 19; until it takes one,
    the variant's steering record says it was not passed (the brand pass still removes credits).
    """
    import inspect

    takes = inspect.signature(assistant.fuse).parameters
    return ({k: v for k, v in options.items() if k in takes}, [k for k in options if k not in takes])


def variant_seed(brief: Brief, index: int, attempt: int, examples: list[dict[str, Any]]) -> int:
    """The image seed of variant number `index` (0-based) at `attempt`, by the brief's seed policy."""
    if brief.seed_policy == "same":
        return brief.seed
    if brief.seed_policy == "example" and attempt == 0:
        for example in examples:
            seed = (example.get("settings") or {}).get("seed")
            if isinstance(seed, int) and 0 <= seed <= MAX_SEED:
                return seed
    return (brief.seed + index + 1_000_003 * attempt) % (MAX_SEED + 1)


class SharedEmbedder(Embedder):
    """The run's one embedder, shared by the worker threads (retrieval, quality checks, diversity).

    - one model call at a time (Hugging Face fast tokenizers are not re-entrant);
    - texts asked for while a call runs wait and go into the next call *together*, so 16
      workers make a few batched forward passes instead of 16 single-text ones (on a CPU the
      embedder, not the API, is what a concurrent campaign waits for);
    - each distinct text is embedded once per run (an idea is embedded for retrieval and again
      by the quality checks; a prompt by the checks and by the diversity guard).
    Vectors come back exactly as the wrapped embedder makes them.
    """

    def __init__(self, embedder: Embedder) -> None:
        self.inner = embedder
        self.model_id = embedder.model_id
        self.dimension = embedder.dimension
        self._ready = threading.Condition()
        self._vectors: dict[str, np.ndarray] = {}
        self._queue: dict[str, None] = {}  # texts waiting for the next model call (ordered set)
        self._running: set[str] = set()  # texts in the model call under way
        self._busy = False

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        with self._ready:
            while missing := [t for t in dict.fromkeys(texts) if t not in self._vectors]:
                for text in missing:
                    if text not in self._running:
                        self._queue.setdefault(text)
                if self._busy:
                    self._ready.wait()
                    continue
                batch, self._queue = list(self._queue), {}
                self._running, self._busy = set(batch), True
                self._ready.release()
                try:
                    vectors = self.inner.embed(batch, batch_size=batch_size)
                finally:
                    self._ready.acquire()
                    self._running, self._busy = set(), False
                    self._ready.notify_all()
                self._vectors.update(zip(batch, vectors))
            if not texts:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([self._vectors[t] for t in texts])


@dataclass
class Draft:
    """One variant's prompt before images: the angle, the fused prompt, brand problems, timings."""

    id: str
    index: int
    attempt: int
    angle: dict[str, str]
    idea: str
    prompt: str
    negative_prompt: str
    style: str
    enhancer: str
    seed: int
    fallback_reasons: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # brand problems: non-empty = brand_violation
    notes: list[str] = field(default_factory=list)  # the assistant's checks (informational)
    examples: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    steering: dict[str, Any] = field(default_factory=dict)  # how the brief steered it (steer.steering)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Draft:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


def draft_variant(assistant: Any, brief: Brief, variant_id: str, index: int, attempt: int,
                  angle: dict[str, str]) -> Draft:
    """Retrieve examples for the angle, fuse one prompt + negative, apply the brand rules."""
    started = time.perf_counter()
    # 1. the idea this angle stands for (a dynamic subject drawn for this variant)
    subject = variant_subject(brief, variant_id, attempt)
    idea = angle_idea(brief, angle, subject)
    # 2. retrieve real prompts for it
    examples = []
    if brief.examples_per_variant:
        retrieved = assistant.retrieve(idea, k=max(8, brief.examples_per_variant))
        picks = default_picks(len(retrieved), brief.examples_per_variant)
        examples = to_examples(retrieved, picks) if picks else []
    retrieve_s = time.perf_counter() - started
    # 3. fuse (the enhancer call: the slow, remote part); the assistant applies a user style itself
    family = variant_family(brief, index)
    passed, not_passed = fuse_takes(assistant, request_options(brief, angle))
    result = assistant.fuse(idea, examples, style=angle["style"], creativity=brief.creativity,
                            model_family=family, **passed)
    # 4. brand rules: must-haves in, must-nots out (into the negative), "no text", no credits, no fan-art words
    checked = apply_brand(result.prompt, result.negative_prompt, brief.brand, token_budget=TOKEN_BUDGET[family],
                          artist_credits=brief.artist_credits, foreign=foreign_words(brief, angle),
                          keep=asked_text(brief, angle))
    used = [{"id": e.id, "text": e.text, "score": e.score, "settings": e.settings} for e in examples]
    timings = {"retrieve_s": round(retrieve_s, 4), "fuse_s": round(result.timings.get("total_s", 0.0), 4),
               "draft_s": round(time.perf_counter() - started, 4)}
    return Draft(id=variant_id, index=index, attempt=attempt, angle=dict(angle), idea=idea,
                 prompt=checked.prompt, negative_prompt=checked.negative_prompt, style=result.style,
                 enhancer=result.enhancer, seed=variant_seed(brief, index, attempt, used),
                 fallback_reasons=dict(result.fallback_reasons), problems=checked.problems,
                 notes=[*result.problems, *checked.changes,
                        *([f"subject {subject!r} drawn from {brief.subject!r}"] if subject != brief.subject else [])],
                 examples=used, timings=timings,
                 steering={**steering(brief, angle), "passed_to_writer": sorted(passed), "not_passed": not_passed})
