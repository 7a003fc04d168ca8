"""The fallback chain, with fake enhancers registered through the real registry."""

from __future__ import annotations

import pytest

from core.errors import BackendError, ConfigError
from enhancers.base import EnhanceRequest
from enhancers.chain import FallbackChain, build_chain
from enhancers.rules import RuleBasedEnhancer
from tests.enhancers.contract_backends import FAKE_KEY_VARIABLE, EchoEnhancer, register_fakes

REQUEST = EnhanceRequest(idea="a red fox in the snow", n_candidates=2)


@pytest.fixture(autouse=True)
def fakes(monkeypatch):
    monkeypatch.delenv(FAKE_KEY_VARIABLE, raising=False)
    register_fakes(monkeypatch)


def test_failing_member_falls_back_to_rules_and_says_why():
    result = build_chain(["fake-failing", "rules"]).enhance(REQUEST)
    assert result.enhancer == "rules"
    assert result.prompt.startswith("a red fox in the snow")
    # one line: the detail on the error's second line stays out of the status line
    assert result.fallback_reasons == {"fake-failing": "fake-failing: scripted outage (HTTP 529 overloaded)"}
    assert result.used_fallback
    assert "chain_total_s" in result.timings


def test_rules_is_appended_when_the_chain_lacks_it():
    chain = build_chain(["fake-failing"])
    assert chain.names == ["fake-failing", "rules"]
    assert chain.enhance(REQUEST).enhancer == "rules"
    assert FallbackChain([]).names == ["rules"]


def test_first_working_member_answers_without_fallback():
    result = build_chain(["fake-echo", "fake-failing"]).enhance(REQUEST)
    assert result.enhancer == "fake-echo"
    assert result.fallback_reasons == {}
    assert [c.prompt for c in result.candidates] == [
        "a red fox in the snow, echoed 0",
        "a red fox in the snow, echoed 1",
    ]


def test_bugs_propagate_instead_of_falling_back():
    with pytest.raises(ZeroDivisionError):
        build_chain(["fake-buggy", "rules"]).enhance(REQUEST)


def test_missing_key_at_construction_is_a_reason_not_a_crash():
    chain = build_chain(["fake-keyless", "fake-failing", "rules"])
    assert chain.names == ["fake-failing", "rules"]
    result = chain.enhance(REQUEST)
    assert result.enhancer == "rules"
    assert list(result.fallback_reasons) == ["fake-keyless", "fake-failing"]
    assert result.fallback_reasons["fake-keyless"].startswith(f"{FAKE_KEY_VARIABLE} is not set")


def test_key_present_builds_the_member(monkeypatch):
    monkeypatch.setenv(FAKE_KEY_VARIABLE, "sk-test-not-a-real-key")
    assert build_chain(["fake-keyless"]).names == ["fake-keyless", "rules"]


def test_real_anthropic_without_key_falls_back_naming_the_variable():
    result = build_chain(["anthropic", "rules"]).enhance(REQUEST)
    assert result.enhancer == "rules"
    assert "ANTHROPIC_API_KEY" in result.fallback_reasons["anthropic"]


def test_default_chain_comes_from_settings(monkeypatch):
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["fake-echo", "rules"]')
    assert build_chain().names == ["fake-echo", "rules"]


def test_configuration_mistakes_are_loud():
    with pytest.raises(ConfigError, match="unknown enhancer 'anthropc'.*known enhancers: .*anthropic"):
        build_chain(["anthropc", "rules"])
    with pytest.raises(ConfigError, match="may not contain 'chain'"):
        build_chain(["chain"])
    with pytest.raises(ConfigError, match="options given for local"):
        build_chain(["rules"], local={"model": "x"})


def test_options_reach_their_member():
    chain = build_chain(["fake-echo"], **{"fake-echo": {"suffix": "custom"}})
    assert chain.enhance(REQUEST).prompt == "a red fox in the snow, custom 0"


def test_every_member_failing_raises_one_error_with_all_reasons():
    class BrokenRules(RuleBasedEnhancer):
        def enhance(self, request):
            raise BackendError("rules: broken on purpose")

    chain = build_chain(["fake-failing"])
    chain.enhancers[-1] = BrokenRules()
    with pytest.raises(
        BackendError, match="every enhancer in the chain failed.*fake-failing: .*rules: broken"
    ):
        chain.enhance(REQUEST)


def test_release_reaches_every_member():
    echo = EchoEnhancer()
    chain = FallbackChain([echo, RuleBasedEnhancer()])
    chain.release()
    assert echo.releases == 1


def test_stream_falls_back_before_the_first_chunk():
    chain = build_chain(["fake-failing", "fake-echo"])
    text = "".join(chain.stream(REQUEST))
    assert text.strip() == "a red fox in the snow, echoed 0"
    assert chain.last_answered_by == "fake-echo"
    assert list(chain.last_fallback_reasons) == ["fake-failing"]


def test_stream_of_a_non_streaming_member_is_its_prompt_in_one_piece():
    chunks = list(build_chain(["fake-failing"]).stream(REQUEST))
    assert len(chunks) == 1 and chunks[0].startswith("a red fox in the snow")


def test_stream_failure_after_the_first_chunk_reaches_the_caller():
    chunks = build_chain(["fake-stream-breaks", "rules"]).stream(REQUEST)
    assert next(chunks) == "a red "
    with pytest.raises(BackendError, match="mid-stream"):
        next(chunks)
