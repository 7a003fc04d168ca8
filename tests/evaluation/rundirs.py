"""Hand-built evaluation run directories (the run-dir format of the eval contract) for the judge,
compare, report and Evaluate page tests, so they do not depend on the runner.

`png(width, height, colour)` is a real PNG made with PIL; `write_run(dir, rows, ...)` writes
run.json, results.jsonl (images under images/<idea_id>/<config>.png), pairs.jsonl and
summary.json as the runner would.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

HOSTILE_IDEA = "<script>document.title='pwned'</script> <img src=x onerror=\"document.title='pwned'\"> **cat**"


def png(width: int = 32, height: int = 32, colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def result_row(idea_id: str, idea: str, config: str, *, category: str | None = "colour",
               score: float | None = None, correct: bool | None = None, image: bool = False,
               error: str | None = None, **extra) -> dict:
    verdict = None
    if score is not None:
        verdict = {"reasoning": f"judged {config} on {idea_id}", "score": score,
                   "correct": bool(correct if correct is not None else score >= 0.5)}
    row = {"idea_id": idea_id, "idea": idea, "category": category, "config": config,
           "answered_by": config.split("+")[0], "fallback": False, "fallback_reasons": [],
           "prompt": f"{idea}, prompt by {config}", "negative_prompt": "blurry", "tokens": 12,
           "token_budget": 77, "over_budget": False, "consistency": 0.8, "example_similarity": 0.5,
           "diversity": None, "latency_s": 0.01,
           "image": f"images/{idea_id}/{config}.png" if image else None,
           "verdict": verdict, "error": error}
    row.update(extra)
    return row


def write_run(run_dir: Path, rows: list[dict], *, pairs: list[dict] = (), summary: dict | None = None,
              colours: dict[str, tuple[int, int, int]] | None = None, judge: str | None = "anthropic") -> Path:
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    configs = list(dict.fromkeys(row["config"] for row in rows))
    meta = {"promptset": "fixture.tsv", "configs": configs, "seed": 7, "created": "2026-11-30T19:00:00+00:00",
            "images": any(row.get("image") for row in rows), "judge": judge}
    (run_dir / "run.json").write_text(json.dumps(meta), encoding="utf-8")
    for i, row in enumerate(rows):
        if row.get("image"):
            path = run_dir / row["image"]
            path.parent.mkdir(parents=True, exist_ok=True)
            colour = (colours or {}).get(row["config"], ((40 * i) % 255, 120, 200))
            path.write_bytes(png(48, 48, colour))
    (run_dir / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    if pairs:
        (run_dir / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
    if summary is not None:
        (run_dir / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return run_dir
