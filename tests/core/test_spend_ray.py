"""Spend caps on Ray: a campaign whose drafts run as Ray tasks counts its paid calls for the driver's
user and run, in the driver's audit log, and stops at the driver's cap — as the thread pool does.

The local Ray is started first, with only what a cluster's nodes would have (the API key, the
repo on PYTHONPATH, the test model's price); the cap, the home, the Messages API address and the
signed-in user are chosen afterwards in the driver, so they reach the workers only if the Ray
executor sends them (core/executors.py `worker_env`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from core import spend
from core.errors import Cancelled
from tests.core.test_spend import KEY, MODEL, TEST_PRICE, _campaign_index

REPO_ROOT = Path(__file__).resolve().parents[2]


def price_test_model() -> None:
    """Every process of the test's Ray runs this first: the test model has the test's price there too."""
    spend.PRICES[MODEL] = TEST_PRICE


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'promptrag[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO_ROOT), "ANTHROPIC_API_KEY": KEY},  # the nodes' key
                          "worker_process_setup_hook": "tests.core.test_spend_ray.price_test_model"})
    yield ray
    ray.shutdown()


@pytest.fixture
def anthropic_server(local_ray, monkeypatch):
    pytest.importorskip("anthropic")
    from tests.servers.anthropic_server import AnthropicServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("PROMPTRAG_ANTHROPIC_MODEL", MODEL)
    monkeypatch.setitem(spend.PRICES, MODEL, TEST_PRICE)
    with AnthropicServer() as server:
        monkeypatch.setenv("PROMPTRAG_ANTHROPIC_BASE_URL", server.url)
        yield server
    spend.clear_account()


def test_a_cap_set_in_the_driver_stops_paid_calls_made_in_ray_tasks_and_the_audit_log_has_them(
        anthropic_server, monkeypatch, tmp_path):
    from campaign.runner import read_variants, run_campaign
    from tests.campaign.conftest import brief_for

    index = _campaign_index(tmp_path)
    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "driver-home"))  # after ray.init: the workers lack it
    # Two calls' most (2 × 0.512) and a little: the two workers' first calls fit together, so v001 is
    # always answered. Each call under way holds its most in the ledger every worker shares, so the
    # run stops before its 20th answer (~0.04 each): as soon as spent + what is held passes 0.588.
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", "1.1")
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["anthropic", "rules"]')
    spend.use_account("alice@x.org", "run-on-ray")  # the signed-in user, as the app sets it: no variable
    brief = brief_for(index, variants=20, enhancer="chain")
    out = tmp_path / "run"
    stopped = r"stopped \(spend cap reached: the daily spend cap of \$1\.10 for alice@x\.org"
    with pytest.raises(Cancelled, match=stopped):
        run_campaign(brief, out, images=False, concurrency=2, executor="ray")

    kept = read_variants(out)
    calls = len(anthropic_server.messages())
    assert 1 <= len(kept) < 20 and kept[0].id == "v001", [v.id for v in kept]
    assert {v.enhancer for v in kept} == {"anthropic"}  # the workers stopped, not fell back to the rules
    ledger = spend.Ledger(tmp_path / "driver-home" / "spend.sqlite")  # the driver's audit log
    rows = ledger.rows(limit=100)
    assert len(rows) == calls >= len(kept)  # every call a worker made is recorded there...
    assert {(r["user"], r["campaign"], r["what"]) for r in rows} == {("alice@x.org", "run-on-ray", "anthropic")}
    assert ledger.spent_today("alice@x.org") <= 1.1  # ...and the cap held
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "cancelled" and re.match(r"spend cap reached: .* for alice@x\.org", status["error"])
