"""FAISS index types for the prompt index: which one, with which parameters, built how.

All types use inner product on L2-normalised vectors (= cosine similarity) and sequential ids,
so FAISS id i is row i of vectors.npy and SQLite row id i.

- `flat`    IndexFlatIP: exact; fine up to a few hundred thousand rows.
- `hnsw`    IndexHNSWFlat (inner product): graph search, best latency at millions of rows;
            M=32, efConstruction=128. Memory ≈ vectors + ~M*8 bytes per row.
- `ivf_sq8` IndexIVFScalarQuantizer with 8-bit codes: a quarter of the memory, fast to build;
            nlist ≈ sqrt(n): k-means training costs ∝ nlist² (64 training points per list), so
            4·sqrt(n) would cost 16× as much to build; the tuned nprobe makes up the difference.
The search-time knob (efSearch / nprobe) is tuned at build time on the corpus itself: the
cheapest value reaching recall@10 ≥ 0.95 vs exact search (see `tune`), recorded in the manifest.
`auto` picks flat below AUTO_THRESHOLD rows (exact, and fast enough there), hnsw while its
estimated memory (vectors + graph links) fits RAM_BUDGET_BYTES, and ivf_sq8 above that
(≈ 590k rows of 384-d vectors): at 1M MiniLM vectors flat and hnsw hold 1.5-1.8 GB, ivf_sq8
~0.4 GB (see benchmarks/README.md, "Search at 1M"). The search layer re-scores the
approximate candidates exactly from vectors.npy, so scores are true cosines for every type.

Vectors are added from the on-disk memmap in chunks, so building never needs a second copy of
all vectors in RAM (FAISS itself holds the index, which for flat/hnsw is the vectors).

Deliberately not here: choosing k, filtering, reading rows (see store.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from core.errors import InputError

INDEX_TYPES = ("auto", "flat", "hnsw", "ivf_sq8")
AUTO_THRESHOLD = 200_000
ADD_CHUNK = 50_000
HNSW_DEFAULTS = {"M": 32, "efConstruction": 128, "efSearch": 128}
MAX_TRAIN_POINTS_PER_LIST = 64  # faiss warns below 39; more only slows training
RERANK_FACTOR = 3  # approximate search fetches k·3 candidates and re-scores them exactly (store.py)
TARGET_RECALL = 0.95  # on mixed-pair queries, which are harder than real ideas (see benchmarks)
TUNE_QUERIES = 200
RAM_BUDGET_BYTES = 1 << 30  # memory the automatic choice keeps the FAISS index under (issue 11)
DEFAULT_DIMENSION = 384  # all-MiniLM-L6-v2, the default embedder


def estimated_bytes(index_type: str, n: int, dimension: int = DEFAULT_DIMENSION) -> int:
    """Approximate RAM of a FAISS index of `n` vectors (what faiss.index holds once loaded)."""
    if index_type == "flat":
        return n * dimension * 4
    if index_type == "hnsw":
        # float vectors + level-0 links (2·M int32) + upper levels and level tables (~5 %)
        return int(n * (dimension * 4 + 2 * HNSW_DEFAULTS["M"] * 4) * 1.05)
    if index_type == "ivf_sq8":
        nlist = default_params("ivf_sq8", n)["nlist"] if n else 1
        return n * (dimension + 8) + nlist * dimension * 4 * 2  # codes + ids, coarse centroids
    raise InputError(f"unknown index type {index_type!r}; expected one of {', '.join(INDEX_TYPES[1:])}")


def choose_index_type(
    n: int,
    requested: str = "auto",
    threshold: int = AUTO_THRESHOLD,
    *,
    dimension: int = DEFAULT_DIMENSION,
    ram_budget: int | None = None,
) -> str:
    """The index type to build for `n` vectors of `dimension` (`requested` unless it is "auto").

    auto: flat below `threshold` rows; above it hnsw while its estimated memory fits
    `ram_budget` (default RAM_BUDGET_BYTES), else ivf_sq8 (8-bit codes: a quarter of the
    vectors' memory).
    """
    if requested not in INDEX_TYPES:
        raise InputError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {requested!r}")
    if requested != "auto":
        return requested
    if n < threshold:
        return "flat"
    budget = RAM_BUDGET_BYTES if ram_budget is None else ram_budget
    return "hnsw" if estimated_bytes("hnsw", n, dimension) <= budget else "ivf_sq8"


def default_params(index_type: str, n: int) -> dict[str, Any]:
    if index_type == "flat":
        return {}
    if index_type == "hnsw":
        return dict(HNSW_DEFAULTS)
    if index_type == "ivf_sq8":
        # sqrt(n) lists, but never fewer than ~39 training points per list (faiss's minimum).
        nlist = max(1, min(int(math.sqrt(n)), n // 39))
        return {"nlist": nlist, "nprobe": min(nlist, max(16, nlist // 8))}
    raise InputError(f"unknown index type {index_type!r}; expected one of {', '.join(INDEX_TYPES[1:])}")


def build(
    vectors: np.ndarray,
    index_type: str,
    params: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Build a FAISS index over `vectors` (an (n, d) float32 memmap), adding in chunks.

    For approximate types `params` is updated in place with the tuned search parameter and the
    recall it reached, so the caller records them in the manifest.
    """
    import faiss

    n, d = vectors.shape
    if index_type == "flat":
        index = faiss.IndexFlatIP(d)
    elif index_type == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(params["M"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params["efConstruction"])
    elif index_type == "ivf_sq8":
        quantizer = faiss.IndexFlatIP(d)
        index = faiss.IndexIVFScalarQuantizer(
            quantizer, d, int(params["nlist"]), faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.train(_training_sample(vectors, int(params["nlist"])))
    else:
        raise InputError(f"unknown index type {index_type!r}; expected one of {', '.join(INDEX_TYPES[1:])}")
    for start in range(0, n, ADD_CHUNK):
        index.add(np.ascontiguousarray(vectors[start : start + ADD_CHUNK], dtype=np.float32))
        if progress is not None:
            progress(min(ADD_CHUNK, n - start))
    if index_type != "flat":
        params.update(tune(index, vectors, index_type, params))
    apply_params(index, index_type, params)
    return index


def tune(index: Any, vectors: np.ndarray, index_type: str, params: dict[str, Any]) -> dict[str, Any]:
    """Pick the cheapest efSearch / nprobe whose recall@10 reaches TARGET_RECALL on this corpus.

    Queries are normalised sums of two random stored vectors (like an idea mixing two subjects;
    a stored vector itself would always find itself and flatter the index). Recall counts a true
    top-10 row as found when it is among the RERANK_FACTOR·10 candidates the search layer
    re-scores exactly. Ground truth is one exact pass over the memmap in chunks.
    """
    n = vectors.shape[0]
    rng = np.random.default_rng(0)
    m = min(TUNE_QUERIES, n)
    pairs = np.sort(rng.choice(n, size=(m, 2)), axis=0)
    queries = np.asarray(vectors[pairs[:, 0]], dtype=np.float32) + np.asarray(
        vectors[pairs[:, 1]], dtype=np.float32
    )
    queries /= np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    k = min(10, n)
    truth = _exact_top_k(vectors, queries, k)
    if index_type == "hnsw":
        name, ladder = "efSearch", [64, 128, 256, 512, 1024]
    else:
        nlist = int(params["nlist"])
        # Powers of two and the midpoints between them, from 4 lists up to all of them.
        steps = [m * 2**i for i in range(2, 20) for m in (2, 3)]
        name, ladder = "nprobe", sorted({min(nlist, s // 2) for s in steps})
    chosen, recall = ladder[-1], 0.0
    for value in ladder:
        apply_params(index, index_type, {**params, name: value})
        _, found = index.search(queries, min(n, k * RERANK_FACTOR))
        recall = float(np.mean([len(set(t) & set(f)) / k for t, f in zip(truth, found, strict=True)]))
        if recall >= TARGET_RECALL:
            chosen = value
            break
    return {name: int(chosen), "tuned_recall_at_10": round(recall, 4)}


def _exact_top_k(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    best_scores = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, vectors.shape[0], ADD_CHUNK):
        chunk = np.asarray(vectors[start : start + ADD_CHUNK], dtype=np.float32)
        scores = np.hstack([best_scores, queries @ chunk.T])
        ids = np.hstack(
            [best_ids, np.broadcast_to(np.arange(start, start + len(chunk)), (len(queries), len(chunk)))]
        )
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        best_scores = np.take_along_axis(scores, top, axis=1)
        best_ids = np.take_along_axis(ids, top, axis=1)
    return best_ids


def _training_sample(vectors: np.ndarray, nlist: int) -> np.ndarray:
    n = vectors.shape[0]
    size = min(n, nlist * MAX_TRAIN_POINTS_PER_LIST)
    # Sorted random rows: reading a memmap in order is much faster than random access.
    rows = np.sort(np.random.default_rng(0).choice(n, size=size, replace=False))
    return np.ascontiguousarray(vectors[rows], dtype=np.float32)


def apply_params(index: Any, index_type: str, params: dict[str, Any]) -> None:
    """Set the search-time parameters recorded in the manifest (they are not all persisted by FAISS)."""
    import faiss

    if index_type == "hnsw":
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])  # pyright: ignore[reportAttributeAccessIssue] (faiss's SWIG stubs type it as Index)
    elif index_type == "ivf_sq8":
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])


def check_loaded(index: Any, index_type: str) -> bool:
    """True when the FAISS object read from disk is of the type the manifest names."""
    import faiss

    expected = {
        "flat": faiss.IndexFlat,
        "hnsw": faiss.IndexHNSW,
        "ivf_sq8": faiss.IndexIVFScalarQuantizer,
    }.get(index_type)
    return expected is not None and isinstance(faiss.downcast_index(index), expected)
