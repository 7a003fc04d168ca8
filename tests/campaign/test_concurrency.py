"""Concurrency through the real Anthropic SDK against the local Messages API server answering
slowly and with 429s: no variant lost, none drafted twice, the manifest the same as sequential."""

from __future__ import annotations

import time

import pytest

pytest.importorskip("anthropic")

from campaign import pacing  # noqa: E402
from campaign.runner import run_campaign  # noqa: E402
from tests.campaign.conftest import brief_for, manifest_without_timings  # noqa: E402
from tests.servers.anthropic_server import AnthropicServer, error_reply  # noqa: E402

KEY = "sk-ant-test-campaign-0123456789"
LATENCY_S = 0.25


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("PROMPTRAG_ANTHROPIC_MODEL", "claude-test-1")
    monkeypatch.setenv("PROMPTRAG_MAX_RETRIES", "2")
    # The runner's own cool-down after the SDK's retries are spent: short, so the test is quick.
    monkeypatch.setattr(pacing, "THROTTLE_COOLDOWN_S", 0.05)
    with AnthropicServer(latency_s=LATENCY_S) as srv:
        monkeypatch.setenv("PROMPTRAG_ANTHROPIC_BASE_URL", srv.url)
        yield srv


def throttled(n: int):
    return [error_reply(429, "rate_limit_error", "Number of requests has exceeded your rate limit", retry_after=0.01)
            for _ in range(n)]


def drafts_made(manifest: dict) -> int:
    """Enhancer calls the variants needed: one per variant plus one per re-plan of a near-duplicate."""
    return sum(1 + sum(n.startswith("re-planned:") for n in v["notes"]) for v in manifest["variants"])


def test_concurrent_run_with_429s_and_slow_answers_matches_the_sequential_one(campaign_index, server, tmp_path):
    brief = brief_for(campaign_index, variants=12, enhancer="anthropic")
    started = time.perf_counter()
    sequential = run_campaign(brief, tmp_path / "sequential", concurrency=1)
    sequential_s = time.perf_counter() - started
    reference = manifest_without_timings(sequential.out_dir)
    assert [v.status for v in sequential.variants] == ["ok"] * 12
    assert {v.enhancer for v in sequential.variants} == {"anthropic"}
    calls_sequential = len(server.messages())
    assert calls_sequential == drafts_made(reference)

    # Now: 6 concurrent workers, six 429s first, and every third answer four times slower.
    server.requests.clear()
    server.queue(*throttled(6))
    count = iter(range(10_000))

    def slow_sometimes(recorded):
        reply = server._default(recorded)
        reply.delay_s = LATENCY_S * (4 if next(count) % 3 == 0 else 1)
        return reply

    server.responder = slow_sometimes
    started = time.perf_counter()
    concurrent = run_campaign(brief, tmp_path / "concurrent", concurrency=6)
    concurrent_s = time.perf_counter() - started
    assert manifest_without_timings(concurrent.out_dir) == reference  # same variants, same order, same prompts
    assert len(server.messages()) == calls_sequential + 6  # every variant drafted once; the 429s retried
    assert concurrent_s < 0.6 * sequential_s, (concurrent_s, sequential_s)


def test_throttled_past_the_sdk_retries_the_runner_cools_down_and_retries(campaign_index, server, tmp_path):
    brief = brief_for(campaign_index, variants=2, enhancer="anthropic")
    server.queue(*throttled(3))  # the SDK's 1 try + 2 retries all get 429
    report = run_campaign(brief, tmp_path / "out")
    assert [v.status for v in report.variants] == ["ok", "ok"]
    assert report.variants[0].timings["throttle_retries"] == 1 and report.variants[1].timings["throttle_retries"] == 0
    assert len(server.messages()) == 3 + drafts_made(manifest_without_timings(report.out_dir))


def test_a_chain_that_fell_back_because_of_throttling_is_retried_not_shipped(campaign_index, server, tmp_path):
    brief = brief_for(campaign_index, variants=1, enhancer="anthropic,rules")
    server.queue(*throttled(3))
    [variant] = run_campaign(brief, tmp_path / "out").variants
    assert variant.enhancer == "anthropic" and variant.fallback_reasons == {}
    assert variant.timings["throttle_retries"] == 1


def test_a_hard_api_error_marks_the_variant_and_the_rest_still_ship(campaign_index, server, tmp_path):
    brief = brief_for(campaign_index, variants=3, enhancer="anthropic")
    server.queue(error_reply(400, "invalid_request_error", "prompt is too long"))
    report = run_campaign(brief, tmp_path / "out", concurrency=1)
    assert [v.status for v in report.variants] == ["error", "ok", "ok"]
    assert report.variants[0].error == "Anthropic API 400 invalid_request_error: prompt is too long"
    again = run_campaign(brief, tmp_path / "out")  # a re-run retries the failed variant only
    assert [v.status for v in again.variants] == ["ok", "ok", "ok"]


def test_rate_limit_spaces_every_workers_calls_and_cancel_stops_a_wait():
    from concurrent.futures import ThreadPoolExecutor

    from campaign.pacing import Throttle, is_throttling
    from core.errors import Cancelled
    from core.progress import CancelToken

    throttle = Throttle(per_minute=600, cancel=CancelToken())  # one call per 0.1 s, shared

    def call(_):
        throttle.wait()
        return time.monotonic()

    with ThreadPoolExecutor(4) as pool:
        stamps = sorted(pool.map(call, range(8)))
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert min(gaps) > 0.08 and stamps[-1] - stamps[0] >= 0.65
    cancel = CancelToken()
    paused = Throttle(per_minute=None, cancel=cancel)
    paused.cool_down(30)
    cancel.cancel()
    with pytest.raises(Cancelled):
        paused.wait()
    assert is_throttling("Anthropic API 429 rate_limit_error: slow down") and is_throttling("ThrottlingException")
    assert is_throttling("Anthropic API 529 overloaded_error") and not is_throttling("Anthropic API 400 bad request")
