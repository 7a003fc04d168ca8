"""Local Ray vs the thread pool on this machine: start-up, per-task overhead, a 20-variant campaign.

Rows:
- Ray start-up: `ray.init(num_cpus=N)` of a new local Ray, and its shutdown;
- per work unit: `--tasks` empty work units one after another (round trip: submit → result, what a
  sequential caller pays) and all at once (throughput), on `ThreadExecutor` and `RayExecutor`;
- a campaign of `--variants` variants of one brief (rules enhancer, diversity enforced) over the
  shipped starter index, prompts only and (`--images`) with the tiny diffusers pipeline of the tests
  (64x64, 2 steps), on the thread pool and on the local Ray, twice there (the second run finds its
  worker processes started and imported, but loads the run's index, model and pipeline again: they
  are kept per run); the manifests are checked to be equal;
- (`--ingest N`) `run_ingest` of the first N real DiffusionDB prompts (refl_prompts_dev.json, written
  once as a Parquet file with row groups of `--block-rows`) into a new index, on the thread executor
  and with `executor="ray"` (Ray Data tasks read and clean each block of `--block-rows` source rows,
  the actor pool embeds it, the driver merges the shards: ingest/ray_ingest.py, ingest/shards.py) on
  the local Ray already started, both with `read_batch_rows=--block-rows`; the rows (every field) and
  manifests (less time and checksums) are checked to be equal and the vectors compared (int8
  quantizes per batch, so they are near, not equal: the mean and smallest cosine are reported). The model's
  shared int8 ONNX export is written beforehand, untimed, as a machine's second ingest finds it.

The embedding model is loaded in this process before the rows (as in bench_campaign.py); Ray's
workers are new processes and load it (and the index) themselves: that is part of their rows.

    .venv/bin/python benchmarks/bench_ray.py [--variants 20] [--concurrency 2] [--tasks 200] [--images]
        [--ingest 2000] [--block-rows 1000] [--skip-campaign] [--json]
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
TINY_SD = OUT / "tiny-sd"
PROMPTS = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")) / \
    "diffusiondb_imagereward" / "refl_prompts_dev.json"


def noop(x: int) -> int:
    return x


def overhead(kind: str, tasks: int) -> dict:
    """Seconds per empty work unit: one at a time (round trip) and all at once (throughput)."""
    from core.executors import make_executor

    with make_executor(kind, workers=2) as executor:
        executor.submit(noop, 0).result()  # a warm worker (Ray: its process started)
        started = time.perf_counter()
        for i in range(tasks):
            executor.submit(noop, i).result()
        one_by_one = (time.perf_counter() - started) / tasks
        started = time.perf_counter()
        futures = [executor.submit(noop, i) for i in range(tasks)]
        assert [f.result() for f in futures] == list(range(tasks))
        all_at_once = (time.perf_counter() - started) / tasks
    return {"kind": kind, "round_trip_ms": round(one_by_one * 1000, 3), "throughput_ms": round(all_at_once * 1000, 3)}


def brief(variants: int, images: bool):
    from campaign.brief import Brief

    extra = {"backends": ["diffusers"], "model": str(TINY_SD), "sizes": ["64x64"], "steps": 2} if images else {}
    return Brief(name="bench", subject="a brushed steel water bottle", variants=variants, seed=7, enhancer="rules",
                 index=str(INDEX), brand={"must_have": ["steel"], "must_not": ["plastic"], "colours": ["teal"],
                                          "no_text": True}, **extra)


def campaign(kind: str, variants: int, concurrency: int, images: bool, work: Path, label: str = "") -> dict:
    from campaign.runner import run_campaign

    out = work / f"{kind}{label}-{'images' if images else 'prompts'}"
    started = time.perf_counter()
    report = run_campaign(brief(variants, images), out, images=images, concurrency=concurrency, executor=kind)
    wall = time.perf_counter() - started
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for variant in manifest["variants"]:
        variant.pop("timings")
    return {"kind": kind, "images": images, "wall_s": round(wall, 2), "counts": report.counts, "manifest": manifest}


def parquet_source(rows: int, block_rows: int, work: Path) -> Path:
    """The first `rows` real prompts as a Parquet file with row groups of `block_rows` (a block reads its own)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    prompts = [row["text"] for row in json.loads(PROMPTS.read_text(encoding="utf-8"))[:rows]]
    path = work / "prompts.parquet"
    pq.write_table(pa.table({"prompt": prompts}), path, row_group_size=block_rows)
    return path


def ingest(kind: str, source: Path, block_rows: int, work: Path) -> dict:
    """One ingest of `source` into a new index on `kind`; its wall time, rows, manifest and vectors."""
    import numpy as np

    from index import PromptIndex
    from ingest import run_ingest

    index = work / f"ingest-{kind}"
    started = time.perf_counter()
    report = run_ingest(source=str(source), index=index, executor=kind, read_batch_rows=block_rows, progress=False)
    wall = time.perf_counter() - started
    with PromptIndex.load(index) as idx:
        records = [(i, r) for batch in idx.iter_records(10_000) for i, r in batch]
        vectors = np.array(idx.stored_vectors())
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("created_at")
    manifest["files"] = {name: info["size"] for name, info in manifest["files"].items()}
    keyword = manifest["extra"].get("keyword_index")
    if keyword:  # tantivy names its segment files at random: their sizes, sorted
        keyword["files"] = sorted(info["size"] for info in keyword["files"].values())
    return {"kind": kind, "wall_s": round(wall, 2), "rows_read": report.rows_read,
            "embedded": report.new_prompts_embedded, "embedded_with": report.embedded_with, "records": records,
            "manifest": manifest, "vectors": vectors}


def compare_ingests(rows: int, block_rows: int, work: Path) -> dict:
    import numpy as np

    from index import onnx_cache
    from index.embedder import DEFAULT_MODEL_ID

    onnx_cache.ensure_export(DEFAULT_MODEL_ID, onnx_cache.DEFAULT_QUANTIZATION)  # untimed, as after a first ingest
    source = parquet_source(rows, block_rows, work)
    plain, on_ray = ingest("thread", source, block_rows, work), ingest("ray", source, block_rows, work)
    cosines = np.sum(plain["vectors"] * on_ray["vectors"], axis=1) if len(plain["vectors"]) == len(on_ray["vectors"]) \
        else np.zeros(1)
    return {"rows": plain["rows_read"], "blocks": -(-rows // block_rows), "embedded": plain["embedded"],
            "embedded_with": on_ray["embedded_with"], "thread_s": plain["wall_s"], "ray_s": on_ray["wall_s"],
            "same_rows_and_manifest": plain["records"] == on_ray["records"] and plain["manifest"] == on_ray["manifest"],
            "min_cosine": round(float(cosines.min()), 4), "mean_cosine": round(float(cosines.mean()), 4)}


def prepare() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("PROMPTRAG_HOME", str(OUT / "campaign-home"))
    OUT.mkdir(parents=True, exist_ok=True)
    from ingest.starter import build_starter_index, index_exists

    if not index_exists(INDEX):
        build_starter_index(INDEX)
    from index.embedder import load_embedder
    from index.manifest import read_manifest

    load_embedder(read_manifest(INDEX).embedding_model).embed(["warm up"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--images", action="store_true", help="also the campaign with tiny diffusers images")
    parser.add_argument("--ingest", type=int, default=0, help="also ingest N real prompts, plain vs on Ray")
    parser.add_argument("--block-rows", type=int, default=1000, help="source rows per block (and row group)")
    parser.add_argument("--skip-campaign", action="store_true", help="only start-up, overhead and --ingest")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import ray

    prepare()
    if args.images and not (TINY_SD / "model_index.json").is_file():
        from tests.generate.tiny_pipelines import build_tiny_sd

        build_tiny_sd(TINY_SD)
    rows: dict = {"cpus": args.cpus}
    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, logging_level="WARNING")
    rows["ray_init_s"] = round(time.perf_counter() - started, 2)
    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    try:
        rows["overhead"] = [overhead(kind, args.tasks) for kind in ("thread", "ray")]
        rows["campaigns"] = []
        rows["ingest"] = compare_ingests(args.ingest, args.block_rows, work) if args.ingest else None
        for images in [] if args.skip_campaign else [False, True] if args.images else [False]:
            threads = campaign("thread", args.variants, args.concurrency, images, work)
            cold = campaign("ray", args.variants, args.concurrency, images, work)
            warm = campaign("ray", args.variants, args.concurrency, images, work, "-again")  # workers already up
            rows["campaigns"].append({
                "images": images, "same_manifest": threads["manifest"] == cold["manifest"] == warm["manifest"],
                "thread": threads["wall_s"], "ray_first": cold["wall_s"], "ray_again": warm["wall_s"],
                "counts": threads["counts"]})
    finally:
        shutil.rmtree(work, ignore_errors=True)
        started = time.perf_counter()
        ray.shutdown()
        rows["ray_shutdown_s"] = round(time.perf_counter() - started, 2)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"local Ray start-up ({args.cpus} CPUs): {rows['ray_init_s']} s, shutdown {rows['ray_shutdown_s']} s")
    print("| executor | empty unit, one at a time (ms) | empty unit, all at once (ms) |")
    print("|---|---|---|")
    for row in rows["overhead"]:
        print(f"| {row['kind']} | {row['round_trip_ms']} | {row['throughput_ms']} |")
    print(f"\n| campaign ({args.variants} variants, rules, concurrency {args.concurrency}) | thread pool s | "
          "local Ray, first run s | local Ray, again s | same manifest |")
    print("|---|---|---|---|---|")
    for row in rows["campaigns"]:
        kind = "with tiny images (64x64, 2 steps)" if row["images"] else "prompts only"
        print(f"| {kind} | {row['thread']} | {row['ray_first']} | {row['ray_again']} | {row['same_manifest']} |")
    if rows["ingest"]:
        row = rows["ingest"]
        print(f"\n| ingest ({row['rows']} rows in {row['blocks']} blocks, {row['embedded']} prompts embedded, "
              f"{row['embedded_with']}) | thread executor s | local Ray s | same rows and manifest | "
              "cosine between their vectors, mean / smallest |")
        print("|---|---|---|---|---|")
        print(f"| new index | {row['thread_s']} | {row['ray_s']} | {row['same_rows_and_manifest']} | "
              f"{row['mean_cosine']} / {row['min_cosine']} |")


if __name__ == "__main__":
    main()
