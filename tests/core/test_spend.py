"""core/spend.py: the price table, the append-only ledger, and the caps as a user meets them, through
the real Anthropic SDK against the local Messages API server (tests/servers/anthropic_server.py).

A cap reached while a user waits (Refine, `promptrag enhance`) hands over to the next member of the
chain, which says why; a cap reached inside a campaign run stops the run, keeping what it finished.
"""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from core import spend
from core.errors import Cancelled

KEY = "sk-ant-test-spend-0123456789"
MODEL = "claude-test-1"  # what the local server answers as; priced by the test (below)
# The test model's price: input free, $1000 per million output tokens. A call's most cost is its
# output limit (512 tokens → $0.512) and a scripted answer (~40 output tokens) costs about $0.04.
TEST_PRICE = (0.0, 1000.0)


@pytest.fixture(autouse=True)
def nobody_acting():
    yield
    spend.clear_account()


def test_prices_come_from_one_table_and_unknown_models_count_as_the_dearest():
    assert spend.price_for("claude-sonnet-4-6") == spend.Price(3.0, 15.0, True)
    assert spend.price_for("us.anthropic.claude-sonnet-4-6") == spend.Price(3.0, 15.0, True)  # Bedrock profile id
    assert spend.price_for("claude-opus-4-6") == spend.Price(5.0, 25.0, True)  # longest prefix wins over opus-4
    assert spend.price_for("openai:gpt-4.1-mini") == spend.Price(0.4, 1.6, True)  # a LangChain PROVIDER:MODEL
    assert spend.price_for("ollama:qwen2.5:7b").input_per_million == 0.0  # runs on this machine
    unknown = spend.price_for("someone-elses-model")
    assert not unknown.known and (unknown.input_per_million, unknown.output_per_million) == spend.UNKNOWN_PRICE
    assert spend.cost_usd("claude-sonnet-4-6", 1_000_000, 1_000_000) == pytest.approx(18.0)
    shown = spend.estimate("claude-sonnet-4-6", 40, 2000, 512).text()
    assert "estimate" in shown and "$0.55" in shown  # 40 × (2000 × 3 + 512 × 15) / 1e6 = 0.5472


def test_the_ledger_is_append_only_and_keeps_users_and_runs_apart(tmp_path):
    ledger = spend.Ledger(tmp_path / "spend.sqlite")
    alice, bob = spend.Account("alice@x.org"), spend.Account("bob@y.org", campaign="run-1")
    ledger.record(alice, "anthropic", "claude-sonnet-4-6", 1000, 100)
    ledger.record(bob, "bedrock", "us.anthropic.claude-sonnet-4-6", 2000, 200, images=0)
    ledger.record(bob, "anthropic", "claude-sonnet-4-6", 2000, 200, estimated=True)
    assert ledger.spent_today("alice@x.org") == pytest.approx(0.0045)
    assert ledger.spent_today("bob@y.org") == pytest.approx(2 * 0.009)
    assert ledger.spent_by_campaign("run-1") == pytest.approx(2 * 0.009)
    rows = ledger.rows(user="bob@y.org")
    assert [(r["what"], r["estimated"]) for r in rows] == [("anthropic", 1), ("bedrock", 0)]  # newest first
    with sqlite3.connect(ledger.path) as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("UPDATE calls SET cost_usd = 0")
    with sqlite3.connect(ledger.path) as conn, pytest.raises(sqlite3.DatabaseError, match="append-only"):
        conn.execute("DELETE FROM calls")
    assert len(ledger.rows()) == 3


@pytest.fixture
def anthropic_server(monkeypatch):
    pytest.importorskip("anthropic")
    from tests.servers.anthropic_server import AnthropicServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("PROMPTRAG_ANTHROPIC_MODEL", MODEL)
    monkeypatch.setitem(spend.PRICES, MODEL, TEST_PRICE)
    with AnthropicServer() as server:
        monkeypatch.setenv("PROMPTRAG_ANTHROPIC_BASE_URL", server.url)
        yield server


def _chain():
    from enhancers.chain import build_enhancer

    return build_enhancer("anthropic,rules")


def test_a_users_daily_cap_falls_back_to_rules_saying_why_and_other_users_go_on(anthropic_server, monkeypatch):
    from enhancers.base import EnhanceRequest

    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", "0.6")  # one call's most (0.512) + ~2 answers
    chain, request = _chain(), EnhanceRequest(idea="a lighthouse in a storm")
    spend.use_account("alice@x.org")
    answered = [chain.enhance(request) for _ in range(4)]
    by = [r.enhancer for r in answered]
    assert by[0] == "anthropic" and by[-1] == "rules", by
    paid = by.count("anthropic")
    assert len(anthropic_server.messages()) == paid  # a refused call never reached the API
    refused = answered[-1].fallback_reasons["anthropic"]
    assert "spend cap reached" in refused and "alice@x.org" in refused and "PROMPTRAG_SPEND_CAP_USER_DAY_USD" in refused

    ledger = spend.Ledger()
    rows = ledger.rows(user="alice@x.org")
    assert len(rows) == paid and all(r["input_tokens"] == 120 and not r["estimated"] for r in rows)  # the API's usage
    assert ledger.spent_today("alice@x.org") <= 0.6

    spend.use_account("bob@y.org")  # another user has a day of his own
    assert chain.enhance(request).enhancer == "anthropic"
    streamed = list(chain.stream(request))  # streaming calls are counted as well
    assert streamed[-1].result.enhancer == "anthropic"
    assert len(ledger.rows(user="bob@y.org")) == 2


def test_a_call_under_way_in_one_process_holds_its_most_against_the_cap_in_another(monkeypatch, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", "1.0")
    monkeypatch.setitem(spend.PRICES, MODEL, TEST_PRICE)  # most of a 512-token answer: $0.512
    spend.use_account("alice@x.org", "run-1")
    other = ("import sys; from core import spend; spend.PRICES[sys.argv[1]] = (0.0, 1000.0)\n"
             "try:\n    with spend.paid_call('anthropic', sys.argv[1], output_limit=512): print('sent')\n"
             "except spend.SpendCapStop as exc: print(exc)")
    env = {**spend.spend_env(), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # as a Ray worker gets it

    def in_another_process() -> str:
        done = subprocess.run([sys.executable, "-c", other, MODEL], env={**os.environ, **env}, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    with spend.paid_call("anthropic", MODEL, output_limit=512) as meter:  # under way here: 0.512 held
        refused = in_another_process()
        meter.record(100, 40)
    assert refused.startswith("spend cap reached: the daily spend cap of $1.00 for alice@x.org")
    assert "$0.5120 in calls under way" in refused
    assert in_another_process() == "sent"  # the call here is over: its hold went, its $0.04 is spent
    assert [r["user"] for r in spend.Ledger().rows()] == ["alice@x.org"]


def test_a_cap_reached_mid_campaign_stops_new_calls_and_keeps_the_finished_variants(
        anthropic_server, monkeypatch, tmp_path):
    from campaign.runner import read_variants, run_campaign
    from tests.campaign.conftest import brief_for

    index = _campaign_index(tmp_path)
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_CAMPAIGN_USD", "0.62")  # one call's most + ~2-3 answers
    monkeypatch.setenv("PROMPTRAG_SPEND_CAMPAIGN", "run-capped")  # as campaign/jobs.py starts a run
    monkeypatch.setenv("PROMPTRAG_SPEND_USER", "alice@x.org")
    brief = brief_for(index, variants=8, enhancer="chain")
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["anthropic", "rules"]')
    out = tmp_path / "run"
    with pytest.raises(Cancelled):
        run_campaign(brief, out, images=False)

    kept = read_variants(out)
    calls = len(anthropic_server.messages())
    assert 1 <= len(kept) < 8, len(kept)
    assert {v.enhancer for v in kept} == {"anthropic"}  # stopped, not finished by the rules
    ledger = spend.Ledger()
    assert len(ledger.rows(campaign="run-capped")) == calls  # every call made is in the audit log...
    assert ledger.spent_by_campaign("run-capped") <= 0.62  # ...and the cap held
    status = json.loads((out / "status.json").read_text(encoding="utf-8"))
    assert status["state"] == "cancelled" and "spend cap reached" in status["error"]

    # A raised cap resumes the run: the kept variants are not made again.
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_CAMPAIGN_USD", "100")
    report = run_campaign(brief, out, images=False)
    assert len(report.variants) == 8 and len(anthropic_server.messages()) - calls >= 8 - len(kept)
    assert {v.id: v.prompt for v in kept}.items() <= {v.id: v.prompt for v in report.variants}.items()


def _campaign_index(tmp_path):
    """The campaign tests' tiny real index (their fixture lives in tests/campaign/conftest.py)."""
    from ingest import run_ingest
    from tests.campaign.conftest import PROMPTS

    source = tmp_path / "prompts.jsonl"
    source.write_text("\n".join(json.dumps({"prompt": p, "seed": 1000 + i}) for i, p in enumerate(PROMPTS)) + "\n",
                      encoding="utf-8")
    run_ingest(source=str(source), index=tmp_path / "index", progress=False)
    return tmp_path / "index"


def test_the_cost_of_a_campaign_is_estimated_before_it_starts_from_the_price_table(monkeypatch, tmp_path):
    from campaign.jobs import cost_estimate, cost_notice
    from tests.campaign.conftest import brief_for

    brief = brief_for(tmp_path / "index", variants=40, enhancer="chain")
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["anthropic", "rules"]')
    assert cost_notice(brief).startswith("No paid model calls")  # no key: the chain's rules answer, free
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("PROMPTRAG_ANTHROPIC_MODEL", "claude-sonnet-4-6")
    found = cost_estimate(brief)
    assert (found.model, found.calls, found.output_tokens) == ("claude-sonnet-4-6", 40, 512)
    assert found.input_tokens > 300  # the rendered templates and three examples
    assert found.usd == pytest.approx(40 * (found.input_tokens * 3 + 512 * 15) / 1e6)
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_CAMPAIGN_USD", "2")
    notice = cost_notice(brief)
    assert f"${found.usd:,.2f}" in notice and "an estimate" in notice and "$2.00 per run" in notice
    assert cost_notice(brief.model_copy(update={"enhancer": "grounded"})).startswith("No paid model calls")


def test_the_image_judge_is_a_paid_call_logged_with_its_images(anthropic_server):
    import io
    import random

    from PIL import Image

    from evaluation.judge import AnthropicJudge

    def png(colour: str) -> bytes:
        out = io.BytesIO()
        Image.new("RGB", (64, 64), colour).save(out, format="PNG")
        return out.getvalue()

    spend.use_account("alice@x.org")
    AnthropicJudge().prefer("a red lighthouse", png("red"), png("blue"), random.Random(0))
    (row,) = spend.Ledger().rows(user="alice@x.org")
    assert (row["what"], row["images"], row["input_tokens"]) == ("judge:anthropic", 2, 120)
