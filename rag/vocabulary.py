"""Typo tolerance for keyword search: the closest indexed words of a misspelt query word.

BM25 only matches exact tokens, so "lighthose" finds nothing a "lighthouse" prompt says. The
`Vocabulary` holds every word of the index (document frequencies, built once per retriever by
streaming the rows) and a symmetric-delete table (SymSpell's trick): each word is filed under
itself and every string made by deleting one of its letters. Two words within one edit
(insertion, deletion, substitution, adjacent swap) then share a key, so a lookup is a handful of
dictionary probes instead of a scan of the vocabulary.

Deliberately not here: phonetic matching, multi-word splits/joins, or corrections of words the
index already contains (a real word is never "corrected").
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # the FTS5 unicode61 notion of a token
MIN_WORD_LEN = 4  # shorter words have too many neighbours one edit away
MAX_CORRECTIONS_PER_WORD = 2
# Rows read to build the vocabulary: enough for every word that occurs more than a handful of
# times, while keeping the build (and the delete table's memory) bounded on multi-million-row
# indexes. Words only seen in later rows are not suggested.
MAX_VOCABULARY_ROWS = 500_000


def words_of(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]]
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class Vocabulary:
    """Indexed words with document frequencies and a one-edit neighbour table."""

    def __init__(self, document_frequency: Counter) -> None:
        self.df = document_frequency
        self._neighbours: dict[str, list[str]] = {}
        for word in document_frequency:
            if len(word) < MIN_WORD_LEN or not word.isalpha():
                continue
            for key in _deletes(word) | {word}:
                self._neighbours.setdefault(key, []).append(word)

    @classmethod
    def from_texts(cls, texts: Any) -> Vocabulary:
        df: Counter = Counter()
        for text in texts:
            df.update(set(words_of(text)))
        return cls(df)

    @classmethod
    def from_index(cls, index: Any, max_rows: int = MAX_VOCABULARY_ROWS) -> Vocabulary:
        """Stream the stored prompts of a PromptIndex once (at most `max_rows` of them)."""
        def texts():
            seen = 0
            for batch in index.iter_records():
                for _, record in batch:
                    if seen >= max_rows:
                        return
                    seen += 1
                    yield record.prompt

        return cls.from_texts(texts())

    def __contains__(self, word: str) -> bool:
        return word in self.df

    def suggest(self, word: str) -> list[str]:
        """Indexed words one edit from `word` (most frequent first); [] for known or short words."""
        word = word.lower()
        if word in self.df or len(word) < MIN_WORD_LEN or not word.isalpha():
            return []
        found: set[str] = set()
        for key in _deletes(word) | {word}:
            for candidate in self._neighbours.get(key, ()):
                if candidate not in found and _within_one_edit(word, candidate):
                    found.add(candidate)
        return sorted(found, key=lambda w: (-self.df[w], w))[:MAX_CORRECTIONS_PER_WORD]

    def corrections(self, text: str) -> list[str]:
        """Suggested replacements for the unknown words of `text`, in order, without repeats."""
        out: list[str] = []
        for word in dict.fromkeys(words_of(text)):
            for suggestion in self.suggest(word):
                if suggestion not in out:
                    out.append(suggestion)
        return out
