"""The typo vocabulary: exact document counts (stored at ingest from SQLite's fts5vocab), same corrections."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from index import IndexWriter, PromptIndex, PromptRecord
from rag.retriever import Retriever
from rag.vocabulary import MIN_WORD_LEN, Vocabulary, fold, words_of

from .conftest import real_prompts

TEXTS = [
    "a lighthouse in a storm, lighthouse keeper, oil painting",  # "lighthouse" twice: one document
    "Café terrace at night, Van Gogh style, starry sky",
    "a CAFE on mars, 8k, octane render",
    "portrait of a knight, dramatic lighting, artstation",
    "lighthouse at dawn, watercolor",
    "a frog dressed as a knight, storybook illustration, zdzisław beksiński",  # last row: no cap
]


def _index(path, texts: list[str]) -> PromptIndex:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(len(texts), 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    writer = IndexWriter(path, model_id="test/random-8", dimension=8, index_type="flat")
    writer.add([PromptRecord(t) for t in texts], vectors)
    writer.publish()
    return PromptIndex.load(path)


def _reference_suggest(vocab: Vocabulary, word: str) -> list[str]:
    """The previous implementation's answer: scan every word, keep those within one edit."""

    def within_one_edit(a: str, b: str) -> bool:
        if abs(len(a) - len(b)) > 1:
            return False
        if len(a) == len(b):
            diff = [i for i in range(len(a)) if a[i] != b[i]]
            if len(diff) == 1:
                return True
            i, j = (diff + [0, 0])[:2]
            return len(diff) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]
        short, long_ = (a, b) if len(a) < len(b) else (b, a)
        return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))

    word = fold(word)
    if word in vocab.df or len(word) < MIN_WORD_LEN or not word.isalpha():
        return []
    found = [w for w in vocab.df if len(w) >= MIN_WORD_LEN and w.isalpha() and within_one_edit(word, w)]
    return sorted(found, key=lambda w: (-vocab.df[w], w))[:2]


def test_counts_from_fts5vocab_are_exact_document_counts(tmp_path):
    with _index(tmp_path / "idx", TEXTS) as index:
        vocab = Vocabulary.from_index(index)
        expected = Counter()
        for text in TEXTS:
            expected.update(set(words_of(text)))
        assert dict(vocab.df) == dict(expected)
        assert vocab.df["lighthouse"] == 2  # two prompts, three occurrences
        assert vocab.df["cafe"] == 2  # "Café" and "CAFE" fold to one token, as FTS5 stores it
        assert "beksinski" in vocab  # the last row counts too (the old reader stopped at 500k rows)
        index.verify(full=True)  # reading the counts leaves the checksummed index files untouched


def test_an_index_without_the_stored_counts_is_counted_from_fts5(tmp_path):
    import shutil
    import sqlite3

    from index import rows

    with _index(tmp_path / "idx", TEXTS) as index:
        stored = index.term_document_counts()
    older = tmp_path / "older.sqlite"  # the rows file as indexes built before the table existed had it
    shutil.copy(tmp_path / "idx" / "rows.sqlite", older)
    conn = sqlite3.connect(older)
    conn.execute("DROP TABLE prompt_vocabulary")
    assert dict(rows.term_document_counts(conn)) == stored == dict(rows.scan_term_document_counts(conn))
    conn.close()
    assert stored["lighthouse"] == 2


def test_typo_corrections_match_the_previous_algorithm_on_real_prompts(tmp_path, shared_data):
    texts = real_prompts(shared_data, 2000)
    with _index(tmp_path / "idx", texts) as index:
        vocab = Vocabulary.from_index(index)
    # Same counts as counting the words in Python; FTS5 also keeps symbols such as emoji as tokens.
    assert {w: n for w, n in vocab.df.items() if w.isalnum()} == dict(Vocabulary.from_texts(texts).df)
    rng = random.Random(3)
    words = sorted(w for w in vocab.df if len(w) >= 6 and w.isalpha() and w.isascii())
    typos = []
    for word in rng.sample(words, 150):
        i = rng.randrange(1, len(word) - 1)
        typos += [
            word[:i] + word[i + 1 :],  # deletion
            word[:i] + "x" + word[i:],  # insertion
            word[:i] + ("e" if word[i] != "e" else "a") + word[i + 1 :],  # substitution
            word[:i] + word[i + 1] + word[i] + word[i + 2 :],  # adjacent swap
        ]
    suggested = 0
    for typo in typos:
        assert vocab.suggest(typo) == _reference_suggest(vocab, typo), typo
        suggested += bool(vocab.suggest(typo))
    assert suggested > len(typos) // 2  # most one-edit typos of indexed words get a suggestion
    assert vocab.suggest(words[0]) == []  # a real word is never "corrected"
    assert vocab.suggest("lighthoüse") == vocab.suggest("lighthouse") == []  # folds like FTS5


def test_misspelt_keyword_query_finds_the_prompt(tmp_path):
    with _index(tmp_path / "idx", TEXTS) as index:
        retriever = Retriever(index)
        assert retriever.keyword_query("a lighthose at dawn").endswith("lighthouse")
        top = retriever.search("lighthose at dawn", k=1, mode="keyword")[0]
        assert top.prompt == "lighthouse at dawn, watercolor"
        assert index.keyword_search("lighthose", 5) == []  # without the correction: nothing


@pytest.mark.parametrize("word", ["", "abc", "8k", "lighthouse"])
def test_short_numeric_and_known_words_get_no_suggestion(word):
    vocab = Vocabulary.from_texts(TEXTS)
    assert vocab.suggest(word) == []
