"""Diversity between variants: no two prompts more alike than the brief's threshold.

Prompts are embedded with the index's embedder (L2-normalised rows, so a dot product is the
cosine similarity — the same space the retriever and the quality figures use).
`DiversityGuard` holds the accepted prompts: `closest(prompt)` says which accepted variant a new
prompt is nearest to and how near; `accept(id, prompt)` adds it; `farthest(texts)` picks, of
several candidate ideas, the one least like anything accepted (used to re-plan). The runner decides in variant
order, so the same brief makes the same decisions however the worker threads interleave.
`max_pairwise_similarity(vectors)` is the figure reported for a finished set.

Deliberately not here: what to do with a near-duplicate (the runner re-plans it from a new
angle, plan.redraw_angle) and any image-based similarity.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def embed(embedder: Any, texts: Sequence[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(embedder.embed(list(texts)), dtype=np.float32)


def max_pairwise_similarity(vectors: np.ndarray) -> float:
    """The highest cosine between two different rows (0.0 for fewer than two rows)."""
    if len(vectors) < 2:
        return 0.0
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return round(float(sims.max()), 4)


class DiversityGuard:
    """The accepted prompts of a campaign and their vectors."""

    def __init__(self, embedder: Any, threshold: float) -> None:
        self.embedder = embedder
        self.threshold = threshold
        self.ids: list[str] = []
        self._vectors: list[np.ndarray] = []

    def vector(self, prompt: str) -> np.ndarray:
        return embed(self.embedder, [prompt])[0]

    def closest(self, prompt: str, *, exclude: str | None = None) -> tuple[str | None, float]:
        """(id of the most similar accepted variant, its cosine); (None, 0.0) when none is accepted."""
        return self.closest_vector(self.vector(prompt), exclude=exclude)

    def closest_vector(self, vector: np.ndarray, *, exclude: str | None = None) -> tuple[str | None, float]:
        pairs = [(i, v) for i, v in zip(self.ids, self._vectors) if i != exclude]
        if not pairs:
            return None, 0.0
        sims = np.stack([v for _, v in pairs]) @ vector
        best = int(np.argmax(sims))
        return pairs[best][0], round(float(sims[best]), 4)

    def farthest(self, texts: Sequence[str], *, exclude: str | None = None) -> int:
        """Index of the text least similar to every accepted prompt (the first on ties)."""
        return self.farthest_each([texts], [exclude])[0]

    def farthest_each(self, groups: Sequence[Sequence[str]], exclude: Sequence[str | None]) -> list[int]:
        """`farthest` for several groups of candidates at once (one embedding call for them all)."""
        flat = [text for group in groups for text in group]
        vectors = embed(self.embedder, flat) if flat and self.ids else None
        chosen, start = [], 0
        for group, skip in zip(groups, exclude):
            pairs = [v for i, v in zip(self.ids, self._vectors) if i != skip]
            if vectors is None or not pairs or len(group) < 2:
                chosen.append(0)
            else:
                worst = (vectors[start: start + len(group)] @ np.stack(pairs).T).max(axis=1)
                chosen.append(int(np.argmin(worst)))
            start += len(group)
        return chosen

    def too_close(self, similarity: float) -> bool:
        return similarity > self.threshold

    def accept(self, variant_id: str, prompt: str, vector: np.ndarray | None = None) -> None:
        self.remove(variant_id)
        self.ids.append(variant_id)
        self._vectors.append(self.vector(prompt) if vector is None else vector)

    def remove(self, variant_id: str) -> None:
        if variant_id in self.ids:
            at = self.ids.index(variant_id)
            del self.ids[at], self._vectors[at]

    def max_pairwise(self) -> float:
        return max_pairwise_similarity(np.stack(self._vectors)) if len(self._vectors) > 1 else 0.0
