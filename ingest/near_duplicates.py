"""Folding near-duplicates by meaning: prompts whose vectors' cosine reaches a threshold.

Folding by words (staging.py) merges prompts with the same words in another order. DiffusionDB
also holds prompts that differ by one word or a dropped modifier ("girl standing in a flower
field, ..." / "girl sitting in a flower field, ..."); with `--fold-cosine T` ingest folds those
too, after embedding, so results are not ten copies of one prompt.

`find_near_duplicates(chunks, priority, threshold, stored=...)` says which new prompts fold into
another new prompt or into a row already in the index. It is "leader" clustering, which never
chains: rows already stored are representatives from the start; new prompts are visited most
frequent first, then most typical (the largest sum of cosines to the prompts within the
threshold: the wording the others vary), then first seen; one within `threshold` of a
representative folds into the closest such one, otherwise it becomes a representative. So
every folded prompt is within the threshold of the row it folds into (A~B and B~C never put A
and C together unless A~C), and the row shown never depends on the order of the source alone.

Neighbours come from FAISS: exact (IndexFlatIP) up to EXACT_LIMIT prompts, an inverted file
with flat storage above it (exact cosines for the candidates it visits; the few neighbours it
misses stay separate rows, the safe error). Memory: the vectors once (FAISS's copy; chunks may
be memory-mapped), plus the neighbour lists of prompts that have a near copy.

Deliberately not here: which positions are prompts (staging.py), writing rows (pipeline.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from index.embedder import NEAR_DUPLICATE_COSINE

RECOMMENDED_COSINE = NEAR_DUPLICATE_COSINE  # chosen on the tuning queries of bench_retrieval (benchmarks/README.md)
NEIGHBOURS = 16  # neighbours looked at per prompt; a prompt with more near copies folds the rest later
EXACT_LIMIT = 50_000  # exact neighbour search up to here (~25 s for 50k on 2 cores), IVF above
NPROBE = 16  # inverted lists visited per query above EXACT_LIMIT (nlist = 4·sqrt(n))
SEARCH_BATCH = 4096


ADD_SLICE = 50_000  # vectors copied into FAISS at a time (a stored index may be one big memmap)


@dataclass
class NearDuplicates:
    """Where the new prompts that fold go: another new prompt (by position) or a stored row (by id)."""

    into_new: dict[int, int] = field(default_factory=dict)
    into_stored: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.into_new) + len(self.into_stored)


def _slices(chunks: Sequence[np.ndarray]) -> Iterator[np.ndarray]:
    for chunk in chunks:
        for start in range(0, len(chunk), ADD_SLICE):
            yield chunk[start : start + ADD_SLICE]


def _search_index(chunks: Sequence[np.ndarray], n: int, dimension: int):
    """A FAISS inner-product index over all chunks, added a slice at a time (no second copy)."""
    import faiss

    if n <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dimension)
    else:
        nlist = int(4 * math.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dimension), dimension, nlist, faiss.METRIC_INNER_PRODUCT)
        index.train(_training_sample(chunks, n, 64 * nlist))
        index.nprobe = NPROBE
    for part in _slices(chunks):
        index.add(np.ascontiguousarray(part, dtype=np.float32))
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
    threshold: float,
    *,
    counts: np.ndarray | None = None,
    first_seen: np.ndarray | None = None,
    stored: np.ndarray | None = None,
    neighbours: int = NEIGHBOURS,
    on_progress: Callable[[int, int], None] | None = None,
) -> NearDuplicates:
    """Which new prompts fold, and into what (see the module docstring); vectors L2-normalised.

    `chunks` are the new prompts' vectors in position order (position i is row i of their
    concatenation); `counts[i]` is how often prompt i occurred (default 1) and `first_seen[i]`
    where it was first seen (default i). `stored` are the vectors of rows already in the index
    (row id i = row i): representatives already, which never fold themselves.
    `on_progress(done, total)` is called after each searched chunk.
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    n = sum(len(chunk) for chunk in chunks)
    if n == 0:
        return NearDuplicates()
    counts = np.ones(n, dtype=np.int64) if counts is None else np.asarray(counts)
    first_seen = np.arange(n) if first_seen is None else np.asarray(first_seen)
    if len(counts) != n or len(first_seen) != n:
        raise ValueError(f"counts and first_seen must have one value for each of the {n} prompts")
    held = 0 if stored is None else len(stored)
    everything = ([stored] if held else []) + list(chunks)  # FAISS id = held + position for new prompts
    index = _search_index(everything, held + n, chunks[0].shape[1])
    k = min(neighbours + 1, held + n)  # +1: a prompt is its own nearest neighbour
    near: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # only prompts with a neighbour over the threshold
    start = 0
    for chunk in chunks:
        for offset in range(0, len(chunk), SEARCH_BATCH):
            batch = np.ascontiguousarray(chunk[offset : offset + SEARCH_BATCH], dtype=np.float32)
            scores, ids = index.search(batch, k)
            ids -= held  # new prompts by position; stored rows become negative: -held .. -1
            positions = np.arange(start + offset, start + offset + len(batch))
            close = (scores >= threshold) & (ids != positions[:, None]) & (ids >= -held) & (ids < n)
            for row in np.flatnonzero(close.any(axis=1)):
                near[int(positions[row])] = (ids[row][close[row]], scores[row][close[row]])
        start += len(chunk)
        if on_progress is not None:
            on_progress(start, n)
    del index
    # Who is shown: the most frequent wording; among equals the most typical one (the largest sum
    # of cosines to the prompts within the threshold: the wording the others vary), then the first seen.
    typical = np.zeros(n, dtype=np.float64)
    for position, (_, scores) in near.items():
        typical[position] = round(float(scores.sum()), 3)  # float noise must not beat first seen
    folds = _leaders(near, np.lexsort((np.arange(n), first_seen, -typical, -counts)))
    return NearDuplicates(
        into_new={p: into for p, into in folds.items() if into >= 0},
        into_stored={p: into + held for p, into in folds.items() if into < 0},
    )


def _leaders(near: dict[int, tuple[np.ndarray, np.ndarray]], priority: np.ndarray) -> dict[int, int]:
    """Leader clustering over the above-threshold neighbour lists, visiting prompts in `priority`
    order. Negative ids are stored rows: representatives from the start."""
    folded: dict[int, int] = {}
    leaders: set[int] = set()
    for position in (int(p) for p in priority):
        if position in folded or position not in near:
            continue  # absorbed by an earlier representative, or nothing near it: its own row
        ids, scores = near[position]
        stored = [(float(s), int(j)) for j, s in zip(ids, scores, strict=True) if j < 0]
        into = stored or [(float(s), int(j)) for j, s in zip(ids, scores, strict=True) if int(j) in leaders]
        if into:  # near a stored row (they come first), or a representative whose list missed this prompt
            folded[position] = max(into)[1]
            continue
        leaders.add(position)
        for j in (int(j) for j in ids):
            if j >= 0 and j not in leaders and j not in folded and not (j in near and (near[j][0] < 0).any()):
                folded[j] = position  # (a prompt near a stored row folds into that row instead, when visited)
    return folded
