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


def test_no_runs_says_how_to_make_one(make_app, tiny_index, isolated_env):
    at = open_evaluate(make_app, tiny_index)
    info = [i.value for i in at.info if "No evaluation runs yet" in i.value]
    assert info and "<PROMPTRAG_HOME>" not in info[0]
    assert f"-o {isolated_env / 'evals'}/NAME" in info[0], "the empty state shows the real folder"
    assert not at.error


def wait_for(at, run_id: str, timeout: float = 240):
    """Rerun the page (as the fragment's timer would) until the evaluation's process is done."""
    import time

    from evaluation import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not jobs.eval_status(run_id).alive:
            return run(at)
        run(at)
        time.sleep(0.5)
    raise AssertionError(f"evaluation {run_id} did not finish: {jobs.read_log(run_id)}")


def test_the_page_starts_an_evaluation_that_outlives_the_session_and_opens_its_report(
        make_app, tiny_index, isolated_env):
    from evaluation import jobs

    # 1. typed ideas, a sample of 2, rules without retrieval: started as a background process
    at = open_evaluate(make_app, tiny_index)
    at.segmented_control(key="evaluate.f.source").set_value("typed")
    run(at)
    at.text_area(key="evaluate.f.typed").input("a red fox in snow\na lighthouse at dusk\nthree pears")
    at.number_input(key="evaluate.f.limit").set_value(2)
    at.multiselect(key="evaluate.f.enhancers").set_value(["rules"])
    at.selectbox(key="evaluate.f.rag").set_value("without")
    at.number_input(key="evaluate.f.candidates").set_value(1)
    at.button(key="evaluate.start").click()
    run(at)
    run_id = at.session_state["evaluate.state"]["job"]
    assert run_id and at.query_params["eval"] == run_id
    status = jobs.eval_status(run_id)
    assert status.total == 4 and status.out_dir.parent == isolated_env / "evals"
    assert (status.out_dir / "promptset.txt").read_text().count("\n") == 3
    del at  # the tab closes; the evaluation goes on

    # 2. a new session reattaches by the address bar and sees it through to the end
    at = make_app(tiny_index)
    at.query_params["eval"] = run_id
    run(at)
    at.switch_page("pages/evaluate.py")
    run(at)
    assert at.session_state["evaluate.state"]["job"] == run_id
    at = wait_for(at, run_id)
    status = jobs.eval_status(run_id)
    assert (status.state, status.done, status.total) == ("finished", 4, 4), jobs.read_log(run_id)
    assert status.report == status.out_dir / "report.html"
    run(at)
    assert at.selectbox(key="evaluate.run").value == str(status.out_dir), "the finished run opens"
    assert any("opened below" in c.value for c in at.caption)
    assert at.dataframe, "its figures are shown"
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download report.html" in labels


def test_a_bad_form_names_the_field_and_starts_nothing(make_app, tiny_index, isolated_env):
    from evaluation import jobs

    at = open_evaluate(make_app, tiny_index)
    at.multiselect(key="evaluate.f.enhancers").set_value([])
    at.button(key="evaluate.start").click()
    run(at)
    errors = " ".join(e.value for e in at.error).replace("\\", "")
    assert "Enhancers: pick at least one" in errors, errors
    at.multiselect(key="evaluate.f.enhancers").set_value(["rules"])
    at.button(key="evaluate.start").click()
    run(at)
    assert any("Prompt set: upload" in e.value.replace("\\", "") for e in at.error)
    assert jobs.list_evals() == []


def test_an_interrupted_evaluation_offers_resume(make_app, tiny_index, isolated_env):
    import json

    out = isolated_env / "evals" / "20250101-100000-x-ab12"
    out.mkdir(parents=True)
    (out / "job.json").write_text(json.dumps({"run_id": out.name, "title": "<b>x</b>", "pid": None, "total": 10,
                                              "spawned_at": 0, "created_at": "2025-01-01T10:00:00+00:00"}))
    (out / "status.json").write_text(json.dumps({"state": "running", "stage": "rows"}))
    at = make_app(tiny_index)
    at.query_params["eval"] = out.name
    run(at)
    at.switch_page("pages/evaluate.py")
    run(at)
    assert any("stopped before it finished" in w.value for w in at.warning)
    assert at.button(key="evaluate.resume")


def test_an_evaluation_stopped_by_a_spend_cap_says_which_and_offers_resume(make_app, tiny_index, isolated_env):
    import json

    out = isolated_env / "evals" / "20250101-110000-capped-cd34"
    out.mkdir(parents=True)
    (out / "job.json").write_text(json.dumps({"run_id": out.name, "title": "capped", "pid": None, "total": 16,
                                              "spawned_at": 0, "created_at": "2025-01-01T11:00:00+00:00"}))
    why = ("the evaluation stopped (spend cap reached: the daily spend cap of $0.62 for ana@example.org); rows "
           "written so far are kept in results.jsonl (5 of 16 rows); run the same command again to resume")
    (out / "status.json").write_text(json.dumps({"state": "cancelled", "error": why}))  # as StatusFile writes it
    at = make_app(tiny_index)
    at.query_params["eval"] = out.name
    run(at)
    at.switch_page("pages/evaluate.py")
    run(at)
    assert any("daily spend cap of $0.62 for ana@example.org" in w.value.replace("\\", "") for w in at.warning)
    assert at.button(key="evaluate.resume")


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
