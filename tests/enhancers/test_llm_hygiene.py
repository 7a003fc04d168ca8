"""Reasoning-model answers (<think> blocks, fences, preambles) parse through the real SDKs.

The local test servers play a reasoning model: its answer starts with a `<think>` block that
itself drafts a prompt JSON, then a preamble, then the real answer in a code fence. The user
must get the real answer, never the draft, and never see the draft in the streamed preview.
"""

from __future__ import annotations

import json

import pytest

from core.errors import BackendError
from enhancers.base import EnhanceRequest
from enhancers.events import Finished, TextDelta
from enhancers.llm_output import clean_llm_text, parse_llm_output
from enhancers.prompt_stream import PromptTextStream

REQUEST = EnhanceRequest(idea="a frog dressed as a knight", style="cinematic")
ANSWER = {"prompt": "a frog dressed as a knight, cinematic still", "negative_prompt": "blurry"}
DRAFT = '{"prompt": "DRAFT frog", "negative_prompt": ""}'
REASONING = f"<think>\nThe user wants a frog knight. Maybe {DRAFT}? No, more cinematic.\n</think>\n"
CHATTY = REASONING + "Sure! Here is your prompt:\n```json\n" + json.dumps(ANSWER) + "\n```\nEnjoy!"


@pytest.mark.parametrize(
    "text",
    [
        CHATTY,
        # the chat template opened <think> itself: only the closing tag is in the answer
        f"The user wants a frog knight. {DRAFT}\n</think>\n\n" + json.dumps(ANSWER),
        # reasoning that never closed, then the answer on its own line
        f"<think>\nthinking about {DRAFT} still\n```json\n" + json.dumps(ANSWER) + "\n```",
        "<THINKING>draft: " + DRAFT + "</THINKING>Here's the JSON: " + json.dumps(ANSWER),
    ],
)
def test_reasoning_fences_and_preambles_are_stripped_before_parsing(text):
    [candidate] = parse_llm_output(text)
    assert candidate.prompt == ANSWER["prompt"]
    assert "DRAFT" not in clean_llm_text(text)


def test_reasoning_that_never_ends_says_so():
    with pytest.raises(BackendError, match=r"all reasoning \(<think> never closed"):
        parse_llm_output(f"<think>\nI keep thinking {DRAFT} and thinking")


def test_a_colon_inside_the_prompt_is_not_a_preamble():
    [candidate] = parse_llm_output('{"prompt": "portrait: a frog knight"}')
    assert candidate.prompt == "portrait: a frog knight"


def test_stream_preview_skips_the_draft_in_the_reasoning():
    for size in (1, 5, 64):
        shown = PromptTextStream()
        text = "".join(shown.feed(CHATTY[i:i + size]) for i in range(0, len(CHATTY), size))
        assert text == ANSWER["prompt"], size


def test_anthropic_reasoning_answer_parses(monkeypatch):
    pytest.importorskip("anthropic")
    from enhancers.registry import get_enhancer
    from tests.servers.anthropic_server import AnthropicServer, message_reply, stream_reply

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    with AnthropicServer() as server:
        enhancer = get_enhancer("anthropic", base_url=server.url, timeout=5.0, max_retries=0, model="claude-test-1")
        server.queue(message_reply(CHATTY))
        result = enhancer.enhance(REQUEST)
        assert (result.prompt, result.negative_prompt) == (ANSWER["prompt"], "blurry")
        server.queue(stream_reply([CHATTY[i:i + 7] for i in range(0, len(CHATTY), 7)]))
        events = list(enhancer.stream(REQUEST))
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == ANSWER["prompt"]
    assert isinstance(events[-1], Finished) and events[-1].result.prompt == ANSWER["prompt"]


def test_bedrock_reasoning_answer_parses(monkeypatch, tmp_path):
    pytest.importorskip("boto3")
    from enhancers.registry import get_enhancer
    from tests.servers.bedrock_server import BedrockServer, converse_reply

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDPROMPTRAGTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/TESTSECRET")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    with BedrockServer() as server:
        server.queue(converse_reply(f"Reasoning first. {DRAFT}</think>\n" + json.dumps(ANSWER)))
        enhancer = get_enhancer("bedrock", endpoint_url=server.url, timeout=5.0, max_retries=0,
                                model="us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        result = enhancer.enhance(REQUEST)
    assert result.prompt == ANSWER["prompt"]
