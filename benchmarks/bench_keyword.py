"""Keyword engines side by side on one corpus: SQLite FTS5 bm25(), tantivy and bm25s (issue 22 §3).

Usage:
    .venv/bin/python benchmarks/bench_keyword.py --scale 1000000 --queries 200
    .venv/bin/python benchmarks/bench_keyword.py --scale 1000000 --engines tantivy   # one engine again
    .venv/bin/python benchmarks/bench_keyword.py --scale 3000000 --rows-only --engines fts5,tantivy

Corpus and queries: bench_search.py's (the 8,770 real DiffusionDB prompts plus rows recombining
the comma-separated parts of two real prompts of one cluster; ideas = the first five words of
random real prompts), read from the rows of its cached flat index (benchmarks/out/scale/).
Words are the same for every engine: tantivy's analyzer (letters and digits, lower-cased,
accents folded; FTS5's unicode61 splits the same way), stop words dropped as in rows.fts_query.

Per engine, in its own child process: build time and size on disk, open time and RSS growth
of the keyword structure alone (FTS5 and tantivy read their files through the page cache, so
their working set grows with use up to the size on disk; bm25s loads its matrix), p50 / p99
of a k=10 and a k=100 (the hybrid depth) query including reading the hit rows from SQLite, a
filtered query (count >= 3, half the rows pass), and the share of
FTS5's top 10 (and top 1) each returns: all three compute Lucene-style BM25 (k1 1.2, b 0.75),
so differences come from IDF variants, tantivy's quantised field lengths and tie order.

- fts5: what `PromptIndex.keyword_search` did before issue 22 (`keyword_ranking="fts5"`); build
  = `INSERT INTO prompts_fts(prompts_fts) VALUES ('rebuild')` on a copy of rows.sqlite.
- tantivy: index/keyword_index.py (block-max WAND over a Should of term queries; filters as
  fast-field range / term queries inside the engine).
- bm25s: a scipy-free sparse score matrix (method "lucene"), numpy backend, saved with numpy +
  JSON (allow_pickle=False) and loaded into RAM. It scores every row that shares a query word
  (a dense array of n scores per query) and has no filters of its own beyond a per-query
  weight mask of n entries; filtered here by over-fetching 4k and filtering the ids in SQLite.

`--rows-only` builds just rows.sqlite (FTS5 included) and the keyword index, without vectors or
FAISS, timing each step (benchmarks/out/scale/rows-N/): the keyword side at 2-3M rows.

Milvus Lite's BM25 (the `--store milvus-lite://` path) is measured by bench_milvus.py at 100k rows.
Not a test: numbers depend on the machine and its load (printed with each run).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_search  # noqa: E402 (the corpus, its index and the queries live there)

ENGINES = ("fts5", "tantivy", "bm25s")
FILTER_OVERFETCH = 4


def words_of(analyzer, text: str) -> list[str]:
    from index.rows import MAX_QUERY_TOKENS, STOP_WORDS

    words = list(dict.fromkeys(analyzer.analyze(text)))
    return ([w for w in words if w not in STOP_WORDS] or words)[:MAX_QUERY_TOKENS]


def dir_mib(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


# ---- per engine: build (timed) and a search function -----------------------------------------
def fts5_engine(index_path: Path, work: Path) -> tuple[dict, object]:
    from index import PromptIndex, rows
    from index.rows import FINALIZE

    copy = work / "rows.sqlite"
    shutil.copyfile(index_path / "rows.sqlite", copy)
    conn = sqlite3.connect(copy)
    conn.executescript("DROP TABLE prompts_fts; DROP TABLE prompt_vocabulary;")
    fts_sql = FINALIZE[FINALIZE.index("CREATE VIRTUAL TABLE prompts_fts"): FINALIZE.index("CREATE VIRTUAL TABLE temp")]
    t0, c0 = time.perf_counter(), time.process_time()
    conn.executescript(fts_sql)
    built = {"build_s": time.perf_counter() - t0, "build_cpu_s": time.process_time() - c0}
    pages = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name LIKE 'prompts_fts%'").fetchone()[0]
    built["disk_mib"] = (pages or 0) / 2**20
    conn.close()
    copy.unlink()
    rss0, t0 = bench_search.rss_mib(), time.perf_counter()
    rows.open_readonly(index_path / "rows.sqlite").close()  # what opening the FTS5 side costs
    built.update(open_s=time.perf_counter() - t0, ram_mib=bench_search.rss_mib() - rss0)
    index = PromptIndex.load(index_path, keyword_ranking="fts5")
    return built, lambda text, k, filters: [h.id for h in index.keyword_search(text, k, filters)]


def tantivy_engine(index_path: Path, work: Path) -> tuple[dict, object]:
    from index import PromptIndex, keyword_index

    os.link(index_path / "rows.sqlite", work / "rows.sqlite")
    t0, c0 = time.perf_counter(), time.process_time()
    entry = keyword_index.build(work)
    built = {"build_s": time.perf_counter() - t0, "build_cpu_s": time.process_time() - c0,
             "disk_mib": sum(f["size"] for f in entry["files"].values()) / 2**20}
    rss0, t0 = bench_search.rss_mib(), time.perf_counter()
    keyword_index.KeywordIndex.open(work, entry, entry["rows"])  # what opening the keyword index costs
    built.update(open_s=time.perf_counter() - t0, ram_mib=bench_search.rss_mib() - rss0)
    index = PromptIndex.load(index_path)
    assert index.keyword_engine == "tantivy"
    return built, lambda text, k, filters: [h.id for h in index.keyword_search(text, k, filters)]


def bm25s_engine(index_path: Path, work: Path) -> tuple[dict, object]:
    import bm25s

    from index import PromptIndex, keyword_index, rows

    analyzer = keyword_index._analyzer()
    conn = rows.open_readonly(index_path / "rows.sqlite")
    t0, c0 = time.perf_counter(), time.process_time()
    corpus = [analyzer.analyze(p) for (p,) in conn.execute("SELECT prompt FROM prompts ORDER BY id")]
    model = bm25s.BM25(k1=1.2, b=0.75, method="lucene")
    model.index(corpus, show_progress=False)
    model.save(str(work / "bm25s"), allow_pickle=False, show_progress=False)
    built = {"build_s": time.perf_counter() - t0, "build_cpu_s": time.process_time() - c0,
             "disk_mib": dir_mib(work / "bm25s")}
    conn.close()
    del corpus, model
    rss0, t0 = bench_search.rss_mib(), time.perf_counter()
    loaded = bm25s.BM25.load(str(work / "bm25s"), mmap=False, allow_pickle=False, show_progress=False)
    built.update(open_s=time.perf_counter() - t0, ram_mib=bench_search.rss_mib() - rss0)
    index = PromptIndex.load(index_path, keyword_ranking="fts5")  # rows and filters only

    def search(text: str, k: int, filters) -> list[int]:
        words = [w for w in words_of(analyzer, text) if w in loaded.vocab_dict]
        if not words:
            return []
        fetch = min(len(index), k * FILTER_OVERFETCH if filters.active else k)
        ids, _ = loaded.retrieve([words], k=fetch, show_progress=False, n_threads=1, backend_selection="numpy")
        ids = [int(i) for i in ids[0]]
        if filters.active:
            with index._lock:
                kept = rows.filter_ids(index._conn, ids, filters)
            ids = [i for i in ids if i in kept]
        return [h.id for h in index.get(ids[:k])]  # the rows, as the other engines return them

    return built, search


# ---- --rows-only: rows + FTS5 + keyword index without vectors (the 2-3M point) --------------------
def rows_only_index(n: int) -> tuple[Path, dict]:
    """rows.sqlite (with FTS5) and the tantivy keyword index of the n-row corpus, no vectors or
    FAISS (cached under benchmarks/out/scale/rows-N/), each step timed."""
    from index import PromptRecord, keyword_index, rows

    path = bench_search.SCALE_DIR / f"rows-{n}"
    if (path / "bench.json").is_file():
        return path, json.loads((path / "bench.json").read_text())
    _, text_path = bench_search.synthetic_corpus(n)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    conn = rows.create(path / "rows.sqlite")
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    with text_path.open(encoding="utf-8") as fh:
        for start in range(0, n, bench_search.CHUNK):
            lines = [json.loads(fh.readline()) for _ in range(min(bench_search.CHUNK, n - start))]
            counts = rng.integers(1, 5, len(lines))
            rows.insert(conn, start, [PromptRecord(t, count=int(c)) for t, c in zip(lines, counts, strict=True)])
    info = {"rows_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    rows.finalize(conn)  # filter indexes, FTS5 and its vocabulary table
    conn.close()
    info["fts5_finalize_s"] = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    entry = keyword_index.build(path)
    info.update(keyword_index_s=time.perf_counter() - t0, keyword_index_cpu_s=time.process_time() - c0,
                keyword_index_mib=sum(f["size"] for f in entry["files"].values()) / 2**20,
                rows_sqlite_mib=(path / "rows.sqlite").stat().st_size / 2**20, entry=entry)
    (path / "bench.json").write_text(json.dumps(info))
    return path, info


def rows_only_engine(engine: str, path: Path, info: dict, n: int) -> tuple[dict, object]:
    from index import keyword_index, rows

    rss0, t0 = bench_search.rss_mib(), time.perf_counter()
    conn = rows.open_readonly(path / "rows.sqlite")
    if engine == "fts5":
        built = {"build_s": info["fts5_finalize_s"], "build_cpu_s": float("nan"), "disk_mib": float("nan")}

        def search(text: str, k: int, filters) -> list[int]:
            return [h.id for h in rows.keyword_search(conn, text, k, filters)]
    else:
        opened = keyword_index.KeywordIndex.open(path, info["entry"], n)
        built = {"build_s": info["keyword_index_s"], "build_cpu_s": info["keyword_index_cpu_s"],
                 "disk_mib": info["keyword_index_mib"]}

        def search(text: str, k: int, filters) -> list[int]:
            scored = opened.search(text, k, filters)
            found = rows.fetch(conn, [i for i, _ in scored])  # the rows, as PromptIndex returns them
            return [i for i, _ in scored if i in found]
    built.update(open_s=time.perf_counter() - t0, ram_mib=bench_search.rss_mib() - rss0)
    return built, search


# ---- measuring (child process) ---------------------------------------------------------------
def measure(engine: str, n: int, n_queries: int, rows_only: bool) -> dict:
    from index import SearchFilters

    work = bench_search.SCALE_DIR / f"keyword-work-{engine}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if rows_only:
            built, search = rows_only_engine(engine, *rows_only_index(n), n)
        else:
            built, search = {"fts5": fts5_engine, "tantivy": tantivy_engine, "bm25s": bm25s_engine}[engine](
                bench_search.base_index(n)[0], work)
        texts = bench_search.ideas(n_queries)
        none, filtered = SearchFilters(), SearchFilters(min_count=3)
        search(texts[0], 10, none)  # warm-up
        timings: dict[str, list[float]] = {"k10": [], "k100": [], "filtered": []}
        tops = []
        for text in texts:
            for name, k, filters in (("k10", 10, none), ("k100", 100, none), ("filtered", 10, filtered)):
                t = time.perf_counter()
                ids = search(text, k, filters)
                timings[name].append(time.perf_counter() - t)
                if name == "k10":
                    tops.append(ids)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out = dict(built, engine=engine, tops=tops)
    for name, samples in timings.items():
        out[f"{name}_p50_ms"], out[f"{name}_p99_ms"] = bench_search.percentiles(samples)
    return out


def run_child(engine: str, n: int, n_queries: int, rows_only: bool) -> dict:
    argv = [sys.executable, __file__, "--child", engine, "--scale", str(n), "--queries", str(n_queries)]
    argv += ["--rows-only"] if rows_only else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"measuring {engine} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=int, default=0, help="corpus rows (0: the real prompts only)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rows-only", action="store_true",
                        help="fts5 and tantivy over rows.sqlite + the keyword index alone (no vectors or FAISS: "
                             "the 2-3M point)")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.scale or len(bench_search.real_corpus()[0])
    if args.child:
        print(json.dumps(measure(args.child, n, args.queries, args.rows_only)))
        return
    if args.rows_only:
        _, info = rows_only_index(n)
        print(f"rows-only index: rows {info['rows_s']:.0f} s, FTS5 finalize {info['fts5_finalize_s']:.0f} s, "
              f"keyword index {info['keyword_index_s']:.0f} s ({info['keyword_index_cpu_s']:.0f} CPU s), "
              f"{info['keyword_index_mib']:.0f} MiB; rows.sqlite {info['rows_sqlite_mib']:.0f} MiB")
    else:
        bench_search.base_index(n)
    print(f"n={n:,}, {args.queries} ideas, load average {os.getloadavg()[0]:.2f}")
    print("| engine | build s (CPU s) | disk MiB | open s | RSS MiB | k=10 p50 / p99 ms | k=100 p50 / p99 ms | "
          "filtered k=10 p50 / p99 ms | FTS5's top 10 / top 1 | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    results, reference = {}, None
    for engine in args.engines.split(","):
        r = results[engine] = run_child(engine, n, args.queries, args.rows_only)
        if engine == "fts5":
            reference = r["tops"]
        if reference is not None:
            pairs = list(zip(reference, r["tops"], strict=True))
            r["top10_shared"] = float(np.mean([len(set(a) & set(b)) / max(1, len(a)) for a, b in pairs]))
            r["top1_same"] = float(np.mean([a[:1] == b[:1] for a, b in pairs]))
        shared = f"{r['top10_shared']:.3f} / {r['top1_same']:.3f}" if "top10_shared" in r else "-"
        print(f"| {engine} | {r['build_s']:.1f} ({r['build_cpu_s']:.1f}) | {r['disk_mib']:.0f} | {r['open_s']:.2f} | "
              f"{r['ram_mib']:.0f} | {r['k10_p50_ms']:.1f} / {r['k10_p99_ms']:.1f} | "
              f"{r['k100_p50_ms']:.1f} / {r['k100_p99_ms']:.1f} | {r['filtered_p50_ms']:.1f} / "
              f"{r['filtered_p99_ms']:.1f} | {shared} | {os.getloadavg()[0]:.1f} |", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"n": n, "results": {k: {**v, "tops": None} for k, v in results.items()}},
                                        indent=2))


if __name__ == "__main__":
    main()
