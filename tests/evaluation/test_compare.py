"""`--compare`: paired by idea, sign test + bootstrap, per-category deltas, on hand-built run dirs."""

from __future__ import annotations

import pytest

from core.errors import InputError
from evaluation.compare import compare, load_run, resolve_sides, sign_test
from tests.evaluation.rundirs import result_row, write_run

CATEGORIES = ["colour", "count", "spatial"]


def scored_run(path, b_better: int, n: int = 12, pairs=()):
    """raw vs grounded on n ideas; grounded scores higher on the first `b_better`, lower on the rest."""
    rows = []
    for i in range(n):
        category = CATEGORIES[i % 3]
        raw = 0.5
        grounded = 0.8 if i < b_better else 0.3
        rows.append(result_row(f"i{i}", f"idea {i}", "raw", category=category, score=raw))
        rows.append(result_row(f"i{i}", f"idea {i}", "grounded", category=category, score=grounded))
    return write_run(path, rows, pairs=list(pairs))


def test_sign_test_exact_values():
    assert sign_test(0, 5) == pytest.approx(2 / 32)
    assert sign_test(0, 6) == pytest.approx(2 / 64)
    assert sign_test(6, 6) == 1.0 and sign_test(0, 0) == 1.0
    assert sign_test(1, 11) == pytest.approx(2 * 13 / 4096)


def test_significance_flips_with_the_data(tmp_path):
    strong = compare(*resolve_sides([str(scored_run(tmp_path / "strong", b_better=11)), "raw", "grounded"]))
    assert (strong.wins_a, strong.wins_b, strong.n) == (1, 11, 12)
    assert strong.p_value == pytest.approx(2 * 13 / 4096)
    assert strong.winner == "grounded" and strong.metric == "score"
    low, high = strong.interval
    assert 0 < low <= strong.delta <= high

    weak = compare(*resolve_sides([str(scored_run(tmp_path / "weak", b_better=8)), "raw", "grounded"]))
    assert (weak.wins_a, weak.wins_b) == (4, 8)
    assert weak.p_value == pytest.approx(2 * (1 + 12 + 66 + 220 + 495) / 4096)
    assert weak.winner is None and weak.leader == "grounded"
    text = "\n".join(weak.lines())
    assert "no significant winner: grounded ahead" in text and "winner: grounded" not in text.replace(
        "no significant winner: grounded", "")


def test_per_category_deltas(tmp_path):
    run = scored_run(tmp_path / "r", b_better=6)  # ideas 0..5 better: two of each category
    result = compare(*resolve_sides([str(run), "raw", "grounded"]))
    assert [c.category for c in result.categories] == CATEGORIES
    for c in result.categories:
        assert c.n == 4 and c.mean_a == pytest.approx(0.5)
        assert c.mean_b == pytest.approx((0.8 * 2 + 0.3 * 2) / 4)
    lines = result.lines()
    assert any(line.strip().startswith("colour") and "+0.050" in line for line in lines)


def test_errors_and_unjudged_rows_are_left_out(tmp_path):
    rows = [result_row("i0", "x", "raw", score=0.2), result_row("i0", "x", "grounded", score=0.9),
            result_row("i1", "y", "raw", score=0.2), result_row("i1", "y", "grounded", error="judge failed"),
            result_row("i2", "z", "raw", score=0.2)]
    result = compare(*resolve_sides([str(write_run(tmp_path / "r", rows)), "raw", "grounded"]))
    assert result.n == 1 and result.wins_b == 1


def test_two_run_dirs_with_named_configs(tmp_path):
    before = scored_run(tmp_path / "before", b_better=0)
    after = scored_run(tmp_path / "after", b_better=12)
    a, b = resolve_sides([f"{before}:grounded", f"{after}:grounded"])
    result = compare(a, b)
    assert (result.a, result.b) == ("before:grounded", "after:grounded")
    assert result.winner == "after:grounded" and result.wins_b == 12
    with pytest.raises(InputError, match="has configurations raw, grounded; name one"):
        resolve_sides([str(before), str(after)])
    with pytest.raises(InputError, match="no configuration 'nope'"):
        resolve_sides([str(before), "raw", "nope"])
    with pytest.raises(InputError, match="not an evaluation run"):
        resolve_sides([str(tmp_path), "raw", "grounded"])


def test_without_a_judge_consistency_is_compared(tmp_path):
    rows = [result_row(f"i{i}", "x", c, consistency=v)
            for i in range(6) for c, v in (("raw", 0.4), ("rules", 0.6))]
    result = compare(*resolve_sides([str(write_run(tmp_path / "r", rows, judge=None)), "raw", "rules"]))
    assert result.metric == "consistency" and result.wins_b == 6
    assert result.p_value == pytest.approx(2 / 64) and result.winner == "rules"


def test_pairwise_preferences_are_counted(tmp_path):
    pairs = [{"idea_id": f"i{i}", "a": "raw", "b": "grounded", "shown_first": "raw",
              "faithful": "grounded" if i < 3 else "tie", "aesthetic": "raw", "reasoning": "r"} for i in range(4)]
    result = compare(*resolve_sides([str(scored_run(tmp_path / "r", 6, pairs=pairs)), "raw", "grounded"]))
    assert result.preferences == {"faithful": {"a": 0, "b": 3, "tie": 1}, "aesthetic": {"a": 4, "b": 0, "tie": 0}}
    assert "pairwise faithful: raw 0, grounded 3, tie 1" in result.lines()


def test_a_killed_runs_half_line_is_skipped(tmp_path):
    run = scored_run(tmp_path / "r", b_better=6)
    with (run / "results.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"idea_id": "i99", "conf')
    assert len(load_run(run).rows) == 24


# ---- the CLI: promptrag eval --compare ---------------------------------------------------------
def promptrag(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `promptrag ARGS` through the real entry point (its error handling included)."""
    from cli.main import main

    monkeypatch.setattr("sys.argv", ["promptrag", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_compare_one_run_two_configs(tmp_path, monkeypatch, capsys):
    run = scored_run(tmp_path / "r", b_better=11)
    code, out, err = promptrag(monkeypatch, capsys, "eval", str(run), "--compare", "raw", "grounded")
    assert code == 0, err
    assert "winner: grounded (sign test p = 0.00635" in out and "per category (B - A):" in out


def test_cli_compare_two_runs_as_json(tmp_path, monkeypatch, capsys):
    import json

    before, after = scored_run(tmp_path / "before", b_better=0), scored_run(tmp_path / "after", b_better=12)
    code, out, err = promptrag(monkeypatch, capsys, "eval", "--compare", f"{before}:grounded", f"{after}:grounded",
                               "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["winner"] == "after:grounded" and data["wins_b"] == 12 and data["metric"] == "score"
    assert [c["category"] for c in data["categories"]] == CATEGORIES


def test_cli_compare_errors_are_one_line(tmp_path, monkeypatch, capsys):
    run = scored_run(tmp_path / "r", b_better=6)
    code, out, err = promptrag(monkeypatch, capsys, "eval", "--compare", str(run), str(tmp_path))
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [
        f"promptrag: error: {run} has configurations raw, grounded; name one as {run}:CONFIG, or give one run "
        "and two configurations"]


def test_pairs_the_judge_failed_on_are_not_counted(tmp_path):
    pairs = [{"idea_id": "i0", "a": "raw", "b": "grounded", "shown_first": "raw", "faithful": "grounded",
              "aesthetic": "raw", "reasoning": "r"},
             {"idea_id": "i1", "a": "raw", "b": "grounded", "shown_first": None, "faithful": None,
              "aesthetic": None, "reasoning": "", "error": "the anthropic judge gave no valid answer"}]
    result = compare(*resolve_sides([str(scored_run(tmp_path / "r", 6, pairs=pairs)), "raw", "grounded"]))
    assert result.preferences == {"faithful": {"a": 0, "b": 1, "tie": 0}, "aesthetic": {"a": 1, "b": 0, "tie": 0}}
