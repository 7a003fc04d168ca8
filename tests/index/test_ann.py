"""Approximate index types (hnsw, ivf_sq8) against exact search, on small clustered data."""

from __future__ import annotations

import numpy as np
import pytest

from index import IndexWriter, PromptIndex, PromptRecord, SearchFilters

N, D, CLUSTERS = 4000, 32, 40


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(7)
    centers = rng.normal(size=(CLUSTERS, D))
    points = centers[rng.integers(0, CLUSTERS, N)] + 0.35 * rng.normal(size=(N, D))
    points = (points / np.linalg.norm(points, axis=1, keepdims=True)).astype(np.float32)
    queries = centers[rng.integers(0, CLUSTERS, 100)] + 0.35 * rng.normal(size=(100, D))
    records = [
        PromptRecord(f"prompt number {i}", count=1 + i % 3, sampler=("ddim", "k_lms")[i % 2])
        for i in range(N)
    ]
    return points, queries.astype(np.float32), records


def _build(path, data, **kwargs) -> PromptIndex:
    points, _, records = data
    writer = IndexWriter(path, model_id="test/random-32", dimension=D, **kwargs)
    for start in range(0, N, 1500):
        writer.add(records[start : start + 1500], points[start : start + 1500])
    writer.publish()
    return PromptIndex.load(path)


@pytest.fixture(scope="module")
def exact(tmp_path_factory, data):
    index = _build(tmp_path_factory.mktemp("ann") / "flat", data, index_type="flat")
    yield index
    index.close()


def _recall(index, exact, queries, k=10, filters=None) -> float:
    total = 0
    for q in queries:
        truth = {h.id for h in exact.search_vector(q, k, filters)}
        total += len(truth & {h.id for h in index.search_vector(q, k, filters)})
    return total / (k * len(queries))


@pytest.mark.parametrize("index_type", ["hnsw", "ivf_sq8"])
def test_approximate_recall_vs_exact(tmp_path, data, exact, index_type):
    _, queries, _ = data
    with _build(tmp_path / index_type, data, index_type=index_type) as index:
        assert index.manifest.index_type == index_type
        params = index.manifest.index_params  # parameters recorded for the loader
        assert params["tuned_recall_at_10"] >= 0.95 and ("efSearch" in params or "nprobe" in params)
        assert _recall(index, exact, queries) >= 0.95
        # Scores are exact cosines (re-scored from vectors.npy), so they agree with flat's.
        q = queries[0]
        a, b = index.search_vector(q, 5), exact.search_vector(q, 5)
        if [h.id for h in a] == [h.id for h in b]:
            assert [h.score for h in a] == pytest.approx([h.score for h in b], abs=1e-5)
        filters = SearchFilters(min_count=3, sampler="ddim")
        assert all(h.count >= 3 and h.sampler == "ddim" for h in index.search_vector(q, 10, filters))


def test_filtered_overfetch_recall(tmp_path, data, exact, monkeypatch):
    import index.store as store

    monkeypatch.setattr(store, "PREFILTER_LIMIT", 0)  # force FAISS over-fetch + SQL filtering
    _, queries, _ = data
    with _build(tmp_path / "hnsw", data, index_type="hnsw") as index:
        assert _recall(index, exact, queries[:30], filters=SearchFilters(min_count=3)) >= 0.95


def test_auto_picks_approximate_above_threshold(tmp_path, data):
    with _build(tmp_path / "auto-big", data, auto_threshold=1000) as index:
        assert index.manifest.index_type == "hnsw"
        params = index.manifest.index_params
        assert params["efSearch"] in (64, 128, 256, 512, 1024) and params["tuned_recall_at_10"] >= 0.95
        import faiss

        assert faiss.downcast_index(index._faiss).hnsw.efSearch == params["efSearch"]  # applied on load
    with _build(tmp_path / "auto-small", data) as index:
        assert index.manifest.index_type == "flat"


def test_auto_choice_keeps_the_index_under_the_memory_budget():
    from index import ann

    d = 384  # all-MiniLM-L6-v2
    assert ann.choose_index_type(150_000, dimension=d) == "flat"
    assert ann.choose_index_type(300_000, dimension=d) == "hnsw"  # ~0.5 GB of vectors + links
    # 1M MiniLM vectors: flat 1.5 GB, hnsw 1.8 GB, ivf_sq8 ~0.4 GB -> ivf_sq8, inside 1 GB.
    assert ann.choose_index_type(1_000_000, dimension=d) == "ivf_sq8"
    assert ann.estimated_bytes("ivf_sq8", 1_000_000, d) <= ann.RAM_BUDGET_BYTES
    assert ann.estimated_bytes("hnsw", 1_000_000, d) > ann.RAM_BUDGET_BYTES
    # Smaller vectors fit the graph for longer; an explicit type is always kept.
    assert ann.choose_index_type(1_000_000, dimension=64) == "hnsw"
    assert ann.choose_index_type(1_000_000, "flat", dimension=d) == "flat"
    with pytest.raises(Exception, match="index_type must be one of"):
        ann.choose_index_type(10, "annoy")


def test_auto_picks_ivf_sq8_when_the_graph_would_not_fit(tmp_path, data, exact, monkeypatch):
    from index import ann

    _, queries, _ = data
    # 4000 rows of 32-d: hnsw ~0.8 MB; a 0.5 MB budget stands in for 1 GB at 1M MiniLM rows.
    monkeypatch.setattr(ann, "RAM_BUDGET_BYTES", 500_000)
    with _build(tmp_path / "auto-ivf", data, auto_threshold=1000) as index:
        assert index.manifest.index_type == "ivf_sq8"
        params = index.manifest.index_params
        assert params["nlist"] == 63 and params["tuned_recall_at_10"] >= 0.95  # sqrt(4000)
        assert params["nprobe"] < params["nlist"]  # the tuner found a cheaper setting than a full scan
        assert _recall(index, exact, queries) >= 0.95
        assert (index.path / "faiss.index").stat().st_size < N * D * 4 / 2  # 8-bit codes, not floats
