"""Evaluate: pick a finished eval run, see its figures, its images side by side with verdicts,
compare two configurations, write the HTML report; hostile text stays text."""

from __future__ import annotations

from tests.app.helpers import markdown_elements, page_texts, run
from tests.evaluation.rundirs import HOSTILE_IDEA, result_row, write_run

CONFIGS = ("raw", "grounded+rag")


def build_run(path, n: int = 7):
    rows = []
    for i in range(n):
        idea = HOSTILE_IDEA if i == 0 else f"{i + 1} red apples on a plate"
        category = "count" if i % 2 else "colour"
        rows.append(result_row(f"i{i}", idea, "raw", category=category, score=0.3, image=True))
        if i == 1:
            rows.append(result_row(f"i{i}", idea, "grounded+rag", category=category, image=False,
                                   error="the anthropic judge gave <no> valid answer in 3 attempts"))
        else:
            rows.append(result_row(f"i{i}", idea, "grounded+rag", category=category, score=0.9, image=True))
    return write_run(path, rows)


def open_evaluate(make_app, tiny_index):
    at = run(make_app(tiny_index))
    at.switch_page("pages/evaluate.py")
    return run(at)


def test_no_runs_says_how_to_make_one(make_app, tiny_index):
    at = open_evaluate(make_app, tiny_index)
    assert any("No evaluation runs yet" in i.value for i in at.info)
    assert not at.error


def test_a_run_in_the_evals_folder_opens_with_figures_and_verdicts(make_app, tiny_index, isolated_env):
    build_run(isolated_env / "evals" / "first")
    at = open_evaluate(make_app, tiny_index)
    assert at.selectbox(key="evaluate.run").value.endswith("first")
    texts = page_texts(at)
    assert any("7 ideas × 2 configurations" in t for t in texts)
    configs = at.dataframe[0].value
    assert list(configs["configuration"]) == list(CONFIGS)
    assert list(configs["mean score"]) == ["0.300", "0.900"] and list(configs["errors"]) == ["0", "1"]
    categories = at.dataframe[1].value
    assert list(categories["category"]) == ["colour", "count"]
    # first page of ideas: 5 of 7, each with both configurations' prompts and verdicts
    codes = [c.value for c in at.code]
    assert f"{HOSTILE_IDEA}, prompt by raw" in codes and "2 red apples on a plate, prompt by grounded+rag" in codes
    assert "6 red apples on a plate, prompt by raw" not in codes
    badges = [m.value for m in at.markdown if "badge[" in m.value]
    assert badges.count(":red-badge[incorrect] score 0.300") == 5
    assert badges.count(":green-badge[correct] score 0.900") == 4  # idea 2's judge failed
    assert any("judge gave \\<no\\> valid answer" in e.value for e in at.error)
    images = at.get("image")
    assert len(images) == 9  # 5 ideas × 2, less the one without an image


def test_hostile_idea_renders_as_text(make_app, tiny_index, isolated_env):
    build_run(isolated_env / "evals" / "first")
    at = open_evaluate(make_app, tiny_index)
    for element in markdown_elements(at):
        assert "<script>" not in str(element.value) and "**cat**" not in str(element.value)
    assert any("\\<script\\>document" in t for t in page_texts(at))


def test_the_path_box_opens_any_run_and_bad_paths_say_so(make_app, tiny_index, tmp_path):
    other = build_run(tmp_path / "elsewhere", n=2)
    at = open_evaluate(make_app, tiny_index)
    at.text_input(key="evaluate.path").input(str(other))
    run(at)
    assert any("2 ideas × 2 configurations" in t for t in page_texts(at))

    at.text_input(key="evaluate.path").input(str(tmp_path))
    run(at)
    assert any("Reading the run failed" in e.value and "not an evaluation run" in e.value for e in at.error)


def test_compare_and_category_filter_and_pages(make_app, tiny_index, isolated_env):
    build_run(isolated_env / "evals" / "first")
    at = open_evaluate(make_app, tiny_index)
    comparison = [c.value for c in at.code if c.value.startswith("raw (A) vs grounded+rag (B)")]
    assert comparison and "winner: grounded+rag (sign test p = 0.0312" in comparison[0]

    at.selectbox(key="evaluate.category").select("count")
    run(at)
    ideas = [m.value for m in at.markdown if m.value.startswith("**") and "apples" in m.value]
    assert ideas == ["**2 red apples on a plate**", "**4 red apples on a plate**", "**6 red apples on a plate**"]


def test_write_report_offers_the_download(make_app, tiny_index, isolated_env):
    run_dir = build_run(isolated_env / "evals" / "first")
    at = open_evaluate(make_app, tiny_index)
    at.button(key="evaluate.write_report").click()
    run(at)
    assert (run_dir / "report.html").is_file()
    assert at.session_state["evaluate.report"] == str(run_dir / "report.html")
    assert len(at.get("download_button")) == 1
