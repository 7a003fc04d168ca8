"""Retrieval-quality benchmark: can each mode find a real prompt from a short idea of it?

Builds (once, cached under --workdir) an index of the ~8.7k unique real DiffusionDB prompts in
`shared/data/diffusiondb_imagereward/refl_prompts_dev.json`, samples N of them (seeded), turns
each into an idea and checks where its source prompt ranks:

- subject ideas: the prompt's subject (first clause, before "by …", "trending on …", "8k");
- typed ideas: the same subject as a person types it: lower-case, one typo, and a synonym
  where the small table below has one (all seeded).

Reports recall@1, recall@10 and MRR (over the top 10) for dense, keyword, hybrid and plain
RRF (k=60) side by side (`--tfidf` adds a plain scikit-learn TF-IDF over word 1-2-grams).
`--tune` sweeps the hybrid weights on the --seed queries; `--report-seed S` then reports on
another seed's queries, ideas the tuning never saw. `--distractors N` adds N near-duplicate
prompts derived from the real ones (shuffled modifiers, one head word swapped);
`--distractors-per-target K` builds K of them for each query's source prompt only (the density
of --distractors 100000 at a fraction of the embedding time). `--shuffle-ids` stores the corpus
in random order, so no mode wins exact ties by the real prompts' lower ids. `--fold-cosine T`
folds prompts within cosine T of a more typical one into its row (ingest --fold-cosine); a hit is
then the row holding the source prompt. Vectors are cached
under --workdir (benchmarks/out/bench-retrieval) and real prompts' vectors are reused from
other benchmarks' indexes there.

`--keyword-ranking fts5` ranks keyword search with SQLite FTS5's bm25() instead of the index's tantivy
keyword index (the way before issue 22), on the same cached index.

Run: .venv/bin/python benchmarks/bench_retrieval.py [--n 1000] [--tune] [--report-seed 1] [--tfidf]
     [--distractors 100000 | --distractors-per-target 6] [--shuffle-ids] [--fold-cosine 0.94]
     [--keyword-ranking fts5]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluation.retrieval import CachedIndex, evaluate, make_queries  # noqa: E402 (the figures live in the library)
from rag.retriever import HybridParams, Retriever  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "diffusiondb_imagereward" / "refl_prompts_dev.json"


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


def reusable_vectors(out: Path, model_id: str) -> dict:
    """Real vectors of prompts already embedded by other benchmarks' indexes under benchmarks/out/
    (same model; exact-text match), so the 8.7k real prompts are not embedded again."""
    import numpy as np

    from index.store import PromptIndex

    known: dict = {}
    for manifest in sorted(out.glob("*/manifest.json")):
        try:
            index = PromptIndex.load(manifest.parent)
        except Exception as exc:  # another benchmark's half-built or older index: skip it, say so
            print(f"not reusing {manifest.parent}: {exc}", file=sys.stderr)
            continue
        with index:
            if index.manifest.embedding_model != model_id or len(index) > 20_000:
                continue
            vectors = np.asarray(index.stored_vectors())
            for batch in index.iter_records(10_000):
                for i, record in batch:
                    if record.source == "refl_prompts_dev.json":
                        known.setdefault(record.prompt, vectors[i])
    return known


def cached_vectors(workdir: Path, texts: list[str], embedder):
    """The texts' vectors, embedded once and kept as .npy under `workdir` (keyed by a hash of the texts).

    Embedding 108k prompts takes ~50 min on the shared 2-core CPU; the cache lets a rebuilt index
    (new row format, folding on/off) reuse them.
    """
    import hashlib

    import numpy as np

    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:16]
    cache = workdir / f"vectors-{len(texts)}-{digest}.npy"
    if cache.is_file():
        return np.load(cache, allow_pickle=False)
    known = reusable_vectors(workdir.parent, embedder.model_id)
    vectors = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = [i for i, t in enumerate(texts) if t not in known]
    for i, t in enumerate(texts):
        if t in known:
            vectors[i] = known[t]
    started = time.perf_counter()
    if todo:
        vectors[todo] = embedder.embed([texts[i] for i in todo], batch_size=128)
    print(f"embedded {len(todo)} prompts in {time.perf_counter() - started:.0f}s "
          f"({len(texts) - len(todo)} reused from other benchmark indexes)", file=sys.stderr)
    workdir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, vectors, allow_pickle=False)
    tmp.replace(cache)
    return vectors


def targeted_distractors(prompts: list[str], targets: list[int], per_target: int, seed: int) -> list[str]:
    """`per_target` near-duplicates (built like `distractors`) of each target prompt.

    --distractors 100000 gives each of the 8,770 real prompts ~11 near-duplicates; building them
    for the queries' source prompts only keeps that density where it matters at a tenth of the
    embedding time (the rest of the corpus has none, so this is a proxy, not the 108k run).
    """
    rng = random.Random(seed)
    words = [w for p in prompts for w in p.split() if w.isalpha() and len(w) > 3]
    out = []
    for target in targets:
        for _ in range(per_target):
            parts = [p.strip() for p in prompts[target].split(",") if p.strip()]
            head, tail = parts[0].split(), parts[1:]
            if head:
                head[rng.randrange(len(head))] = rng.choice(words)
            rng.shuffle(tail)
            out.append(", ".join([" ".join(head), *tail]))
    return out


def build_index(path: Path, texts: list[str], vectors_of, fold_cosine: float | None = None,
                keyword_ranking: str = "auto"):
    """The index of `texts` at `path` (built once); `vectors_of(embedder)` gives their vectors.

    With `fold_cosine`, texts within that cosine of an earlier one fold into its row (as
    `promptrag ingest --fold-cosine` does; all counts are 1, so the most typical wording is shown).
    Returns (index, row id of each text: its own row or the row it folded into).
    """
    import numpy as np

    from index.embedder import load_embedder
    from index.records import MAX_VARIANTS, PromptRecord, Variant
    from index.store import PromptIndex
    from index.writer import IndexWriter
    from ingest.near_duplicates import find_near_duplicates

    rows_file = path.with_name(path.name + ".row-of-text.npy")  # beside the index: not one of its files
    if (path / "manifest.json").is_file() and rows_file.is_file():
        row_of = np.load(rows_file, allow_pickle=False)
        if len(row_of) == len(texts):
            return PromptIndex.load(path, keyword_ranking=keyword_ranking), row_of.tolist()
    embedder = load_embedder()
    vectors = vectors_of(embedder)
    folds: dict[int, int] = {}
    if fold_cosine is not None:
        started = time.perf_counter()
        folds = find_near_duplicates([vectors], fold_cosine).into_new
        print(f"folded {len(folds)} of {len(texts)} prompts at cosine >= {fold_cosine} "
              f"in {time.perf_counter() - started:.0f}s", flush=True)
    kept = [i for i in range(len(texts)) if i not in folds]
    row = {position: number for number, position in enumerate(kept)}
    row_of = [row[folds.get(i, i)] for i in range(len(texts))]
    members: dict[int, list[int]] = {}
    for position, into in sorted(folds.items()):
        members.setdefault(into, []).append(position)
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    for start in range(0, len(kept), 5000):
        chunk = kept[start : start + 5000]
        records = [PromptRecord(prompt=texts[i], count=1 + len(members.get(i, ())), source="refl_prompts_dev.json",
                                variants=tuple(Variant(texts[j], 1) for j in members.get(i, ())[:MAX_VARIANTS]))
                   for i in chunk]
        writer.add(records, vectors[chunk])
    writer.publish()
    np.save(rows_file, np.array(row_of, dtype=np.int64), allow_pickle=False)
    return PromptIndex.load(path, keyword_ranking=keyword_ranking), row_of


class TfidfBaseline:
    """Plain TF-IDF over word 1-2-grams (scikit-learn's defaults otherwise), cosine: a baseline, not a mode."""

    def __init__(self, texts: list[str]) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2))
        self.matrix = self.vectorizer.fit_transform(texts)

    def search(self, text: str, k: int = 10, mode: str = "") -> list[SimpleNamespace]:
        import numpy as np

        scores = (self.matrix @ self.vectorizer.transform([text]).T).toarray().ravel()
        top = np.argsort(-scores, kind="stable")[:k]
        return [SimpleNamespace(id=int(i)) for i in top if scores[i] > 0]


def sweep() -> dict[str, tuple[str, HybridParams]]:
    """The hybrid settings `--tune` compares (on the --seed queries only)."""
    configs = {}
    for dw in (0.3, 0.5, 0.7):
        for phrase in (0.0, 0.5, 1.0):
            name = f"hybrid dw={dw} phrase={phrase}"
            configs[name] = ("hybrid", HybridParams(dense_weight=dw, keyword_weight=1 - dw, phrase_weight=phrase))
        configs[f"hybrid dw={dw} phrase=0.5 divide-by-best"] = (
            "hybrid", HybridParams(dense_weight=dw, keyword_weight=1 - dw, normalise="best"))
    configs["hybrid before issue 11 (divide-by-best, no phrase)"] = (
        "hybrid", HybridParams(dense_weight=0.5, keyword_weight=0.5, normalise="best", phrase_weight=0.0))
    return configs


def table(title: str, index, configs, tfidf, subject_q, typed_q) -> None:
    started = time.perf_counter()
    index.prime([q for q, _ in subject_q + typed_q])
    print(f"\n{title}: {len(subject_q)} subject ideas, {len(typed_q)} typed ideas "
          f"(embedded in one batch in {time.perf_counter() - started:.0f}s; ms/query below excludes that)")
    print("| mode | subject R@1 | subject R@10 | subject MRR | typed R@1 | typed R@10 | typed MRR | ms/query |")
    print("|---|---|---|---|---|---|---|---|")
    base = Retriever(index)
    rows = {"TF-IDF 1-2-grams": (tfidf, "")} if tfidf is not None else {}
    for name, (mode, params) in configs.items():
        retriever = Retriever(index, params) if params else base
        if params is not None and params.typo_tolerance:
            retriever._vocabulary = base.vocabulary()  # share the one vocabulary build
        rows[name] = (retriever, mode)
    for name, (retriever, mode) in rows.items():
        started = time.perf_counter()
        s = evaluate(retriever, subject_q, mode)
        t = evaluate(retriever, typed_q, mode)
        ms = 1000 * (time.perf_counter() - started) / max(1, len(subject_q) + len(typed_q))
        print(f"| {name} | {s['recall@1']:.3f} | {s['recall@10']:.3f} | {s['mrr']:.3f} | "
              f"{t['recall@1']:.3f} | {t['recall@10']:.3f} | {t['mrr']:.3f} | {ms:.1f} |", flush=True)
    for kind, queries in (("subject", subject_q), ("typed", typed_q)):
        print(f"{kind}: {rank_one_disagreements(base, queries)}")


def rank_one_disagreements(retriever, queries) -> str:
    """Where keyword and hybrid disagree on rank 1, and how often keyword's win is an exact BM25
    tie between the source and another prompt (SQLite returns ties in rowid order)."""
    keyword_only = ties = hybrid_only = 0
    for text, target in queries:
        kw = retriever.search(text, k=10, mode="keyword")
        hy = retriever.search(text, k=10, mode="hybrid")
        kw_right, hy_right = bool(kw) and kw[0].id == target, bool(hy) and hy[0].id == target
        if kw_right and not hy_right:
            keyword_only += 1
            ties += len(kw) > 1 and kw[0].keyword_score == kw[1].keyword_score
        hybrid_only += hy_right and not kw_right
    return (f"keyword right at rank 1 and hybrid not: {keyword_only} (exact BM25 ties with another prompt: "
            f"{ties}); hybrid right and keyword not: {hybrid_only}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=20251123,
                        help="seed of the queries (the tuning queries with --tune)")
    parser.add_argument("--report-seed", type=int, default=None,
                        help="also report on the queries of this seed (ideas the tuning never saw)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "bench-retrieval")
    parser.add_argument("--corpus-seed", type=int, default=20251123,
                        help="seed of the distractors (the corpus); --seed picks the queries")
    parser.add_argument("--distractors", type=int, default=0)
    parser.add_argument("--distractors-per-target", type=int, default=0,
                        help="K near-duplicates of each query's source prompt (both seeds' queries)")
    parser.add_argument("--tfidf", action="store_true", help="add the plain TF-IDF word 1-2-gram baseline")
    parser.add_argument("--shuffle-ids", action="store_true",
                        help="store the corpus in a seeded random order: otherwise the real prompts get the lowest "
                             "ids and win every exact tie in modes that break ties by id (keyword, TF-IDF)")
    parser.add_argument("--fold-cosine", type=float, default=None,
                        help="fold prompts within this cosine of an earlier one into its row (ingest --fold-cosine); "
                             "a hit is then the row the source prompt is in, as shown or as a variant")
    parser.add_argument("--tune", action="store_true")
    parser.add_argument("--keyword-ranking", choices=("auto", "fts5"), default="auto",
                        help="fts5: rank keyword search with SQLite's bm25() (before issue 22) instead of the "
                             "index's tantivy keyword index")
    args = parser.parse_args()

    import hashlib

    prompts = unique_prompts()
    tune_q = make_queries(prompts, args.n, args.seed)
    report_q = make_queries(prompts, args.n, args.report_seed) if args.report_seed is not None else None
    targets = list(dict.fromkeys(i for qs in (tune_q, report_q or ([], [])) for _, i in qs[0]))
    texts = prompts + distractors(prompts, args.distractors, args.corpus_seed)
    texts += targeted_distractors(prompts, targets, args.distractors_per_target, args.corpus_seed)
    order = list(range(len(texts)))
    corpus = texts  # vectors are cached in this order, so a shuffled run re-uses them

    def vectors_of(embedder):
        return cached_vectors(args.workdir, corpus, embedder)[order]

    if args.shuffle_ids:
        random.Random(args.corpus_seed).shuffle(order)
        texts = [texts[i] for i in order]
    position = {old: new for new, old in enumerate(order)}  # where each prompt is stored
    digest = hashlib.sha256("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    name = f"index-{len(texts)}-{digest}" + (f"-fold{args.fold_cosine}" if args.fold_cosine is not None else "")
    built, row_of = build_index(args.workdir / name, texts, vectors_of, args.fold_cosine, args.keyword_ranking)
    index = CachedIndex(built)
    ids = [row_of[position[i]] for i in range(len(prompts))]  # the row each real prompt is in
    tune_q = make_queries(prompts, args.n, args.seed, ids=ids)
    report_q = make_queries(prompts, args.n, args.report_seed, ids=ids) if report_q is not None else None
    tfidf = TfidfBaseline([r.prompt for _, r in (pair for b in built.iter_records(10_000) for pair in b)]) \
        if args.tfidf else None
    print(f"index: {len(index)} rows from {len(row_of)} prompts ({len(prompts)} real, "
          f"{len(row_of) - len(prompts)} near-duplicates); keyword ranking: {built.keyword_engine}")
    configs = {"dense": ("dense", None), "keyword": ("keyword", None),
               "plain RRF": ("hybrid", HybridParams(dense_weight=0, keyword_weight=0, rrf_weight=1,
                                                    phrase_weight=0, typo_tolerance=False)),
               "hybrid": ("hybrid", None)}
    if args.tune:
        table(f"tune (seed {args.seed})", index, configs | sweep(), tfidf, *tune_q)
    else:
        table(f"queries (seed {args.seed})", index, configs, tfidf, *tune_q)
    if report_q is not None:
        table(f"report (seed {args.report_seed}, not used for tuning)", index, configs, tfidf, *report_q)


if __name__ == "__main__":
    main()
