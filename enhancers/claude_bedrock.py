"""Claude on Amazon Bedrock through boto3 `bedrock-runtime` Converse / ConverseStream ("bedrock").

The transport of a `ChatEnhancer` (chat_base.py): same templates, output schema and streaming
as the Anthropic API enhancer. `build_request(request)` is a pure function returning the Converse
arguments (modelId, system, messages, inferenceConfig); `send` calls Converse, `send_stream`
ConverseStream. The client comes from `core.aws.bedrock_client` (region, profile, endpoint_url
or settings.bedrock_endpoint_url, botocore's "standard" retries with settings.max_retries) and
AWS errors become one line that says what to do through `core.aws.aws_errors`, the same mapping
the Bedrock image backend uses.

Deliberately not here: image models (see generate/), tool use, guardrails, AWS credentials in
any message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

from core.aws import BedrockCall, aws_errors, bedrock_client, client_region
from core.settings import Settings, get_settings
from core.status import aws_status, importable
from enhancers.base import EnhanceRequest
from enhancers.chat_base import Answer, ChatEnhancer, max_tokens_for
from enhancers.prompting import build_messages, temperature_for

# Claude models after Opus 4.6 (Opus 4.7+, the 5 family) reject sampling parameters with a 400
# ValidationException; older Claude models and other Bedrock text models accept temperature.
_NO_SAMPLING = re.compile(r"claude-(?:opus-4-[7-9]|[a-z]+-[5-9])")


def accepts_temperature(model_id: str) -> bool:
    return _NO_SAMPLING.search(model_id) is None


class BedrockEnhancer(ChatEnhancer):
    """Claude on Amazon Bedrock (Converse API) fuses the idea and the example prompts."""

    name = "bedrock"

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        if not importable("boto3"):
            return False, "install boto3: pip install 'promptrag[claude]'"
        ready, detail = aws_status()
        return ready, f"{settings.bedrock_text_model} ({detail})" if ready else detail

    def __init__(
        self,
        model: str | None = None,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        settings = get_settings()
        self.model = model or settings.bedrock_text_model
        self.region = region
        self.endpoint_url = endpoint_url or settings.bedrock_endpoint_url
        self.profile = profile
        self.timeout = timeout if timeout is not None else settings.request_timeout_s
        self.max_retries = max_retries if max_retries is not None else settings.max_retries
        self._client = client

    def __repr__(self) -> str:
        return f"BedrockEnhancer(model={self.model!r}, region={self.region!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = bedrock_client(region=self.region, profile=self.profile, endpoint_url=self.endpoint_url,
                                          timeout_s=self.timeout, max_retries=self.max_retries)
        return self._client

    def build_request(self, request: EnhanceRequest) -> dict[str, Any]:
        """The Converse call for `request` (pure: no I/O, no client)."""
        system, user = build_messages(request)
        inference: dict[str, Any] = {"maxTokens": max_tokens_for(request.n_candidates)}
        if accepts_temperature(self.model):
            inference["temperature"] = temperature_for(request.creativity)
        return {
            "modelId": self.model,
            "system": [{"text": system}],
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": inference,
        }

    def send(self, call: dict[str, Any]) -> Answer:
        response = self.client.converse(**call)
        content = response.get("output", {}).get("message", {}).get("content", [])
        usage = response.get("usage") or {}
        return Answer("".join(block.get("text", "") for block in content), response.get("stopReason"),
                      usage.get("inputTokens"), usage.get("outputTokens"))

    def send_stream(self, call: dict[str, Any]) -> Iterator[str | Answer]:
        parts: list[str] = []
        stop_reason = None
        usage: dict[str, Any] = {}
        for item in self.client.converse_stream(**call)["stream"]:
            if chunk := item.get("contentBlockDelta", {}).get("delta", {}).get("text"):
                parts.append(chunk)
                yield chunk
            stop_reason = item.get("messageStop", {}).get("stopReason", stop_reason)
            usage = item.get("metadata", {}).get("usage", usage)
        yield Answer("".join(parts), stop_reason, usage.get("inputTokens"), usage.get("outputTokens"))

    def errors(self) -> AbstractContextManager[None]:
        # The client first: its region is the one messages name (and its set-up errors are ours already).
        return aws_errors(BedrockCall(
            model=self.model, region=client_region(self.client, self.region), timeout_s=self.timeout,
            max_retries=self.max_retries, model_setting="PROMPTRAG_BEDROCK_TEXT_MODEL",
        ))

