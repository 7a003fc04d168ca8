"""promptrag beside the AWS sample's path (LangChain FAISS) and the bare-encode floor, in one run.

Usage:  .venv/bin/python benchmarks/bench_anchor.py [--limit N] [--queries 200] [--json OUT]
            [--before DIR] [--arms floor,langchain,before,cold,fp32,int8]
        (needs the `bench` extra: pip install -e '.[bench]', i.e. langchain-community)

Arms on the same distinct real prompts (../shared/data/diffusiondb_imagereward/
refl_prompts_dev.json, whitespace-normalised and de-duplicated first, so every arm embeds the
same texts), each in its own child process so its peak RSS is its own:

- `floor`: the same model's bare `SentenceTransformer.encode(texts, batch_size=64,
  normalize_embeddings=True)` + a FAISS `IndexFlatIP.add`, nothing written. The bar of issue 22.
- `langchain`: the AWS sample's path: `HuggingFaceEmbeddings` (langchain-community, the same
  bundled all-MiniLM-L6-v2 directory, batch 64, normalised) + `FAISS.from_texts` +
  `save_local`, then `load_local` and `similarity_search(idea, k=10)`.
- `before`: `promptrag ingest` of another checkout (`--before DIR`, e.g. a `git worktree` of the
  previous revision): sentence-transformers embedding and an export written into every index.
- `cold`: the real CLI, `promptrag ingest FILE.jsonl --index DIR -q --json` on a machine without
  the shared ONNX export (an empty $PROMPTRAG_HOME): it exports the model once (torch) first.
- `fp32` / `int8`: the same with the shared export already written (every later ingest):
  embedding through ONNX Runtime, no torch imported; `int8` adds `--quantize int8`.
  Each promptrag index is then opened as a user opens it (`PromptIndex.load`, the query
  embedder the manifest records) and searched (`search(idea, k=10)`, query embedding included).

Per arm: process wall time (interpreter start to exit: imports + model load + embed + write),
the part spent inside encode / ingest's own clock, prompts/s, query p50/p99 over `--queries`
short ideas (first five words of random prompts), load time, size on disk (the shared export,
once per machine, apart), peak RSS and CPU seconds (user + sys, from os.wait4 on the child: on a
shared machine CPU time is the fairer comparison, wall time follows the load). The target of
issue 22: ingest ≤ 0.5 × the floor, end to end (whole processes).
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
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


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
    import faiss
    from sentence_transformers import SentenceTransformer

    t = time.perf_counter()
    model = SentenceTransformer(model_dir(), device="cpu")
    load_model_s = time.perf_counter() - t
    t = time.perf_counter()
    vectors = model.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    embed_s = time.perf_counter() - t
    return {"model_load_s": load_model_s, "inner_s": embed_s,
            **latency(lambda q: index.search(model.encode([q], normalize_embeddings=True), 10), queries)}


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
    """Open the index named by PROMPTRAG_BENCH_INDEX as a user does and search it."""
    sys.path.insert(0, str(REPO_ROOT))
    from index import PromptIndex

    path = Path(os.environ["PROMPTRAG_BENCH_INDEX"])
    t = time.perf_counter()
    index = PromptIndex.load(path)
    load_s = time.perf_counter() - t
    t = time.perf_counter()
    embedder = index.embedder  # the query embedder the manifest records (ONNX: the shared export)
    load_model_s = time.perf_counter() - t
    return {"model_load_s": load_model_s, "load_s": load_s, "disk_bytes": dir_size(path),
            "query_embedder": type(embedder).__name__, "index_type": index.manifest.index_type,
            **latency(lambda q: index.search(q, 10), queries)}


ARMS = {"floor": arm_floor, "langchain": arm_langchain, "promptrag_query": arm_promptrag_query}


def child_main(arm: str, work: Path, limit: int | None, n_queries: int) -> None:
    texts = distinct_prompts(limit)
    out = ARMS[arm](texts, ideas(texts, n_queries), work)
    print("RESULT " + json.dumps(out))


# ---- parent ---------------------------------------------------------------------------------
def run_measured(argv: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[dict, float, float]:
    """Run a child; (its RESULT json, wall seconds, its own peak RSS in MiB via os.wait4)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, text=True, cwd=cwd)
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


PROMPTRAG_ARMS = {  # arm: (extra ingest arguments, whether the shared export is written beforehand)
    "before": ([], False), "cold": (["--quantize", "none"], False), "fp32": (["--quantize", "none"], True),
    "int8": (["--quantize", "int8"], True),
}
LABELS = {"floor": "floor (encode + FAISS add)", "langchain": "LangChain FAISS", "before": "promptrag ingest, before",
          "cold": "promptrag ingest fp32, first on the machine (writes the export)",
          "fp32": "promptrag ingest fp32 (export cached)", "int8": "promptrag ingest --quantize int8 (export cached)"}


def ingest_command(arm: str, source: Path, index: Path, before: Path | None) -> tuple[list[str], Path | None]:
    """(argv, cwd) of one promptrag ingest arm; `before` runs the other checkout's CLI from its root."""
    args = ["ingest", str(source), "--index", str(index), "-q", "--json", "--max-prompt-nsfw", "1.0",
            "--max-image-nsfw", "2.0", *PROMPTRAG_ARMS[arm][0]]
    if arm == "before":
        code = f"import sys; from cli.main import main; sys.argv = ['promptrag', *{args!r}]; sys.exit(main())"
        return [sys.executable, "-c", code], before  # its own packages first: cwd leads sys.path
    return [str(Path(sys.executable).with_name("promptrag")), *args], None


def run_promptrag(arm: str, work: Path, source: Path, common: list[str], before: Path | None) -> dict:
    home = work / f"home-{arm}"  # its own PROMPTRAG_HOME: "cold" starts without the shared export
    env = {"PROMPTRAG_HOME": str(home)}
    if PROMPTRAG_ARMS[arm][1]:  # written beforehand, untimed: what every ingest after the first finds
        quantization = PROMPTRAG_ARMS[arm][0][1]
        subprocess.run([sys.executable, "-m", "index.onnx_export", "--cache", DEFAULT_MODEL, "--quantize",
                        quantization], cwd=REPO_ROOT, env={**os.environ, **env, "HF_HUB_OFFLINE": "1"},
                       check=True, capture_output=True)
    argv, cwd = ingest_command(arm, source, work / f"pr-{arm}", before)
    report, wall, rss = run_measured(argv, env, cwd)
    query, _, query_rss = run_measured([sys.executable, __file__, "--child", "promptrag_query", "--work",
                                        str(work), *common], {**env, "PROMPTRAG_BENCH_INDEX": str(work / f"pr-{arm}")})
    return {**query, "wall_s": wall, "cpu_s": report["cpu_s"], "inner_s": report.get("seconds"),
            "peak_rss_mib": rss, "query_peak_rss_mib": query_rss, "rows": report.get("final_rows"),
            "embedded_with": report.get("embedded_with", "sentence-transformers"),
            "shared_export_bytes": dir_size(home / "onnx") if (home / "onnx").is_dir() else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="only the first N distinct prompts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--before", type=Path, default=None, help="checkout of the previous revision (arm before)")
    parser.add_argument("--arms", default="floor,langchain,before,cold,fp32,int8")
    parser.add_argument("--child", choices=sorted(ARMS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.child, args.work, args.limit, args.queries)
        return

    texts = distinct_prompts(args.limit)
    arms = [a for a in args.arms.split(",") if a != "before" or args.before is not None]
    common = ["--queries", str(args.queries)] + (["--limit", str(args.limit)] if args.limit else [])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "prompts.jsonl"
        source.write_text("".join(json.dumps({"prompt": t}) + "\n" for t in texts), encoding="utf-8")
        rows = {}
        load_before = os.getloadavg()
        for arm in arms:
            if arm in ("floor", "langchain"):
                result, wall, rss = run_measured([sys.executable, __file__, "--child", arm, "--work", str(work),
                                                  *common])
                rows[arm] = {**result, "wall_s": wall, "peak_rss_mib": rss}
            else:
                rows[arm] = run_promptrag(arm, work, source, common, args.before)
            print(f"{arm}: wall {rows[arm]['wall_s']:.1f} s, CPU {rows[arm]['cpu_s']:.1f} s", file=sys.stderr,
                  flush=True)
        load_after = os.getloadavg()
    print_table(len(texts), rows, load_before, load_after)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"prompts": len(texts), "load_before": load_before,
                                         "load_after": load_after, "arms": rows}, indent=2))


def print_table(n: int, rows: dict, load_before: tuple, load_after: tuple) -> None:
    print(f"{n} distinct prompts; load average before {load_before[0]:.2f}, after {load_after[0]:.2f}")
    print("| arm | wall s (process) | CPU s (process) | inner s | prompts/s (wall) | × floor wall / CPU | "
          "model load s | index load s | query p50 / p99 ms | disk MB (+ shared export) | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    floor = rows.get("floor")
    for arm, r in rows.items():
        ratio = f"{r['wall_s'] / floor['wall_s']:.2f} / {r['cpu_s'] / floor['cpu_s']:.2f}" if floor else "-"
        load = f"{r['load_s']:.3f}" if "load_s" in r else "-"
        disk = f"{r['disk_bytes'] / 1e6:.1f}" if "disk_bytes" in r else "-"
        if r.get("shared_export_bytes"):
            disk += f" (+ {r['shared_export_bytes'] / 1e6:.0f})"
        model_load = f"{r['model_load_s']:.2f}" if "model_load_s" in r else "-"
        print(f"| {LABELS[arm]} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | {r['inner_s']:.1f} | {n / r['wall_s']:.0f} | "
              f"{ratio} | {model_load} | {load} | {r['query_p50_ms']:.1f} / {r['query_p99_ms']:.1f} | {disk} | "
              f"{r['peak_rss_mib']:.0f} |")


if __name__ == "__main__":
    main()
