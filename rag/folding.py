"""Folding near-duplicates out of a short list of retrieved prompts (Refine's suggestions).

An index built without `--fold-cosine` keeps prompts that differ by one swapped modifier
("…, night, heavy rain, …" / "…, heavy rain, night, …"); both score alike, so they sit side by
side at the top of a search and take two of the few examples a user ticks. `fold_retrieved`
walks the results best first and drops any within `threshold` cosine of one already kept (the
stored vectors, so no embedding), the same rule and threshold ingest folds with
(`index.embedder.NEAR_DUPLICATE_COSINE`): every dropped prompt is a near copy of a kept,
better-ranked one, and the order of the kept ones is unchanged.

Deliberately not here: folding at ingest (ingest/near_duplicates.py, which also merges counts
into the stored row), and spreading results over styles (the retriever's MMR `diversity`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from index.embedder import NEAR_DUPLICATE_COSINE as RECOMMENDED_COSINE


@dataclass
class Folded:
    """The kept prompts (best first) and, per kept prompt id, the ids folded into it."""

    kept: list[Any]
    folded_into: dict[int, list[int]] = field(default_factory=dict)

    @property
    def n_folded(self) -> int:
        return sum(len(ids) for ids in self.folded_into.values())


def keep_distinct(vectors: np.ndarray, threshold: float = RECOMMENDED_COSINE) -> tuple[list[int], dict[int, int]]:
    """Rows of `vectors` (L2-normalised, best first) to keep, and each dropped row -> the kept
    row it is a near copy of (the most similar kept one, cosine >= `threshold`)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    kept: list[int] = []
    dropped: dict[int, int] = {}
    for row in range(len(vectors)):
        if kept:
            sims = vectors[kept] @ vectors[row]
            best = int(np.argmax(sims))
            if sims[best] >= threshold:
                dropped[row] = kept[best]
                continue
        kept.append(row)
    return kept, dropped


def fold_retrieved(retriever: Any, retrieved: list[Any], *, k: int | None = None,
                   threshold: float = RECOMMENDED_COSINE) -> Folded:
    """`retrieved` (a `Retriever.search` answer, best first) without near-duplicates, at most
    `k` kept; their vectors are the index's stored ones (`retriever.store.vectors`)."""
    if len(retrieved) < 2:
        return Folded(list(retrieved[:k] if k else retrieved))
    vectors = np.asarray(retriever.store.vectors([r.id for r in retrieved]), dtype=np.float32)
    kept, dropped = keep_distinct(vectors, threshold)
    if k is not None:
        kept = kept[:k]
    shown = set(kept)
    folded: dict[int, list[int]] = {}
    for row, into in dropped.items():
        if into in shown:
            folded.setdefault(retrieved[into].id, []).append(retrieved[row].id)
    return Folded([retrieved[i] for i in kept], folded)
