"""rag.folding: near-duplicates leave a short result list, best first, never chaining."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from rag.folding import fold_retrieved, keep_distinct


def unit(*rows: list[float]) -> np.ndarray:
    vectors = np.asarray(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_near_copy_folds_into_the_better_ranked_one_and_order_is_kept():
    vectors = unit([1, 0, 0], [0.99, 0.1, 0], [0, 1, 0], [0, 0.1, 0.99], [0, 0, 1])
    kept, dropped = keep_distinct(vectors, threshold=0.94)
    assert kept == [0, 2, 3]
    assert dropped == {1: 0, 4: 3}


def test_no_chaining_a_b_and_b_c_do_not_fold_a_and_c():
    # a~b and b~c are over the threshold, a~c is not: b folds into a, c stays.
    angle = np.radians(15)
    vectors = unit([1, 0], [np.cos(angle), np.sin(angle)], [np.cos(2 * angle), np.sin(2 * angle)])
    kept, dropped = keep_distinct(vectors, threshold=0.95)
    assert kept == [0, 2] and dropped == {1: 0}


def test_the_threshold_is_checked():
    with pytest.raises(ValueError, match="threshold must be in"):
        keep_distinct(unit([1, 0]), threshold=0.0)


def test_fold_retrieved_reads_the_stored_vectors_and_keeps_at_most_k():
    vectors = {10: [1, 0, 0], 11: [0.99, 0.1, 0], 12: [0, 1, 0], 13: [0, 0, 1]}
    index = SimpleNamespace(vectors=lambda ids: unit(*[vectors[i] for i in ids]))
    retrieved = [SimpleNamespace(id=i) for i in (10, 11, 12, 13)]
    folded = fold_retrieved(SimpleNamespace(store=index), retrieved, k=2)
    assert [r.id for r in folded.kept] == [10, 12]
    assert folded.folded_into == {10: [11]} and folded.n_folded == 1
