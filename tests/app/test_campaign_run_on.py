"""Campaign page: "Run on: this machine | Ray cluster (ADDRESS)" appears only when a cluster is
configured (PROMPTRAG_RAY_ADDRESS); the choice is recorded on the started run (its job.json, from
which a resume starts the same command), the run list and the run say where it runs, and another
session reattaches to it as to a local run.

The cluster address points at a closed port on 127.0.0.1: what is tested is what the page records
and shows, not Ray itself (tests/core/test_ray_executor.py runs real Ray)."""

from __future__ import annotations

import json

from app.widgets import escape_md
from tests.app.helpers import run
from tests.app.test_campaign_page import PICK, fill_brief, open_campaign
from tests.e2e.browser import free_port

RUN_ON = "campaign.run_on"


def radio_keys(at) -> set[str]:
    return {radio.key for radio in at.radio}


def test_without_a_cluster_there_is_no_choice(make_app, tiny_index):
    at = open_campaign(make_app, tiny_index)
    assert RUN_ON not in radio_keys(at)
    assert not at.exception


def test_a_run_started_on_the_configured_cluster_records_and_shows_it(make_app, tiny_index, monkeypatch):
    from campaign import jobs

    address = f"ray://127.0.0.1:{free_port()}"
    monkeypatch.setenv("PROMPTRAG_RAY_ADDRESS", address)
    at = open_campaign(make_app, tiny_index)
    choice = at.radio(key=RUN_ON)
    assert choice.options == ["this machine", f"Ray cluster ({address})"]
    assert choice.value == "thread", "this machine unless the user picks the cluster"

    fill_brief(at, subject="a reusable steel water bottle", variants=2)
    choice.set_value(address)
    at.button(key="campaign.start").click()
    run(at)
    run_id = at.session_state["campaign"]["run_id"]
    try:
        out = jobs.campaigns_dir() / run_id
        job = json.loads((out / "job.json").read_text())
        assert job["executor"] == address  # `promptrag batch --executor ADDRESS`, for this run and its resumes
        assert jobs.run_status(run_id).executor == address
        assert any(escape_md(f"on Ray cluster ({address})") in caption.value for caption in at.caption)

        # another session: the list says where each run runs, and opening the run reattaches to it
        at = open_campaign(make_app, tiny_index)
        [label] = [o for o in at.selectbox(key=PICK).options if o.endswith(run_id)]
        assert f" · on Ray cluster ({address}) · " in label
        at.selectbox(key=PICK).set_value(run_id)
        run(at)
        assert at.query_params["run"] == run_id
        assert any(escape_md(f"on Ray cluster ({address})") in caption.value for caption in at.caption)
        assert not at.exception
    finally:
        jobs.cancel_run(run_id)  # its process cannot reach the cluster; do not leave it trying


def test_local_runs_say_this_machine_once_a_cluster_is_offered(make_app, tiny_index, monkeypatch):
    from campaign import jobs

    monkeypatch.setenv("PROMPTRAG_RAY_ADDRESS", f"ray://127.0.0.1:{free_port()}")
    at = open_campaign(make_app, tiny_index)
    fill_brief(at, subject="a folding bicycle", variants=1)
    at.button(key="campaign.start").click()  # the radio left at its default
    run(at)
    run_id = at.session_state["campaign"]["run_id"]
    try:
        assert json.loads((jobs.campaigns_dir() / run_id / "job.json").read_text())["executor"] == "thread"
        at = open_campaign(make_app, tiny_index)
        assert any(o.endswith(f" · on this machine · {run_id}") for o in at.selectbox(key=PICK).options)
    finally:
        jobs.cancel_run(run_id)
