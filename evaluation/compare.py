"""Which of two configurations wins, per idea and per category, and is the difference real?

    a, b = resolve_sides(["runs/today", "raw", "grounded+rag"])   # one run, two configurations
    a, b = resolve_sides(["runs/before", "runs/after"])            # two runs (DIR or DIR:CONFIG)
    print("\\n".join(compare(a, b).lines()))

The two sides are paired by idea id (the same prompt set): for each idea answered by both, the
difference of one figure, by default the judge's score when both sides were judged, else the
idea ↔ prompt consistency. Significance is an exact two-sided sign test over the ideas where the
two differ (no distribution assumed, robust to a few huge differences), beside a seeded bootstrap
95% interval of the mean difference. A winner is named only when p < alpha; otherwise the leader
is reported as "ahead, not significant".

Also here: `load_run(run_dir)` and `find_runs()`, the readers of run directories that report.py
and the Evaluate page share (a killed run's half-written last line of results.jsonl is skipped, not fatal).

Deliberately not here: running evaluations (runner.py), multiple-comparison corrections across
many configurations, or effect sizes beyond the mean difference.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.settings import get_settings

METRICS = ("score", "correct", "consistency", "example_similarity")
BOOTSTRAP_SAMPLES = 2000
NO_CATEGORY = "(none)"


@dataclass(frozen=True)
class Run:
    """A run directory as written by the eval runner (see the run-dir format)."""

    path: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]]
    pairs: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] | None = None

    @property
    def configs(self) -> list[str]:
        named = list(self.meta.get("configs") or [])
        return named + [c for c in dict.fromkeys(r["config"] for r in self.rows) if c not in named]

    def rows_for(self, config: str) -> dict[str, dict[str, Any]]:
        """idea_id → the row of `config` (the last one wins if a resumed run wrote it twice)."""
        return {row["idea_id"]: row for row in self.rows if row.get("config") == config}


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    rows = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if number == len(lines):  # a killed writer's last line: the runner redoes it
                break
            raise InputError(f"{path} line {number} is not JSON; the run directory is damaged") from None
    return rows


def load_run(run_dir: Path | str) -> Run:
    """Read run.json, results.jsonl, pairs.jsonl and summary.json (the last two optional)."""
    path = Path(run_dir).expanduser()
    if not (path / "run.json").is_file() or not (path / "results.jsonl").is_file():
        raise InputError(f"{path} is not an evaluation run (no run.json and results.jsonl); "
                         "give the -o folder of a `promptrag eval` run")
    try:
        meta = json.loads((path / "run.json").read_text(encoding="utf-8"))
        summary_path = path / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: a JSON file is damaged ({exc}); re-run the evaluation") from None
    return Run(path, meta, _read_jsonl(path / "results.jsonl"), _read_jsonl(path / "pairs.jsonl"), summary)


def evals_dir() -> Path:
    """Where runs live by default: `<PROMPTRAG_HOME>/evals/` (any folder works with -o)."""
    return get_settings().home / "evals"


def find_runs(root: Path | str | None = None) -> list[Path]:
    """Run directories directly under `root` (default: evals_dir()), newest first."""
    root = Path(root).expanduser() if root is not None else evals_dir()
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if (p / "run.json").is_file() and (p / "results.jsonl").is_file()]
    return sorted(found, key=lambda p: (p / "results.jsonl").stat().st_mtime, reverse=True)


def metric_value(row: dict[str, Any], metric: str) -> float | None:
    """The figure `metric` of one result row, or None when the row has none (error, not judged)."""
    if row.get("error"):
        return None
    if metric in ("score", "correct"):
        verdict = row.get("verdict") or {}
        value = verdict.get(metric)
        return None if value is None else float(value)
    value = row.get(metric)
    return None if value is None else float(value)


# ---- statistics ------------------------------------------------------------------------------
def sign_test(wins_a: int, wins_b: int) -> float:
    """Exact two-sided sign-test p-value for `wins_a` vs `wins_b` (ties already dropped)."""
    n = wins_a + wins_b
    if n == 0:
        return 1.0
    k = min(wins_a, wins_b)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def bootstrap_interval(deltas: Sequence[float], seed: int = 0, samples: int = BOOTSTRAP_SAMPLES,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `deltas` (seeded, so reports are repeatable)."""
    if not deltas:
        return (0.0, 0.0)
    rng = random.Random(seed)
    n = len(deltas)
    means = sorted(sum(rng.choices(deltas, k=n)) / n for _ in range(samples))
    low = means[int((1 - level) / 2 * samples)]
    high = means[min(samples - 1, int((1 + level) / 2 * samples))]
    return (low, high)


# ---- the comparison --------------------------------------------------------------------------
@dataclass(frozen=True)
class Side:
    run: Run
    config: str
    label: str


@dataclass(frozen=True)
class CategoryDelta:
    category: str
    n: int
    mean_a: float
    mean_b: float

    @property
    def delta(self) -> float:
        return self.mean_b - self.mean_a


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    metric: str
    n: int  # ideas with the figure on both sides
    mean_a: float
    mean_b: float
    wins_a: int
    wins_b: int
    ties: int
    p_value: float
    interval: tuple[float, float]  # bootstrap 95% interval of mean(b - a)
    alpha: float
    categories: list[CategoryDelta]
    preferences: dict[str, dict[str, int]] | None = None  # "faithful"/"aesthetic" → {a, b, tie: n}

    @property
    def delta(self) -> float:
        return self.mean_b - self.mean_a

    @property
    def leader(self) -> str | None:
        if self.wins_a == self.wins_b:
            return None
        return self.a if self.wins_a > self.wins_b else self.b

    @property
    def winner(self) -> str | None:
        """The leader, when the sign test says the difference is real (p < alpha)."""
        return self.leader if self.p_value < self.alpha else None

    def to_dict(self) -> dict[str, Any]:
        """The comparison as JSON-ready data (`promptrag eval --compare ... --json`)."""
        data = asdict(self)
        data.update(delta=self.delta, leader=self.leader, winner=self.winner, interval=list(self.interval))
        for category in data["categories"]:
            category["delta"] = category["mean_b"] - category["mean_a"]
        return data

    def lines(self) -> list[str]:
        """The comparison as the CLI prints it."""
        out = [f"{self.a} (A) vs {self.b} (B) on {self.metric}, {self.n} paired ideas"]
        if self.winner:
            out.append(f"winner: {self.winner} (sign test p = {self.p_value:.3g} < {self.alpha:g})")
        elif self.leader:
            out.append(f"no significant winner: {self.leader} ahead, sign test p = {self.p_value:.3g}")
        else:
            out.append(f"no winner: tied, sign test p = {self.p_value:.3g}")
        low, high = self.interval
        out.append(f"mean A {self.mean_a:.3f}, mean B {self.mean_b:.3f}, B - A {self.delta:+.3f} "
                   f"(bootstrap 95% {low:+.3f} .. {high:+.3f}); ideas won A {self.wins_a}, "
                   f"B {self.wins_b}, tied {self.ties}")
        if self.categories:
            width = max(len(c.category) for c in self.categories)
            out.append("per category (B - A):")
            for c in self.categories:
                out.append(f"  {c.category:<{width}}  n={c.n:<4} A {c.mean_a:.3f}  B {c.mean_b:.3f}  "
                           f"{c.delta:+.3f}")
        for question, counts in (self.preferences or {}).items():
            out.append(f"pairwise {question}: {self.a} {counts['a']}, {self.b} {counts['b']}, "
                       f"tie {counts['tie']}")
        return out


def choose_metric(a: Side, b: Side) -> str:
    """The judge's score when both sides have verdicts on some common idea, else consistency."""
    rows_a, rows_b = a.run.rows_for(a.config), b.run.rows_for(b.config)
    for idea_id in rows_a.keys() & rows_b.keys():
        if all(metric_value(rows[idea_id], "score") is not None for rows in (rows_a, rows_b)):
            return "score"
    return "consistency"


def _preferences(a: Side, b: Side) -> dict[str, dict[str, int]] | None:
    if a.run.path != b.run.path or not a.run.pairs:
        return None
    counts = {q: {"a": 0, "b": 0, "tie": 0} for q in ("faithful", "aesthetic")}
    seen = False
    for pair in a.run.pairs:
        if {pair.get("a"), pair.get("b")} != {a.config, b.config} or pair.get("error"):
            continue  # another pair, or one the judge could not answer
        seen = True
        for question in counts:
            choice = pair.get(question)
            key = "a" if choice == a.config else "b" if choice == b.config else "tie"
            counts[question][key] += 1
    return counts if seen else None


def compare(a: Side, b: Side, *, metric: str = "auto", alpha: float = 0.05, seed: int = 0) -> Comparison:
    """Pair `a` and `b` by idea and compare them on `metric` ("auto": see choose_metric)."""
    # 1. check inputs
    if metric == "auto":
        metric = choose_metric(a, b)
    if metric not in METRICS:
        raise InputError(f"metric must be one of {', '.join(METRICS)} or auto, got {metric!r}")
    # 2. pair the ideas both sides have the figure for
    rows_a, rows_b = a.run.rows_for(a.config), b.run.rows_for(b.config)
    paired = []
    for idea_id in rows_a:
        if idea_id not in rows_b:
            continue
        va, vb = metric_value(rows_a[idea_id], metric), metric_value(rows_b[idea_id], metric)
        if va is not None and vb is not None:
            paired.append((rows_a[idea_id].get("category") or NO_CATEGORY, va, vb))
    if not paired:
        raise InputError(f"{a.label} and {b.label} have no idea with a {metric} on both sides; "
                         "compare runs of the same prompt set (and judged ones for score)")
    # 3. overall figures and significance
    deltas = [vb - va for _, va, vb in paired]
    wins_a, wins_b = sum(d < 0 for d in deltas), sum(d > 0 for d in deltas)
    # 4. per category
    by_category: dict[str, list[tuple[float, float]]] = {}
    for category, va, vb in paired:
        by_category.setdefault(category, []).append((va, vb))
    categories = [CategoryDelta(cat, len(vals), statistics.fmean(v[0] for v in vals),
                                statistics.fmean(v[1] for v in vals))
                  for cat, vals in sorted(by_category.items())]
    return Comparison(
        a=a.label, b=b.label, metric=metric, n=len(paired),
        mean_a=statistics.fmean(va for _, va, _ in paired),
        mean_b=statistics.fmean(vb for _, _, vb in paired),
        wins_a=wins_a, wins_b=wins_b, ties=len(deltas) - wins_a - wins_b,
        p_value=sign_test(wins_a, wins_b), interval=bootstrap_interval(deltas, seed), alpha=alpha,
        categories=categories, preferences=_preferences(a, b),
    )


# ---- naming the two sides --------------------------------------------------------------------
def _side(text: str, label_with_dir: bool) -> Side:
    path, config = Path(text).expanduser(), None
    if not path.is_dir() and ":" in text:
        head, _, config = text.rpartition(":")
        path = Path(head).expanduser()
    run = load_run(path)
    if config is None:
        if len(run.configs) != 1:
            raise InputError(f"{path} has configurations {', '.join(run.configs)}; name one as "
                             f"{text}:CONFIG, or give one run and two configurations")
        config = run.configs[0]
    elif config not in run.configs:
        raise InputError(f"{path} has no configuration {config!r}; it has {', '.join(run.configs)}")
    return Side(run, config, f"{path.name}:{config}" if label_with_dir else config)


def resolve_sides(args: Sequence[str]) -> tuple[Side, Side]:
    """`[RUN, CONFIG_A, CONFIG_B]` (one run) or `[RUN_A, RUN_B]` (each `DIR` or `DIR:CONFIG`)."""
    if len(args) == 3:
        run = load_run(args[0])
        sides = []
        for config in args[1:]:
            if config not in run.configs:
                raise InputError(f"{run.path} has no configuration {config!r}; "
                                 f"it has {', '.join(run.configs)}")
            sides.append(Side(run, config, config))
        return sides[0], sides[1]
    if len(args) == 2:
        return _side(args[0], True), _side(args[1], True)
    raise InputError("--compare takes two runs (DIR or DIR:CONFIG each) or one run and two configurations, "
                     f"got {len(args)} values")


__all__ = ["CategoryDelta", "Comparison", "Run", "Side", "bootstrap_interval", "compare", "evals_dir",
           "find_runs", "load_run", "metric_value", "resolve_sides", "sign_test"]
