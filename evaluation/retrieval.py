"""Retrieval quality on an index: can each mode find a real prompt from a short idea of it?

Ideas are cut from the index's own prompts (`make_queries`), so any index can be measured
without labelled data — `promptrag eval --retrieval` runs this on the user's index, and
benchmarks/bench_retrieval.py on the DiffusionDB prompts:

- subject ideas: a prompt's subject (`enhancers.grounded.subject_of`: the first clause,
  before "by …", "trending on …", "8k"), only for subjects that name exactly one prompt and
  have at least two words (otherwise "the source" is ambiguous);
- typed ideas: the same subject as a person types it: lower-case, one typo, and a synonym
  where the small table below has one (all seeded).

`evaluate(retriever, queries, mode)` gives recall@1, recall@10 and MRR (over the top 10) of
one mode; `evaluate_index(index, n=, seed=)` runs every mode on both kinds of idea and returns a
`RetrievalReport`. `CachedIndex` memoises query-side work so that several retrievers (a
weight sweep) share each embedding and search.

Deliberately not here: tuning the hybrid weights (the benchmark's --tune) and building indexes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from core.errors import InputError
from core.progress import Stopwatch
from enhancers.grounded import subject_of
from rag.retriever import Retriever

TOP_K = 10
MODES: tuple[str, ...] = ("dense", "keyword", "hybrid")
SYNONYMS = {
    "woman": "lady", "man": "guy", "girl": "young woman", "boy": "young man", "city": "town",
    "car": "automobile", "dog": "puppy", "cat": "kitty", "forest": "woods", "ocean": "sea",
    "house": "home", "beautiful": "pretty", "big": "large", "small": "tiny", "giant": "huge",
    "picture": "image", "photo": "photograph", "old": "ancient", "robot": "android", "ship": "boat",
    "castle": "fortress", "king": "monarch", "monster": "creature", "mountain": "mountains",
    "painting": "artwork", "portrait": "headshot", "futuristic": "sci-fi", "cute": "adorable",
}

Query = tuple[str, int]  # (idea text, id of the prompt it was cut from)


def typo(word: str, rng: random.Random) -> str:
    """`word` with one seeded typing mistake (swap, drop, double or replace a letter)."""
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["swap", "drop", "double", "replace"])
    if kind == "swap":
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice("aeiourstn") + word[i + 1 :]


def typed(idea: str, rng: random.Random) -> str:
    """`idea` as a person types it: lower-case, a synonym where known, one typo in a long word."""
    words = idea.lower().split()
    swappable = [i for i, w in enumerate(words) if w in SYNONYMS]
    if swappable:
        i = rng.choice(swappable)
        words[i] = SYNONYMS[words[i]]
    long_words = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if long_words:
        i = rng.choice(long_words)
        words[i] = typo(words[i], rng)
    return " ".join(words)


def make_queries(prompts: Sequence[str], n: int, seed: int,
                 ids: Sequence[int] | None = None) -> tuple[list[Query], list[Query]]:
    """(subject ideas, typed ideas), up to `n` of each, as (text, id of the source prompt).

    `ids[i]` is the index id of `prompts[i]` (default: i, for an index built from `prompts`).
    """
    ids = list(range(len(prompts))) if ids is None else list(ids)
    rng = random.Random(seed)
    subjects: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        subjects.setdefault(subject_of(p), []).append(i)
    # Only subjects that name one prompt (otherwise "the source" is ambiguous) and say something.
    eligible = [found[0] for s, found in subjects.items() if len(found) == 1 and len(s.split()) >= 2]
    chosen = rng.sample(eligible, min(n, len(eligible)))
    subject_q = [(subject_of(prompts[i]), ids[i]) for i in chosen]
    typed_q = [(typed(s, rng), target) for s, target in subject_q]
    return subject_q, typed_q


def evaluate(retriever: Any, queries: Sequence[Query], mode: str) -> dict[str, float]:
    """recall@1, recall@10 and MRR (top 10) of `retriever` in `mode` on `queries`."""
    r1 = r10 = mrr = 0.0
    for text, target in queries:
        ids = [r.id for r in retriever.search(text, k=TOP_K, mode=mode)]
        if target in ids:
            rank = ids.index(target) + 1
            r1 += rank == 1
            r10 += 1
            mrr += 1.0 / rank
    n = max(1, len(queries))
    return {"recall@1": r1 / n, "recall@10": r10 / n, "mrr": mrr / n}


class CachedIndex:
    """An index with query-side results memoised, so several retrievers re-use each search."""

    def __init__(self, index: Any) -> None:
        self._index, self._memo = index, {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._index, name)

    def __len__(self) -> int:
        return len(self._index)

    def prime(self, texts: Sequence[str]) -> None:
        """Embed all query texts in one batch (far faster than one by one on a busy CPU)."""
        texts = list(dict.fromkeys(texts))
        for text, vector in zip(texts, self._index.embedder.embed(texts, batch_size=256)):
            self._memo[("e", text)] = vector

    def _cached(self, key: tuple, fn: Any) -> Any:
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def embed_query(self, text: str) -> Any:
        return self._cached(("e", text), lambda: self._index.embed_query(text))

    def search_vector(self, vector: Any, k: int, filters: Any = None) -> Any:
        return self._cached(("d", vector.tobytes(), k, repr(filters)),
                            lambda: self._index.search_vector(vector, k, filters))

    def keyword_search(self, text: str, k: int, filters: Any = None) -> Any:
        return self._cached(("k", text, k, repr(filters)), lambda: self._index.keyword_search(text, k, filters))


@dataclass
class ModeFigures:
    mode: str
    subject: dict[str, float]
    typed: dict[str, float]
    ms_per_query: float


@dataclass
class RetrievalReport:
    """Recall@1, recall@10 and MRR of each mode on ideas cut from the index's own prompts."""

    index: str
    prompts: int
    queries: int
    seed: int
    modes: list[ModeFigures] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        """A Markdown table, one row per mode."""
        lines = ["| mode | subject R@1 | subject R@10 | subject MRR | typed R@1 | typed R@10 | typed MRR | ms/query |",
                 "|---|---|---|---|---|---|---|---|"]
        for m in self.modes:
            s, t = m.subject, m.typed
            lines.append(f"| {m.mode} | {s['recall@1']:.3f} | {s['recall@10']:.3f} | {s['mrr']:.3f} | "
                         f"{t['recall@1']:.3f} | {t['recall@10']:.3f} | {t['mrr']:.3f} | {m.ms_per_query:.1f} |")
        return "\n".join(lines)


def index_prompts(index: Any) -> tuple[list[str], list[int]]:
    """Every prompt of `index` with its id."""
    prompts: list[str] = []
    ids: list[int] = []
    for batch in index.iter_records():
        for row_id, record in batch:
            ids.append(row_id)
            prompts.append(record.prompt)
    return prompts, ids


def evaluate_index(index: Any, *, n: int = 200, seed: int = 1, modes: Sequence[str] = MODES,
                   on_progress: Any = None) -> RetrievalReport:
    """Every mode's figures on up to `n` subject ideas (and as many typed ones) cut from `index`."""

    if n < 1:
        raise InputError(f"--n must be at least 1, got {n}")
    bad = [m for m in modes if m not in MODES]
    if bad:
        raise InputError(f"unknown retrieval mode(s) {', '.join(bad)}; known: {', '.join(MODES)}")
    where = str(getattr(index, "path", None) or getattr(getattr(index, "location", None), "shown", ""))
    prompts, ids = index_prompts(index)
    subject_q, typed_q = make_queries(prompts, n, seed, ids)
    if not subject_q:
        raise InputError(f"index {where} has no prompt whose subject names it alone "
                         "(it needs prompts like 'a red fox in the snow, oil painting'); ingest more prompts")
    cached = CachedIndex(index)
    cached.prime([q for q, _ in subject_q + typed_q])
    retriever = Retriever(cached)
    watch = Stopwatch("retrieval", on_progress)
    report = RetrievalReport(where, len(prompts), len(subject_q), seed)
    for done, mode in enumerate(modes):
        watch.report(done, len(modes), mode)
        started = time.perf_counter()
        subject = evaluate(retriever, subject_q, mode)
        typed_figures = evaluate(retriever, typed_q, mode)
        ms = 1000 * (time.perf_counter() - started) / (len(subject_q) + len(typed_q))
        report.modes.append(ModeFigures(mode, subject, typed_figures, round(ms, 2)))
    watch.report(len(modes), len(modes))
    return report
