"""The one relevance figure Explore shows, "close or not", and "did you mean" (rag/relevance.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from index import IndexWriter, PromptIndex, PromptRecord
from rag.relevance import CLOSE_COSINE, SURE_COSINE, is_close, judge, knows_words, percents
from rag.retriever import Retriever
from rag.vocabulary import Vocabulary

TEXTS = ["a lighthouse in a storm, oil painting", "portrait of a knight, dramatic lighting",
         "lighthouse at dawn, watercolor", "a cozy cabin in the snow"]


def test_percent_is_the_top_cosine_then_follows_the_ranking_score():
    # hybrid-like: fused scores 1.4, 0.7, 0.35 and a top cosine of 0.6 -> 60, 30, 15
    assert percents([1.4, 0.7, 0.35], top_cosine=0.6) == [60, 30, 15]
    # dense: the scores are the cosines, so the figure is each prompt's own cosine
    assert percents([0.8, 0.5, 0.1], top_cosine=0.8) == [80, 50, 10]
    # never above 100, never below 0, and nothing from a useless top score
    assert percents([2.0, 3.0], top_cosine=1.0)[1] == 100
    assert percents([0.3, -0.2], top_cosine=-0.1) == [0, 0]
    assert percents([0.0, 0.0], top_cosine=0.5) == [0, 0]
    assert percents([], top_cosine=0.5) == []


def test_percents_never_rise_down_a_ranked_list():
    rng = np.random.default_rng(3)
    scores = sorted(rng.uniform(0, 2, 50).tolist(), reverse=True)
    shown = percents(scores, top_cosine=0.73)
    assert shown == sorted(shown, reverse=True) and shown[0] == 73


def test_close_needs_known_words_below_the_sure_threshold():
    assert is_close(SURE_COSINE, knows_words=False)
    assert not is_close(SURE_COSINE - 0.01, knows_words=False)
    assert is_close(CLOSE_COSINE, knows_words=True)
    assert not is_close(CLOSE_COSINE - 0.01, knows_words=True)


def test_knows_words_counts_typos_but_not_stop_words_or_nonsense():
    vocabulary = Vocabulary.from_texts(TEXTS)
    assert knows_words(vocabulary, "Lighthouse")
    assert knows_words(vocabulary, "a lighthose")  # one edit from an indexed word
    assert not knows_words(vocabulary, "asdkjh qwe")
    assert not knows_words(vocabulary, "🦄🦄")
    assert not knows_words(vocabulary, "in a the")  # stop words say nothing


def test_corrected_replaces_only_unknown_words_and_keeps_the_rest():
    vocabulary = Vocabulary.from_texts(TEXTS)
    assert vocabulary.corrected("A lighthose in a strom!") == "A lighthouse in a storm!"
    assert vocabulary.corrected("a lighthouse in a storm") is None
    assert vocabulary.corrected("asdkjh") is None


def _index(path) -> PromptIndex:
    vectors = np.eye(len(TEXTS), 8, dtype=np.float32)
    writer = IndexWriter(path, model_id="test/eye-8", dimension=8, index_type="flat")
    writer.add([PromptRecord(t) for t in TEXTS], vectors)
    writer.publish()
    return PromptIndex.load(path)


def test_judge_keyword_results_get_cosines_from_stored_vectors(tmp_path, monkeypatch):
    index = _index(tmp_path / "index")
    query = np.zeros(8, dtype=np.float32)
    query[2], query[0] = 0.9, 0.1  # closest in meaning to "lighthouse at dawn"
    monkeypatch.setattr(index, "embed_query", lambda text: query / np.linalg.norm(query))
    retriever = Retriever(index)
    results = retriever.search("lighthose", k=4, mode="keyword")
    assert {r.prompt for r in results} == {TEXTS[0], TEXTS[2]}  # found through the typo correction
    judged = judge(retriever, "lighthose", results)
    assert judged.did_you_mean == "lighthouse"
    cos = {r.prompt: j.cosine for r, j in zip(results, judged.relevance)}
    assert round(cos[TEXTS[2]], 3) == round(0.9 / np.linalg.norm(query), 3)
    shown = [j.percent for j in judged.relevance]
    assert shown == sorted(shown, reverse=True)
    assert judged.any_close  # a known word (a typo of one) and a cosine of 0.99


def test_judge_says_nothing_is_close_for_nonsense(tmp_path, monkeypatch):
    index = _index(tmp_path / "index")
    flat = np.full(8, 1 / np.sqrt(8), dtype=np.float32)  # cosine 0.35 to every prompt
    monkeypatch.setattr(index, "embed_query", lambda text: flat)
    retriever = Retriever(index)
    results = retriever.search("asdkjh qwe", k=4, mode="hybrid")
    judged = judge(retriever, "asdkjh qwe", results)
    assert results and not judged.any_close and judged.close_count == 0
    assert judged.did_you_mean is None
    assert judge(retriever, "asdkjh", []) == judge(retriever, "asdkjh", [])  # empty results: no error


def test_judge_without_typo_tolerance_suggests_nothing():
    vocabulary = Vocabulary.from_texts(TEXTS)
    retriever = SimpleNamespace(vocabulary=lambda: vocabulary, params=SimpleNamespace(typo_tolerance=False))
    assert judge(retriever, "lighthose", []).did_you_mean is None
