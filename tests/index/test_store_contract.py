"""One contract for every PromptStore: the FAISS index directory and a Milvus Lite collection.

Both stores are written from the same records and the same real MiniLM vectors (the literal
prompts with full metadata plus 200 real DiffusionDB prompts), then every test runs against
each. The last tests compare the two stores with each other: what the retriever gets must not
depend on where the gallery lives.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from core.errors import InputError
from index import PromptIndex, PromptRecord, SearchFilters
from index.prompt_store import PromptStore, open_store
from rag.retriever import Retriever
from tests.index.conftest import LITERAL, build_index

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")


@pytest.fixture(scope="module")
def corpus(real_prompts, embedder):
    real = [PromptRecord(p, count=1 + i % 3, source="refl") for i, p in enumerate(real_prompts)]
    records = [*LITERAL, *real]
    vectors = embedder.embed([r.prompt for r in records])
    return records, vectors


def _write_milvus(uri: str, records, vectors, embedder) -> None:
    from index.milvus_writer import MilvusWriter

    writer = MilvusWriter(uri, model_id=embedder.model_id, dimension=embedder.dimension)
    try:
        writer.ensure_collection(fresh=True)
        half = len(records) // 2  # two chunks, as ingest writes them
        writer.upsert(0, records[:half], vectors[:half])
        writer.upsert(half, records[half:], vectors[half:])
        writer.publish(len(records))
    finally:
        writer.close()


@pytest.fixture(scope="module")
def locations(tmp_path_factory, corpus, embedder) -> dict[str, str]:
    records, vectors = corpus
    root = tmp_path_factory.mktemp("stores")
    faiss_dir = build_index(root / "faiss", records, vectors, embedder)
    uri = f"milvus-lite://{root / 'gallery.db'}/prompts"
    _write_milvus(uri, records, vectors, embedder)
    return {"faiss": str(faiss_dir), "milvus": uri}


@pytest.fixture(scope="module", params=["faiss", "milvus"])
def store(request, locations, embedder):
    opened = open_store(locations[request.param], embedder=embedder)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def both(locations, embedder):
    stores = {name: open_store(location, embedder=embedder) for name, location in locations.items()}
    yield stores
    for opened in stores.values():
        opened.close()


def test_open_store_gives_a_prompt_store(store, corpus):
    assert isinstance(store, PromptStore)
    assert len(store) == len(corpus[0])
    assert store.manifest.row_count == len(corpus[0])
    assert store.manifest.embedding_model.endswith("all-MiniLM-L6-v2")


def test_dense_search_finds_each_prompt_itself(store, corpus):
    records, vectors = corpus
    for i in (0, 3, 11, 40, len(records) - 1):
        hits = store.search_vector(vectors[i], k=5)
        assert hits[0].id == i and hits[0].prompt == records[i].prompt
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_text_search_ranks_the_closest_meaning_first(store):
    hits = store.search("a fox in the snow", k=3)
    assert hits[0].prompt.startswith("a majestic red fox")


FILTERS = [
    SearchFilters(min_count=3),
    SearchFilters(width=512, height=512),
    SearchFilters(sampler="k_lms"),
    SearchFilters(max_prompt_nsfw=0.5, max_image_nsfw=0.5),  # rows without scores are kept
    SearchFilters(min_count=2, sampler="k_euler_ancestral", width=512),
    SearchFilters(sampler='it\'s "quoted"'),  # matches nothing, and is no syntax error
]


def _passes(record: PromptRecord, f: SearchFilters) -> bool:
    return (
        record.count >= f.min_count
        and (f.width is None or record.width == f.width)
        and (f.height is None or record.height == f.height)
        and (f.sampler is None or record.sampler == f.sampler)
        and (f.max_prompt_nsfw is None or record.prompt_nsfw is None
             or record.prompt_nsfw <= f.max_prompt_nsfw)
        and (f.max_image_nsfw is None or record.image_nsfw is None or record.image_nsfw <= f.max_image_nsfw)
    )


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: repr(f.model_dump(exclude_defaults=True)))
def test_filters_keep_exactly_the_matching_rows(store, corpus, filters):
    records, vectors = corpus
    expected = {i for i, r in enumerate(records) if _passes(r, filters)}
    dense = store.search_vector(vectors[0], k=len(records), filters=filters)
    assert {h.id for h in dense} == expected
    words = store.keyword_search("painting photo red", k=len(records), filters=filters)
    assert {h.id for h in words} <= expected
    assert all(_passes(h.record, filters) for h in words)


def test_keyword_search_ranks_the_rare_word_first(store, corpus):
    records = corpus[0]
    hits = store.keyword_search("steampunk owl brass gears", k=5)
    assert records[hits[0].id].prompt.startswith("steampunk mechanical owl")
    assert all(h.score > 0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_keyword_search_takes_hostile_text_as_words(store):
    hits = store.keyword_search('"quoted" NEAR star* : ^weird-prompt', k=3)
    assert hits and hits[0].prompt.startswith('logo of a "quoted"')
    assert store.keyword_search("?!", k=3) == []


def test_get_returns_rows_by_id_in_the_order_asked(store, corpus):
    records = corpus[0]
    got = store.get([3, 0, 11])
    assert [h.id for h in got] == [3, 0, 11]
    for hit in got:
        assert hit.record == records[hit.id]  # every column, None and floats included
    with pytest.raises(InputError, match="no prompt with id"):
        store.get([len(records)])


def test_vectors_are_the_stored_ones(store, corpus):
    vectors = corpus[1]
    got = store.vectors([5, 1])
    assert got.shape == (2, vectors.shape[1]) and got.dtype == np.float32
    np.testing.assert_allclose(got, vectors[[5, 1]], atol=1e-6)


def test_iter_records_streams_every_row_in_id_order(store, corpus):
    records = corpus[0]
    streamed = [pair for batch in store.iter_records(batch_size=50) for pair in batch]
    assert [i for i, _ in streamed] == list(range(len(records)))
    assert [r for _, r in streamed] == records


def test_the_retriever_runs_every_mode_over_the_store(store):
    retriever = Retriever(store)
    for mode in ("dense", "keyword", "hybrid"):
        found = retriever.search("a cyberpunk street in the rain at night", k=5, mode=mode)
        assert found[0].prompt.startswith("cyberpunk city street"), mode
    varied = retriever.search("a painting", k=5, mode="hybrid", diversity=0.7)
    assert len({r.id for r in varied}) == 5


# ---- the two stores side by side ------------------------------------------------------------
def test_dense_results_are_identical_in_both_stores(both, corpus, embedder):
    queries = ["a castle by the sea", "portrait of an old man", "a cat astronaut", "neon city", "food photo"]
    for vector in [*embedder.embed(queries), *corpus[1][::25]]:
        faiss_hits = both["faiss"].search_vector(vector, k=10)
        milvus_hits = both["milvus"].search_vector(vector, k=10)
        assert [h.id for h in faiss_hits] == [h.id for h in milvus_hits]
        assert all(math.isclose(a.score, b.score, abs_tol=1e-4) for a, b in zip(faiss_hits, milvus_hits))


def test_keyword_and_hybrid_agree_between_stores(both, corpus):
    """Both are BM25 (k1 1.2, b 0.75) over the same words; IDF formulas differ slightly
    (FTS5 vs Milvus), so the top hit must agree and the top 10 overlap almost entirely."""
    records = corpus[0]
    queries = [" ".join(r.prompt.split()[:4]) for r in records[::20]]
    overlaps = []
    for query in queries:
        faiss_ids = [h.id for h in both["faiss"].keyword_search(query, k=10)]
        milvus_ids = [h.id for h in both["milvus"].keyword_search(query, k=10)]
        assert faiss_ids[0] == milvus_ids[0], query
        overlaps.append(len(set(faiss_ids) & set(milvus_ids)) / len(faiss_ids))
    assert np.mean(overlaps) >= 0.8
    top1 = [
        Retriever(both["faiss"]).search(q, k=1, mode="hybrid")[0].id
        == Retriever(both["milvus"]).search(q, k=1, mode="hybrid")[0].id
        for q in queries
    ]
    assert np.mean(top1) >= 0.9


def test_prompt_index_satisfies_the_protocol_unchanged(locations):
    with PromptIndex.load(locations["faiss"]) as index:
        assert isinstance(index, PromptStore)


def test_the_typo_vocabulary_is_the_same_in_both_stores(both):
    def words(counts):  # FTS5 also keeps symbol tokens such as emoji, Milvus' analyzer drops them
        return {token: n for token, n in counts.items() if token.isalnum()}

    faiss_counts = both["faiss"].term_document_counts()
    assert words(faiss_counts) == words(both["milvus"].term_document_counts())
    assert faiss_counts["fox"] >= 1 and "cafe" in faiss_counts  # lower case, diacritics folded
