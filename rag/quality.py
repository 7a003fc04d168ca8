"""Quality figures shown with every assistant result.

- tokens: the prompt's CLIP token count against the model's budget (77 for SD 1.x / SDXL);
- consistency: cosine similarity of the idea and the prompt embeddings (did the prompt stay
  on the idea?);
- novelty: the prompt's highest cosine similarity to any example prompt, and which one, so a
  prompt that merely copies an example is visible (`is_copy` above `COPY_THRESHOLD`);
- popularity: how often each example prompt occurred in the gallery.

Embeddings come from the index's embedder (any `index.Embedder`: `embed(texts)` returning
L2-normalised rows), so the figures live in the same space as retrieval.

Deliberately not here: image-based scores (CLIP image-text, aesthetics) and any judgement of
whether a prompt is "good"; these are measurements, the user decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from enhancers.tokens import count_clip_tokens

COPY_THRESHOLD = 0.97  # cosine above which a prompt reads as a copy of an example


@dataclass(frozen=True)
class QualityFigures:
    token_count: int
    token_budget: int
    consistency: float | None  # cosine(idea, prompt)
    novelty: float | None  # max cosine(prompt, example); lower = more novel
    closest_example_id: int | None
    example_counts: list[int] = field(default_factory=list)

    @property
    def within_budget(self) -> bool:
        return self.token_count <= self.token_budget

    @property
    def is_copy(self) -> bool:
        return self.novelty is not None and self.novelty >= COPY_THRESHOLD

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["within_budget"] = self.within_budget
        data["is_copy"] = self.is_copy
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QualityFigures:
        return cls(**{k: data[k] for k in (
            "token_count", "token_budget", "consistency", "novelty", "closest_example_id", "example_counts"
        )})


class MemoEmbedder:
    """Wraps an embedder for one run: each distinct text is embedded once, in one batch per call."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self._memo: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if new:
            for text, vector in zip(new, np.asarray(self.embedder.embed(new), dtype=np.float32)):
                self._memo[text] = vector
        return np.stack([self._memo[t] for t in texts]) if texts else np.zeros((0, 0), np.float32)


def embed_all(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    return np.asarray(embedder.embed(list(texts)), dtype=np.float32)


def measure(
    idea: str,
    prompt: str,
    examples: Sequence[Any],
    *,
    token_budget: int,
    embedder: Any | None,
) -> QualityFigures:
    """Figures for `prompt` made from `idea` with `examples` (objects with text/id/count)."""
    counts = [int(e.count) for e in examples]
    if embedder is None:
        return QualityFigures(count_clip_tokens(prompt), token_budget, None, None, None, counts)
    vectors = embed_all(embedder, [idea, prompt, *(e.text for e in examples)])
    consistency = float(vectors[0] @ vectors[1])
    novelty, closest = None, None
    if examples:
        sims = vectors[2:] @ vectors[1]
        best = int(np.argmax(sims))
        novelty, closest = float(sims[best]), examples[best].id
    return QualityFigures(count_clip_tokens(prompt), token_budget, round(consistency, 4),
                          None if novelty is None else round(novelty, 4), closest, counts)


def rank_candidates(idea: str, prompts: Sequence[str], embedder: Any | None) -> list[tuple[int, float, float]]:
    """(index, consistency with the idea, distance from the other candidates), best first.

    Ranked by consistency plus a third of the distance: on the idea first, varied second.
    """
    if embedder is None or len(prompts) == 0:
        return [(i, 0.0, 0.0) for i in range(len(prompts))]
    vectors = embed_all(embedder, [idea, *prompts])
    consistency = vectors[1:] @ vectors[0]
    sims = vectors[1:] @ vectors[1:].T
    np.fill_diagonal(sims, -1.0)
    distance = 1.0 - sims.max(axis=1) if len(prompts) > 1 else np.zeros(1)
    order = sorted(range(len(prompts)), key=lambda i: (-(consistency[i] + distance[i] / 3), i))
    return [(i, round(float(consistency[i]), 4), round(float(distance[i]), 4)) for i in order]
