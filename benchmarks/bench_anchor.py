"""promptrag beside the AWS sample's path (LangChain FAISS) and the bare-encode floor, in one run.

Usage:  .venv/bin/python benchmarks/bench_anchor.py [--limit N] [--queries 200] [--json OUT]
        (needs the `bench` extra: pip install -e '.[bench]', i.e. langchain-community)

Three arms on the same distinct real prompts (../shared/data/diffusiondb_imagereward/
refl_prompts_dev.json, whitespace-normalised and de-duplicated first, so every arm embeds the
same texts), each in its own child process so its peak RSS is its own:

- `floor`: the same model's bare `SentenceTransformer.encode(texts, batch_size=64,
  normalize_embeddings=True)` — nothing stored. The lower bound of any ingest.
- `langchain`: the AWS sample's path: `HuggingFaceEmbeddings` (langchain-community, the same
  bundled all-MiniLM-L6-v2 directory, batch 64, normalised) + `FAISS.from_texts` +
  `save_local`, then `load_local` and `similarity_search(idea, k=10)`.
- `promptrag`: the real CLI, `promptrag ingest FILE.jsonl --index DIR -q --json` as a child
  process, then `PromptIndex.load` and `search(idea, k=10)` (dense, query embedding included).

Per arm: process wall time (interpreter start to exit: imports + model load + embed + write),
the part spent inside encode / ingest's own clock, prompts/s, query p50/p99 over `--queries`
short ideas (first five words of random prompts), load time (model already in memory), size
on disk, peak RSS and CPU seconds (user + sys, from os.wait4 on the child: on a shared machine
CPU time is the fair comparison, wall time follows the load). The check of issue 11:
promptrag's ingest ≤ 1.2 × the floor, end to end (whole processes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PROMPTS = SHARED / "diffusiondb_imagereward" / "refl_prompts_dev.json"
BATCH = 64


def distinct_prompts(limit: int | None) -> list[str]:
    texts = list(dict.fromkeys(" ".join(r["text"].split()) for r in json.loads(PROMPTS.read_text())))
    return [t for t in texts if t][:limit]


def ideas(texts: list[str], n: int) -> list[str]:
    import random

    rng = random.Random(1)
    return [" ".join(t.split()[:5]) for t in rng.sample(texts, min(n, len(texts)))]


def model_dir() -> str:
    sys.path.insert(0, str(REPO_ROOT))
    from index.embedder import DEFAULT_MODEL_ID, resolve_model_source

    return resolve_model_source(DEFAULT_MODEL_ID)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def latency(fn, queries: list[str]) -> dict:
    import numpy as np

    fn(queries[0])  # warm-up
    samples = []
    for q in queries:
        t = time.perf_counter()
        fn(q)
        samples.append(time.perf_counter() - t)
    ms = np.array(samples) * 1000
    return {"query_p50_ms": float(np.percentile(ms, 50)), "query_p99_ms": float(np.percentile(ms, 99))}


# ---- arms (run in child processes) ------------------------------------------------------------
def arm_floor(texts: list[str], queries: list[str], work: Path) -> dict:
    from sentence_transformers import SentenceTransformer

    t = time.perf_counter()
    model = SentenceTransformer(model_dir(), device="cpu")
    load_model_s = time.perf_counter() - t
    t = time.perf_counter()
    model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    embed_s = time.perf_counter() - t
    return {"model_load_s": load_model_s, "inner_s": embed_s,
            **latency(lambda q: model.encode([q], normalize_embeddings=True), queries)}


def arm_langchain(texts: list[str], queries: list[str], work: Path) -> dict:
    import warnings

    warnings.filterwarnings("ignore")  # langchain-community's sunset / deprecation notices
    from langchain_community.embeddings import HuggingFaceEmbeddings
    from langchain_community.vectorstores import FAISS

    t = time.perf_counter()
    embeddings = HuggingFaceEmbeddings(
        model_name=model_dir(), model_kwargs={"device": "cpu"},
        encode_kwargs={"batch_size": BATCH, "normalize_embeddings": True},
    )
    load_model_s = time.perf_counter() - t
    t = time.perf_counter()
    store = FAISS.from_texts(texts, embeddings)
    store.save_local(str(work / "lc"))
    inner_s = time.perf_counter() - t
    del store
    t = time.perf_counter()
    # The sample's docstore is a pickle: load_local refuses it unless told the file is trusted.
    store = FAISS.load_local(str(work / "lc"), embeddings, allow_dangerous_deserialization=True)
    load_s = time.perf_counter() - t
    return {"model_load_s": load_model_s, "inner_s": inner_s, "load_s": load_s,
            "disk_bytes": dir_size(work / "lc"),
            **latency(lambda q: store.similarity_search(q, k=10), queries)}


def arm_promptrag_query(texts: list[str], queries: list[str], work: Path) -> dict:
    sys.path.insert(0, str(REPO_ROOT))
    from index import PromptIndex, load_embedder

    t = time.perf_counter()
    embedder = load_embedder()
    load_model_s = time.perf_counter() - t
    t = time.perf_counter()
    index = PromptIndex.load(work / "pr", embedder=embedder)
    load_s = time.perf_counter() - t
    return {"model_load_s": load_model_s, "load_s": load_s, "disk_bytes": dir_size(work / "pr"),
            "index_type": index.manifest.index_type, **latency(lambda q: index.search(q, 10), queries)}


ARMS = {"floor": arm_floor, "langchain": arm_langchain, "promptrag_query": arm_promptrag_query}


def child_main(arm: str, work: Path, limit: int | None, n_queries: int) -> None:
    texts = distinct_prompts(limit)
    out = ARMS[arm](texts, ideas(texts, n_queries), work)
    print("RESULT " + json.dumps(out))


# ---- parent ---------------------------------------------------------------------------------
def run_measured(argv: list[str]) -> tuple[dict, float, float]:
    """Run a child; (its RESULT json, wall seconds, its own peak RSS in MiB via os.wait4)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{stderr[-3000:]}")
    result: dict = {}
    text = stdout.strip()
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
    if not result and text.startswith("{"):
        result = json.loads(text)  # promptrag ingest --json
    result["cpu_s"] = usage.ru_utime + usage.ru_stime  # robust to other jobs sharing the CPUs
    return result, wall, usage.ru_maxrss / 1024  # KiB → MiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N distinct prompts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--child", choices=sorted(ARMS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.work, args.limit, args.queries)
        return

    texts = distinct_prompts(args.limit)
    py = sys.executable
    promptrag = str(Path(py).with_name("promptrag"))
    common = ["--queries", str(args.queries)] + (["--limit", str(args.limit)] if args.limit else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "prompts.jsonl"
        source.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
        rows = {}
        load_before = os.getloadavg()
        for arm in ("floor", "langchain"):
            result, wall, rss = run_measured([py, __file__, "--child", arm, "--work", str(work), *common])
            rows[arm] = {**result, "wall_s": wall, "peak_rss_mib": rss}
        report, wall, rss = run_measured(
            [promptrag, "ingest", str(source), "--index", str(work / "pr"), "-q", "--json",
             "--max-prompt-nsfw", "1.0", "--max-image-nsfw", "2.0"]
        )
        query, _, query_rss = run_measured(
            [py, __file__, "--child", "promptrag_query", "--work", str(work), *common]
        )
        rows["promptrag"] = {
            **query, "wall_s": wall, "inner_s": report.get("seconds"), "peak_rss_mib": rss,
            "query_peak_rss_mib": query_rss, "rows": report.get("final_rows"),
        }
        load_after = os.getloadavg()

    n = len(texts)
    print(f"{n} distinct prompts; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| arm | wall s (process) | CPU s (process) | inner s | prompts/s (wall) | model load s | "
          "index load s | query p50 / p99 ms | disk MB | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for arm, r in rows.items():
        load = f"{r['load_s']:.3f}" if "load_s" in r else "-"
        disk = f"{r['disk_bytes'] / 1e6:.1f}" if "disk_bytes" in r else "-"
        model_load = f"{r['model_load_s']:.2f}" if "model_load_s" in r else "-"
        print(f"| {arm} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['inner_s']:.1f} | {n / r['wall_s']:.0f} | "
              f"{model_load} | {load} | {r['query_p50_ms']:.1f} / {r['query_p99_ms']:.1f} | {disk} | "
              f"{r['peak_rss_mib']:.0f} |")
    ratio = rows["promptrag"]["wall_s"] / rows["floor"]["wall_s"]
    cpu_ratio = rows["promptrag"]["cpu_s"] / rows["floor"]["cpu_s"]
    print(f"promptrag ingest / encode floor: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x "
          f"({'within' if max(ratio, cpu_ratio) <= 1.2 else 'OVER'} the 1.2x target); "
          f"langchain / floor: wall {rows['langchain']['wall_s'] / rows['floor']['wall_s']:.2f}x, "
          f"CPU {rows['langchain']['cpu_s'] / rows['floor']['cpu_s']:.2f}x")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"prompts": n, "load_before": load_before, "load_after": load_after,
                                         "arms": rows, "ratio_promptrag_floor": ratio,
                                         "cpu_ratio_promptrag_floor": cpu_ratio}, indent=2))


if __name__ == "__main__":
    main()
