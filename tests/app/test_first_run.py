"""First run: with no index the app offers only "Get started", and each source builds one."""

from __future__ import annotations

import json
from pathlib import Path

from tests.app.conftest import PROMPTS
from tests.app.helpers import page_texts, run

LIMIT = {"first_run.limit": 25}  # a small starter build keeps the test fast; users never set it


def reopen(at):
    """Run the app from its main script, as a browser does after the build's rerun.

    AppTest starts every run in Streamlit's legacy "pages/ folder" mode, which reruns the page
    file alone; a server leaves that mode at the first st.navigation call (see
    app.state.require_shell), so there the rerun already lands on Explore.
    """
    at.switch_page("streamlit_app.py")
    return run(at)


def test_without_an_index_only_get_started_is_offered(make_app, isolated_env):
    at = run(make_app())
    assert at.title[0].value == "Welcome to promptrag"
    assert any("No prompt index yet" in c.value for c in at.sidebar.caption)
    assert at.button(key="first_run.starter").proto.type == "primary"


def test_starter_set_builds_with_progress_then_opens_explore(make_app, isolated_env):
    at = run(make_app(session=LIMIT))
    at.button(key="first_run.starter").click()
    run(at)
    reopen(at)
    manifest = json.loads((Path(isolated_env) / "indexes" / "default" / "manifest.json").read_text())
    assert manifest["row_count"] == 25
    assert at.title[0].value == "Explore real prompts"
    assert any("Your prompt index is ready: 25 prompts" in s.value for s in at.success)
    assert any("25 prompts" in m.value for m in at.sidebar.markdown)


def test_local_file_builds_and_a_bad_path_says_what_to_do(make_app, isolated_env, tmp_path):
    at = run(make_app())
    run(at.text_input(key="first_run.path").input(str(tmp_path / "missing.jsonl")))
    at.button(key="first_run.path_build").click()
    run(at)
    assert at.title[0].value == "Welcome to promptrag"  # still here, input kept
    assert at.text_input(key="first_run.path").value == str(tmp_path / "missing.jsonl")
    assert len(at.error) == 1 and "Building the index from the local file failed" in at.error[0].value
    assert "missing" in at.error[0].value

    source = tmp_path / "mine.jsonl"
    source.write_text("\n".join(json.dumps(p) for p in PROMPTS[:8]) + "\n", encoding="utf-8")
    run(at.text_input(key="first_run.path").input(str(source)))
    at.button(key="first_run.path_build").click()
    reopen(run(at))
    assert at.title[0].value == "Explore real prompts"
    assert any("8 prompts" in s.value for s in at.success)


def test_build_options_fold_near_identical_prompts(make_app, isolated_env, tmp_path):
    source = tmp_path / "mine.jsonl"
    near = {"prompt": PROMPTS[0]["prompt"].replace("storm", "thunderstorm")}  # cosine 0.98
    source.write_text("\n".join(json.dumps(p) for p in [*PROMPTS[:8], near]) + "\n", encoding="utf-8")
    at = run(make_app())
    assert at.slider(key="first_run.fold_cosine").disabled  # folding by meaning is opt-in
    run(at.toggle(key="first_run.fold").set_value(True))
    assert at.slider(key="first_run.fold_cosine").value == 0.94
    run(at.text_input(key="first_run.path").input(str(source)))
    at.button(key="first_run.path_build").click()
    reopen(run(at))
    assert any("8 prompts" in s.value for s in at.success)

    from index import PromptIndex

    with PromptIndex.load(Path(isolated_env) / "indexes" / "default") as idx:
        records = [r for batch in idx.iter_records(100) for _, r in batch]
    row = next(r for r in records if r.prompt == PROMPTS[0]["prompt"])
    assert row.count == 2 and [v.text for v in row.variants] == [near["prompt"]]


def test_uploaded_csv_builds_an_index(make_app, isolated_env):
    at = run(make_app())
    rows = "prompt\n" + "\n".join(f'"{p["prompt"]}"' for p in PROMPTS[:6]) + "\n"
    at.file_uploader(key="first_run.upload").upload("prompts.csv", rows.encode(), "text/csv")
    run(at)
    at.button(key="first_run.upload_build").click()
    reopen(run(at))
    assert at.title[0].value == "Explore real prompts"
    assert any("6 prompts" in s.value for s in at.success)
    uploads = Path(isolated_env) / "cache" / "uploads"
    assert not any(uploads.iterdir())  # the temporary copy is gone


def test_download_option_says_when_offline(make_app, isolated_env):
    from app import indexes

    at = run(make_app())
    texts = page_texts(at)
    if not indexes.diffusiondb_reachable(indexes_default_url()):
        assert any("cannot be reached from this machine" in t for t in texts)
        assert at.button(key="first_run.download_build").disabled
    assert at.button(key="first_run.starter").disabled is False  # the offline options still work


def indexes_default_url() -> str:
    from ingest.diffusiondb import DEFAULT_BASE_URL

    return DEFAULT_BASE_URL


def test_other_existing_index_can_be_opened(make_app, tiny_index, isolated_env):
    import shutil

    shutil.copytree(tiny_index, Path(isolated_env) / "indexes" / "mine")
    at = run(make_app())
    assert at.selectbox(key="first_run.existing").value.endswith("mine")
    at.button(key="first_run.open").click()
    reopen(run(at))
    assert at.title[0].value == "Explore real prompts"
    assert any("mine" in m.value for m in at.sidebar.markdown)
