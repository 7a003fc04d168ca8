"""The fallback chain, with fake enhancers registered through the real registry."""

from __future__ import annotations

import pytest

from core.errors import BackendError, ConfigError
from enhancers.base import EnhanceRequest
from enhancers.chain import FallbackChain, build_chain, build_enhancer
from enhancers.events import Finished, MemberFailed, TextDelta, collect
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
        def _enhance(self, request):
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


def test_stream_falls_back_before_the_first_delta_and_the_result_says_why():
    chain = build_chain(["fake-keyless", "fake-failing", "fake-refused-stream", "fake-echo"])
    events = list(chain.stream(REQUEST))
    failed = [e for e in events if isinstance(e, MemberFailed)]
    assert [e.name for e in failed] == ["fake-keyless", "fake-failing", "fake-refused-stream"]
    assert failed[2].reason == "fake-refused-stream: 429 too many requests"
    # every failure comes before the first piece of text, the result comes last
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert all(events.index(e) < first_text for e in failed)
    text, result = collect(events)
    assert text == result.prompt == "a red fox in the snow, echoed 0"
    assert len([e for e in events if isinstance(e, TextDelta)]) > 1  # the echo streams word by word
    assert result.enhancer == "fake-echo"
    assert list(result.fallback_reasons) == ["fake-keyless", "fake-failing", "fake-refused-stream"]
    assert "chain_total_s" in result.timings


def test_a_chain_keeps_no_state_about_a_call():
    chain = build_chain(["fake-failing", "fake-echo"])
    before = dict(vars(chain))
    _, first = collect(chain.stream(REQUEST))
    assert vars(chain) == before and not hasattr(chain, "last_answered_by")
    # two interleaved streams on one (cached, shared) chain each get their own answer
    a, b = chain.stream(REQUEST), chain.stream(EnhanceRequest(idea="a blue whale"))
    next(a), next(b)
    _, result_b = collect(b)
    _, result_a = collect(a)
    assert result_a.prompt.startswith("a red fox") and result_b.prompt.startswith("a blue whale")
    expected = {"fake-failing": first.fallback_reasons["fake-failing"]}
    assert result_a.fallback_reasons == result_b.fallback_reasons == expected


def test_stream_of_a_non_streaming_member_is_its_prompt_in_one_piece():
    events = list(build_chain(["fake-failing"]).stream(REQUEST))
    assert [type(e) for e in events] == [MemberFailed, TextDelta, Finished]
    assert events[1].text == events[2].result.prompt and events[2].result.enhancer == "rules"
    assert events[1].text.startswith("a red fox in the snow")


def test_stream_failure_after_the_first_delta_reaches_the_caller():
    events = build_chain(["fake-stream-breaks", "rules"]).stream(REQUEST)
    assert next(events) == TextDelta("a red ")
    with pytest.raises(BackendError, match="mid-stream"):
        next(events)


def test_stream_with_every_member_failing_raises_one_error_with_all_reasons():
    class BrokenRules(RuleBasedEnhancer):
        def _enhance(self, request):
            raise BackendError("rules: broken on purpose")

    chain = build_chain(["fake-failing"])
    chain.enhancers[-1] = BrokenRules()
    events = chain.stream(REQUEST)
    assert next(events) == MemberFailed("fake-failing", "fake-failing: scripted outage (HTTP 529 overloaded)")
    assert next(events) == MemberFailed("rules", "rules: broken on purpose")
    with pytest.raises(BackendError, match="every enhancer in the chain failed"):
        next(events)


def test_bugs_propagate_from_a_stream_too():
    with pytest.raises(ZeroDivisionError):
        list(build_chain(["fake-buggy", "rules"]).stream(REQUEST))


@pytest.mark.parametrize(
    ("spec", "grounded", "names"),
    [
        ("chain", False, ["fake-echo", "rules"]),
        ("chain", True, ["fake-echo", "grounded", "rules"]),
        ("fake-failing, rules", False, ["fake-failing", "rules"]),
    ],
)
def test_build_enhancer_reads_what_a_user_types(monkeypatch, spec, grounded, names):
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["rules", "fake-echo"]')
    assert build_enhancer(spec, grounded=grounded).names == names


def test_build_enhancer_with_one_name_is_that_enhancer_alone():
    assert isinstance(build_enhancer("fake-echo"), EchoEnhancer)
    with pytest.raises(ConfigError, match="known enhancers"):
        build_enhancer("no-such-enhancer")


def test_a_long_reason_keeps_its_start_and_what_to_do():
    from core.errors import one_line

    reason = one_line(BackendError("local model 'x' gave no usable prompt: " + "y" * 500 + "; use a larger model"))
    assert len(reason) == 300 and reason.startswith("local model 'x'") and reason.endswith("; use a larger model")
    assert one_line(BackendError("short\nsecond line")) == "short"
