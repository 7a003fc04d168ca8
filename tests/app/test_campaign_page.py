"""Campaign page: start a run from the form, end the session, reattach from a new one by run id,
watch it finish, approve / reject, and the ZIP holds only the approved variants.

The run is a real detached `promptrag batch` process on the tiny index (prompts only, rules
enhancer): the page never runs the batch itself.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.app.helpers import markdown_elements, page_texts, run

PICK = "campaign.run_pick"


def open_campaign(make_app, index: Path, query: dict | None = None):
    at = make_app(index)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    run(at)
    at.switch_page("pages/campaign.py")
    return run(at)


def fill_brief(at, *, subject: str, variants: int, name: str = "Bottle launch") -> None:
    at.text_input(key="campaign.f.name").input(name)
    at.text_input(key="campaign.f.subject").input(subject)
    at.number_input(key="campaign.f.variants").set_value(variants)
    at.selectbox(key="campaign.f.enhancer").set_value("rules")
    at.number_input(key="campaign.f.examples_per_variant").set_value(2)


def wait_until_finished(at, run_id: str, timeout: float = 180):
    """Rerun the page (as the fragment's timer would) until the run's process is done."""
    from campaign import jobs

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not jobs.run_status(run_id).alive:
            return run(at)
        run(at)
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish: {jobs.read_log(run_id)}")


def test_a_run_outlives_its_session_and_is_reviewed_from_another(make_app, tiny_index):
    from campaign import jobs
    from campaign.review import approved_zip, reviews

    # 1. session one: fill the brief, start the run
    at = open_campaign(make_app, tiny_index)
    assert any("No campaign runs yet" in t for t in page_texts(at))
    fill_brief(at, subject="a reusable steel water bottle", variants=4)
    at.button(key="campaign.start").click()
    run(at)
    run_id = at.session_state["campaign"]["run_id"]
    assert run_id and at.query_params["run"] == run_id
    out = jobs.campaigns_dir() / run_id
    saved = yaml.safe_load((out / "brief.yaml").read_text())
    assert (saved["subject"], saved["variants"], saved["enhancer"]) == ("a reusable steel water bottle", 4, "rules")
    assert saved["index"] == str(tiny_index), "the run uses the index this session has open"
    assert any(run_id in t for t in page_texts(at)), "the page shows the run it started"
    del at  # the session ends (tab closed); the run goes on

    # 2. session two: the run is listed, newest first, and reattached by its id
    at = open_campaign(make_app, tiny_index)
    picker = at.selectbox(key=PICK)
    assert picker.options[0].endswith(run_id) and picker.value is None
    picker.set_value(run_id)
    run(at)
    assert at.query_params["run"] == run_id
    at = wait_until_finished(at, run_id)
    assert jobs.run_status(run_id).state == "finished", jobs.read_log(run_id)
    assert any(":green-badge[:material/check: finished]" in str(m.value) for m in at.markdown)
    prompts = [c.value for c in at.code]
    assert len(prompts) == 4
    assert all("steel water bottle" in p for p in prompts)
    assert any("4 variants · 0 approved · 0 rejected · 4 to review" in t for t in page_texts(at))

    # 3. approve two, reject one (and change a mind: clicking a verdict again clears it)
    for key in ("approve.{r}.v001", "approve.{r}.v003", "reject.{r}.v002", "approve.{r}.v004", "approve.{r}.v004"):
        at.button(key="campaign." + key.format(r=run_id)).click()
        run(at)
    out = jobs.campaigns_dir() / run_id
    assert reviews(out) == {"v001": "approved", "v003": "approved", "v002": "rejected"}
    assert any("4 variants · 2 approved · 1 rejected · 1 to review" in t for t in page_texts(at))
    assert any(":green-badge[:material/thumb_up: approved]" in str(m.value) for m in at.markdown)

    # 4. the approved filter and the ZIP hold only the approved ones
    at.segmented_control(key="campaign.filter").set_value("approved")
    run(at)
    assert len(at.code) == 2
    names = zipfile.ZipFile(io.BytesIO(approved_zip(out))).namelist()
    assert sorted(names) == ["manifest.csv", "manifest.json"]  # prompts only: no images
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(approved_zip(out))).read("manifest.json"))
    assert [v["id"] for v in manifest["variants"]] == ["v001", "v003"]
    download = [d for d in at.get("download_button") if d.proto.label.startswith("Download approved")]
    assert download and download[0].proto.label == "Download approved (2)" and not download[0].proto.disabled
    # what the button downloads holds the approved prompts themselves, not only the manifest
    from app.campaign_state import approved_download

    archive = zipfile.ZipFile(io.BytesIO(approved_download(out)))
    assert sorted(archive.namelist()) == ["manifest.csv", "manifest.json", "prompts.txt", "prompts/v001.txt",
                                          "prompts/v003.txt"]
    approved_prompts = [v["prompt"] for v in manifest["variants"]]
    assert archive.read("prompts.txt").decode().splitlines() == [" ".join(p.split()) for p in approved_prompts]
    assert archive.read("prompts/v001.txt").decode().startswith(approved_prompts[0].strip())
    assert "Re-roll" in [b.label for b in at.button if b.key.startswith("campaign.reroll.")], "the dice is labelled"

    # 5. a third session opened from the address bar (?run=<id>) shows the same run and verdicts
    at = open_campaign(make_app, tiny_index, query={"run": run_id})
    assert at.session_state["campaign"]["run_id"] == run_id
    assert at.selectbox(key=PICK).value == run_id
    assert any("2 approved · 1 rejected" in t for t in page_texts(at))


def test_reroll_from_the_page_remakes_one_variant(make_app, tiny_index):
    from campaign import jobs
    from campaign.brief import Brief
    from campaign.runner import read_variants

    brief = Brief(name="Rerolls", subject="a red fox plush toy", variants=3, enhancer="rules", seed=3,
                  examples_per_variant=2)
    run_id = jobs.start_run(brief, images=False, index=tiny_index)
    while jobs.run_status(run_id).alive:
        time.sleep(0.2)
    out = jobs.campaigns_dir() / run_id
    before = {v.id: v for v in read_variants(out)}

    at = open_campaign(make_app, tiny_index, query={"run": run_id})
    at.button(key=f"campaign.reroll.{run_id}.v002").click()
    run(at)
    assert jobs.run_status(run_id).mode == "reroll"
    at = wait_until_finished(at, run_id)
    after = {v.id: v for v in read_variants(out)}
    assert after["v001"] == before["v001"] and after["v003"] == before["v003"]
    assert after["v002"].attempt > before["v002"].attempt


def test_a_bad_brief_lists_every_problem(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index)
    at.multiselect(key="campaign.f.sizes").set_value(["1:1", "500x500"])
    at.button(key="campaign.start").click()
    run(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "2 problems" in errors[0]
    assert "subject" in errors[0] and "500x500" in errors[0]
    assert at.session_state["campaign"]["run_id"] is None
    from campaign import jobs

    assert jobs.list_runs() == [], "nothing was started"


def test_empty_fields_are_named_by_their_label(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index)
    at.button(key="campaign.check").click()
    run(at)
    errors = [e.value.replace("\\", "") for e in at.error]
    assert len(errors) == 1 and "Product or subject: fill it in" in errors[0], errors
    assert "String should have" not in errors[0]


def test_placeholders_read_as_examples_not_values(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index)
    for key in ("subject", "audience", "message", "must_have", "must_not", "colours"):
        widget = at.text_input(key=f"campaign.f.{key}")
        assert widget.value == "" and widget.proto.placeholder.startswith("e.g. "), (key, widget.proto.placeholder)
    for key in ("scenes", "moods", "compositions"):
        assert at.text_area(key=f"campaign.f.{key}").proto.placeholder.startswith("(")


def test_load_the_example_brief_fills_the_form(make_app, tiny_index):
    import yaml as pyyaml

    from app.campaign_state import EXAMPLE_BRIEF

    example = pyyaml.safe_load(EXAMPLE_BRIEF.read_text())
    at = open_campaign(make_app, tiny_index)
    at.button(key="campaign.example").click()
    run(at)
    assert at.text_input(key="campaign.f.subject").value == example["subject"]
    assert at.text_input(key="campaign.f.name").value == example["name"]
    assert at.number_input(key="campaign.f.variants").value == example["variants"]
    assert at.text_input(key="campaign.f.must_not").value == ", ".join(example["brand"]["must_not"])
    assert any("Loaded brief.yaml" in s.value.replace("\\", "") for s in at.success)
    at.button(key="campaign.check").click()
    run(at)
    assert any("The brief is valid" in s.value for s in at.success)


def test_check_saves_the_same_yaml_and_an_upload_fills_the_form(make_app, tiny_index):
    from campaign.brief import brief_from_dict

    at = open_campaign(make_app, tiny_index)
    fill_brief(at, subject="a brushed steel water bottle", variants=6)
    at.text_input(key="campaign.f.must_have").input("steel, teal cap")
    at.checkbox(key="campaign.f.no_text").check()
    at.text_area(key="campaign.f.moods").input("calm\nbold\n")
    at.button(key="campaign.check").click()
    run(at)
    assert any("The brief is valid" in s.value for s in at.success)
    text = at.session_state["campaign"]["brief_yaml"]
    brief = brief_from_dict(yaml.safe_load(text))
    assert text == brief.to_yaml()
    assert (brief.variants, brief.brand.must_have, brief.brand.no_text, brief.moods) == (
        6, ["steel", "teal cap"], True, ["calm", "bold"])
    assert at.get("download_button")[0].proto.label == "Save the brief as YAML"

    # a new session loads that YAML into its form
    at = open_campaign(make_app, tiny_index)
    at.file_uploader(key="campaign.upload").set_value(("brief.yaml", text.encode(), "application/x-yaml"))
    run(at)
    assert at.text_input(key="campaign.f.subject").value == "a brushed steel water bottle"
    assert at.number_input(key="campaign.f.variants").value == 6
    assert at.text_area(key="campaign.f.moods").value == "calm\nbold"
    assert at.text_input(key="campaign.f.must_have").value == "steel, teal cap"
    at.button(key="campaign.check").click()
    run(at)
    assert at.session_state["campaign"]["brief_yaml"] == text, "form → YAML → form → YAML is stable"


def test_a_bad_upload_names_its_fields(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index)
    bad = b"subject: a bottle\nvariants: 0\ncolour: teal\n"
    at.file_uploader(key="campaign.upload").set_value(("bad.yaml", bad, "application/x-yaml"))
    run(at)
    errors = " ".join(e.value for e in at.error)
    assert "variants" in errors and "colour" in errors and "unknown field" in errors
    at.file_uploader(key="campaign.upload").set_value(("worse.yaml", b"subject: [unclosed", "application/x-yaml"))
    run(at)
    assert any("not a UTF\\-8 YAML file" in e.value for e in at.error)


def _fake_run(home_runs: Path, run_id: str, *, state: str, title: str, pid: int | None = None) -> Path:
    out = home_runs / run_id
    (out / "variants").mkdir(parents=True)
    (out / "job.json").write_text(json.dumps({"run_id": run_id, "title": title, "pid": pid, "spawned_at": 0,
                                              "created_at": "2025-01-01T10:00:00+00:00", "images": False}))
    (out / "status.json").write_text(json.dumps({"state": state, "done": 1, "total": 2,
                                                 "started_at": "2025-01-01T10:00:00+00:00",
                                                 "updated_at": "2025-01-01T10:00:05+00:00"}))
    variant = {"id": "v001", "angle": {"style": "cinematic", "scene": "<b>rooftop</b>"},
               "prompt": "<script>alert(1)</script> **bold** bottle", "negative_prompt": "[x](javascript:alert(1))",
               "seed": 1, "backend": "none", "model": None, "image_path": None, "status": "brand_violation",
               "problems": ["missing must-have word <steel>"], "error": None, "timings": {}}
    (out / "variants" / "v001.json").write_text(json.dumps(variant))
    return out


def test_a_run_stopped_by_a_spend_cap_says_which_and_offers_resume(make_app, tiny_index):
    from campaign import jobs

    out = _fake_run(jobs.campaigns_dir(), "20250101-100000-capped", state="cancelled", title="Capped")
    why = ("the campaign stopped (spend cap reached: the campaign spend cap of $0.10 for ana@example.org); "
           "1 of 2 variants are kept; run the same command again to finish the rest")
    status = json.loads((out / "status.json").read_text())
    (out / "status.json").write_text(json.dumps({**status, "error": why}))  # as the runner writes it
    at = open_campaign(make_app, tiny_index, query={"run": "20250101-100000-capped"})
    assert any("campaign spend cap of $0.10 for ana@example.org" in w.value.replace("\\", "") for w in at.warning)
    assert at.button(key="campaign.resume")


def test_an_interrupted_run_offers_resume_and_untrusted_text_stays_text(make_app, tiny_index):
    from campaign import jobs

    _fake_run(jobs.campaigns_dir(), "20250101-100000-killed", state="running",
              title="<img src=x onerror=alert(1)> **Launch**", pid=None)
    at = open_campaign(make_app, tiny_index, query={"run": "20250101-100000-killed"})
    assert any(":orange-badge[:material/pause_circle: interrupted]" in str(m.value) for m in at.markdown)
    assert any("stopped before it finished" in w.value for w in at.warning)
    assert at.button(key="campaign.resume")
    assert [c.value for c in at.code] == ["<script>alert(1)</script> **bold** bottle"]
    for element in markdown_elements(at):
        text = str(element.value)
        assert not re.search(r"(?<!\\)<(img|script|b>|steel)|\]\(javascript|(?<!\\)\*\*(Launch|bold)", text), (
            f"unescaped markup in {text!r}")
    assert any("\\<img src\\=x onerror\\=alert\\(1\\)\\> \\*\\*Launch\\*\\*" in str(m.value) for m in at.markdown)
    assert any("missing must\\-have word \\<steel\\>" in w.value for w in at.warning)


def test_an_unknown_run_in_the_address_bar_is_one_message(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index, query={"run": "../../etc"})
    assert any("run id must be letters" in e.value for e in at.error)
    assert at.session_state["campaign"]["run_id"] is None
    at = open_campaign(make_app, tiny_index, query={"run": "20990101-000000-nope"})
    assert any("no campaign run" in e.value for e in at.error)


@pytest.mark.parametrize("state", ["finished", "cancelled", "failed"])
def test_runs_are_listed_with_their_state(make_app, tiny_index, state):
    from campaign import jobs

    _fake_run(jobs.campaigns_dir(), "20250101-100000-old", state="finished", title="Older")
    out = _fake_run(jobs.campaigns_dir(), "20250102-100000-new", state=state, title="Newer")
    job = json.loads((out / "job.json").read_text())
    job["created_at"] = "2025-01-02T10:00:00+00:00"
    (out / "job.json").write_text(json.dumps(job))
    at = open_campaign(make_app, tiny_index)
    options = at.selectbox(key=PICK).options
    assert options == [f"Newer · {state} · 1/2 · 20250102-100000-new", "Older · finished · 1/2 · 20250101-100000-old"]


def test_progress_line_says_what_the_run_is_doing():
    from app.campaign_state import progress_text
    from campaign.jobs import RunStatus

    def status(**kw):
        base = dict(run_id="r", out_dir=Path("."), state="running", done=0, total=10, title="t",
                    started_at="2025-01-01T10:00:00+00:00", updated_at="2025-01-01T10:00:20+00:00", pid=1,
                    alive=True, images=False, stage="variants")
        return RunStatus(**{**base, **kw})

    assert progress_text(status(stage="loading")) == "Loading the prompt index and the enhancer…"
    assert progress_text(status(done=4)) == "4 of 10 variants · about 30 s left"
    assert progress_text(status(done=10)).endswith("writing the manifest, contact sheet and gallery…")
    assert "cancelling" in progress_text(status(done=4, cancel_requested=True))
    assert progress_text(status(done=4, alive=False, state="interrupted")) == "4 of 10 variants"


def test_history_lists_campaign_runs_with_a_link_back(make_app, tiny_index):
    from campaign import jobs

    _fake_run(jobs.campaigns_dir(), "20250103-100000-shown", state="finished", title="<b>Spring</b> launch")
    at = make_app(tiny_index)
    run(at)
    at.switch_page("pages/history.py")
    run(at)
    texts = " ".join(str(m.value) for m in at.markdown)
    assert "\\<b\\>Spring\\<\\/b\\> launch" in texts  # the brief's title is text, not HTML
    assert "finished" in " ".join(c.value for c in at.caption)
    links = [link for link in at.get("page_link") if "20250103-100000-shown" in str(link.proto)]
    assert links, "no link from History to the campaign run"
