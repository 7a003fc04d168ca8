"""Per-user data: two users of one history database, one campaign folder and one evals folder never
see each other's rounds or runs; a history database from before users keeps every round as 'local'."""

from __future__ import annotations

import sqlite3

import pytest

from app.history import History
from core import spend
from core.errors import InputError
from tests.app.test_history import make_result, make_saved

ALICE, BOB = "alice@x.org", "bob@y.org"


@pytest.fixture(autouse=True)
def nobody_acting():
    yield
    spend.clear_account()


def test_two_users_of_one_history_never_see_each_others_rounds(tmp_path):
    alice = History(tmp_path / "history.sqlite", user=ALICE)
    bob = alice.as_user(BOB)
    mine = alice.add_round(session_id="s1", result=make_result("a lighthouse in a storm"))
    alice.add_images(mine, make_saved(tmp_path, "a lighthouse in a storm, dramatic lighting, oil painting"))
    theirs = bob.add_round(session_id="s1", result=make_result("a lighthouse at dawn"))

    assert [r.idea for r in alice.list_rounds()] == ["a lighthouse in a storm"]
    assert [r.idea for r in bob.list_rounds(search="lighthouse")] == ["a lighthouse at dawn"]
    assert (alice.count(), bob.count(search="in a storm")) == (1, 0)
    assert [r.id for r in alice.session("s1")] == [mine]  # same session id, other user: not shown
    assert "at dawn" not in alice.export("csv") and "in a storm" not in bob.export("json")
    images = bob.images_for_prompts(["a lighthouse in a storm, dramatic lighting, oil painting"])
    assert images == {"a lighthouse in a storm, dramatic lighting, oil painting": []}
    for attempt in (lambda: bob.get(mine), lambda: bob.delete(mine),
                    lambda: bob.add_images(mine, make_saved(tmp_path, "x"))):
        with pytest.raises(InputError, match="does not exist"):  # as if it were not there at all
            attempt()
    assert alice.get(mine).images
    assert bob.get(theirs).idea == "a lighthouse at dawn"


def test_a_history_from_before_users_is_migrated_to_the_local_user(tmp_path):
    path = tmp_path / "history.sqlite"
    old = History(path)
    kept = old.add_round(session_id="s1", result=make_result("a lighthouse in a storm"))
    with sqlite3.connect(path) as conn:  # back to schema 1: no user column
        conn.execute("DROP INDEX rounds_user")
        conn.execute("ALTER TABLE rounds DROP COLUMN user_id")
        conn.execute("UPDATE schema_version SET version = 1")

    reopened = History(path)  # the single local user, as the app without sign-in opens it
    assert [r.id for r in reopened.list_rounds()] == [kept]
    assert History(path, user=ALICE).count() == 0  # a signed-in user does not inherit them
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(2,)]


def test_campaign_and_evaluation_runs_are_listed_for_their_owner_only(tmp_path):
    from campaign import jobs as campaign_jobs
    from core import background
    from evaluation import jobs as eval_jobs

    for user, run_id in ((ALICE, "20250101-000000-alice-run"), (BOB, "20250101-000000-bob-run")):
        for base in (campaign_jobs.campaigns_dir(), eval_jobs.evals_dir()):
            (base / run_id).mkdir(parents=True)
            background.write_json(base / run_id / "job.json", {"run_id": run_id, "title": run_id, "owner": user})
    legacy = campaign_jobs.campaigns_dir() / "20240101-000000-by-hand"  # `promptrag batch -o` into the folder
    legacy.mkdir()
    background.write_json(legacy / "status.json", {"state": "finished", "done": 1, "total": 1})

    spend.use_account(ALICE)
    assert [r.run_id for r in campaign_jobs.list_runs()] == ["20250101-000000-alice-run"]
    assert [r.run_id for r in eval_jobs.list_evals()] == ["20250101-000000-alice-run"]
    folders = [eval_jobs.evals_dir() / "20250101-000000-alice-run", eval_jobs.evals_dir() / "20250101-000000-bob-run"]
    assert eval_jobs.owned_runs(folders) == folders[:1]  # the Evaluate page's run picker
    for look_up in (lambda: campaign_jobs.run_status("20250101-000000-bob-run"),
                    lambda: eval_jobs.eval_status("20250101-000000-bob-run"),
                    lambda: campaign_jobs.cancel_run("20250101-000000-bob-run")):
        with pytest.raises(InputError, match="no .*run"):  # reopening someone else's ?run=ID fails
            look_up()
    spend.use_account(spend.LOCAL_USER)  # without sign-in: runs started by hand are the local user's
    assert [r.run_id for r in campaign_jobs.list_runs()] == ["20240101-000000-by-hand"]
