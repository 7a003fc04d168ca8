"""Drift guard: candidates that lose the idea's subject are dropped and reported; synonyms count."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest

from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.events import MemberFailed
from rag.assistant import AssistantFinished, AssistantResult, PromptAssistant
from rag.drift import check_drift, subject_words

IDEA = "a red fox sleeping in a snowy forest"
DRIFTED = "a red wolf sleeping in a snowy forest, oil painting"  # another animal: drift
SYNONYM = "a red fox sleeping in snowy woods, soft light"  # forest → woods: kept
EXACT = "a red fox sleeping in a snowy forest, 8k"


class ScriptedLLM(Enhancer):
    """A real Enhancer subclass standing in for an LLM that answers these candidates."""

    name: ClassVar[str] = "scripted-llm"

    def __init__(self, prompts: list[str]) -> None:
        self.prompts = prompts

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        return self.make_result(request, [Candidate(p, "blurry", "scripted") for p in self.prompts],
                                style="artistic", started=time.perf_counter())


def test_subject_words_and_exact_check_without_an_embedder():
    assert subject_words(IDEA) == ["red", "fox", "sleeping", "snowy", "forest"]
    [kept, lost] = check_drift(IDEA, ["Red foxes sleeping in a snowy forest", "a bored wolf in a snowy forest"])
    assert not kept.drifted  # "foxes" keeps "fox"
    assert lost.missing == ("red", "fox", "sleeping")  # "bored" does not keep "red"


def test_synonyms_count_as_kept_with_the_embedder(embedder):
    [synonym, drifted] = check_drift(IDEA, [SYNONYM, DRIFTED], embedder)
    assert not synonym.drifted and synonym.synonyms == {"forest": "woods"}
    assert drifted.missing == ("fox",)


def test_a_drifted_candidate_is_dropped_and_reported(embedder):
    assistant = PromptAssistant(None, ScriptedLLM([DRIFTED, SYNONYM, EXACT]), embedder=embedder)
    result = assistant.fuse(IDEA, [], n_candidates=3)
    assert result.enhancer == "scripted-llm"
    assert result.prompt == SYNONYM
    assert {c.prompt for c in result.candidates} == {SYNONYM, EXACT}  # ranked, the drifted one gone
    assert [(d.prompt, d.missing) for d in result.dropped] == [(DRIFTED, ["fox"])]
    assert "dropped 1 candidate that drifted from the idea" in result.rationale and "lost fox" in result.rationale
    assert not any("lost words" in p for p in result.problems)  # woods kept forest
    again = AssistantResult.from_dict(result.to_dict())
    assert again.dropped == result.dropped


def test_every_candidate_drifted_means_the_fallback_answers_and_says_why(embedder):
    assistant = PromptAssistant(None, ScriptedLLM([DRIFTED, "a cat on a sofa"]), embedder=embedder)
    result = assistant.fuse(IDEA, [], n_candidates=2)
    assert result.enhancer in ("grounded", "rules")
    assert "fox" in result.prompt
    assert result.fallback_reasons["scripted-llm"] == "drifted from the idea: every candidate lost fox"


def test_streamed_drift_is_a_member_failure(embedder):
    assistant = PromptAssistant(None, ScriptedLLM([DRIFTED]), embedder=embedder)
    events = list(assistant.fuse_stream(IDEA, []))
    assert MemberFailed("scripted-llm", "drifted from the idea: every candidate lost fox") in events
    assert isinstance(events[-1], AssistantFinished) and "fox" in events[-1].result.prompt


@pytest.mark.parametrize("prompt", [EXACT, SYNONYM])
def test_kept_prompts_are_left_alone(embedder, prompt):
    result = PromptAssistant(None, ScriptedLLM([prompt]), embedder=embedder).fuse(IDEA, [])
    assert result.prompt == prompt and result.dropped == [] and result.enhancer == "scripted-llm"
