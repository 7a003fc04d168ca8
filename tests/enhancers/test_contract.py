"""One contract suite, run against every enhancer in `contract_backends.CONTRACT_BACKENDS`.

What every enhancer promises a caller: an EnhanceResult whose prompt keeps the idea's words,
a negative prompt when it supports one, its own name in `enhancer`, a token count that is the
real CLIP count of the prompt, exactly n candidates (best first), examples accepted, and a
refinement round handled. A registered enhancer without a backend fails the suite (not a skip).
"""

from __future__ import annotations

import json

import pytest

from enhancers.base import STYLES, EnhanceRequest, EnhanceResult, Example
from enhancers.events import Finished, collect
from enhancers.tokens import count_clip_tokens
from tests.enhancers.contract_backends import (
    CONTRACT_BACKENDS,
    CONTRACT_EXAMPLES,
    CONTRACT_FEEDBACK,
    CONTRACT_IDEA,
    CONTRACT_KEY_WORDS,
    CONTRACT_PREVIOUS,
    missing_backend_reason,
    registered_names,
)


@pytest.fixture(params=sorted(CONTRACT_BACKENDS))
def backend(request):
    spec = CONTRACT_BACKENDS[request.param]
    with spec.open(request) as enhancer:
        yield spec, enhancer


def require_contract_backend(name: str):
    """The contract backend of registered enhancer `name`; a missing one fails (never skips) the suite."""
    if name not in CONTRACT_BACKENDS:
        pytest.fail(missing_backend_reason(name), pytrace=False)
    return CONTRACT_BACKENDS[name]


@pytest.mark.parametrize("name", registered_names())
def test_registered_enhancer_has_a_contract_backend(name):
    assert require_contract_backend(name).name == name


def test_an_enhancer_registered_without_a_backend_fails_the_suite(monkeypatch):
    from tests.enhancers.contract_backends import EchoEnhancer, register_fakes

    register_fakes(monkeypatch)  # through the real registry, like an add-on
    assert "fake-echo" in registered_names() and EchoEnhancer.name == "fake-echo"
    with pytest.raises(pytest.fail.Exception, match=r"'fake-echo' is registered but has no contract backend"):
        require_contract_backend("fake-echo")


def check_result(result: EnhanceResult, request: EnhanceRequest, enhancer, answers_as) -> None:
    if callable(answers_as):  # backends that delegate some requests say who answers which
        answers_as = answers_as(request)
    assert isinstance(result, EnhanceResult)
    assert result.prompt.strip()
    lowered = result.prompt.lower()
    for word in CONTRACT_KEY_WORDS:
        assert word in lowered, f"{word!r} of the idea missing from {result.prompt!r}"
    if getattr(enhancer, "supports_negative_prompt", True):
        assert result.negative_prompt.strip()
    assert result.enhancer == answers_as
    assert result.style in STYLES and result.style != "auto"
    assert result.token_count == count_clip_tokens(result.prompt)
    assert result.token_budget == request.token_budget
    assert len(result.candidates) == request.n_candidates
    assert result.candidates[0].prompt == result.prompt
    assert result.candidates[0].negative_prompt == result.negative_prompt
    json.dumps(result.to_dict())  # the CLI's --json and the history store need this


def test_plain_request(backend):
    spec, enhancer = backend
    request = EnhanceRequest(idea=CONTRACT_IDEA)
    result = enhancer.enhance(request)
    check_result(result, request, enhancer, spec.answers_as)
    assert result.within_budget


def test_n_candidates_are_honoured(backend):
    spec, enhancer = backend
    request = EnhanceRequest(idea=CONTRACT_IDEA, n_candidates=3, creativity=0.9)
    result = enhancer.enhance(request)
    check_result(result, request, enhancer, spec.answers_as)
    for candidate in result.candidates:
        assert all(word in candidate.prompt.lower() for word in CONTRACT_KEY_WORDS)


def test_examples_are_accepted(backend):
    spec, enhancer = backend
    examples = [Example(text=text, score=0.8 - i / 10, count=3) for i, text in enumerate(CONTRACT_EXAMPLES)]
    request = EnhanceRequest(idea=CONTRACT_IDEA, examples=examples, model_family="sd1")
    check_result(enhancer.enhance(request), request, enhancer, spec.answers_as)


def test_refinement_round_is_handled(backend):
    spec, enhancer = backend
    request = EnhanceRequest(
        idea=CONTRACT_IDEA, previous_prompt=CONTRACT_PREVIOUS, feedback=CONTRACT_FEEDBACK
    )
    check_result(enhancer.enhance(request), request, enhancer, spec.answers_as)


def test_every_style_is_accepted(backend):
    spec, enhancer = backend
    for style in STYLES:
        request = EnhanceRequest(idea=CONTRACT_IDEA, style=style, creativity=0.3)
        result = enhancer.enhance(request)
        check_result(result, request, enhancer, spec.answers_as)
        if style != "auto":
            assert result.style == style


def test_stream_yields_text_then_the_result_and_release_is_repeatable(backend):
    spec, enhancer = backend
    request = EnhanceRequest(idea=CONTRACT_IDEA)
    events = list(enhancer.stream(request))
    assert isinstance(events[-1], Finished)
    assert not any(isinstance(e, Finished) for e in events[:-1])
    text, result = collect(events)
    check_result(result, request, enhancer, spec.answers_as)
    assert text == result.prompt  # what streamed is what the result holds (one candidate asked)
    enhancer.release()
    enhancer.release()
