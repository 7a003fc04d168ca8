"""Ingest throughput and peak memory, printed as markdown table rows.

Two measurements, each in its own child process so each peak RSS is its own:

- `e2e`: `run_ingest` on the real DiffusionDB dev prompts
  (`$PROMPTRAG_SHARED_DATA/diffusiondb_imagereward/refl_prompts_dev.json`, 8,939 rows) into a
  temporary index: read, clean, de-duplicate, embed (all-MiniLM-L6-v2, CPU unless a GPU is
  present), write FAISS + SQLite, publish. `--rows N` ingests only the first N rows.
- `parse`: the staging half of the pipeline (stream Parquet -> clean -> SQLite de-dup -> NSFW
  filter / plan) on a synthetic DiffusionDB-schema parquet of `--parse-rows` rows (default 1M,
  750k distinct prompts built from the real ones), to show that memory stays bounded by the
  batch size, not the table size. No embedding in this part.

    .venv/bin/python benchmarks/bench_ingest.py [--rows 8939] [--parse-rows 1000000] [--skip-e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SHARED = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PROMPTS = SHARED / "diffusiondb_imagereward" / "refl_prompts_dev.json"


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def part_e2e(rows: int | None) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ingest import run_ingest

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROMPTRAG_HOME"] = tmp
        started = time.perf_counter()
        report = run_ingest(source=str(PROMPTS), index=Path(tmp) / "idx", limit=rows, progress=True)
        seconds = time.perf_counter() - started
    return {
        "label": f"e2e refl_prompts_dev.json ({report.embedding_model.split('/')[-1]})",
        "rows": report.rows_read, "distinct": report.final_rows, "seconds": seconds,
        "rate": report.new_prompts_embedded / seconds, "unit": "prompts/s (embedded, end to end)",
        "peak_rss_mb": peak_rss_mb(),
    }


def write_synthetic(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ingest.diffusiondb import arrow_schema

    real = [r["text"] for r in json.loads(PROMPTS.read_text(encoding="utf-8"))]
    distinct = max(1, rows * 3 // 4)
    schema = arrow_schema()
    step = 100_000
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, step):
            idx = range(start, min(rows, start + step))
            keys = [i % distinct for i in idx]
            columns = {
                "image_name": [f"{i:012d}.png" for i in idx],
                "prompt": [f"{real[k % len(real)]}, study {k // len(real)}" for k in keys],
                "part_id": [1 + i // 1000 % 2000 for i in idx],
                "seed": [i * 2654435761 % 2**32 for i in idx],
                "step": [50] * len(keys),
                "cfg": [7.0] * len(keys),
                "sampler": [1 + i % 9 for i in idx],
                "width": [512] * len(keys),
                "height": [512] * len(keys),
                "user_name": ["u"] * len(keys),
                "timestamp": [1_660_000_000_000_000] * len(keys),
                "image_nsfw": [(i % 100) / 100 for i in idx],
                "prompt_nsfw": [(k % 50) / 100 for k in keys],
            }
            writer.write_table(pa.table({n: pa.array(v, type=schema.field(n).type) for n, v in columns.items()}))


def part_parse(rows: int) -> dict:
    from ingest.normalize import clean_prompt
    from ingest.sources import open_source
    from ingest.staging import WorkDir

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "metadata.parquet"
        write_synthetic(path, rows)
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        with WorkDir(Path(tmp) / "work") as work:
            consumed, kept_total = 0, 0
            for batch in open_source(path).batches(batch_rows=50_000):
                kept = []
                for row in batch:
                    text, reason = clean_prompt(row["prompt"])
                    if reason is None:
                        row["prompt"] = text
                        kept.append(row)
                consumed += len(batch)
                kept_total += len(kept)
                work.stage(kept, consumed, {"rows_read": consumed, "kept": kept_total})
            counters = work.finish_staging(max_prompt_nsfw=0.5, max_image_nsfw=0.5, sample=None, seed=0,
                                           existing=[], counters={})
        seconds = time.perf_counter() - started
    return {
        "label": "parse+stage synthetic DiffusionDB parquet", "rows": consumed, "distinct": counters["distinct"],
        "seconds": seconds, "rate": consumed / seconds, "unit": "rows/s (read, clean, SQLite de-dup, filter)",
        "peak_rss_mb": peak_rss_mb(), "rss_before_mb": rss_before,  # after writing the synthetic file
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=None, help="e2e: first N rows only (default all)")
    parser.add_argument("--parse-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-e2e", action="store_true")
    parser.add_argument("--part", choices=["e2e", "parse"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        result = part_e2e(args.rows) if args.part == "e2e" else part_parse(args.parse_rows)
        print("RESULT " + json.dumps(result))
        return
    if not PROMPTS.is_file():
        print(f"bench_ingest: {PROMPTS} not found (set PROMPTRAG_SHARED_DATA); nothing to measure")
        return
    print("| measurement | rows | distinct | seconds | rate | peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for part in ([] if args.skip_e2e else ["e2e"]) + ["parse"]:
        cmd = [sys.executable, __file__, "--part", part, "--parse-rows", str(args.parse_rows)]
        if args.rows:
            cmd += ["--rows", str(args.rows)]
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        line = next((l for l in out.stdout.splitlines() if l.startswith("RESULT ")), None)
        if line is None:
            print(f"| {part} | failed: {out.stderr.strip().splitlines()[-1:]} |")
            continue
        r = json.loads(line[7:])
        print(f"| {r['label']} | {r['rows']:,} | {r['distinct']:,} | {r['seconds']:.1f} | "
              f"{r['rate']:,.0f} {r['unit']} | {r['peak_rss_mb']:.0f}"
              + (f" (before staging: {r['rss_before_mb']:.0f})" if "rss_before_mb" in r else "") + " |", flush=True)


if __name__ == "__main__":
    main()
