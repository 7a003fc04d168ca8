"""A scripted Anthropic Messages API (`POST /v1/messages`) speaking the real wire format.

Tests point the real `anthropic` SDK at `AnthropicServer().url` and queue replies built here:
`message_reply` (a JSON Message), `error_reply` (the API's error body, with `retry-after`),
`stream_reply` (server-sent events: message_start, content_block_start, content_block_delta
text_delta, content_block_stop, message_delta, message_stop). With nothing queued the server
plays a well-behaved model (`scripted_answer`: the idea from the request plus a few words, as
many candidates as the system prompt asks for), as a Message or, for `"stream": true`, as SSE,
after `AnthropicServer(latency_s=...)` seconds (0 by default; benchmarks simulate a model's pace).

Whatever is queued, the server first checks what the real API checks: a request without an API
key (`x-api-key`, or `Authorization: Bearer` as SDK >= 2 sends it) gets the 401 body, and one
with `temperature` / `top_p` / `top_k` under `anthropic-version: 2026-10-21` or later (where
sampling parameters were removed) gets the 400 invalid_request_error.
"""

from __future__ import annotations

import html
import json
import re
from itertools import count

from tests.servers.base import Recorded, Reply, ScriptedServer

MODEL = "claude-test-1"
SCRIPTED_SUFFIX = "highly detailed, dramatic light"
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
SAMPLING_REMOVED_IN = "2026-10-21"
_ids = count(1)


def scripted_answer(system: str, user: str) -> str:
    """What a well-behaved model answers to our templates: the fenced idea + a few words, as one
    JSON object or as the array of as many objects as the system prompt asks for."""
    found = re.search(r"<idea>(.*?)</idea>", user, re.S)
    idea = html.unescape(found.group(1)) if found else "no idea found"
    wanted = re.search(r"JSON array of exactly (\d+) objects", system)
    n = int(wanted.group(1)) if wanted else 1
    items = []
    for i in range(n):
        item = {
            "prompt": f"{idea}, {SCRIPTED_SUFFIX}" + (f", variant {i + 1}" if i else ""),
            "negative_prompt": "blurry, lowres",
            "rationale": "scripted",
        }
        if '"style"' in system:
            item["style"] = "cinematic"
        items.append(item)
    return json.dumps(items if wanted else items[0])


def message_body(text: str, *, model: str = MODEL, stop_reason: str = "end_turn") -> dict:
    return {
        "id": f"msg_test_{next(_ids)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 120, "output_tokens": max(1, len(text) // 4)},
    }


def message_reply(text: str, *, stop_reason: str = "end_turn", delay_s: float = 0.0) -> Reply:
    return Reply(
        200, message_body(text, stop_reason=stop_reason), {"request-id": "req_test"}, delay_s=delay_s
    )


def error_reply(status: int, error_type: str, message: str, *, retry_after: float | None = None) -> Reply:
    """The API's error envelope; `retry_after` (seconds, may be fractional) sets `retry-after`."""
    headers = {"request-id": "req_test"}
    if retry_after is not None:
        headers["retry-after"] = f"{retry_after:g}"
    return Reply(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)


def _sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def stream_events(
    chunks: list[str], *, stop_reason: str = "end_turn", error: dict | None = None
) -> list[bytes]:
    """SSE events of one streamed text answer split into `chunks`; `error` ends it with an error event."""
    start = message_body("")
    start["content"], start["stop_reason"] = [], None
    events = [
        _sse("message_start", {"type": "message_start", "message": start}),
        _sse(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ),
        _sse("ping", {"type": "ping"}),
    ]
    for chunk in chunks:
        events.append(
            _sse(
                "content_block_delta",
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": chunk}},
            )
        )
    if error is not None:
        return events + [_sse("error", {"type": "error", "error": error})]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": len(chunks)},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return events


def stream_reply(chunks: list[str], **kwargs) -> Reply:
    return Reply(
        200,
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        chunks=stream_events(chunks, **kwargs),
    )


def has_api_key(recorded: Recorded) -> bool:
    headers = {name.lower(): value for name, value in recorded.headers.items()}
    return bool(headers.get("x-api-key")) or headers.get("authorization", "").startswith("Bearer ")


class AnthropicServer(ScriptedServer):
    """ScriptedServer answering like api.anthropic.com; `messages()` are the bodies received."""

    def __init__(self, *, latency_s: float = 0.0) -> None:
        """`latency_s`: how long the default (scripted-model) answers take, like a real model's."""
        super().__init__(responder=self._default)
        self.latency_s = latency_s

    def _default(self, recorded: Recorded) -> Reply:
        if recorded.path.split("?")[0] != "/v1/messages":
            return error_reply(404, "not_found_error", f"Not found: {recorded.path}")
        body = recorded.json()
        user = body["messages"][-1]["content"]
        text = scripted_answer(body.get("system", ""), user if isinstance(user, str) else user[0]["text"])
        if body.get("stream"):
            reply = stream_reply([text[: len(text) // 2], text[len(text) // 2 :]])
            reply.delay_s = self.latency_s
            return reply
        return message_reply(text, delay_s=self.latency_s)

    def _next_reply(self, recorded: Recorded) -> Reply:
        if not has_api_key(recorded):
            return error_reply(401, "authentication_error", "invalid x-api-key")
        version = {k.lower(): v for k, v in recorded.headers.items()}.get("anthropic-version", "")
        body = recorded.json() if recorded.body else {}
        removed = [name for name in SAMPLING_PARAMS if isinstance(body, dict) and name in body]
        if version >= SAMPLING_REMOVED_IN and removed:
            return error_reply(
                400, "invalid_request_error", f"`{removed[0]}` is not supported in API {version}"
            )
        return super()._next_reply(recorded)

    def messages(self) -> list[dict]:
        return [r.json() for r in self.requests if r.path.split("?")[0] == "/v1/messages"]
