"""A scripted Anthropic Messages API (`POST /v1/messages`) speaking the real wire format.

Tests point the real `anthropic` SDK at `AnthropicServer().url` and queue replies built here:
`message_reply` (a JSON Message), `error_reply` (the API's error body, with `retry-after`),
`stream_reply` (server-sent events: message_start, content_block_start, content_block_delta
text_delta, content_block_stop, message_delta, message_stop). With nothing queued the server
plays a well-behaved model (`scripted_answer`: the idea from the request plus a few words, as
many candidates as the system prompt asks for), as a Message or, for `"stream": true`, as SSE,
after `AnthropicServer(latency_s=...)` seconds (0 by default; benchmarks simulate a model's pace).
A request that forces a tool (`tool_choice: {"type": "tool"}`, how LangChain's structured output
asks) gets the same answer as that tool's input (`tool_reply`: tool_use, or input_json_delta SSE).

Whatever is queued, the server first checks what the real API checks: a request without an API
key (`x-api-key`, or `Authorization: Bearer` as SDK >= 2 sends it) gets the 401 body, and one
with `temperature` / `top_p` / `top_k` under `anthropic-version: 2026-10-21` or later (where
sampling parameters were removed) gets the 400 invalid_request_error.

Image-bearing requests (content blocks `{"type": "image", "source": {"type": "base64",
"media_type": "image/png", "data": ...}}`) are checked like the real API checks them (a source
that is not valid base64 of the declared media type gets the 400), and with nothing queued they
get a scripted judge's answer (`scripted_judge_answer`): a verdict on one image, a preference
between two. `image_blocks(body)` decodes the images of a received request for a test to check.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import json
import re
import struct
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


_MAGIC = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff", "image/gif": b"GIF8",
          "image/webp": b"RIFF"}


def image_blocks(body: dict) -> list[bytes]:
    """The decoded images of a Messages request, in order; ValueError when a source is not valid
    base64 of its declared media type (what the real API answers with a 400)."""
    found = []
    for message in body.get("messages", []):
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if not isinstance(block, dict) or block.get("type") != "image":
                continue
            source = block.get("source", {})
            media_type = source.get("media_type", "")
            if source.get("type") != "base64" or media_type not in _MAGIC:
                raise ValueError(f"image source must be base64 of one of {', '.join(_MAGIC)}")
            try:
                data = base64.b64decode(source.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ValueError("image source data is not valid base64") from None
            if not data.startswith(_MAGIC[media_type]):
                raise ValueError(f"image data does not match the media type {media_type}")
            found.append(data)
    return found


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk."""
    return struct.unpack(">II", data[16:24])


def scripted_judge_answer(images: list[bytes]) -> str:
    """A judge that really reads the images: one image gets score width/100 (correct from 0.5)
    and names the size it saw; two images: the larger one is more faithful, and the first shown
    is always the prettier (a position-biased judge, so tests can see the order mapped back)."""
    sizes = [png_size(image) if image.startswith(b"\x89PNG") else (0, 0) for image in images]
    digest = hashlib.sha256(b"".join(images)).hexdigest()[:8]
    if len(images) == 1:
        width, height = sizes[0]
        score = round(min(1.0, width / 100), 3)
        return json.dumps({"reasoning": f"saw one {width}x{height} png ({digest})", "score": score,
                           "correct": score >= 0.5})
    areas = [w * h for w, h in sizes[:2]]
    faithful = "tie" if areas[0] == areas[1] else ("1" if areas[0] > areas[1] else "2")
    described = " and ".join(f"{w}x{h} png" for w, h in sizes[:2])
    return json.dumps({"reasoning": f"saw {described} ({digest})", "faithful": faithful, "aesthetic": "1"})


def tool_input(tool: dict, text: str) -> dict:
    """The scripted answer as the input of forced tool `tool` (structured output): the one
    prompt object, or `{"candidates": [...]}` when the tool's schema wraps a list."""
    value = json.loads(text)
    items = value if isinstance(value, list) else [value]
    if "candidates" in tool.get("input_schema", {}).get("properties", {}):
        return {"candidates": items}
    return items[0]


def tool_reply(body: dict, text: str, *, stream: bool, delay_s: float = 0.0) -> Reply:
    """A forced tool call (`tool_choice: {"type": "tool"}`) answered with a tool_use block, as
    a Message or as SSE with input_json_delta chunks; stop_reason is "tool_use"."""
    name = body["tool_choice"]["name"]
    tool = next((t for t in body["tools"] if t.get("name") == name), {})
    arguments = tool_input(tool, text)
    if not stream:
        return tool_message_reply(name, arguments, delay_s=delay_s)
    raw = json.dumps(arguments)
    reply = tool_stream_reply(name, [raw[i:i + 24] for i in range(0, len(raw), 24)])
    reply.delay_s = delay_s
    return reply


def tool_message_reply(name: str, arguments: dict, *, delay_s: float = 0.0) -> Reply:
    """A Message whose one content block is a tool_use of tool `name` with `arguments`."""
    message = message_body("", stop_reason="tool_use")
    message["content"] = [{"type": "tool_use", "id": f"toolu_test_{next(_ids)}", "name": name, "input": arguments}]
    return Reply(200, message, {"request-id": "req_test"}, delay_s=delay_s)


def tool_stream_reply(name: str, json_chunks: list[str], *, stop_reason: str = "tool_use") -> Reply:
    """SSE of a tool_use block whose input arrives as `json_chunks` (input_json_delta events)."""
    start = message_body("")
    start["content"], start["stop_reason"] = [], None
    block = {"type": "tool_use", "id": f"toolu_test_{next(_ids)}", "name": name, "input": {}}
    events = [
        _sse("message_start", {"type": "message_start", "message": start}),
        _sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
    ]
    events += [
        _sse("content_block_delta",
             {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": c}})
        for c in json_chunks
    ]
    events += [
        _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                               "usage": {"output_tokens": len(json_chunks)}}),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return Reply(200, headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}, chunks=events)


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
        if isinstance(user, list) and any(block.get("type") == "image" for block in user):
            return message_reply(scripted_judge_answer(image_blocks(body)), delay_s=self.latency_s)
        if isinstance(user, list):
            user = " ".join(block.get("text", "") for block in user if block.get("type") == "text")
        text = scripted_answer(body.get("system", ""), user)
        if body.get("tools") and (body.get("tool_choice") or {}).get("type") == "tool":
            return tool_reply(body, text, stream=bool(body.get("stream")), delay_s=self.latency_s)
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
        if isinstance(body, dict) and body.get("messages"):
            try:
                image_blocks(body)  # checked whatever is queued, as the real API checks it
            except ValueError as exc:
                return error_reply(400, "invalid_request_error", f"messages.0.content: {exc}")
        return super()._next_reply(recorded)

    def messages(self) -> list[dict]:
        return [r.json() for r in self.requests if r.path.split("?")[0] == "/v1/messages"]
