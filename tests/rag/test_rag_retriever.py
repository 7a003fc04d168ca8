"""Retriever over a real index: modes, typo tolerance, MMR diversity, filters, LangChain adapter."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import InputError
from enhancers.grounded import subject_of
from index import SearchFilters
from rag.retriever import HybridParams, Retriever
from rag.vocabulary import Vocabulary


@pytest.fixture(scope="module")
def retriever(rag_index):
    return Retriever(rag_index)


def _find(rag_index, text):
    """The id of `text` in the index (ingest may have collapsed its whitespace)."""
    wanted = " ".join(text.split())
    return next(i for batch in rag_index.iter_records() for i, r in batch if " ".join(r.prompt.split()) == wanted)


def test_every_mode_finds_the_prompt_of_a_subject(retriever, rag_index, corpus):
    source = corpus[4]
    target = _find(rag_index, source)
    for mode in ("dense", "keyword", "hybrid"):
        results = retriever.search(subject_of(source), k=10, mode=mode)
        assert len(results) == 10 and [r.rank for r in results] == list(range(1, 11))
        assert target in [r.id for r in results], mode
    hybrid = retriever.search(subject_of(source), k=10, mode="hybrid")
    assert all(r.dense_score is not None for r in hybrid)  # every fused candidate scored on both sides
    assert any(r.keyword_rank is not None for r in hybrid)


def test_typo_tolerance_finds_a_misspelt_word(rag_index, corpus):
    vocab = Vocabulary.from_texts(corpus)
    word = next(w for w in sorted(vocab.df, key=lambda w: -vocab.df[w]) if len(w) >= 7 and w.isalpha())
    misspelt = word[:3] + word[4] + word[3] + word[5:]  # adjacent swap
    assert misspelt not in vocab and word in vocab.suggest(misspelt)
    assert vocab.suggest(word) == []  # a real word is never "corrected"
    with_typos = Retriever(rag_index)
    without = Retriever(rag_index, HybridParams(typo_tolerance=False))
    found = with_typos.search(misspelt, k=5, mode="keyword")
    assert found and all(word in r.prompt.lower() for r in found)
    assert without.search(misspelt, k=5, mode="keyword") == []


def test_mmr_makes_the_top_results_less_redundant(retriever, rag_index):
    def redundancy(results):
        v = rag_index.vectors([r.id for r in results])
        sims = v @ v.T
        return float(sims[np.triu_indices(len(results), 1)].mean())

    plain = retriever.search("portrait of a beautiful woman, highly detailed", k=8, mode="dense")
    varied = retriever.search("portrait of a beautiful woman, highly detailed", k=8, mode="dense", diversity=0.7)
    assert varied[0].id == plain[0].id  # the best match still leads
    assert redundancy(varied) < redundancy(plain)


def test_filters_apply_in_every_mode(retriever):
    popular = SearchFilters(min_count=5)
    for mode in ("dense", "keyword", "hybrid"):
        results = retriever.search("portrait painting", k=5, mode=mode, filters=popular)
        assert results and all(r.count >= 5 for r in results)


def test_bad_arguments_name_the_fix(retriever):
    with pytest.raises(InputError, match="mode must be one of dense, keyword, hybrid"):
        retriever.search("a cat", mode="semantic")
    with pytest.raises(InputError, match="non-empty"):
        retriever.search("   ")
    with pytest.raises(InputError, match="k"):
        retriever.search("a cat", k=0)


def test_langchain_retriever_returns_documents(retriever):
    from langchain_core.documents import Document

    from rag.langchain import PromptragRetriever

    docs = PromptragRetriever(retriever=retriever, k=3, mode="hybrid").invoke("a castle in the clouds")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    assert set(docs[0].metadata) == {"id", "score", "count", "seed", "steps", "cfg", "sampler", "width", "height"}
    assert docs[0].page_content == retriever.store.get([docs[0].metadata["id"]])[0].prompt


def test_search_command_takes_a_mode(rag_index, promptrag_cli):
    import json

    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    base = ["search", "a castle in the clouds", "-k", "3", "--index", str(rag_index.path), "--json"]
    hybrid = runner.invoke(app, [*base, "--mode", "hybrid"])
    assert hybrid.exit_code == 0, hybrid.output
    results = json.loads(hybrid.stdout)["results"]
    assert len(results) == 3 and results[0]["score"] >= results[-1]["score"]
    bad = promptrag_cli(*base, "--mode", "semantic")
    assert bad.exit_code == 2 and bad.stdout == ""
    assert bad.one_line_error() == ("promptrag: error: mode must be one of dense, keyword, hybrid, "
                                    "got 'semantic'")


def test_hybrid_finds_a_typed_idea_that_dense_alone_misses(retriever, rag_index, corpus):
    source = corpus[20]
    assert subject_of(source) == "paint brush strokes"
    target = _find(rag_index, source)
    typed = "paint brush strkoes"  # the way a person types it
    assert target not in [r.id for r in retriever.search(typed, k=3, mode="dense")]
    assert target in [r.id for r in retriever.search(typed, k=3, mode="hybrid")]


def test_stop_word_pairs_earn_no_phrase_credit(rag_index):
    """ "in a" matches half the gallery: only pairs with a content word single out a prompt."""
    retriever = Retriever(rag_index, HybridParams(typo_tolerance=False))
    pairs = retriever._query_pairs("a lighthouse in a storm")
    assert pairs == [{("a", "lighthouse")}, {("lighthouse", "in")}, {("a", "storm")}]
