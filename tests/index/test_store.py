"""Round trips through a real index: dense search, filters, keyword search, row access."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from index import PromptIndex, SearchFilters, SearchHit
from tests.index.conftest import LITERAL


def test_round_trip_finds_each_prompt_first(literal_index):
    assert len(literal_index) == len(LITERAL)
    for i, record in enumerate(LITERAL):
        hits = literal_index.search(record.prompt, k=3)
        assert hits[0].id == i
        assert hits[0].record == record  # every field survives the trip through SQLite
        assert hits[0].score == pytest.approx(1.0, abs=1e-4)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_short_idea_finds_related_prompt(literal_index):
    assert literal_index.search("a fox in the snow", k=1)[0].prompt.startswith("a majestic red fox")
    assert "ramen" in literal_index.search("noodle soup", k=1)[0].prompt


def test_real_prompts_short_subject_idea_in_top10(real_index, real_prompts):
    # Ideas a user might type, each made from the subject of a real prompt in the corpus.
    picks = [p for p in real_prompts if len(p.split(",")[0].split()) >= 3][:15]
    found = 0
    for prompt in picks:
        idea = " ".join(prompt.split(",")[0].split()[:6])
        ids = [h.prompt for h in real_index.search(idea, k=10)]
        found += prompt in ids
    assert found >= 0.8 * len(picks), f"only {found}/{len(picks)} found"


def test_filters(literal_index):
    by_size = literal_index.search("a painting", k=20, filters=SearchFilters(width=512, height=768))
    assert {h.id for h in by_size} == {i for i, r in enumerate(LITERAL) if (r.width, r.height) == (512, 768)}
    popular = literal_index.search("a picture", k=20, filters=SearchFilters(min_count=5))
    assert popular and all(h.count >= 5 for h in popular)
    assert {h.id for h in popular} == {i for i, r in enumerate(LITERAL) if r.count >= 5}
    euler = literal_index.search("space", k=2, filters=SearchFilters(sampler="k_euler_ancestral"))
    assert len(euler) == 2 and all(h.sampler == "k_euler_ancestral" for h in euler)
    assert "astronaut" in euler[0].prompt
    safe = literal_index.search("cute puppy", k=20, filters=SearchFilters(max_image_nsfw=0.5))
    assert "corgi" not in " ".join(h.prompt for h in safe)  # image_nsfw 0.9 is dropped
    assert any(h.image_nsfw is None for h in safe)  # unscored rows are kept, as documented
    assert literal_index.search("fox", filters=SearchFilters(sampler="no-such-sampler")) == []


def test_filters_through_faiss_overfetch(literal_index, monkeypatch):
    # Force the over-fetch path (not the exact pre-filter) and check it gives the same answer.
    import index.store as store

    exact = literal_index.search("a painting", k=3, filters=SearchFilters(sampler="k_lms"))
    monkeypatch.setattr(store, "PREFILTER_LIMIT", 0)
    overfetched = literal_index.search("a painting", k=3, filters=SearchFilters(sampler="k_lms"))
    assert [h.id for h in overfetched] == [h.id for h in exact]
    assert [h.score for h in overfetched] == pytest.approx([h.score for h in exact], abs=1e-5)


def test_keyword_search_bm25(literal_index):
    hits = literal_index.keyword_search("ramen photography", k=5)
    assert hits[0].prompt.startswith("bowl of ramen")
    assert hits[0].score > 0 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # OR semantics: one matching word is enough.
    assert [h.id for h in literal_index.keyword_search("zzzunknown kyoto", k=5)] == [8]
    # Diacritics are folded: "cafe" finds "café".
    assert "café" in literal_index.keyword_search("cafe", k=1)[0].prompt
    filtered = literal_index.keyword_search("painting", k=10, filters=SearchFilters(sampler="k_lms"))
    assert filtered and all(h.sampler == "k_lms" for h in filtered)


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "NEAR(a b)",
        "*",
        "fox*",
        "prompt:fox",
        "a OR",
        "AND",
        "NOT fox",
        "(",
        "^fox",
        "'; DROP TABLE prompts; --",
        "\x00",
        "🦊",
        "-",
        "{prompt}: fox",
        "weird-prompt",
        "x" * 5000,
        " ".join(["fox"] * 500),
    ],
)
def test_keyword_search_hostile_queries_do_not_raise(literal_index, query):
    hits = literal_index.keyword_search(query, k=5)
    assert isinstance(hits, list) and all(isinstance(h, SearchHit) for h in hits)
    assert len(literal_index) == len(LITERAL)  # nothing was dropped


def test_keyword_search_ignores_stop_words_unless_alone(literal_index):
    assert [h.id for h in literal_index.keyword_search("the kyoto of a", k=5)] == [8]
    assert literal_index.keyword_search("a", k=20)  # only stop words: still searched


def test_keyword_search_finds_syntax_words_as_words(literal_index):
    assert literal_index.keyword_search('"quoted" NEAR star*', k=1)[0].id == 11


def test_get_vectors_iter_records(literal_index, literal_vectors):
    hits = literal_index.get([3, 0])
    assert [h.id for h in hits] == [3, 0] and hits[0].record == LITERAL[3] and hits[0].score == 0.0
    np.testing.assert_allclose(literal_index.vectors([3, 0]), literal_vectors[[3, 0]], atol=1e-6)
    stored = literal_index.stored_vectors()
    assert stored.shape == (len(LITERAL), literal_index.manifest.dimension) and not stored.flags.writeable
    batches = list(literal_index.iter_records(batch_size=5))
    assert [len(b) for b in batches] == [5, 5, 2]
    assert [rec for batch in batches for _, rec in batch] == LITERAL
    assert [i for batch in batches for i, _ in batch] == list(range(len(LITERAL)))


def test_search_vector_matches_text_search(literal_index):
    vector = literal_index.embed_query("a fox in the snow")
    assert vector.shape == (literal_index.manifest.dimension,)
    assert [h.id for h in literal_index.search_vector(vector * 3.0, k=4)] == [
        h.id for h in literal_index.search("a fox in the snow", k=4)
    ]
    assert len(literal_index.search_vector(vector, k=100)) == len(LITERAL)  # k above n: all rows


@pytest.mark.parametrize(
    "call",
    [
        lambda ix: ix.search("", k=3),
        lambda ix: ix.search("   ", k=3),
        lambda ix: ix.search("fox", k=0),
        lambda ix: ix.search("fox", k=-1),
        lambda ix: ix.keyword_search("fox", k=0),
        lambda ix: ix.search("x" * 30_000),
        lambda ix: ix.search_vector(np.zeros(384, dtype=np.float32)),
        lambda ix: ix.search_vector(np.ones(10, dtype=np.float32)),
        lambda ix: ix.search_vector(np.full(384, np.nan, dtype=np.float32)),
        lambda ix: ix.get([len(LITERAL)]),
        lambda ix: ix.get([-1]),
        lambda ix: ix.vectors([10**9]),
    ],
)
def test_bad_input_is_a_clear_error(literal_index, call):
    with pytest.raises(InputError):
        call(literal_index)


def test_search_filters_validate_loudly():
    with pytest.raises(ValueError):
        SearchFilters(min_count=0)
    with pytest.raises(ValueError):
        SearchFilters(max_prompt_nsfw=1.5)
    with pytest.raises(ValueError):
        SearchFilters(color="red")  # extra="forbid"


def test_hit_to_dict_is_json_ready(literal_index):
    import json

    data = literal_index.search("fox", k=1)[0].to_dict()
    assert set(data) == {
        "id",
        "score",
        "prompt",
        "count",
        "seed",
        "steps",
        "cfg",
        "sampler",
        "width",
        "height",
        "prompt_nsfw",
        "image_nsfw",
        "source",
        "variants",
        "image",
    }
    assert json.loads(json.dumps(data)) == data


def test_index_usable_without_model_for_vector_and_keyword(literal_index_dir, literal_vectors):
    with PromptIndex.load(literal_index_dir) as index:  # no embedder given: loaded lazily, only if needed
        assert index._embedder is None
        assert index.search_vector(literal_vectors[2], k=1)[0].id == 2
        assert index.keyword_search("neon", k=1)[0].id == 2
        assert index._embedder is None
