"""report.html from a hand-built run dir: self-contained, every text escaped, figures right."""

from __future__ import annotations

import base64
import json
import re
from html.parser import HTMLParser

import pytest

from evaluation.compare import load_run
from evaluation.report import category_table, config_table, idea_groups, write_report
from tests.evaluation.rundirs import HOSTILE_IDEA, result_row, write_run


class Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def fixture_run(tmp_path):
    rows = [
        result_row("i1", "two red cubes left of a blue ball", "raw", category="spatial", score=0.4,
                   correct=False, image=True, tokens=10),
        result_row("i1", "two red cubes left of a blue ball", "grounded+rag", category="spatial", score=0.9,
                   correct=True, image=True, tokens=30),
        result_row("h1", HOSTILE_IDEA, "raw", category="<b>cat</b>", score=0.2, image=True),
        result_row("h1", HOSTILE_IDEA, "grounded+rag", category="<b>cat</b>", image=False,
                   error="judge gave <no> valid answer"),
    ]
    pairs = [{"idea_id": "i1", "a": "raw", "b": "grounded+rag", "shown_first": "grounded+rag",
              "faithful": "grounded+rag", "aesthetic": "tie", "reasoning": "cubes"}]
    summary = {"cost": {"judge_calls": 5, "llm_calls": 0, "wall_s": 1.5}}
    (tmp_path / "outside.png").write_bytes(b"\x89PNG\r\n\x1a\nnot-inside-the-run")
    run_dir = write_run(tmp_path / "run", rows, pairs=pairs, summary=summary)
    # A row whose image path leaves the run directory: the report must not inline that file.
    escape = {**result_row("x1", "escape attempt", "raw", category="spatial"), "image": "../outside.png"}
    with (run_dir / "results.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(escape) + "\n")
    return run_dir


def test_tables_count_scores_errors_and_categories(tmp_path):
    run = load_run(fixture_run(tmp_path))
    table = {row["config"]: row for row in config_table(run)}
    assert table["raw"]["n"] == 3 and table["raw"]["mean_score"] == (0.4 + 0.2) / 2
    assert table["raw"]["correct_rate"] == 0.0
    assert table["grounded+rag"]["errors"] == 1 and table["grounded+rag"]["mean_score"] == 0.9
    categories = category_table(run)
    assert categories["spatial"] == {"raw": 0.4, "grounded+rag": 0.9}
    assert categories["<b>cat</b>"] == {"raw": 0.2, "grounded+rag": None}
    assert [g.idea_id for g in idea_groups(run)] == ["i1", "h1", "x1"]


def test_report_is_self_contained_and_escaped(tmp_path):
    run_dir = fixture_run(tmp_path)
    path = write_report(run_dir)
    assert path == run_dir / "report.html"
    page = path.read_text(encoding="utf-8")
    parsed = Elements()
    parsed.feed(page)

    images = [attrs["src"] for tag, attrs in parsed.tags if tag == "img"]
    assert len(images) == 3, "one per row with an image inside the run (not the ../../ one)"
    for src in images:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert b"not-inside-the-run" not in b"".join(base64.b64decode(s.split(",", 1)[1]) for s in images)
    # nothing is fetched from elsewhere, nothing runs
    assert not [t for t, a in parsed.tags if t in ("script", "link", "iframe", "object")]
    assert not [a for t, a in parsed.tags if any(k.startswith("on") for k in a)]
    assert not re.search(r"(src|href)=\"(https?:|//)", page)
    text = "".join(parsed.text)
    assert HOSTILE_IDEA in text and "<b>cat</b>" in text and "judge gave <no> valid answer" in text
    assert any(t == "svg" for t, _ in parsed.tags) and any(t == "rect" for t, _ in parsed.tags)
    assert "mean judge score by configuration" in text
    assert "judge calls 5" in text
    assert "raw vs grounded+rag" in text


def test_without_a_judge_the_plot_shows_consistency(tmp_path):
    rows = [result_row("i1", "a fox", c, consistency=v) for c, v in (("raw", 0.5), ("rules", 0.7))]
    page = write_report(write_run(tmp_path / "r", rows, judge=None)).read_text(encoding="utf-8")
    assert "mean consistency (no judge scores) by configuration" in page
    assert "Mean consistency by category" in page


def test_cli_writes_the_report(tmp_path, monkeypatch, capsys):
    from cli.main import main

    run_dir = fixture_run(tmp_path)
    monkeypatch.setattr("sys.argv", ["promptrag", "eval", str(run_dir), "--report"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"report: {run_dir / 'report.html'}"
    assert (run_dir / "report.html").read_text(encoding="utf-8").startswith("<!doctype html>")
