"""Typo tolerance for keyword search: the closest indexed words of a misspelt query word.

BM25 only matches exact tokens, so "lighthose" finds nothing a "lighthouse" prompt says. The
`Vocabulary` holds every token of the keyword index with its exact document frequency
(`PromptIndex.term_document_counts`): counted once at ingest from SQLite's fts5vocab table and
stored in the index, so the first query reads a table instead of scanning the FTS5 index
(seconds at 1M rows) or re-tokenising every prompt (minutes); see benchmarks/README.md.

An unknown word is corrected by generating every string one edit away (deletion, adjacent
swap, substitution, insertion — Norvig's spelling corrector) and keeping those the index holds.
That needs nothing but the frequency table, so building stays a plain read; substitutions and
insertions draw on the letters the vocabulary's words use (at most MAX_ALPHABET, commonest
first, which for Latin-script galleries is all of them).

Words are compared the way FTS5's `unicode61 remove_diacritics 2` tokenizer stores them:
lower-case, diacritics removed, runs of letters and digits.

Deliberately not here: phonetic matching, multi-word splits/joins, or corrections of words the
index already contains (a real word is never "corrected").
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # the FTS5 unicode61 notion of a token
MIN_WORD_LEN = 4  # shorter words have too many neighbours one edit away
MAX_CORRECTIONS_PER_WORD = 2
MAX_ALPHABET = 200  # letters tried for substitutions/insertions (bounds a lookup's cost)


def fold(word: str) -> str:
    """Lower-case without diacritics, as FTS5's `remove_diacritics 2` stores tokens."""
    word = word.lower()
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFD", word) if not unicodedata.combining(c))


def words_of(text: str) -> list[str]:
    if text.isascii():  # the common case, ~2x faster: hybrid search reads ~200 prompts per query
        return _WORD.findall(text.lower())
    return [fold(w) for w in _WORD.findall(text)]


def _suggestable(word: str) -> bool:
    return len(word) >= MIN_WORD_LEN and word.isalpha()


def _one_edit(word: str, alphabet: str) -> set[str]:
    """Every string one deletion, adjacent swap, substitution or insertion away from `word`."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in alphabet)
    out.update(a + c + b for a, b in splits for c in alphabet)
    out.discard(word)
    return out


class Vocabulary:
    """Indexed words with (exact) document frequencies; suggests indexed words one edit away."""

    def __init__(self, document_frequency: Mapping[str, int]) -> None:
        self.df = document_frequency
        letters: Counter = Counter()
        for word, docs in document_frequency.items():
            if _suggestable(word):
                letters.update(dict.fromkeys(word, docs))
        self.alphabet = "".join(c for c, _ in letters.most_common(MAX_ALPHABET))

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Vocabulary:
        df: Counter = Counter()
        for text in texts:
            df.update(set(words_of(text)))
        return cls(df)

    @classmethod
    def from_index(cls, index: Any) -> Vocabulary:
        """The vocabulary of a PromptIndex, from its FTS5 index (exact counts, every row)."""
        return cls(index.term_document_counts())

    def __contains__(self, word: str) -> bool:
        return word in self.df

    def __len__(self) -> int:
        return len(self.df)

    def suggest(self, word: str) -> list[str]:
        """Indexed words one edit from `word` (most frequent first); [] for known or short words."""
        word = fold(word)
        if word in self.df or not _suggestable(word):
            return []
        found = [w for w in _one_edit(word, self.alphabet) if w in self.df and _suggestable(w)]
        return sorted(found, key=lambda w: (-self.df[w], w))[:MAX_CORRECTIONS_PER_WORD]

    def corrected(self, text: str) -> str | None:
        """`text` with each unknown word replaced by its likeliest correction ("did you mean"),
        or None when no word needed one."""
        changed = False

        def fix(match: re.Match) -> str:
            nonlocal changed
            suggestions = self.suggest(match.group())
            changed |= bool(suggestions)
            return suggestions[0] if suggestions else match.group()

        out = _WORD.sub(fix, text)
        return out if changed else None

    def corrections(self, text: str) -> list[str]:
        """Suggested replacements for the unknown words of `text`, in order, without repeats."""
        out: list[str] = []
        for word in dict.fromkeys(words_of(text)):
            for suggestion in self.suggest(word):
                if suggestion not in out:
                    out.append(suggestion)
        return out
