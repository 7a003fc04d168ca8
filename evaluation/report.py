"""The report of a finished evaluation run: one self-contained report.html, and the tables behind it.

    write_report(run_dir) -> Path      # <run_dir>/report.html, written atomically

The page holds everything (no network, no files beside it): per-configuration figures, a
per-category table of the judge's score, an inline SVG bar plot of the score by configuration,
pairwise preferences, and for each idea its configurations side by side — image (inlined as a
base64 data URI), prompt, verdict, error. Every piece of text from the run (ideas, prompts,
reasoning, errors, even configuration names) goes through `html.escape`, so a hostile idea shows
as text. No script runs in the page.

`config_table`, `category_table` and `idea_groups` are pure functions of a loaded `Run`, shared
with the Evaluate page so both show the same figures.

Deliberately not here: running or judging (runner.py / judge.py), significance (compare.py),
and any image outside the run directory (a row naming one gets "no image").
"""

from __future__ import annotations

import base64
import html
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.files import atomic_write
from evaluation.compare import NO_CATEGORY, Run, load_run, metric_value
from evaluation.summary import CRAFT_FIELDS

REPORT_NAME = "report.html"
# (key, label, kind): "rate" shows as a percentage, "num" with 3 decimals, "dec1" with 1, "int" as is.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("n", "ideas", "int"),
    ("mean_score", "mean score", "num"),
    ("correct_rate", "correct", "rate"),
    ("errors", "errors", "int"),
    ("mean_tokens", "tokens", "dec1"),
    ("over_budget_rate", "over budget", "rate"),
    ("mean_consistency", "consistency", "num"),
    ("mean_example_similarity", "example similarity", "num"),
    ("p50_latency_s", "p50 latency (s)", "num"),
    ("fallback_rate", "fallback", "rate"),
    ("contradiction_rate", "negative contradicts", "rate"),
    ("broken_join_rate", "broken joins", "rate"),
    ("scene_leak_rate", "scene leaks", "rate"),
)
_PLOT_WIDTH, _BAR_HEIGHT, _LABEL_WIDTH = 640, 22, 170


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _figures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    scores = [v for r in ok if (v := metric_value(r, "score")) is not None]
    correct = [v for r in ok if (v := metric_value(r, "correct")) is not None]
    latencies = [float(r["latency_s"]) for r in ok if r.get("latency_s") is not None]
    return {
        "n": len(rows),
        "mean_score": _mean(scores),
        "correct_rate": _mean(correct),
        "errors": len(rows) - len(ok),
        "mean_tokens": _mean([float(r["tokens"]) for r in ok if r.get("tokens") is not None]),
        "over_budget_rate": _mean([float(bool(r.get("over_budget"))) for r in ok]),
        "mean_consistency": _mean([v for r in ok if (v := metric_value(r, "consistency")) is not None]),
        "mean_example_similarity": _mean(
            [v for r in ok if (v := metric_value(r, "example_similarity")) is not None]),
        "p50_latency_s": statistics.median(latencies) if latencies else None,
        "fallback_rate": _mean([float(bool(r.get("fallback"))) for r in ok]),
        **{f"{name}_rate": _mean([float(bool(r[field])) for r in ok if field in r]) for name, field in CRAFT_FIELDS},
    }


def _latest_rows(run: Run) -> list[dict[str, Any]]:
    """One row per (idea, configuration): a resumed run may have written one twice."""
    latest = {(r.get("idea_id"), r.get("config")): r for r in run.rows}
    return list(latest.values())


def config_table(run: Run) -> list[dict[str, Any]]:
    """One dict per configuration: {"config": name, **figures} (keys of COLUMNS; None = no data)."""
    rows = _latest_rows(run)
    return [{"config": config, **_figures([r for r in rows if r.get("config") == config])}
            for config in run.configs]


def category_table(run: Run, metric: str = "score") -> dict[str, dict[str, float | None]]:
    """category → configuration → mean `metric` (None where that configuration has none)."""
    rows = _latest_rows(run)
    categories = sorted({r.get("category") or NO_CATEGORY for r in rows})
    table: dict[str, dict[str, float | None]] = {}
    for category in categories:
        in_cat = [r for r in rows if (r.get("category") or NO_CATEGORY) == category]
        table[category] = {
            config: _mean([v for r in in_cat if r.get("config") == config
                           and (v := metric_value(r, metric)) is not None])
            for config in run.configs
        }
    return table


@dataclass(frozen=True)
class IdeaGroup:
    idea_id: str
    idea: str
    category: str | None
    rows: dict[str, dict[str, Any]]  # configuration → its row


def idea_groups(run: Run) -> list[IdeaGroup]:
    """Each idea with its configurations' rows, in the order the run first wrote them."""
    groups: dict[str, IdeaGroup] = {}
    for row in _latest_rows(run):
        idea_id = str(row.get("idea_id"))
        if idea_id not in groups:
            groups[idea_id] = IdeaGroup(idea_id, str(row.get("idea", "")), row.get("category"), {})
        groups[idea_id].rows[row.get("config")] = row
    return list(groups.values())


def image_path(run: Run, row: dict[str, Any]) -> Path | None:
    """The row's image if it is a file inside the run directory (never a path outside it)."""
    name = row.get("image")
    if not name:
        return None
    root = run.path.resolve()
    path = (root / str(name)).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        return None
    return path


def format_value(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{100 * value:.0f}%"
    if kind == "int":
        return str(value)
    if kind == "dec1":
        return f"{value:.1f}"
    return f"{value:.3f}"


# ---- HTML --------------------------------------------------------------------------------------
def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _plot(table: list[dict[str, Any]]) -> str:
    """Inline SVG: one bar per configuration, the mean judge score (else the mean consistency)."""
    key, label = "mean_score", "mean judge score"
    if all(row["mean_score"] is None for row in table):
        key, label = "mean_consistency", "mean consistency (no judge scores)"
    bars = [(row["config"], row[key]) for row in table]
    height = 30 + _BAR_HEIGHT * len(bars) + 20
    span = _PLOT_WIDTH - _LABEL_WIDTH - 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{_PLOT_WIDTH}" height="{height}" '
             f'role="img" aria-label="{_e(label)} by configuration">',
             f'<text x="0" y="16" class="plot-title">{_e(label)} by configuration (0 to 1)</text>']
    for i, (config, value) in enumerate(bars):
        y = 30 + i * _BAR_HEIGHT
        width = 0 if value is None else max(0.0, min(1.0, value)) * span
        parts.append(f'<text x="{_LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{_e(config)}</text>')
        parts.append(f'<rect x="{_LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{_BAR_HEIGHT - 6}" '
                     f'class="bar"><title>{_e(config)}: {format_value(value, "num")}</title></rect>')
        shown = format_value(value, "num")
        parts.append(f'<text x="{_LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{shown}</text>')
    axis_y = 30 + _BAR_HEIGHT * len(bars)
    parts.append(f'<line x1="{_LABEL_WIDTH}" y1="{axis_y}" x2="{_LABEL_WIDTH + span}" y2="{axis_y}" '
                 'class="axis"/>')
    for tick in (0, 0.5, 1):
        x = _LABEL_WIDTH + tick * span
        parts.append(f'<text x="{x:.1f}" y="{axis_y + 14}" text-anchor="middle" class="tick">{tick:g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _config_html(table: list[dict[str, Any]]) -> str:
    head = "".join(f"<th>{_e(label)}</th>" for _, label, _ in COLUMNS)
    body = "".join(
        "<tr><th scope=row>" + _e(row["config"]) + "</th>"
        + "".join(f"<td>{_e(format_value(row[key], kind))}</td>" for key, _, kind in COLUMNS) + "</tr>"
        for row in table)
    return f"<table><thead><tr><th>configuration</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _category_html(run: Run, metric: str) -> str:
    table = category_table(run, metric)
    head = "".join(f"<th>{_e(c)}</th>" for c in run.configs)
    body = "".join(
        "<tr><th scope=row>" + _e(cat) + "</th>"
        + "".join(f"<td>{_e(format_value(values[c], 'num'))}</td>" for c in run.configs) + "</tr>"
        for cat, values in table.items())
    return f"<table><thead><tr><th>category</th>{head}</tr></thead><tbody>{body}</tbody></table>"


def _pairs_html(run: Run) -> str:
    if not run.pairs:
        return ""
    counts: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
    failed: dict[tuple[str, str], int] = {}
    for pair in run.pairs:
        key = (str(pair.get("a")), str(pair.get("b")))
        entry = counts.setdefault(key, {q: {} for q in ("faithful", "aesthetic")})
        if pair.get("error"):  # the judge gave no usable answer for this pair
            failed[key] = failed.get(key, 0) + 1
            continue
        for question in entry:
            choice = str(pair.get(question, "tie"))
            entry[question][choice] = entry[question].get(choice, 0) + 1
    rows = []
    for (a, b), entry in counts.items():
        cells = "".join(
            f"<td>{_e(a)} {entry[q].get(a, 0)} · {_e(b)} {entry[q].get(b, 0)} · "
            f"tie {entry[q].get('tie', 0)}</td>"
            for q in ("faithful", "aesthetic"))
        rows.append(f"<tr><th scope=row>{_e(a)} vs {_e(b)}</th>{cells}<td>{failed.get((a, b), 0)}</td></tr>")
    return ("<h2>Pairwise preferences</h2><p class=note>Each pair was shown in a random order; counts "
            "are of ideas.</p><table><thead><tr><th>pair</th><th>more faithful</th><th>more aesthetic</th>"
            "<th>judge errors</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _card(run: Run, config: str, row: dict[str, Any] | None) -> str:
    if row is None:
        return f"<div class=card><h4>{_e(config)}</h4><p class=note>not run</p></div>"
    parts = [f"<div class=card><h4>{_e(config)}</h4>"]
    path = image_path(run, row)
    if path is not None:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        parts.append(f'<img alt="{_e(config)} image" src="data:image/png;base64,{data}">')
    else:
        parts.append("<div class=noimage>no image</div>")
    verdict = row.get("verdict") or None
    if verdict:
        ok = bool(verdict.get("correct"))
        badge = '<span class="badge ok">correct</span>' if ok else '<span class="badge bad">incorrect</span>'
        parts.append(f"<p>{badge} score {_e(format_value(verdict.get('score'), 'num'))}</p>")
        parts.append(f"<p class=reason>{_e(verdict.get('reasoning', ''))}</p>")
    if row.get("error"):
        parts.append(f"<p class=error>error: {_e(row['error'])}</p>")
    parts.append(f"<pre>{_e(row.get('prompt', ''))}</pre>")
    reasons = ", ".join(map(str, row.get("fallback_reasons") or []))
    facts = [f"{row.get('tokens')} tokens" if row.get("tokens") is not None else "",
             f"by {row.get('answered_by')}" if row.get("answered_by") else "",
             f"fallback: {reasons}" if row.get("fallback") else ""]
    parts.append(f"<p class=note>{_e(' · '.join(f for f in facts if f))}</p></div>")
    return "".join(parts)


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1400px}
h1{margin-bottom:.2rem} .note{color:#666;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0 1.5rem} th,td{border:1px solid #ddd;padding:.3rem .6rem;
text-align:right} th{background:#f5f5f7} th[scope=row]{text-align:left}
.idea{border-top:2px solid #eee;padding-top:1rem;margin-top:1rem}
.idea-text{white-space:pre-wrap;font-weight:600;font-size:1.05rem}
.row{display:flex;gap:1rem;flex-wrap:wrap} .card{flex:1 1 220px;max-width:300px;border:1px solid #ddd;
border-radius:8px;padding:.6rem} .card h4{margin:.1rem 0 .4rem} .card img{width:100%;image-rendering:auto;
border-radius:4px} .noimage{height:120px;display:flex;align-items:center;justify-content:center;
background:#f3f3f3;color:#888;border-radius:4px}
pre{white-space:pre-wrap;word-break:break-word;background:#f7f7f9;padding:.4rem;
font-size:.8rem} .badge{border-radius:4px;padding:0 .35rem;color:#fff;font-size:.8rem}
.ok{background:#2e7d32} .bad{background:#c62828} .error{color:#c62828} .reason{font-size:.85rem}
svg text{font-size:12px;fill:#333} svg .plot-title{font-weight:600} .bar{fill:#5b6ee1} .axis{stroke:#999}
svg .tick{fill:#777;font-size:10px}
"""


def render_report(run: Run) -> str:
    """The whole report page as text (pure: reads only the run and its images)."""
    meta = run.meta
    table = config_table(run)
    facts = [f"prompt set {meta.get('promptset', '?')}", f"seed {meta.get('seed', '?')}",
             f"created {meta.get('created', '?')}", f"judge {meta.get('judge') or 'none'}",
             f"{len(idea_groups(run))} ideas × {len(run.configs)} configurations"]
    cost = (run.summary or {}).get("cost") or {}
    if cost:
        facts.append(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in cost.items()))
    metric = "score" if any(r["mean_score"] is not None for r in table) else "consistency"
    body = [f"<h1>Evaluation: {_e(run.path.name)}</h1>", f"<p class=note>{_e(' · '.join(facts))}</p>",
            "<h2>By configuration</h2>", _config_html(table), _plot(table),
            f"<h2>Mean {_e(metric)} by category</h2>", _category_html(run, metric), _pairs_html(run),
            "<h2>Ideas</h2>"]
    for group in idea_groups(run):
        category = f" · {group.category}" if group.category else ""
        body.append(f"<section class=idea><p class=note>{_e(group.idea_id + category)}</p>"
                    f"<p class=idea-text>{_e(group.idea)}</p><div class=row>")
        body.extend(_card(run, config, group.rows.get(config)) for config in run.configs)
        body.append("</div></section>")
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; "
            "style-src 'unsafe-inline'\">"
            f"<title>promptrag evaluation: {_e(run.path.name)}</title><style>{_CSS}</style></head><body>"
            + "".join(body) + "</body></html>\n")


def write_report(run_dir: Path | str) -> Path:
    """Write `<run_dir>/report.html` (atomic replace) and return its path."""
    run = load_run(run_dir)
    target = run.path / REPORT_NAME
    atomic_write(target, render_report(run))
    return target


__all__ = ["COLUMNS", "IdeaGroup", "category_table", "config_table", "format_value", "idea_groups",
           "image_path", "render_report", "write_report"]
