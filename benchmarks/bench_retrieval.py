"""Retrieval-quality benchmark: can each mode find a real prompt from a short idea of it?

Builds (once, cached under --workdir) an index of the ~8.7k unique real DiffusionDB prompts in
`shared/data/diffusiondb_imagereward/refl_prompts_dev.json`, samples N of them (seeded), turns
each into an idea and checks where its source prompt ranks:

- subject ideas: the prompt's subject (first clause, before "by …", "trending on …", "8k");
- typed ideas: the same subject as a person types it: lower-case, one typo, and a synonym
  where the small table below has one (all seeded).

Reports recall@1, recall@10 and MRR (over the top 10) for dense, keyword, hybrid and plain
RRF (k=60) side by side. `--tune` sweeps the hybrid weights on the same queries.
`--distractors N` adds N near-duplicate prompts derived from the real ones (shuffled
modifiers, swapped artists) to test at a larger scale.

Run: .venv/bin/python benchmarks/bench_retrieval.py [--n 1000] [--tune] [--distractors 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from enhancers.grounded import subject_of  # noqa: E402
from rag.retriever import HybridParams, Retriever  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "diffusiondb_imagereward" / "refl_prompts_dev.json"
SYNONYMS = {
    "woman": "lady", "man": "guy", "girl": "young woman", "boy": "young man", "city": "town",
    "car": "automobile", "dog": "puppy", "cat": "kitty", "forest": "woods", "ocean": "sea",
    "house": "home", "beautiful": "pretty", "big": "large", "small": "tiny", "giant": "huge",
    "picture": "image", "photo": "photograph", "old": "ancient", "robot": "android", "ship": "boat",
    "castle": "fortress", "king": "monarch", "monster": "creature", "mountain": "mountains",
    "painting": "artwork", "portrait": "headshot", "futuristic": "sci-fi", "cute": "adorable",
}


def unique_prompts() -> list[str]:
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    return list(dict.fromkeys(r["text"].strip() for r in rows if r["text"].strip()))


def distractors(prompts: list[str], n: int, seed: int) -> list[str]:
    """Near-duplicates: a real prompt with its modifier phrases shuffled and one subject word swapped."""
    rng = random.Random(seed)
    out = []
    words = [w for p in prompts for w in p.split() if w.isalpha() and len(w) > 3]
    while len(out) < n:
        parts = [p.strip() for p in rng.choice(prompts).split(",") if p.strip()]
        head, tail = parts[0].split(), parts[1:]
        if head:
            head[rng.randrange(len(head))] = rng.choice(words)
        rng.shuffle(tail)
        out.append(", ".join([" ".join(head), *tail]))
    return out


def build_index(path: Path, texts: list[str]):
    from index.embedder import load_embedder
    from index.records import PromptRecord
    from index.store import PromptIndex
    from index.writer import IndexWriter

    if (path / "manifest.json").is_file():
        index = PromptIndex.load(path)
        if len(index) == len(texts):
            return index
    embedder = load_embedder()
    started = time.perf_counter()
    vectors = embedder.embed(texts, batch_size=128)
    print(f"embedded {len(texts)} prompts in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    for start in range(0, len(texts), 5000):
        chunk = texts[start : start + 5000]
        writer.add([PromptRecord(prompt=t, source="refl_prompts_dev.json") for t in chunk], vectors[start : start + 5000])
    writer.publish()
    return PromptIndex.load(path)


def typo(word: str, rng: random.Random) -> str:
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


class CachedIndex:
    """The real index with query-side results memoised, so a weight sweep re-uses each search."""

    def __init__(self, index) -> None:
        self._index, self._memo = index, {}

    def __getattr__(self, name):
        return getattr(self._index, name)

    def __len__(self) -> int:
        return len(self._index)

    def prime(self, texts: list[str]) -> None:
        """Embed all query texts in one batch (far faster than one by one on a busy CPU)."""
        texts = list(dict.fromkeys(texts))
        for text, vector in zip(texts, self._index.embedder.embed(texts, batch_size=256)):
            self._memo[("e", text)] = vector

    def _cached(self, key, fn):
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def embed_query(self, text):
        return self._cached(("e", text), lambda: self._index.embed_query(text))

    def search_vector(self, vector, k, filters=None):
        return self._cached(("d", vector.tobytes(), k), lambda: self._index.search_vector(vector, k, filters))

    def keyword_search(self, text, k, filters=None):
        return self._cached(("k", text, k), lambda: self._index.keyword_search(text, k, filters))


def evaluate(retriever: Retriever, queries: list[tuple[str, int]], mode: str) -> dict[str, float]:
    r1 = r10 = mrr = 0.0
    for text, target in queries:
        ids = [r.id for r in retriever.search(text, k=10, mode=mode)]
        if target in ids:
            rank = ids.index(target) + 1
            r1 += rank == 1
            r10 += 1
            mrr += 1.0 / rank
    n = len(queries)
    return {"recall@1": r1 / n, "recall@10": r10 / n, "mrr": mrr / n}


def make_queries(prompts: list[str], n: int, seed: int) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    rng = random.Random(seed)
    subjects: dict[str, list[int]] = {}
    for i, p in enumerate(prompts):
        subjects.setdefault(subject_of(p), []).append(i)
    # Only subjects that name one prompt (otherwise "the source" is ambiguous) and say something.
    eligible = [ids[0] for s, ids in subjects.items() if len(ids) == 1 and len(s.split()) >= 2]
    chosen = rng.sample(eligible, min(n, len(eligible)))
    subject_q = [(subject_of(prompts[i]), i) for i in chosen]
    typed_q = [(typed(s, rng), i) for s, i in subject_q]
    return subject_q, typed_q


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20251123)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/promptrag-bench"))
    parser.add_argument("--distractors", type=int, default=0)
    parser.add_argument("--tune", action="store_true")
    args = parser.parse_args()

    prompts = unique_prompts()
    texts = prompts + distractors(prompts, args.distractors, args.seed)
    index = CachedIndex(build_index(args.workdir / f"index-{len(texts)}", texts))
    subject_q, typed_q = make_queries(prompts, args.n, args.seed)
    started = time.perf_counter()
    index.prime([q for q, _ in subject_q + typed_q])
    print(f"index: {len(index)} prompts; queries: {len(subject_q)} subject ideas, {len(typed_q)} typed ideas "
          f"(embedded in one batch in {time.perf_counter() - started:.0f}s; ms/query below excludes that)")
    configs = {"dense": ("dense", None), "keyword": ("keyword", None),
               "plain RRF": ("hybrid", HybridParams(dense_weight=0, keyword_weight=0, rrf_weight=1, typo_tolerance=False)),
               "hybrid": ("hybrid", None)}
    if args.tune:
        for dw in (0.3, 0.4, 0.5, 0.6, 0.7):
            for rw in (0.0, 0.5):
                configs[f"hybrid dw={dw} rrf={rw}"] = ("hybrid", HybridParams(dense_weight=dw, keyword_weight=1 - dw, rrf_weight=rw))
    print("| mode | subject R@1 | subject R@10 | subject MRR | typed R@1 | typed R@10 | typed MRR | ms/query |")
    print("|---|---|---|---|---|---|---|---|")
    base = Retriever(index)
    for name, (mode, params) in configs.items():
        retriever = Retriever(index, params) if params else base
        if params is not None and params.typo_tolerance:
            retriever._vocabulary = base.vocabulary()  # share the one vocabulary build
        started = time.perf_counter()
        s = evaluate(retriever, subject_q, mode)
        t = evaluate(retriever, typed_q, mode)
        ms = 1000 * (time.perf_counter() - started) / (2 * len(subject_q))
        print(f"| {name} | {s['recall@1']:.3f} | {s['recall@10']:.3f} | {s['mrr']:.3f} | "
              f"{t['recall@1']:.3f} | {t['recall@10']:.3f} | {t['mrr']:.3f} | {ms:.1f} |", flush=True)


if __name__ == "__main__":
    main()
