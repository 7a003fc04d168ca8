"""One relevance figure a person reads ("72 % match"), whether anything is close, and "did you mean".

Each search mode orders by its own score: the cosine of MiniLM embeddings (dense), BM25
(keyword), or the fused score (hybrid: min-max normalised sides plus a phrase term, so it runs
from 0 to ~2 and says nothing absolute). None of these is a number to show on its own, and
showing two of them ("match 1.41 · similarity 0.48") lets the order disagree with a figure.

`judge(retriever, text, results)` gives each result one figure, `percent`, built so that it
follows the order and still means something across queries:

    percent_i = 100 · max(cos_top, 0) · score_i / score_top

The top result shows its meaning similarity (its cosine to the query, in %), and the others are
scaled by the score that ordered them. For dense search that is exactly each prompt's cosine;
for keyword and hybrid the figure falls as the ranking falls, from an anchor a person can
compare between queries. (Diversity re-orders by variety; then the figure still says how
relevant each prompt is, but no longer falls monotonically.)

"Close" is judged per prompt from its own cosine, with thresholds measured on the starter set
(3,000 DiffusionDB prompts, all-MiniLM-L6-v2; /tmp measurement script in the report of
issue 20): the best cosine of 150 DiffusionDB-style ideas (first clause of held-out prompts)
has median 0.64, of 150 T2I-CompBench ideas 0.43 (many name objects the set does not hold),
of 102 nonsense queries (random letters, emoji, `<script>`, punctuation) 0.37, max 0.555:
random letters land near the gibberish prompts real users typed. A cosine alone cannot tell
them apart, so nonsense is told by its words: a query with no word the index knows (nor a
typo of one) is close only at SURE_COSINE (above every nonsense query measured); one with
known words from CLOSE_COSINE. That rule calls 93 % / 64 % of the real ideas and 1 % of the
nonsense close.

Deliberately not here: ranking (retriever.py) and drawing the figure (app/widgets.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from index.rows import STOP_WORDS
from rag.vocabulary import words_of

CLOSE_COSINE = 0.40  # close, when the query has a word the index knows
SURE_COSINE = 0.60  # close on meaning alone (nonsense measured up to 0.555)


@dataclass(frozen=True)
class Relevance:
    """How relevant one result is: the figure shown (0-100), its cosine, and whether it is close."""

    percent: int
    cosine: float
    close: bool


@dataclass(frozen=True)
class Judgement:
    """A search judged for a person: one Relevance per result (same order), and a typo correction."""

    relevance: list[Relevance]
    did_you_mean: str | None = None

    @property
    def close_count(self) -> int:
        return sum(r.close for r in self.relevance)

    @property
    def any_close(self) -> bool:
        return any(r.close for r in self.relevance)


def percents(scores: Sequence[float], top_cosine: float) -> list[int]:
    """Each score as a % match: the top result's cosine (in %), the rest scaled by their score."""
    if not scores:
        return []
    anchor, top = max(top_cosine, 0.0), scores[0]
    if top <= 0:
        return [0 for _ in scores]
    return [round(100 * min(1.0, anchor * max(s, 0.0) / top)) for s in scores]


def is_close(cosine: float, knows_words: bool) -> bool:
    return cosine >= SURE_COSINE or (knows_words and cosine >= CLOSE_COSINE)


def knows_words(vocabulary: Any, text: str) -> bool:
    """Whether `text` has a content word the index holds, or a typo of one."""
    return any(w in vocabulary or vocabulary.suggest(w) for w in words_of(text) if w not in STOP_WORDS)


def cosines(retriever: Any, text: str, results: Sequence[Any]) -> list[float]:
    """Each result's cosine to `text`: from the search where it has one, else from stored vectors."""
    out = [r.dense_score for r in results]
    missing = [i for i, c in enumerate(out) if c is None]
    if missing:
        query = np.asarray(retriever.store.embed_query(text), dtype=np.float32)
        sims = retriever.store.vectors([results[i].id for i in missing]) @ query
        for i, s in zip(missing, sims.tolist()):
            out[i] = float(s)
    return [float(c) for c in out]


def judge(retriever: Any, text: str, results: Sequence[Any]) -> Judgement:
    """The figure, closeness and "did you mean" for `results` of `retriever.search(text, ...)`."""
    vocabulary = retriever.vocabulary()
    did_you_mean = vocabulary.corrected(text) if retriever.params.typo_tolerance else None
    if not results:
        return Judgement([], did_you_mean)
    sims = cosines(retriever, text, results)
    known = knows_words(vocabulary, text)
    figures = percents([r.score for r in results], sims[0])
    return Judgement([Relevance(p, c, is_close(c, known)) for p, c in zip(figures, sims)], did_you_mean)
