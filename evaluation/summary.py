"""A run directory's files: reading `results.jsonl` and `run.json`, writing `summary.json`.

`read_results(run_dir)` returns the rows of results.jsonl (one per idea × configuration; the
last row wins should a pair ever appear twice). A last line cut short by a kill is ignored
here; `runner.py` removes it before appending again. `summarize(rows, configs)` aggregates
them per configuration and per category; `write_summary(run_dir)` writes summary.json
atomically (the format is in the module docstring of runner.py and in CONTRACT "run-dir").
For the runner: `folder_lock` (one run per folder, an flock the kernel drops when a process
dies), `append_row` (one fsync'ed line per call) and `cut_torn_tail` (drops a line a kill cut).

Figures per configuration (a row without a prompt — its enhancer failed — is left out of the
means; `errors` counts every row with an error, an image or judge failure included):
n, errors, mean_tokens, over_budget_rate, mean_consistency, mean_example_similarity,
mean_diversity, p50_latency_s, p90_latency_s, fallback_rate, fallback_reasons {reason: n},
mean_score, correct_rate, contradiction_rate, broken_join_rate, scene_leak_rate (None where no
row has the figure, e.g. no judge, or rows written before the craft checks existed). summary.json
also says `stopped` (why: "cancelled" or the spend cap reached) when the latest session stopped early.

Deliberately not here: significance tests and winners (compare.py), HTML (report.py).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.files import atomic_write, run_lock

RESULTS = "results.jsonl"
# (figure name, row field) of the prompt-craft checks (evaluation/metrics.py `craft_figures`)
CRAFT_FIELDS = (("contradiction", "contradictions"), ("broken_join", "broken_joins"), ("scene_leak", "scene_leaks"))
RUN = "run.json"
SUMMARY = "summary.json"
PAIRS = "pairs.jsonl"
REASON_CHARS = 120
_PATH = re.compile(r"'(?:[^'\s]*/)+([^'/\s]+)'")
_QUOTED_TAIL = re.compile(r"(?::\s*|\s*\()['\"].*$")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])")


def read_run(run_dir: Path | str) -> dict[str, Any]:
    """run.json of `run_dir`; an InputError naming the directory when it is not a run."""
    path = Path(run_dir) / RUN
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{run_dir} is not an evaluation run (no {RUN}): pass a folder written by "
                         "`promptrag eval PROMPTSET -o DIR`") from None
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc}); remove the folder and run the evaluation again") from None
    if not isinstance(data, dict) or not isinstance(data.get("configs"), list):
        raise InputError(f"{path} is not an evaluation run file (no configs list)")
    return data


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The complete JSON lines of an append-only file (a torn last line is left out)."""
    if not path.is_file():
        return []
    rows = []
    lines = path.read_bytes().split(b"\n")
    for number, line in enumerate(lines[:-1], start=1):  # the part after the last newline is torn
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise InputError(f"{path} line {number} is not JSON; the file was edited or damaged — "
                             "remove that line and run again") from None
    return rows


def read_results(run_dir: Path | str) -> list[dict[str, Any]]:
    """One row per (idea_id, config), the last one written winning."""
    by_pair: dict[tuple[str, str], dict[str, Any]] = {}
    for row in read_jsonl(Path(run_dir) / RESULTS):
        by_pair[(row["idea_id"], row["config"])] = row
    return list(by_pair.values())


def reason_key(reason: str) -> str:
    """A fallback reason cut to what repeats across rows, so they can be counted: the first
    clause, file paths as their names, no quoted model output, numbers as '#'
    ("local: local model 'x.gguf' gave no usable prompt: model output had no valid prompt JSON")."""
    head = reason.split(";")[0].strip()
    head = _PATH.sub(lambda m: f"'{m.group(1)}'", head)
    head = _QUOTED_TAIL.sub("", head)
    head = _NUMBER.sub("#", head).strip()
    return head if len(head) <= REASON_CHARS else head[: REASON_CHARS - 1] + "…"


def _mean(values: Iterable[Any]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(statistics.fmean(present), 4) if present else None


def _quantile(values: Sequence[float], q: float) -> float | None:
    """The median for q = 0.5, else the nearest-rank q-quantile."""
    if not values:
        return None
    if q == 0.5:
        return round(statistics.median(values), 4)
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 4)


def figures(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The aggregate figures of some rows of one configuration."""
    ok = [r for r in rows if r.get("prompt")]  # a prompt was made (an image or judge error keeps it)
    verdicts = [r["verdict"] for r in ok if r.get("verdict")]
    latencies = [float(r["latency_s"]) for r in ok if r.get("latency_s") is not None]
    reasons = Counter(reason_key(reason) for r in ok for reason in r.get("fallback_reasons") or [])
    return {
        "n": len(ok),
        "errors": sum(1 for r in rows if r.get("error")),
        "mean_tokens": _mean(r.get("tokens") for r in ok),
        "over_budget_rate": _mean(bool(r.get("over_budget")) for r in ok),
        "mean_consistency": _mean(r.get("consistency") for r in ok),
        "mean_example_similarity": _mean(r.get("example_similarity") for r in ok),
        "mean_diversity": _mean(r.get("diversity") for r in ok),
        "p50_latency_s": _quantile(latencies, 0.5),
        "p90_latency_s": _quantile(latencies, 0.9),
        "fallback_rate": _mean(bool(r.get("fallback")) for r in ok),
        "fallback_reasons": dict(reasons.most_common()),
        "mean_score": _mean(v.get("score") for v in verdicts),
        "correct_rate": _mean(bool(v.get("correct")) for v in verdicts),
        # prompt craft (issue 19): share of prompts with at least one finding
        **{f"{name}_rate": _mean(bool(r[field]) for r in ok if field in r) for name, field in CRAFT_FIELDS},
    }


def summarize(rows: Sequence[dict[str, Any]], configs: Sequence[str], *, wall_s: float = 0.0,
              judge_calls: int = 0) -> dict[str, Any]:
    """summary.json's content: figures per configuration, per category × configuration, cost.

    LLM calls are counted from the rows (each says how many it made), so a run killed and
    resumed still counts them all; `wall_s` and `judge_calls` are the sessions' totals (a
    session killed before it finished adds neither).
    """
    names = list(dict.fromkeys([*configs, *(r["config"] for r in rows)]))
    by_config = {name: figures([r for r in rows if r["config"] == name]) for name in names}
    categories = sorted({r["category"] for r in rows if r.get("category")})
    per_category = {
        cat: {name: figures([r for r in rows if r["config"] == name and r.get("category") == cat]) for name in names}
        for cat in categories
    }
    done = sum(1 for r in rows if not r.get("error"))
    return {"configs": by_config, "per_category": per_category,
            "cost": {"judge_calls": judge_calls,
                     "llm_calls": sum(int(r.get("llm_calls") or 0) for r in rows), "wall_s": round(wall_s, 3),
                     "rows": len(rows), "rows_per_s": round(done / wall_s, 3) if wall_s > 0 else None}}


def write_summary(run_dir: Path | str) -> Path:
    """Recompute summary.json from run.json and every row in results.jsonl."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    rows = read_results(run_dir)
    sessions = run.get("sessions") or []
    summary = summarize(rows, run["configs"], wall_s=sum(float(s.get("wall_s") or 0.0) for s in sessions),
                        judge_calls=sum(int(s.get("judge_calls") or 0) for s in sessions))
    if sessions and sessions[-1].get("stopped"):  # the latest session stopped early: a cancel or a spend cap
        summary["stopped"] = sessions[-1]["stopped"]
    path = run_dir / SUMMARY
    atomic_write(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return path


# ---- writing (runner.py) ---------------------------------------------------------------------
def folder_lock(out: Path) -> contextlib.AbstractContextManager[None]:
    """One run per folder: an flock on DIR/.lock, which the kernel drops when the process dies."""
    return run_lock(out, "evaluation")


def append_row(handle: Any, row: dict[str, Any]) -> None:
    """One JSON line, written in one call, flushed and fsync'ed (append-only: never rewritten)."""
    handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    handle.flush()
    os.fsync(handle.fileno())


def cut_torn_tail(path: Path) -> None:
    """Remove a last line a kill cut short (everything after the last newline)."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())
