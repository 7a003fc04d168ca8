"""Latency of enhancers on real ideas: p50 / p95 / max per call, one row per configuration.

Ideas are short subjects cut from real DiffusionDB prompts (the text before the first comma,
at most 12 words, de-duplicated) in `/work/shared/data/diffusiondb_imagereward/refl_prompts_dev.json`
(or $PROMPTRAG_SHARED_DATA/...). The script exits cleanly with a message when the file is absent.

Add a row: append a `Row(label, make_enhancer, request_fields)` to `ROWS` (e.g. the local LLM
with a smaller idea count via --limit); `--rows rules,rules n=4` picks rows by label.

    .venv/bin/python benchmarks/bench_enhancers.py [--ideas 1000] [--repeat 3] [--rows LABEL,...] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

SHARED = Path(os.environ.get("PROMPTRAG_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
PROMPTS = SHARED / "diffusiondb_imagereward" / "refl_prompts_dev.json"
CREATIVITIES = (0.0, 0.35, 0.7, 1.0)


@dataclass
class Row:
    label: str
    make_enhancer: Callable[[], Any]
    request_fields: dict[str, Any] = field(default_factory=dict)
    max_ideas: int | None = None  # slow enhancers (LLMs) run on fewer ideas


def _rules():
    from enhancers.registry import get_enhancer

    return get_enhancer("rules")


def _chain_rules_only():
    from enhancers.chain import FallbackChain

    return FallbackChain([_rules()])


_SERVERS: list[Any] = []  # local wire-format servers kept alive for the whole run


def _anthropic_local():
    """The real anthropic SDK against the test suite's Messages API server on 127.0.0.1."""
    from enhancers.claude_api import AnthropicEnhancer
    from tests.servers.anthropic_server import AnthropicServer

    server = AnthropicServer().__enter__()
    _SERVERS.append(server)
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-benchmark-not-a-real-key"
    return AnthropicEnhancer(base_url=server.url, max_retries=0)


def _bedrock_local():
    """Real boto3 (SigV4, Converse) against the test suite's Bedrock server on 127.0.0.1."""
    from enhancers.claude_bedrock import BedrockEnhancer
    from tests.servers.bedrock_server import BedrockServer

    server = BedrockServer().__enter__()
    _SERVERS.append(server)
    os.environ.update({"AWS_ACCESS_KEY_ID": "AKIDBENCHMARK", "AWS_SECRET_ACCESS_KEY": "benchmark",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    return BedrockEnhancer(endpoint_url=server.url, max_retries=0)


def _langchain_local():
    """LangChain's ChatAnthropic (init_chat_model, forced structured-output tool) against the same server."""
    from enhancers.langchain_chat import LangChainEnhancer
    from tests.servers.anthropic_server import AnthropicServer

    server = AnthropicServer().__enter__()
    _SERVERS.append(server)
    os.environ["ANTHROPIC_API_KEY"] = "sk-ant-benchmark-not-a-real-key"
    return LangChainEnhancer("anthropic:claude-test-1", base_url=server.url, max_retries=0)


ROWS: list[Row] = [
    Row("rules", _rules),
    Row("rules n=4", _rules, {"n_candidates": 4}),
    Row(
        "rules sd1+examples",
        _rules,
        {
            "model_family": "sd1",
            "examples": [
                {"text": "a castle at dusk, bokeh, volumetric light, highly detailed"},
                {"text": "portrait, 85mm lens, film grain, natural lighting"},
            ],
        },
    ),
    Row(
        "rules refinement",
        _rules,
        {
            "previous_prompt": "{idea}, digital painting, vibrant colors, highly detailed",
            "feedback": "moodier, no text",
        },
    ),
    Row("chain (rules only)", _chain_rules_only),
    # SDK round trip (request building, HTTP, parsing) with a local server: our overhead, not Claude's.
    Row("anthropic SDK → local server", _anthropic_local, max_ideas=200),
    Row("bedrock boto3 → local server", _bedrock_local, max_ideas=200),
    Row("langchain ChatAnthropic → local server", _langchain_local, max_ideas=200),
]


def load_ideas(limit: int) -> list[str]:
    rows = json.loads(PROMPTS.read_text(encoding="utf-8"))
    ideas, seen = [], set()
    for row in rows:
        subject = re.split(r"[,|;]|\.\s", row["text"], maxsplit=1)[0].strip()
        subject = " ".join(subject.split()[:12])
        if len(subject) < 3 or subject.lower() in seen:
            continue
        seen.add(subject.lower())
        ideas.append(subject)
        if len(ideas) == limit:
            break
    return ideas


def run_row(row: Row, ideas: list[str], repeat: int = 1) -> dict[str, Any]:
    from enhancers.base import EnhanceRequest

    enhancer = row.make_enhancer()
    ideas = ideas[: row.max_ideas] if row.max_ideas else ideas
    requests = []
    for i, idea in enumerate(ideas):
        fields = {
            k: (v.format(idea=idea) if isinstance(v, str) else v) for k, v in row.request_fields.items()
        }
        requests.append(EnhanceRequest(idea=idea, creativity=CREATIVITIES[i % len(CREATIVITIES)], **fields))
    enhancer.enhance(requests[0])  # warm-up: tokenizer / model load is not per-call latency
    latencies, over_budget = [], 0
    for request in requests:
        # best of `repeat`: on a shared machine the slowest runs measure the scheduler, not us
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            result = enhancer.enhance(request)
            best = min(best, time.perf_counter() - started)
        latencies.append(best)
        over_budget += not result.within_budget
    enhancer.release()
    ms = sorted(x * 1000 for x in latencies)
    return {
        "row": row.label,
        "calls": len(ms),
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[int(0.95 * (len(ms) - 1))], 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
        "over_budget": over_budget,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ideas", type=int, default=1000, help="How many real ideas to run (default 1000).")
    parser.add_argument("--rows", default="", help="Comma-separated row labels (default: all).")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="Time each idea N times and keep the fastest (filters scheduler noise).",
    )
    parser.add_argument("--json", action="store_true", help="Print JSON rows instead of a table.")
    args = parser.parse_args(argv)
    if not PROMPTS.is_file():
        print(f"skipped: real prompts not found at {PROMPTS} (set PROMPTRAG_SHARED_DATA)")
        return 0
    ideas = load_ideas(args.ideas)
    wanted = {label.strip() for label in args.rows.split(",") if label.strip()}
    rows = [row for row in ROWS if not wanted or row.label in wanted]
    results = [run_row(row, ideas, max(1, args.repeat)) for row in rows]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(
        f"{len(ideas)} real ideas from {PROMPTS.name}; creativity cycles {CREATIVITIES}; "
        f"best of {max(1, args.repeat)} per idea"
    )
    header = ("row", "calls", "p50 ms", "p95 ms", "max ms", "mean ms", "over budget")
    print(f"{header[0]:<22} " + " ".join(f"{h:>11}" for h in header[1:]))
    for r in results:
        print(
            f"{r['row']:<22} {r['calls']:>11} {r['p50_ms']:>11.3f} {r['p95_ms']:>11.3f} {r['max_ms']:>11.3f} "
            f"{r['mean_ms']:>11.3f} {r['over_budget']:>11}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
