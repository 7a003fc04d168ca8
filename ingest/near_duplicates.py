"""Folding near-duplicates by meaning: prompts whose vectors' cosine reaches a threshold.

Folding by words (staging.py) merges prompts with the same words in another order. DiffusionDB
also holds prompts that differ by one word or a dropped modifier ("girl standing in a flower
field, ..." / "girl sitting in a flower field, ..."); with `--fold-cosine T` ingest folds those
too, after embedding, so results are not ten copies of one prompt.

`find_near_duplicates(chunks, priority, threshold)` returns {folded position: representative
position}. It is "leader" clustering, which never chains: prompts are visited in `priority`
order (ingest: most frequent first, then first seen); a prompt within `threshold` of a
representative already chosen folds into the closest such one, otherwise it becomes a
representative. So every folded prompt is within the threshold of the row it folds into (A~B and
B~C never put A and C together unless A~C), and the row shown is the most frequent wording.

Neighbours come from FAISS: exact (IndexFlatIP) up to EXACT_LIMIT prompts, an inverted file
with flat storage above it (exact cosines for the candidates it visits; the few neighbours it
misses stay separate rows, the safe error). Memory: the vectors once (FAISS's copy; chunks may
be memory-mapped), plus the neighbour lists of prompts that have a near copy.

Deliberately not here: which positions are prompts (staging.py), writing rows (pipeline.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

NEIGHBOURS = 16  # neighbours looked at per prompt; a prompt with more near copies folds the rest later
EXACT_LIMIT = 50_000  # exact neighbour search up to here (~25 s for 50k on 2 cores), IVF above
NPROBE = 16  # inverted lists visited per query above EXACT_LIMIT (nlist = 4·sqrt(n))
SEARCH_BATCH = 4096


def _search_index(chunks: Sequence[np.ndarray], n: int, dimension: int):
    """A FAISS inner-product index over all chunks, added one chunk at a time (no second copy)."""
    import faiss

    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dimension)
    else:
        nlist = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(_training_sample(chunks, n, 64 * nlist))
        index.nprobe = NPROBE
    for chunk in chunks:
        index.add(np.ascontiguousarray(chunk, dtype=np.float32))
    return index


def _training_sample(chunks: Sequence[np.ndarray], n: int, size: int) -> np.ndarray:
    """`size` vectors drawn evenly (seeded) from the chunks."""
    wanted = np.sort(np.random.default_rng(0).choice(n, size=min(n, size), replace=False))
    parts, start = [], 0
    for chunk in chunks:
        inside = wanted[(wanted >= start) & (wanted < start + len(chunk))] - start
        parts.append(np.asarray(chunk[inside], dtype=np.float32))
        start += len(chunk)
    return np.ascontiguousarray(np.concatenate(parts))


def find_near_duplicates(
    chunks: Sequence[np.ndarray],
    priority: np.ndarray,
    threshold: float,
    *,
    neighbours: int = NEIGHBOURS,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[int, int]:
    """{folded position: representative position} for L2-normalised vectors (see the module docstring).

    `chunks` are the vectors in position order (position i is row i of their concatenation);
    `priority` lists every position once, most deserving of being the shown row first.
    `on_progress(done, total)` is called after each searched chunk.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    n = sum(len(chunk) for chunk in chunks)
    if n == 0:
        return {}
    if len(priority) != n or len(set(int(p) for p in priority)) != n:
        raise ValueError(f"priority must list each of the {n} positions once")
    index = _search_index(chunks, n, chunks[0].shape[1])
    k = min(neighbours + 1, n)  # +1: a prompt is its own nearest neighbour
    near: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # only prompts with a neighbour over the threshold
    start = 0
    for chunk in chunks:
        for offset in range(0, len(chunk), SEARCH_BATCH):
            batch = np.ascontiguousarray(chunk[offset : offset + SEARCH_BATCH], dtype=np.float32)
            scores, ids = index.search(batch, k)
            positions = np.arange(start + offset, start + offset + len(batch))
            close = (scores >= threshold) & (ids != positions[:, None]) & (ids >= 0)
            for row in np.flatnonzero(close.any(axis=1)):
                near[int(positions[row])] = (ids[row][close[row]], scores[row][close[row]])
        start += len(chunk)
        if on_progress is not None:
            on_progress(start, n)
    del index
    return _leaders(near, priority)


def _leaders(near: dict[int, tuple[np.ndarray, np.ndarray]], priority: np.ndarray) -> dict[int, int]:
    """Leader clustering over the above-threshold neighbour lists, visiting prompts in `priority` order."""
    folded: dict[int, int] = {}
    leaders: set[int] = set()
    for position in (int(p) for p in priority):
        if position in folded or position not in near:
            continue  # absorbed by an earlier representative, or nothing near it: its own row
        ids, scores = near[position]
        into = [(float(s), int(j)) for j, s in zip(ids, scores, strict=True) if int(j) in leaders]
        if into:  # near a representative chosen earlier (one whose own list missed this prompt)
            folded[position] = max(into)[1]
            continue
        leaders.add(position)
        for j in (int(j) for j in ids):
            if j not in leaders and j not in folded:
                folded[j] = position
    return folded
