"""The retriever: dense, keyword and hybrid search over a prompt index, with MMR diversity.

`Retriever.search(text, k, mode, filters, diversity)` returns `RetrievedPrompt`s (the stored
hit plus where each mode ranked it). Modes:

- "dense": cosine similarity of MiniLM embeddings (the index's FAISS side).
- "keyword": BM25 (the index's SQLite FTS5 side), with typo tolerance: a query word that is
  not in the index's vocabulary also searches for its closest indexed words (edit distance 1,
  most frequent first; see `vocabulary.py`).
- "hybrid": both lists fetched deep (`HybridParams.depth`), every candidate scored on both
  sides (the dense cosine is computed for keyword-only candidates from the stored vectors),
  each side's scores min-max normalised over the candidates, then fused as a weighted sum, plus
  a phrase term: the share of the query's adjacent word pairs that the prompt also has side by
  side (a misspelt query word may match its typo corrections). Among near-duplicates -- the same
  modifiers reordered, one subject word swapped -- the dense cosines are all ~equal and BM25
  differs by one word, while the intact phrase singles out the source. Plain RRF throws away
  how far apart the scores are; the weights below were tuned with
  `benchmarks/bench_retrieval.py` on one seed of queries and reported on another
  (benchmarks/README.md).

Diversity (`diversity` in [0, 1]) re-ranks the top candidates with maximal marginal relevance
over the stored vectors (lambda = 1 - diversity), so the top results are not ten near-copies.

Deliberately not here: how the index stores or searches (index/), turning hits into prompts
(assistant.py), and learning-to-rank models.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError
from index.prompt_store import PromptStore, open_store
from index.records import SearchHit
from index.rows import STOP_WORDS
from rag.vocabulary import Vocabulary, words_of

Mode = Literal["dense", "keyword", "hybrid"]
MODES: tuple[Mode, ...] = ("dense", "keyword", "hybrid")
MAX_K = 200


class HybridParams(BaseModel):
    """How dense and keyword lists are fused (defaults tuned on real DiffusionDB prompts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depth: int = Field(default=100, ge=1, le=2000, description="How many candidates each side fetches.")
    dense_weight: float = Field(default=0.7, ge=0.0, description="Weight of the normalised dense cosine.")
    keyword_weight: float = Field(default=0.3, ge=0.0, description="Weight of the normalised BM25 score.")
    rrf_weight: float = Field(default=0.0, ge=0.0, description="Weight of the reciprocal-rank term.")
    rrf_k: float = Field(default=60.0, gt=0.0, description="The k constant of reciprocal rank fusion.")
    phrase_weight: float = Field(
        default=1.0, ge=0.0,
        description="Weight of the share of the query's adjacent word pairs found side by side in a prompt."
    )
    normalise: Literal["minmax", "best"] = Field(
        default="minmax", description="Scale each side's scores by min-max over the candidates, or divide by the best."
    )
    typo_tolerance: bool = Field(default=True,
                                 description="Also search the closest indexed words of unknown query words.")


class SearchOptions(BaseModel):
    """One search, checked at the boundary."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=20_000, description="What to search for (an idea or a prompt).")
    k: int = Field(default=10, ge=1, le=MAX_K, description="How many prompts to return.")
    mode: Mode = Field(default="hybrid", description="dense (meaning), keyword (BM25 words) or hybrid (both, fused).")
    diversity: float | None = Field(
        default=None, ge=0.0, le=1.0, description="MMR diversity: 0 = pure relevance, 1 = most varied; None = off."
    )


@dataclass(frozen=True)
class RetrievedPrompt:
    """A stored prompt and how each mode ranked it (ranks are 1-based; None = not in that list)."""

    hit: SearchHit
    score: float  # the mode's final score (fused for hybrid), higher is better
    rank: int
    dense_rank: int | None = None
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None

    @property
    def id(self) -> int:
        return self.hit.id

    @property
    def prompt(self) -> str:
        return self.hit.prompt

    @property
    def count(self) -> int:
        return self.hit.count

    @property
    def variants(self) -> tuple:
        """Other wordings ingest folded into this prompt (`index.records.Variant`s, most frequent first)."""
        return tuple(getattr(self.hit, "variants", ()))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hit"] = self.hit.to_dict()
        return data


@dataclass
class _Candidate:
    id: int
    hit: Any = None
    dense_rank: int | None = None
    dense_score: float | None = None
    keyword_rank: int | None = None
    keyword_score: float | None = None
    fused: float = 0.0


class Retriever:
    """Search a `PromptStore` (FAISS + SQLite, or Milvus) by meaning, by words, or both; optionally diversified."""

    def __init__(self, store: PromptStore, params: HybridParams | None = None) -> None:
        self.store = store
        self.params = params or HybridParams()
        self._vocabulary = None

    @classmethod
    def load(cls, index_path: Path | str | None = None, params: HybridParams | None = None) -> Retriever:
        """Open the store at `index_path`: an index directory or a Milvus URI (default: the
        settings' default index); see index.prompt_store.open_store."""
        return cls(open_store(index_path), params)

    def __len__(self) -> int:
        return len(self.store)

    # ---- public --------------------------------------------------------------------------
    def search(
        self,
        text: str,
        k: int = 10,
        mode: str = "dense",
        filters: Any = None,
        diversity: float | None = None,
    ) -> list[RetrievedPrompt]:
        """The k best prompts for `text` in `mode`; `diversity` in [0, 1] turns on MMR."""
        if mode not in MODES:
            raise InputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"search text must be non-empty, got {text!r}")
        try:
            options = SearchOptions(text=text, k=k, mode=mode, diversity=diversity)
        except ValueError as exc:
            raise InputError(f"invalid search options: {exc}") from None
        pool = options.k if diversity is None else max(3 * options.k, 30)
        if mode == "dense":
            candidates = self._dense(text, pool, filters)
        elif mode == "keyword":
            candidates = self._keyword(text, pool, filters)
        else:
            candidates = self._hybrid(text, pool, filters)
        if diversity is not None and len(candidates) > 1:
            candidates = self._mmr(candidates, options.k, 1.0 - diversity)
        return [
            RetrievedPrompt(c.hit, c.fused, rank, c.dense_rank, c.dense_score, c.keyword_rank, c.keyword_score)
            for rank, c in enumerate(candidates[: options.k], start=1)
        ]

    def keyword_query(self, text: str) -> str:
        """The text the keyword side searches for: `text` plus corrections of unknown words."""
        if not self.params.typo_tolerance:
            return text
        corrections = self.vocabulary().corrections(text)
        return f"{text} {' '.join(corrections)}" if corrections else text

    def vocabulary(self):
        if self._vocabulary is None:
            self._vocabulary = Vocabulary.from_index(self.store)
        return self._vocabulary

    # ---- modes ---------------------------------------------------------------------------
    def _dense(self, text: str, k: int, filters: Any, vector: np.ndarray | None = None) -> list[_Candidate]:
        query = self.store.embed_query(text) if vector is None else vector
        hits = self.store.search_vector(query, min(k, len(self.store)), filters)
        return [_Candidate(h.id, h, rank, h.score, fused=h.score) for rank, h in enumerate(hits, start=1)]

    def _keyword(self, text: str, k: int, filters: Any) -> list[_Candidate]:
        hits = self.store.keyword_search(self.keyword_query(text), min(k, len(self.store)), filters)
        return [
            _Candidate(h.id, h, keyword_rank=rank, keyword_score=h.score, fused=h.score)
            for rank, h in enumerate(hits, start=1)
        ]

    def _hybrid(self, text: str, k: int, filters: Any) -> list[_Candidate]:
        p = self.params
        depth = max(p.depth, k)
        query = self.store.embed_query(text)
        by_id: dict[int, _Candidate] = {}
        for c in self._dense(text, depth, filters, vector=query):
            by_id[c.id] = c
        for c in self._keyword(text, depth, filters):
            known = by_id.setdefault(c.id, _Candidate(c.id, c.hit))
            known.keyword_rank, known.keyword_score = c.keyword_rank, c.keyword_score
        if not by_id:
            return []
        # Every candidate gets a dense score: keyword-only ones from their stored vectors.
        missing = [i for i, c in by_id.items() if c.dense_score is None]
        if missing:
            sims = self.store.vectors(missing) @ np.asarray(query, dtype=np.float32)
            for i, s in zip(missing, sims.tolist()):
                by_id[i].dense_score = float(s)
        dense = _normalised([c.dense_score for c in by_id.values()], p.normalise)
        keyword = _normalised([c.keyword_score for c in by_id.values()], p.normalise)
        pairs = self._query_pairs(text) if p.phrase_weight else []
        for c, d, kw in zip(by_id.values(), dense, keyword):
            rrf = sum(1.0 / (p.rrf_k + r) for r in (c.dense_rank, c.keyword_rank) if r is not None)
            c.fused = p.dense_weight * d + p.keyword_weight * kw + p.rrf_weight * rrf * p.rrf_k
            if pairs:
                found = _pairs_of(words_of(c.hit.prompt))
                c.fused += p.phrase_weight * sum(bool(pair & found) for pair in pairs) / len(pairs)
        ranked = sorted(by_id.values(), key=lambda c: (-c.fused, c.id))
        return ranked[: max(k, 1)]

    def _query_pairs(self, text: str) -> list[set[tuple[str, str]]]:
        """Each adjacent word pair of the query, as the set of its spellings (a misspelt word
        also stands for its typo corrections)."""
        words = words_of(text)
        if len(words) < 2:
            return []
        options = [[w] for w in words]
        if self.params.typo_tolerance:
            vocabulary = self.vocabulary()
            options = [[w, *([] if w in vocabulary else vocabulary.suggest(w))] for w in words]
        # A pair of two stop words ("in a", "of the") says nothing about which prompt is meant.
        return [{(a, b) for a in left for b in right} for left, right, (x, y) in
                zip(options, options[1:], zip(words, words[1:])) if not (x in STOP_WORDS and y in STOP_WORDS)]

    # ---- diversity -----------------------------------------------------------------------
    def _mmr(self, candidates: list[_Candidate], k: int, lam: float) -> list[_Candidate]:
        """Greedy maximal marginal relevance: lam * relevance - (1 - lam) * max similarity to picked."""
        vectors = self.store.vectors([c.id for c in candidates])
        scores = np.array([c.fused for c in candidates], dtype=np.float64)
        spread = scores.max() - scores.min()
        relevance = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
        sims = vectors @ vectors.T
        picked: list[int] = [0]  # the most relevant result always leads
        left = list(range(1, len(candidates)))
        while left and len(picked) < k:
            redundancy = sims[np.ix_(left, picked)].max(axis=1)
            value = lam * relevance[left] - (1.0 - lam) * redundancy
            best = left[int(np.argmax(value))]
            picked.append(best)
            left.remove(best)
        return [candidates[i] for i in picked]


def _normalised(scores: list[float | None], how: str) -> list[float]:
    """Scores scaled to [0, 1] over the candidates (None, i.e. not found by that side, -> 0)."""
    present = [x for x in scores if x is not None]
    if not present:
        return [0.0] * len(scores)
    top = max(present)
    if how == "best":
        return [max(x, 0.0) / top if x is not None and top > 0 else 0.0 for x in scores]
    low = min(present)
    spread = top - low
    return [(x - low) / spread if x is not None and spread > 0 else float(x is not None) for x in scores]


def _pairs_of(words: list[str]) -> set[tuple[str, str]]:
    return set(zip(words, words[1:]))
