"""FAISS index types for the prompt index: which one, with which parameters, built how.

All types use inner product on L2-normalised vectors (= cosine similarity) and sequential ids,
so FAISS id i is row i of vectors.npy and SQLite row id i.

- `flat`    IndexFlatIP: exact; fine up to a few hundred thousand rows.
- `hnsw`    IndexHNSWFlat (inner product): graph search, best latency at millions of rows;
            M=32, efConstruction=200, efSearch=128 give recall@10 ≥ 0.95 vs exact on prompt
            embeddings. Memory ≈ vectors + ~M*8 bytes per row.
- `ivf_sq8` IndexIVFScalarQuantizer with 8-bit codes: a quarter of the memory, fast to build;
            nlist ≈ 4·sqrt(n), nprobe = nlist/8 (at least 16).
`auto` picks flat below AUTO_THRESHOLD rows and hnsw above. The search layer re-scores the
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
HNSW_DEFAULTS = {"M": 32, "efConstruction": 200, "efSearch": 128}
MAX_TRAIN_POINTS_PER_LIST = 64  # faiss warns below 39; more only slows training


def choose_index_type(n: int, requested: str = "auto", threshold: int = AUTO_THRESHOLD) -> str:
    if requested not in INDEX_TYPES:
        raise InputError(f"index_type must be one of {', '.join(INDEX_TYPES)}, got {requested!r}")
    if requested != "auto":
        return requested
    return "flat" if n < threshold else "hnsw"


def default_params(index_type: str, n: int) -> dict[str, Any]:
    if index_type == "flat":
        return {}
    if index_type == "hnsw":
        return dict(HNSW_DEFAULTS)
    if index_type == "ivf_sq8":
        # 4·sqrt(n) lists, but never fewer than ~39 training points per list (faiss's minimum).
        nlist = max(1, min(int(4 * math.sqrt(n)), n // 39))
        return {"nlist": nlist, "nprobe": min(nlist, max(16, nlist // 8))}
    raise InputError(f"unknown index type {index_type!r}; expected one of {', '.join(INDEX_TYPES[1:])}")


def build(
    vectors: np.ndarray,
    index_type: str,
    params: dict[str, Any],
    progress: Callable[[int], None] | None = None,
) -> Any:
    """Build a FAISS index over `vectors` (an (n, d) float32 memmap), adding in chunks."""
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
    apply_params(index, index_type, params)
    return index


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
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])
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
