"""Search at scale: flat vs hnsw vs ivf_sq8 vs the automatic choice, on up to 1M prompts.

Usage:
    .venv/bin/python benchmarks/bench_search.py --scale 1000000 --types auto,flat,ivf_sq8
    .venv/bin/python benchmarks/bench_search.py --scale 300000 --types auto,flat,hnsw,ivf_sq8
    .venv/bin/python benchmarks/bench_search.py                     # the 8,770 real prompts only

Corpus. The 8,770 distinct real DiffusionDB prompts (refl_prompts_dev.json), embedded with
all-MiniLM-L6-v2 (cached in benchmarks/out/real-vectors-8770.npy), then grown to `--scale` rows
with vectors drawn from a model fitted to those real embeddings — embedding 1M prompts takes
hours on this CPU. The model: k-means with 256 clusters over the real vectors, and per cluster a
Gaussian with that cluster's mean and empirical covariance (sampled as a random Gaussian
combination of the cluster's residuals), then L2-normalised. At equal size its neighbour
structure matches the real data (mean cosine of the 1st / 10th neighbour .724 / .604 against
.715 / .601 for the real vectors; one Gaussian over all of them gives .550 / .505), and no two
rows are copies of each other, so recall@10 against exact search means something. (The old
`--scale` added 1.5 % noise to a few thousand vectors: hundreds of near-identical copies each.)
Each synthetic row's text recombines the comma-separated parts of two real prompts of its
cluster, so keyword search and the typo vocabulary see a realistic vocabulary.

Per index type, each measured in its own child process (so RSS and load are its own):
build time (FAISS only; the SQLite rows + FTS5 part is reported once), load (`PromptIndex.load`),
index RAM (RSS growth while loading, and the faiss.index file size), query p50 / p99 of
`PromptIndex.search(idea, 10)` *including* embedding the query (first 30 queries; the query
embedding alone is also timed: under heavy CPU contention torch's two threads make it the
whole cost), of `search_vector` alone (all queries),
recall@10 against exact search, and ε-recall: the fraction of returned results whose cosine is
within ε (0.01) of the exact 10th score — the figure that stays meaningful among near-duplicates.
Queries: `--queries` short ideas (the first five words of random real prompts), embedded.
Hybrid (`--hybrid`), before and after in the same child process on the same index: the keyword
side's p50 / p99 (`keyword_search(idea, 10)` and at the hybrid depth, 100) and
`Retriever.search(mode="hybrid")` p50 / p99 (query embedding included; and its CPU time, all
threads, which contention does not inflate) with keyword search ranked
by SQLite FTS5's bm25() (`PromptIndex.load(keyword_ranking="fts5")`, the way before issue 22) and
by the index's tantivy keyword index (index/keyword_index.py, the default), the top-10 overlap of
the two rankings, and the typo vocabulary's build time beside one fts5vocab scan of the FTS5 index.
An index cached before keyword indexes existed gets one (`keyword_index.add_to_index`, timed).

Built vectors and indexes are cached under benchmarks/out/scale/ (git-ignored).
Not a test: numbers depend on the machine and its load (printed with each run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SHARED = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
DATA = SHARED / "diffusiondb_imagereward" / "refl_prompts_dev.json"
OUT = REPO_ROOT / "benchmarks" / "out"
SCALE_DIR = OUT / "scale"
CLUSTERS = 256
EPS = 0.01
CHUNK = 50_000
FULL_QUERIES = 100  # queries timed through search(text), query embedding included; all through search_vector


# ---- corpus ---------------------------------------------------------------------------------
def real_corpus() -> tuple[list[str], np.ndarray]:
    """The distinct real prompts and their MiniLM vectors (cached)."""
    texts = list(dict.fromkeys(" ".join(r["text"].split()) for r in json.loads(DATA.read_text())))
    texts = [t for t in texts if t]
    cache = OUT / f"real-vectors-{len(texts)}.npy"
    cached_texts = cache.with_suffix(".texts.json")
    if cache.is_file() and cached_texts.is_file() and json.loads(cached_texts.read_text()) == texts:
        return texts, np.load(cache)
    from index import load_embedder

    t0 = time.perf_counter()
    vectors = load_embedder().embed(texts, batch_size=64)
    print(f"embedded {len(texts)} real prompts in {time.perf_counter() - t0:.0f} s")
    OUT.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    cached_texts.write_text(json.dumps(texts))
    return texts, vectors


def synthetic_corpus(n: int) -> tuple[Path, Path]:
    """vectors (.npy, n rows: the real ones first) and texts (.jsonl) of an n-row corpus (cached)."""
    vec_path, text_path = SCALE_DIR / f"corpus-{n}.npy", SCALE_DIR / f"corpus-{n}.texts.jsonl"
    if vec_path.is_file() and text_path.is_file():
        return vec_path, text_path
    SCALE_DIR.mkdir(parents=True, exist_ok=True)
    bigger = sorted((int(p.stem.split("-")[1]), p) for p in SCALE_DIR.glob("corpus-*[0-9].npy"))
    bigger = [(m, p) for m, p in bigger if m > n and p.with_suffix(".texts.jsonl").is_file()]
    if bigger:  # a prefix of a larger corpus is a corpus of the same model
        _, source = bigger[0]
        np.save(vec_path, np.load(source, mmap_mode="r")[:n])
        with source.with_suffix(".texts.jsonl").open(encoding="utf-8") as fh, text_path.open("w") as out:
            out.writelines(fh.readline() for _ in range(n))
        return vec_path, text_path
    import faiss

    texts, real = real_corpus()
    SCALE_DIR.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    d = real.shape[1]
    km = faiss.Kmeans(d, CLUSTERS, niter=20, seed=1, verbose=False, min_points_per_centroid=1)
    km.train(real)
    labels = km.index.search(real, 1)[1][:, 0]
    members = [np.flatnonzero(labels == c) for c in range(CLUSTERS)]
    weights = np.array([len(m) for m in members], dtype=np.float64) / len(real)
    rng = np.random.default_rng(0)
    parts = [[p.strip() for p in t.split(",") if p.strip()] for t in texts]
    out = np.lib.format.open_memmap(
        vec_path.with_suffix(".tmp.npy"), mode="w+", dtype=np.float32, shape=(n, d)
    )
    out[: len(real)] = real
    with text_path.with_suffix(".tmp").open("w", encoding="utf-8") as fh:
        for t in texts:
            fh.write(json.dumps(t) + "\n")
        for start in range(len(real), n, CHUNK):
            m = min(CHUNK, n - start)
            cluster = rng.choice(CLUSTERS, size=m, p=weights)
            block = np.empty((m, d), dtype=np.float32)
            lines = []
            for c in np.unique(cluster):
                rows = np.flatnonzero(cluster == c)
                own = real[members[c]]
                mean = own.mean(axis=0)
                resid = own - mean
                coef = rng.standard_normal((len(rows), len(own))) / np.sqrt(max(len(own) - 1, 1))
                block[rows] = mean + coef @ resid
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            out[start : start + m] = block
            for c in cluster:
                a, b = rng.choice(members[c], size=2)
                head, mods = parts[a][:1], parts[a][1:] + parts[b][1:]
                keep = [mods[i] for i in sorted(rng.choice(len(mods), size=min(len(mods), 6), replace=False))]
                lines.append(json.dumps(", ".join(head + keep) or texts[a]) + "\n")
            fh.writelines(lines)
    out.flush()
    del out
    os.replace(vec_path.with_suffix(".tmp.npy"), vec_path)
    os.replace(text_path.with_suffix(".tmp"), text_path)
    print(f"generated {n} vectors + texts in {time.perf_counter() - t0:.0f} s -> {vec_path}")
    return vec_path, text_path


# ---- indexes --------------------------------------------------------------------------------
def base_index(n: int) -> tuple[Path, dict]:
    """A flat index over the n-row corpus, built through IndexWriter (rows + FTS5 + FAISS)."""
    from index import IndexWriter, PromptRecord, load_embedder

    path = SCALE_DIR / f"index-{n}-flat"
    info_path = path / "bench.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if "keyword_index_s" not in info:  # cached before keyword indexes existed
            info.update(time_keyword_index(path))
            info_path.write_text(json.dumps(info))
        return path, info
    vec_path, text_path = synthetic_corpus(n) if n > 8770 else _real_files()
    vectors = np.load(vec_path, mmap_mode="r")
    embedder = load_embedder()
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension, index_type="flat")
    with text_path.open(encoding="utf-8") as fh:
        start = 0
        while start < n:
            lines = [json.loads(fh.readline()) for _ in range(min(CHUNK, n - start))]
            counts = rng.integers(1, 5, len(lines))
            writer.add([PromptRecord(t, count=int(c)) for t, c in zip(lines, counts, strict=True)],
                       vectors[start : start + len(lines)])
            start += len(lines)
    rows_s = time.perf_counter() - t0
    writer.publish()
    info = {"rows_and_publish_s": time.perf_counter() - t0, "rows_s": rows_s}
    from index import onnx_export

    onnx_export.add_to_index(path)  # what `promptrag ingest` writes: queries embed through ONNX Runtime
    info.update(time_keyword_index(path))
    (path / "bench.json").write_text(json.dumps(info))  # not a data file: the manifest ignores it
    return path, info


def time_keyword_index(path: Path) -> dict:
    """(Re)build the index's tantivy keyword index on its own (its share of a publish), timed."""
    from index import keyword_index

    t0, c0 = time.perf_counter(), time.process_time()
    entry = keyword_index.add_to_index(path)
    return {"keyword_index_s": time.perf_counter() - t0, "keyword_index_cpu_s": time.process_time() - c0,
            "keyword_index_mib": sum(f["size"] for f in entry["files"].values()) / 2**20}


def _real_files() -> tuple[Path, Path]:
    texts, vectors = real_corpus()
    SCALE_DIR.mkdir(parents=True, exist_ok=True)
    vec_path = SCALE_DIR / f"corpus-{len(texts)}.npy"
    text_path = SCALE_DIR / f"corpus-{len(texts)}.texts.jsonl"
    np.save(vec_path, vectors)
    text_path.write_text("".join(json.dumps(t) + "\n" for t in texts), encoding="utf-8")
    return vec_path, text_path


def typed_index(n: int, index_type: str) -> tuple[Path, dict]:
    """The base index with its faiss.index rebuilt as `index_type` (rows/vectors hard-linked)."""
    import faiss

    from index import ann
    from index.manifest import file_info, read_manifest

    base, _ = base_index(n)
    if index_type == "flat":
        info = json.loads((base / "bench.json").read_text())
        if "flat_faiss_s" not in info:  # the FAISS part of the publish, timed on its own
            t0 = time.perf_counter()
            ann.build(np.load(base / "vectors.npy", mmap_mode="r"), "flat", {})
            info["flat_faiss_s"] = time.perf_counter() - t0
            (base / "bench.json").write_text(json.dumps(info))
        return base, {"build_s": info["flat_faiss_s"]}
    path = SCALE_DIR / f"index-{n}-{index_type}"
    if (path / "bench.json").is_file():
        return path, json.loads((path / "bench.json").read_text())
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    for name in ("vectors.npy", "rows.sqlite"):
        os.link(base / name, path / name)
    (path / "keyword").mkdir()
    for part in (base / "keyword").iterdir():  # the base's keyword index (its manifest entry is kept)
        os.link(part, path / "keyword" / part.name)
    (path / "onnx").mkdir()
    for part in (base / "onnx").iterdir():  # the base's ONNX query embedder (its manifest entry is kept)
        os.link(part, path / "onnx" / part.name)
    manifest = read_manifest(base)
    vectors = np.load(path / "vectors.npy", mmap_mode="r")
    params = ann.default_params(index_type, n)
    t0, c0 = time.perf_counter(), time.process_time()
    index = ann.build(vectors, index_type, params)
    build_s, build_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    faiss.write_index(index, str(path / "faiss.index"))
    del index
    files = dict(manifest.files)
    files["faiss.index"] = file_info(path / "faiss.index")
    from dataclasses import replace

    manifest = replace(manifest, index_type=index_type, index_params=params, files=files)
    (path / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    built = {"build_s": build_s, "build_cpu_s": build_cpu_s, "build_load_avg": os.getloadavg()[0]}
    (path / "bench.json").write_text(json.dumps(built))
    return path, built


# ---- measuring (child process) --------------------------------------------------------------
def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def ideas(n_queries: int) -> list[str]:
    texts, _ = real_corpus()
    rng = np.random.default_rng(2)
    return [" ".join(texts[i].split()[:5]) for i in rng.choice(len(texts), n_queries, replace=False)]


def truth_for(n: int, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-10 ids and scores of the queries over the n-row corpus (cached)."""
    from index import ann

    cache = SCALE_DIR / f"truth-{n}-{len(queries)}.npz"
    if cache.is_file():
        got = np.load(cache)
        return got["ids"], got["scores"]
    vectors = np.load(base_index(n)[0] / "vectors.npy", mmap_mode="r")
    ids = ann._exact_top_k(vectors, queries, 10)
    scores = np.einsum("qkd,qd->qk", np.asarray(vectors[np.sort(ids.ravel())], dtype=np.float32)[
        np.searchsorted(np.sort(ids.ravel()), ids)], queries)
    order = np.argsort(-scores, axis=1)
    ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
    np.savez(cache, ids=ids, scores=scores)
    return ids, scores


def percentiles(samples: list[float]) -> tuple[float, float]:
    ms = np.array(samples) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def measure(path: Path, n: int, n_queries: int, hybrid: bool) -> dict:
    from index import PromptIndex, load_embedder

    texts = ideas(n_queries)
    embedder = load_embedder()
    queries = embedder.embed(texts)
    truth_ids, truth_scores = truth_for(n, queries)
    rss0 = rss_mib()
    t0 = time.perf_counter()
    index = PromptIndex.load(path)  # its own query embedder: the ONNX export when the index has one
    load_s = time.perf_counter() - t0
    ram_mib = rss_mib() - rss0
    index.search(texts[0], 10)  # warm-up
    full, vec_only, vec_cpu, recall, eps_recall = [], [], [], [], []
    rows = zip(texts, queries, truth_ids, truth_scores, strict=True)
    for number, (text, q, t_ids, t_scores) in enumerate(rows):
        if number < FULL_QUERIES:  # the whole call, query embedding included (slow under load)
            t = time.perf_counter()
            index.search(text, 10)
            full.append(time.perf_counter() - t)
        t, c = time.perf_counter(), time.process_time()
        hits = index.search_vector(q, 10)
        vec_only.append(time.perf_counter() - t)
        vec_cpu.append(time.process_time() - c)
        recall.append(len({h.id for h in hits} & set(t_ids.tolist())) / 10)
        eps_recall.append(sum(h.score >= t_scores[-1] - EPS for h in hits) / 10)
    out = {
        "index_type": index.manifest.index_type, "params": index.manifest.index_params, "load_s": load_s,
        "ram_mib": ram_mib, "faiss_file_mib": (path / "faiss.index").stat().st_size / 2**20,
        "search_p50_ms": percentiles(full)[0], "search_p99_ms": percentiles(full)[1],
        "vector_p50_ms": percentiles(vec_only)[0], "vector_p99_ms": percentiles(vec_only)[1],
        "recall_at_10": float(np.mean(recall)), "eps_recall": float(np.mean(eps_recall)),
    }
    embed, embed_cpu = [], []
    out["query_embedder"] = type(index.embedder).__name__
    for text in texts[:FULL_QUERIES]:
        t, c = time.perf_counter(), time.process_time()
        index.embed_query(text)
        embed.append(time.perf_counter() - t)
        embed_cpu.append(time.process_time() - c)
    out["embed_p50_ms"], out["embed_p99_ms"] = percentiles(embed)
    # CPU seconds (all threads of this process): what a query costs whatever else runs beside it.
    out["vector_cpu_p50_ms"] = percentiles(vec_cpu)[0]
    out["embed_cpu_p50_ms"] = percentiles(embed_cpu)[0]
    if hybrid:
        out.update(measure_hybrid(index, texts[:FULL_QUERIES]))
    index.close()
    return out


def measure_hybrid(index, texts: list[str]) -> dict:
    from index import PromptIndex, rows
    from rag.retriever import Retriever
    from rag.vocabulary import Vocabulary

    t0 = time.perf_counter()
    vocab = Vocabulary.from_index(index)  # what the first hybrid query pays
    vocab_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    stored = index.term_document_counts()  # the counts ingest stored in rows.sqlite
    stored_s = time.perf_counter() - t0
    # The way before they were stored, for comparison: one fts5vocab pass over the FTS5 index.
    conn = rows.open_readonly(index.path / "rows.sqlite")
    t0 = time.perf_counter()
    scanned = dict(rows.scan_term_document_counts(conn))
    scan_s = time.perf_counter() - t0
    conn.close()
    assert scanned == stored == dict(vocab.df)
    # Before (FTS5's bm25() ranks) and after (the index's keyword index ranks): the same files,
    # queries interleaved so both see the same machine load.
    stores = {"fts5": PromptIndex.load(index.path, keyword_ranking="fts5"), "after": index}
    retrievers = {name: Retriever(store) for name, store in stores.items()}
    timings: dict[str, list[float]] = {}
    overlap, same_top = [], []
    for retriever in retrievers.values():
        retriever._vocabulary = vocab  # built above: time the searches, not the first-query build
        retriever.search(texts[0], 10, mode="hybrid")  # warm-up (loads the FTS5 side's query embedder)
    for text in texts:
        top = {}
        for name, store in stores.items():
            for k in (10, 100):
                t = time.perf_counter()
                hits = store.keyword_search(text, k)
                timings.setdefault(f"{name}_keyword{k}", []).append(time.perf_counter() - t)
                top.setdefault(name, [h.id for h in hits[:10]])
            t, c = time.perf_counter(), time.process_time()
            retrievers[name].search(text, 10, mode="hybrid")
            timings.setdefault(f"{name}_hybrid", []).append(time.perf_counter() - t)
            timings.setdefault(f"{name}_hybrid_cpu", []).append(time.process_time() - c)
        overlap.append(len(set(top["fts5"]) & set(top["after"])) / max(1, len(top["fts5"])))
        same_top.append(top["fts5"][:1] == top["after"][:1])
    stores["fts5"].close()
    out = {
        "vocab_build_s": vocab_s, "vocab_words": len(vocab.df), "counts_stored_s": stored_s,
        "counts_fts5vocab_scan_s": scan_s, "keyword_engine": index.keyword_engine,
        "keyword_top10_overlap": float(np.mean(overlap)), "keyword_same_top1": float(np.mean(same_top)),
    }
    for key, samples in timings.items():
        out[f"{key}_p50_ms"], out[f"{key}_p99_ms"] = percentiles(samples)
    return out


def run_child(path: Path, n: int, n_queries: int, hybrid: bool) -> dict:
    argv = [sys.executable, __file__, "--child", str(path), "--scale", str(n), "--queries", str(n_queries)]
    if hybrid:
        argv.append("--hybrid")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"measuring {path} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=0, help="corpus rows (0: the real prompts only)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--types", default="auto,flat,hnsw,ivf_sq8")
    parser.add_argument("--hybrid", action="store_true", help="also time keyword / hybrid / vocabulary")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n = args.scale or len(real_corpus()[0])
        print(json.dumps(measure(args.child, n, args.queries, args.hybrid)))
        return

    from index import ann

    n = args.scale or len(real_corpus()[0])
    load_before = os.getloadavg()
    _, base_info = base_index(n)
    print(f"n={n}: rows + FTS5 + flat publish {base_info['rows_and_publish_s']:.0f} s; "
          f"load average {load_before[0]:.2f}")
    results: dict[str, dict] = {}
    for number, requested in enumerate(args.types.split(",")):
        index_type = ann.choose_index_type(n, requested, dimension=384)
        label = f"auto -> {index_type}" if requested == "auto" else index_type
        measured = [r for r in results.values() if r["index_type"] == index_type]
        if measured:  # auto resolves to a type measured already: same index, same figures
            results[label] = p = measured[0]
        else:
            path, built = typed_index(n, index_type)
            p = run_child(path, n, args.queries, args.hybrid and number == 0)
            p.update(built, load_avg=os.getloadavg()[0])
            results[label] = p
        build_s = p["build_s"]
        print(f"| {n:,} | {label} | {json.dumps({k: v for k, v in p['params'].items()})} | "
              f"{p['search_p50_ms']:.1f} / {p['search_p99_ms']:.1f} (embed {p['embed_p50_ms']:.1f}, "
              f"{p.get('query_embedder', '?')}) | "
              f"{p['vector_p50_ms']:.2f} / "
              f"{p['vector_p99_ms']:.2f} (CPU {p.get('vector_cpu_p50_ms', 0):.2f}; embed CPU "
              f"{p.get('embed_cpu_p50_ms', 0):.1f}) | {p['recall_at_10']:.3f} | {p['eps_recall']:.3f} | "
              f"{p['ram_mib']:.0f} ({p['faiss_file_mib']:.0f}) | {p['load_s']:.2f} | {build_s:.0f}"
              f"{' (CPU %.0f at load %.1f)' % (p['build_cpu_s'], p['build_load_avg']) if 'build_cpu_s' in p else ''} | "
              f"{p['load_avg']:.1f} |", flush=True)
        if "vocab_build_s" in p:
            for name, label in (("fts5", "before: FTS5 bm25()"), ("after", f"after: {p['keyword_engine']}")):
                print(f"  {label}: keyword k=10 p50/p99 {p[f'{name}_keyword10_p50_ms']:.1f}/"
                      f"{p[f'{name}_keyword10_p99_ms']:.1f} ms, k=100 {p[f'{name}_keyword100_p50_ms']:.1f}/"
                      f"{p[f'{name}_keyword100_p99_ms']:.1f} ms; hybrid p50/p99 {p[f'{name}_hybrid_p50_ms']:.1f}/"
                      f"{p[f'{name}_hybrid_p99_ms']:.1f} ms (CPU p50 {p[f'{name}_hybrid_cpu_p50_ms']:.1f} ms, "
                      "all threads)", flush=True)
            print(f"  keyword top 10 shared with FTS5 {p['keyword_top10_overlap']:.3f}, same top 1 "
                  f"{p['keyword_same_top1']:.3f}; keyword index {base_info.get('keyword_index_mib', 0):.0f} MiB, "
                  f"built in {base_info.get('keyword_index_s', 0):.0f} s; vocabulary "
                  f"built in {p['vocab_build_s']:.2f} s ({p['vocab_words']:,} words); its counts read in "
                  f"{p['counts_stored_s']:.3f} s from the stored table vs {p['counts_fts5vocab_scan_s']:.3f} s "
                  "scanning the FTS5 index (fts5vocab)", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"n": n, "load_before": load_before, "base": base_info,
                                         "results": results}, indent=2))


if __name__ == "__main__":
    main()
