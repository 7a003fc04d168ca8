"""The prompt-craft checks in the eval harness: per-row fields, rates in summary.json and report."""

from __future__ import annotations

from evaluation.compare import load_run
from evaluation.metrics import craft_figures
from evaluation.report import COLUMNS, config_table
from evaluation.summary import summarize
from tests.evaluation.eval_fixtures import compbench_set, eval_index  # noqa: F401 (fixtures)
from tests.evaluation.rundirs import result_row, write_run

EXAMPLES = ["a cozy cabin on a beautiful terrace, wooden balcony, digital painting, trending on artstation"]


def test_craft_figures_of_one_prompt():
    bad = craft_figures("a snow cabin", "A snow cabin on a beautiful terrace with during the night.",
                        "painting, blurry", examples=EXAMPLES)
    assert bad.broken_joins and bad.scene_leaks == ["terrace"] and bad.contradictions == []
    clash = craft_figures("an oil painting of a snow cabin", "an oil painting of a snow cabin, soft light", "painting")
    assert clash.contradictions == ["painting"] and clash.scene_leaks == []  # no examples: nothing can leak
    good = craft_figures("a snow cabin", "A photograph of a snow cabin with natural lighting and bokeh.",
                         "cartoon, blurry", examples=EXAMPLES)
    assert good == type(good)([], [], [])


def _rows():
    clean = {"contradictions": [], "broken_joins": [], "scene_leaks": []}
    return [
        result_row("i1", "a cabin", "rules", **clean),
        result_row("i2", "a pier", "rules",
                   **{**clean, "contradictions": ["painting"], "broken_joins": ["with during"]}),
        result_row("i1", "a cabin", "grounded+rag", **{**clean, "scene_leaks": ["terrace"]}),
        result_row("i2", "a pier", "grounded+rag", **clean),
        result_row("i1", "a cabin", "raw"),  # a row written before the checks existed
    ]


def test_summary_rates():
    configs = summarize(_rows(), ["raw", "rules", "grounded+rag"])["configs"]
    assert configs["rules"]["contradiction_rate"] == 0.5 and configs["rules"]["broken_join_rate"] == 0.5
    assert configs["rules"]["scene_leak_rate"] == 0.0
    assert configs["grounded+rag"]["scene_leak_rate"] == 0.5 and configs["grounded+rag"]["contradiction_rate"] == 0.0
    assert configs["raw"]["contradiction_rate"] is None  # no row has the field: no figure, not 0 %


def test_report_table_has_the_rates(tmp_path):
    run = load_run(write_run(tmp_path / "run", _rows()))
    table = {row["config"]: row for row in config_table(run)}
    assert table["rules"]["contradiction_rate"] == 0.5 and table["grounded+rag"]["scene_leak_rate"] == 0.5
    assert {"contradiction_rate", "broken_join_rate", "scene_leak_rate"} <= {key for key, _, _ in COLUMNS}


def test_a_real_run_writes_the_fields_and_rates(compbench_set, eval_index, tmp_path):
    from evaluation.runner import options_from, run_eval
    from evaluation.summary import read_jsonl

    out = tmp_path / "run"
    report = run_eval(compbench_set, out, options_from(enhancers=["grounded"], index=str(eval_index), rag=True,
                                                       limit=4, workers=1))
    rows = read_jsonl(out / "results.jsonl")
    assert rows and all({"contradictions", "broken_joins", "scene_leaks"} <= set(row) for row in rows)
    for config in report.configs:
        figures = report.summary["configs"][config]
        assert all(0.0 <= figures[f"{name}_rate"] <= 1.0 for name in ("contradiction", "broken_join", "scene_leak"))
