"""rag.langchain: the assistant as an LCEL Runnable (invoke / batch / stream / ainvoke) and the
index as a LangChain retriever, on a real index of DiffusionDB prompts; streaming through
LangChain's ChatAnthropic (the langchain enhancer) against the scripted Messages API."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("langchain_core")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.runnables import Runnable, RunnableLambda  # noqa: E402

from core.errors import InputError  # noqa: E402
from enhancers.events import MemberFailed, TextDelta  # noqa: E402
from enhancers.grounded import GroundedEnhancer  # noqa: E402
from rag.assistant import AssistantFinished, AssistantResult, PromptAssistant  # noqa: E402
from rag.langchain import PromptragRetriever, assistant_runnable, fuse_step, retrieve_step  # noqa: E402
from rag.retriever import Retriever  # noqa: E402

IDEA = "a lighthouse on a cliff in a storm"


@pytest.fixture(scope="module")
def assistant(rag_index, embedder):
    return PromptAssistant(Retriever(rag_index), GroundedEnhancer(), embedder=embedder)


def test_invoke_is_run(assistant):
    chain = assistant_runnable(assistant)
    assert isinstance(chain, Runnable)
    result = chain.invoke(IDEA)
    expected = assistant.run(IDEA)
    assert isinstance(result, AssistantResult) and result.enhancer == "grounded"
    assert result.prompt == expected.prompt and [e.id for e in result.examples] == [e.id for e in expected.examples]
    assert [e.rank for e in result.examples] == [1, 2, 3]


def test_options_travel_in_the_input_dict(assistant):
    result = assistant.as_runnable().invoke(
        {"idea": IDEA, "k": 6, "picks": [2, 5], "style": "cinematic", "n_candidates": 2, "model_family": "sd1"})
    assert [e.rank for e in result.examples] == [2, 5]
    assert result.style == "cinematic" and len(result.candidates) == 2 and result.quality.token_budget == 77


def test_batch_keeps_the_order_of_the_ideas(assistant):
    ideas = ["a red fox in the snow", "a tea house in the mountains", "a robot reading a book"]
    results = assistant_runnable(assistant).batch(ideas, config={"max_concurrency": 2})
    assert [r.idea for r in results] == ideas
    assert all(r.prompt.startswith(idea) for r, idea in zip(results, ideas))


def test_ainvoke_works_in_an_event_loop(assistant):
    # A fresh thread gets its own event loop (other tests' browsers may hold this thread's).
    runnable = assistant_runnable(assistant)
    with ThreadPoolExecutor(1) as pool:
        result = pool.submit(asyncio.run, runnable.ainvoke("a red fox in the snow")).result()
    assert result.prompt.startswith("a red fox in the snow")


def test_stream_yields_the_typed_events_through_a_langchain_chat_model(rag_index, embedder, monkeypatch):
    pytest.importorskip("langchain_anthropic")
    from enhancers.chain import build_chain
    from tests.servers.anthropic_server import AnthropicServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-runnable-test")
    with AnthropicServer() as server:
        chain = build_chain(["langchain", "rules"],
                            langchain={"model": "anthropic:claude-test-1", "base_url": server.url, "max_retries": 0})
        assistant = PromptAssistant(Retriever(rag_index), chain, embedder=embedder)
        events = list(assistant_runnable(assistant).stream(IDEA))
    assert isinstance(events[-1], AssistantFinished)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    result = events[-1].result
    assert len(deltas) > 1 and "".join(deltas) == result.prompt
    assert result.enhancer == "langchain:anthropic:claude-test-1" and len(result.examples) == 3
    sent = server.messages()[-1]["messages"][-1]["content"]
    sent = sent if isinstance(sent, str) else " ".join(b["text"] for b in sent)
    assert all(f">{e.text.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</example>" in sent
               for e in result.examples)


def test_stream_reports_a_failed_member(rag_index, embedder, monkeypatch):
    from enhancers.chain import build_chain

    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(rag_index.path.parent)  # no .env here
    chain = build_chain(["anthropic", "grounded"])
    events = list(assistant_runnable(PromptAssistant(Retriever(rag_index), chain, embedder=embedder)).stream(IDEA))
    assert isinstance(events[0], MemberFailed) and events[0].name == "anthropic"
    assert events[-1].result.enhancer == "grounded"
    assert "ANTHROPIC_API_KEY" in events[-1].result.fallback_reasons["anthropic"]


def test_any_retriever_can_feed_the_fuse_step(assistant, rag_index):
    retriever = PromptragRetriever(retriever=Retriever(rag_index), k=2, mode="dense")
    chain = {"idea": RunnableLambda(lambda idea: idea), "examples": retriever} | fuse_step(assistant)
    result = chain.invoke(IDEA)
    docs = retriever.invoke(IDEA)
    assert [e.text for e in result.examples] == [d.page_content for d in docs]
    assert [e.id for e in result.examples] == [d.metadata["id"] for d in docs]
    assert result.prompt.startswith(IDEA)


def test_fuse_step_takes_plain_strings_and_documents(assistant):
    result = fuse_step(assistant).invoke({"idea": IDEA, "examples": [
        "lighthouse, stormy sea, oil painting, dramatic light", Document(page_content="cliff at night, 8k")]})
    assert [(e.rank, e.id, e.text) for e in result.examples] == [
        (1, None, "lighthouse, stormy sea, oil painting, dramatic light"), (2, None, "cliff at night, 8k")]


def test_retrieve_step_output_is_the_fuse_input(assistant):
    handed = retrieve_step(assistant).invoke({"idea": IDEA, "k": 4, "picks": [4], "creativity": 0.2})
    assert set(handed) == {"idea", "examples", "style", "creativity", "n_candidates", "model_family", "look", "context",
                           "artist_credits"}
    assert [e.rank for e in handed["examples"]] == [4] and handed["creativity"] == 0.2


@pytest.mark.parametrize(("value", "message"), [
    ({"idea": IDEA, "k": 0}, "k: Input should be greater than or equal to 1"),
    ({"idea": "   "}, "idea"),
    (42, "takes an idea \\(str\\) or a dict"),
    ({"idea": IDEA, "temperature": 2}, "temperature: Extra inputs are not permitted"),
])
def test_bad_input_is_one_input_error_line(assistant, value, message):
    with pytest.raises(InputError, match=message) as info:
        assistant_runnable(assistant).invoke(value)
    assert "\n" not in str(info.value)


def test_fuse_step_rejects_unknown_keys(assistant):
    with pytest.raises(InputError, match="does not take k"):
        fuse_step(assistant).invoke({"idea": IDEA, "examples": [], "k": 3})


def test_retriever_returns_documents_with_settings(rag_index):
    docs = PromptragRetriever(retriever=Retriever(rag_index), k=3).invoke("a castle in the clouds")
    assert len(docs) == 3 and all(isinstance(d, Document) for d in docs)
    assert set(docs[0].metadata) == {"id", "score", "count", "seed", "steps", "cfg", "sampler", "width", "height"}


def test_the_core_imports_no_langchain():
    code = ("import sys, rag, rag.assistant, rag.retriever, rag.refinement, enhancers.registry, enhancers.chain, "
            "cli.main; found = sorted(m for m in sys.modules if m.split('.')[0].startswith('langchain')); "
            "print(found); sys.exit(1 if found else 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
