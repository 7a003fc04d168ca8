"""PromptAssistant's seams on a real index: retrieve and fuse apart (as the app's Explore and
Refine pages call them), `run` as both, and `fuse_stream`'s typed events."""

from __future__ import annotations

import json

import pytest

from core.errors import InputError
from enhancers.events import MemberFailed, TextDelta
from enhancers.grounded import GroundedEnhancer
from enhancers.registry import ENHANCERS
from rag.assistant import AssistantFinished, PromptAssistant, to_examples
from rag.retriever import Retriever
from tests.rag.test_rag_assistant import CopyingEnhancer

IDEA = "a lighthouse on a cliff in a storm"


@pytest.fixture(scope="module")
def assistant(rag_index, embedder):
    return PromptAssistant(Retriever(rag_index), GroundedEnhancer(), embedder=embedder)


def test_retrieve_then_fuse_gives_what_run_gives(assistant):
    retrieved = assistant.retrieve(IDEA, k=6, mode="hybrid")
    assert len(retrieved) == 6 and [r.rank for r in retrieved] == [1, 2, 3, 4, 5, 6]
    examples = to_examples(retrieved, [1, 3])
    assert [e.rank for e in examples] == [1, 3]
    assert set(examples[0].settings) == {"seed", "steps", "cfg", "sampler", "width", "height"}
    fused = assistant.fuse(IDEA, examples, n_candidates=2, creativity=0.4)
    ran = assistant.run(IDEA, k=6, picks=[1, 3], n_candidates=2, creativity=0.4)
    assert fused.prompt == ran.prompt and fused.negative_prompt == ran.negative_prompt
    assert fused.examples == ran.examples and fused.enhancer == ran.enhancer == "grounded"
    # fuse records the fuse options; run records everything, including how it retrieved
    assert fused.options["creativity"] == 0.4 and "k" not in fused.options
    assert ran.options["k"] == 6 and ran.options["picks"] == [1, 3]
    assert "retrieve_s" in ran.timings and "retrieve_s" not in fused.timings
    assert ran.timings["total_s"] >= ran.timings["retrieve_s"]
    json.dumps(fused.to_dict())


def test_fuse_with_examples_picked_elsewhere_does_not_retrieve(rag_index, embedder):
    class NoRetriever(Retriever):  # fuse must not search (the page already holds the examples)
        def search(self, *args, **kwargs):
            raise AssertionError("fuse retrieved again")

    examples = to_examples(Retriever(rag_index).search(IDEA, k=3), [2])
    result = PromptAssistant(NoRetriever(rag_index), GroundedEnhancer(), embedder=embedder).fuse(IDEA, examples)
    assert result.prompt.startswith(IDEA) and [e.rank for e in result.examples] == [2]


def test_fuse_stream_ends_in_the_result_fuse_gives(assistant):
    examples = to_examples(assistant.retrieve(IDEA, k=5), [1, 2])
    events = list(assistant.fuse_stream(IDEA, examples, style="cinematic"))
    assert isinstance(events[-1], AssistantFinished)
    assert all(isinstance(e, TextDelta) for e in events[:-1]) and len(events) > 1
    result = events[-1].result
    assert "".join(e.text for e in events[:-1]) == result.prompt
    assert result.prompt == assistant.fuse(IDEA, examples, style="cinematic").prompt
    assert result.style == "cinematic" and result.quality.token_count > 0 and "enhance_s" in result.timings


def test_fuse_stream_of_a_copied_answer_says_so_and_ends_in_the_fallback(rag_index, embedder, monkeypatch):
    monkeypatch.setitem(ENHANCERS._factories, "copycat", CopyingEnhancer)
    assistant = PromptAssistant(Retriever(rag_index), ENHANCERS.get("copycat"), embedder=embedder)
    examples = to_examples(assistant.retrieve("a portrait of a woman", k=5), [1, 2])
    events = list(assistant.fuse_stream("a portrait of a woman", examples))
    assert events[0] == TextDelta(examples[0].text)  # what the misbehaving enhancer streamed...
    failed = [e for e in events if isinstance(e, MemberFailed)]
    assert len(failed) == 1 and failed[0].name == "copycat" and "copy of example" in failed[0].reason
    result = events[-1].result  # ...is replaced, visibly, by the grounded fusion
    assert result.enhancer == "grounded" and "copy of example" in result.fallback_reasons["copycat"]
    assert not result.quality.is_copy


def test_streaming_claude_through_a_chain_reaches_the_page(rag_index, embedder, monkeypatch):
    pytest.importorskip("anthropic")
    from enhancers.chain import build_chain
    from tests.servers.anthropic_server import AnthropicServer, stream_reply

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    answer = json.dumps({"prompt": "a frog knight, oil painting, rim lighting", "negative_prompt": "blurry"})
    with AnthropicServer() as server:
        server.queue(stream_reply([answer[:20], answer[20:40], answer[40:]]))
        chain = build_chain(["anthropic", "grounded", "rules"], anthropic={"base_url": server.url, "max_retries": 0})
        assistant = PromptAssistant(Retriever(rag_index), chain, embedder=embedder)
        examples = to_examples(assistant.retrieve("a frog knight", k=4), [1, 2])
        events = list(assistant.fuse_stream("a frog knight", examples))
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 2 and "".join(deltas) == "a frog knight, oil painting, rim lighting"
    result = events[-1].result
    assert result.enhancer == "anthropic" and result.prompt == "".join(deltas) and result.fallback_reasons == {}


def test_inputs_are_checked_before_any_event_and_errors_name_field_and_value(assistant):
    examples = to_examples(assistant.retrieve("a cat", k=3), [1])
    with pytest.raises(InputError, match=r"creativity: .*got 3"):
        assistant.fuse_stream("a cat", examples, creativity=3)  # no next(): raised by the call itself
    with pytest.raises(InputError, match=r"model_family: .*got 'sd9'"):
        assistant.fuse("a cat", examples, model_family="sd9")
    with pytest.raises(InputError, match=r"examples\[0\] must be an ExampleUsed.*got dict"):
        assistant.fuse("a cat", [{"text": "a dog"}])
    with pytest.raises(InputError, match="k: .*got 0"):
        assistant.retrieve("a cat", k=0)
    with pytest.raises(InputError, match="idea"):
        assistant.retrieve("   ")
    with pytest.raises(InputError, match="extra_option"):
        assistant.run("a cat", extra_option=1)
    with pytest.raises(InputError, match=r"picks \[4\] are beyond the 3 prompts"):
        to_examples(assistant.retrieve("a cat", k=3), [4])


def test_load_grounds_the_configured_chain(rag_index):
    assistant = PromptAssistant.load(rag_index.path)
    names = assistant.enhancer.names
    assert names[-2:] == ["grounded", "rules"]
