"""Campaign batches: wall time with bounded concurrency vs sequential, and the diversity figure.

100 variants of one brief through the anthropic enhancer (the real `anthropic` SDK) against the
local Messages API test server answering every call after a simulated 1 s model latency, over
the shipped starter index (3,000 CC0 DiffusionDB prompts; built once into benchmarks/out/).

Rows:
- concurrency N (default 32, then 16) with diversity enforced (the brief's default threshold);
- sequential (concurrency 1), same brief — the ≥ 100 s baseline;
- concurrency N without enforcement (similarity_threshold 1.0: nothing is ever re-planned).
The embedding model is loaded before the rows (a worker that runs campaigns keeps it loaded).
For each: wall time, enhancer calls (variants + re-plans), statuses, and the maximum pairwise
cosine similarity of the prompts (MiniLM, the index's embedder).

    .venv/bin/python benchmarks/bench_campaign.py [--variants 100] [--concurrency 32 16] [--latency 1.0]
                                                  [--threshold 0.95] [--skip-sequential] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
OUT = REPO_ROOT / "benchmarks" / "out"
INDEX = OUT / "campaign-starter-index"


def brief(variants: int, threshold: float):
    from campaign.brief import Brief

    return Brief(name="bench", subject="a brushed steel water bottle", variants=variants, seed=7,
                 enhancer="anthropic", index=str(INDEX), similarity_threshold=threshold,
                 brand={"must_have": ["steel"], "must_not": ["plastic"], "colours": ["teal"], "no_text": True})


def run(label: str, variants: int, threshold: float, concurrency: int, server) -> dict:
    from campaign.runner import run_campaign

    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    try:
        calls_before = len(server.messages())
        started = time.perf_counter()
        report = run_campaign(brief(variants, threshold), work / "out", concurrency=concurrency)
        wall = time.perf_counter() - started
        replans = sum(sum(n.startswith("re-planned:") for n in v.notes) for v in report.variants)
        return {"label": label, "concurrency": concurrency, "threshold": threshold, "wall_s": round(wall, 2),
                "calls": len(server.messages()) - calls_before, "replans": replans, "counts": report.counts,
                "max_pairwise_similarity": report.max_pairwise_similarity}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=100)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[32, 16],
                        help="worker counts of the concurrent rows (the first one also runs unenforced)")
    parser.add_argument("--latency", type=float, default=1.0, help="simulated model latency per call (s)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="similarity threshold of the enforced rows (default: the brief's default)")
    parser.add_argument("--skip-sequential", action="store_true", help="leave out the slow sequential row")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.threshold is None:
        from campaign.brief import Brief

        args.threshold = Brief.model_fields["similarity_threshold"].default

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PROMPTRAG_HOME", str(OUT / "campaign-home"))
    OUT.mkdir(parents=True, exist_ok=True)
    from ingest.starter import build_starter_index, index_exists

    if not index_exists(INDEX):
        started = time.perf_counter()
        build_starter_index(INDEX)
        print(f"built the starter index in {time.perf_counter() - started:.0f}s", file=sys.stderr)

    # Load the embedding model once first (~10 s of imports on a loaded 2-core machine), as a
    # long-lived worker would have it: the rows then time the campaign, not Python imports.
    from index.embedder import load_embedder
    from index.manifest import read_manifest

    started = time.perf_counter()
    load_embedder(read_manifest(INDEX).embedding_model).embed(["warm up"])
    print(f"embedding model loaded in {time.perf_counter() - started:.1f}s (not in the rows)", file=sys.stderr)
    from tests.servers.anthropic_server import AnthropicServer

    rows = []
    with AnthropicServer(latency_s=args.latency) as server:
        os.environ.update({"ANTHROPIC_API_KEY": "sk-ant-bench", "PROMPTRAG_ANTHROPIC_BASE_URL": server.url,
                           "PROMPTRAG_ANTHROPIC_MODEL": "claude-test-1"})
        for workers in args.concurrency:
            rows.append(run(f"concurrency {workers}, diversity enforced", args.variants, args.threshold, workers,
                            server))
        if not args.skip_sequential:
            rows.append(run("sequential, diversity enforced", args.variants, args.threshold, 1, server))
        workers = args.concurrency[0]
        rows.append(run(f"concurrency {workers}, no enforcement", args.variants, 1.0, workers, server))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"| run ({args.variants} variants, {args.latency:g} s per call) | wall s | enhancer calls | re-plans "
          "| ok / brand / error | max pairwise similarity |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        counts = row["counts"]
        print(f"| {row['label']} | {row['wall_s']:.1f} | {row['calls']} | {row['replans']} | "
              f"{counts['ok']} / {counts['brand_violation']} / {counts['error']} | "
              f"{row['max_pairwise_similarity']:.3f} |")


if __name__ == "__main__":
    main()
