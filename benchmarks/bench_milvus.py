"""Milvus Lite against the FAISS + SQLite index directory on the same prompts and vectors.

Both stores are written from one source: the 100,000-row index bench_app.py caches under
benchmarks/out/app-index-100000 (8,770 real DiffusionDB prompts embedded with MiniLM plus
near-duplicates of them; see bench_app.py). Embedding is the same work whichever store follows
(and dominates a real ingest), so "write" here is store-only: rows + vectors in, published out.
  - FAISS: index.IndexWriter (SQLite rows, vectors.npy, FAISS build, FTS5, checksums, rename);
  - Milvus Lite: index.milvus_writer.MilvusWriter upserts in chunks of --chunk rows, then publishes
    (flush + collection properties), exactly what `promptrag ingest --store milvus-lite://...` does.

Then, over --queries real ideas (the first words of random stored prompts, embedded once):
open time, dense k=10 (and with a selective filter), keyword (BM25) k=10, hybrid through
rag.Retriever k=10 (the query's embedding precomputed, so only the stores' work is timed) —
p50 / p95 each — and how often each store's top 10 matches the other's.
Size on disk is du of the index directory / the Milvus Lite data directory.

Run: .venv/bin/python benchmarks/bench_milvus.py [--rows 100000] [--queries 100] [--chunk 2000]
Writes benchmarks/out/bench_milvus.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from index import IndexWriter, PromptIndex, SearchFilters  # noqa: E402
from index.milvus_store import MilvusStore  # noqa: E402
from index.milvus_writer import MilvusWriter  # noqa: E402
from rag.retriever import Retriever  # noqa: E402

SOURCE = ROOT / "benchmarks" / "out" / "app-index-100000"


def load_avg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True).stdout.split()[0])


def pct(values: list[float]) -> dict[str, float]:
    ms = np.asarray(values) * 1000
    return {f"p{q}_ms": round(float(np.percentile(ms, q)), 2) for q in (50, 95)}


def timed(fn, queries) -> tuple[list[float], list]:
    times, results = [], []
    for q in queries:
        start = time.perf_counter()
        results.append(fn(q))
        times.append(time.perf_counter() - start)
    return times, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=2000, help="rows per upsert (ingest: --batch-size)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if not (SOURCE / "manifest.json").is_file():
        sys.exit(f"{SOURCE} is missing: run benchmarks/bench_app.py once to build it (cached)")
    out: dict = {"rows": args.rows, "queries": args.queries, "load_avg_start": load_avg()}
    source = PromptIndex.load(SOURCE)
    n = min(args.rows, len(source))
    vectors = source.stored_vectors()
    model, dim = source.manifest.embedding_model, source.manifest.dimension

    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks" / "out") as tmp:
        tmp = Path(tmp)
        # 1. write both stores from the same rows and vectors
        batches = []
        for batch in source.iter_records(batch_size=args.chunk):
            batches.append(batch)
            if batch[-1][0] + 1 >= n:
                break
        start = time.perf_counter()
        writer = IndexWriter(tmp / "faiss", model_id=model, dimension=dim, index_type="flat")
        for batch in batches:
            ids = [i for i, _ in batch if i < n]
            writer.add([r for i, r in batch if i < n], vectors[ids[0] : ids[-1] + 1])
        writer.publish()
        out["faiss_write_s"] = round(time.perf_counter() - start, 2)
        uri = f"milvus-lite://{tmp / 'gallery.db'}/prompts"
        start = time.perf_counter()
        mwriter = MilvusWriter(uri, model_id=model, dimension=dim, index_type="flat")
        mwriter.ensure_collection(fresh=True)
        for batch in batches:
            ids = [i for i, _ in batch if i < n]
            mwriter.upsert(ids[0], [r for i, r in batch if i < n], vectors[ids[0] : ids[-1] + 1])
        mwriter.publish(n)
        mwriter.close()
        out["milvus_write_s"] = round(time.perf_counter() - start, 2)
        out["faiss_bytes"], out["milvus_bytes"] = du(tmp / "faiss"), du(tmp / "gallery.db")
        print(f"written: faiss {out['faiss_write_s']} s, milvus lite {out['milvus_write_s']} s", flush=True)

        # 2. open
        start = time.perf_counter()
        faiss_store = PromptIndex.load(tmp / "faiss")
        out["faiss_open_s"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        milvus_store = MilvusStore.open(uri)
        out["milvus_open_s"] = round(time.perf_counter() - start, 3)

        # 3. queries: the first words of random stored prompts, embedded once (same vectors for both)
        rng = random.Random(args.seed)
        picks = rng.sample(range(n), args.queries)
        texts = [" ".join(r.prompt.split()[:5]) for r in (h.record for h in faiss_store.get(picks))]
        qvecs = list(faiss_store.embedder.embed(texts))
        # Query embedding is the same model call whichever store answers: done once above, and
        # the retriever's embed_query is answered from it, so hybrid times are the stores' own.
        embedded = dict(zip(texts, qvecs, strict=True))
        for store in (faiss_store, milvus_store):
            store.embed_query = embedded.__getitem__
        selective = SearchFilters(min_count=2, width=512, height=512)
        stores = {"faiss": faiss_store, "milvus": milvus_store}
        results: dict[str, dict] = {}
        for name, store in stores.items():
            store.search_vector(qvecs[0], 10)  # warm-up (Milvus Lite loads segments lazily)
            store.keyword_search(texts[0], 10)
            retriever = Retriever(store)
            retriever.search(texts[0], k=10, mode="hybrid")  # builds the typo vocabulary
            figures, ids = {}, {}
            for label, fn, queries in (
                ("dense", lambda v, s=store: s.search_vector(v, 10), qvecs),
                ("dense_filtered", lambda v, s=store: s.search_vector(v, 10, selective), qvecs),
                ("keyword", lambda t, s=store: s.keyword_search(t, 10), texts),
                ("hybrid", lambda t, r=retriever: [c.hit for c in r.search(t, k=10, mode="hybrid")], texts),
            ):
                times, found = timed(fn, queries)
                figures[label] = pct(times)
                ids[label] = [[h.id for h in hits] for hits in found]
            results[name] = {"figures": figures, "ids": ids}
            print(name, json.dumps(figures), flush=True)
        out["latency"] = {name: r["figures"] for name, r in results.items()}
        pairs = {label: list(zip(results["faiss"]["ids"][label], results["milvus"]["ids"][label]))
                 for label in results["faiss"]["ids"]}
        out["top10_same"] = {label: round(float(np.mean([a == b for a, b in p])), 3) for label, p in pairs.items()}
        out["top1_same"] = {label: round(float(np.mean([a[:1] == b[:1] for a, b in p])), 3)
                            for label, p in pairs.items()}
        faiss_store.close()
        milvus_store.close()
    out["load_avg_end"] = load_avg()
    path = ROOT / "benchmarks" / "out" / "bench_milvus.json"
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
