"""Search latency (p50/p95) and recall@10 of flat vs hnsw vs ivf_sq8 on real DiffusionDB prompts.

Usage:  .venv/bin/python benchmarks/bench_search.py [--prompts N] [--scale M] [--queries Q]

Embeds N real prompts (refl_prompts_dev.json) with the default MiniLM embedder, optionally
grows the corpus to M rows by adding small noise to the real vectors (to see where approximate
indexes start to pay off), builds one index per type in a temporary directory and times
`search_vector` (k=10, no filters and with a min_count filter) plus one end-to-end `search(text)`.
Recall@10 is measured against the flat index. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from index import IndexWriter, PromptIndex, PromptRecord, SearchFilters, load_embedder  # noqa: E402

DATA = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "diffusiondb_imagereward"
    / "refl_prompts_dev.json"
)


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):7.2f} ms  p95 {np.percentile(ms, 95):7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=3000)
    parser.add_argument(
        "--scale", type=int, default=0, help="grow the corpus to this many rows (noisy copies)"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--types", default="flat,hnsw,ivf_sq8", help="index types, flat first for recall")
    parser.add_argument(
        "--cache", type=Path, default=None, help="reuse/save the prompt embeddings in this .npy"
    )
    args = parser.parse_args()

    texts = list(dict.fromkeys(" ".join(r["text"].split()) for r in json.loads(DATA.read_text())))[
        : args.prompts
    ]
    embedder = load_embedder()
    if (
        args.cache is not None
        and args.cache.is_file()
        and len(np.load(args.cache, mmap_mode="r")) == len(texts)
    ):
        vectors = np.load(args.cache)
    else:
        t0 = time.perf_counter()
        vectors = embedder.embed(texts, batch_size=64)
        print(f"embedded {len(texts)} prompts in {time.perf_counter() - t0:.1f} s on {embedder!r}")
        if args.cache is not None:
            np.save(args.cache, vectors)
    if args.scale > len(texts):
        rng = np.random.default_rng(0)
        reps = rng.integers(0, len(texts), args.scale - len(texts))
        extra = vectors[reps] + 0.015 * rng.normal(size=(len(reps), vectors.shape[1])).astype(np.float32)
        extra /= np.linalg.norm(extra, axis=1, keepdims=True)
        vectors = np.vstack([vectors, extra.astype(np.float32)])
        texts = texts + [texts[i] for i in reps]
    rng = np.random.default_rng(1)
    counts = rng.integers(1, 5, len(texts))
    query_ids = rng.choice(len(texts), args.queries, replace=False)
    # Queries: short ideas (first 5 words of real prompts), embedded once.
    queries = embedder.embed([" ".join(texts[i].split()[:5]) for i in query_ids])

    with tempfile.TemporaryDirectory() as tmp:
        results = {}
        for index_type in args.types.split(","):
            t0 = time.perf_counter()
            writer = IndexWriter(
                Path(tmp) / index_type,
                model_id=embedder.model_id,
                dimension=embedder.dimension,
                index_type=index_type,
            )
            for start in range(0, len(texts), 50_000):
                chunk = slice(start, start + 50_000)
                writer.add(
                    [PromptRecord(t, count=int(c)) for t, c in zip(texts[chunk], counts[chunk], strict=True)],
                    vectors[chunk],
                )
            manifest = writer.publish()
            build_s = time.perf_counter() - t0
            index = PromptIndex.load(Path(tmp) / index_type, embedder=embedder)
            index.search_vector(queries[0], 10)  # warm-up
            plain, filtered, found = [], [], []
            for q in queries:
                t = time.perf_counter()
                hits = index.search_vector(q, 10)
                plain.append(time.perf_counter() - t)
                found.append([h.id for h in hits])
                t = time.perf_counter()
                index.search_vector(q, 10, SearchFilters(min_count=4))
                filtered.append(time.perf_counter() - t)
            e2e = []
            for i in query_ids[:30]:
                t = time.perf_counter()
                index.search(" ".join(texts[i].split()[:5]), 10)
                e2e.append(time.perf_counter() - t)
            results[index_type] = found
            recall = ""
            if index_type != "flat":
                truth = results["flat"]
                overlap = [len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)]
                recall = f"recall@10 {np.mean(overlap):.3f}"
            print(
                f"{index_type:8s} n={len(index)} {manifest.index_params} build {build_s:6.1f} s | "
                f"search_vector {percentiles(plain)} | "
                f"filtered {percentiles(filtered)} | search(text) {percentiles(e2e)} {recall}"
            )
            index.close()


if __name__ == "__main__":
    main()
