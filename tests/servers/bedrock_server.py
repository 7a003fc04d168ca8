"""A scripted Amazon Bedrock Runtime speaking the real wire formats, for tests through boto3.

Routes (a dict of path regex -> handler, so other tests can add e.g. InvokeModel with
`server.add_route(r"^/model/(?P<model_id>[^/]+)/invoke$", handler)`):
- `POST /model/{modelId}/converse`: the Converse JSON answer (output.message.content[].text,
  stopReason, usage, metrics).
- `POST /model/{modelId}/converse-stream`: ConverseStream as AWS event-stream binary frames
  (application/vnd.amazon.eventstream: prelude with total and header lengths + CRC32, string
  headers :event-type / :content-type / :message-type, JSON payload, message CRC32).
With nothing queued, Converse plays a well-behaved model (`anthropic_server.scripted_answer`),
and a judge for requests carrying images (`scripted_judge_answer`; see `converse_images`).
Queued replies (`server.queue(...)`) take precedence over routes. Errors are AWS JSON errors
(`x-amzn-ErrorType` header + `{"message": ...}`), see `aws_error_reply`.

Like the real service, every request must be SigV4-signed (`Authorization: AWS4-HMAC-SHA256
Credential=...`); an unsigned one gets 403 MissingAuthenticationTokenException whatever is queued.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from binascii import crc32
from collections.abc import Callable
from urllib.parse import unquote

from tests.servers.anthropic_server import scripted_answer, scripted_judge_answer
from tests.servers.base import Recorded, Reply, ScriptedServer

SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/"
)
Handler = Callable[[Recorded, "re.Match[str]"], Reply]

# --- AWS event-stream framing (what botocore/eventstream.py parses) ---------------------------

_STRING_HEADER = 7


def encode_event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: prelude (total, headers length, CRC32), headers, payload, CRC32."""
    header_bytes = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        header_bytes += struct.pack("!B", len(raw_name)) + raw_name
        header_bytes += struct.pack("!BH", _STRING_HEADER, len(raw_value)) + raw_value
    total = 12 + len(header_bytes) + len(payload) + 4
    prelude = struct.pack("!II", total, len(header_bytes))
    message = prelude + struct.pack("!I", crc32(prelude) & 0xFFFFFFFF) + header_bytes + payload
    return message + struct.pack("!I", crc32(message) & 0xFFFFFFFF)


def event(event_type: str, body: dict) -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_event_message(headers, json.dumps(body).encode())


def exception_event(exception_type: str, message: str) -> bytes:
    """A modelled error inside the stream, e.g. exception_type="throttlingException"."""
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_event_message(headers, json.dumps({"message": message}).encode())


def converse_stream_events(chunks: list[str], *, stop_reason: str = "end_turn") -> list[bytes]:
    events = [event("messageStart", {"role": "assistant"})]
    events += [event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": c}}) for c in chunks]
    events += [
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("messageStop", {"stopReason": stop_reason}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 120, "outputTokens": len(chunks), "totalTokens": 120 + len(chunks)},
                "metrics": {"latencyMs": 42},
            },
        ),
    ]
    return events


def converse_stream_reply(
    chunks: list[str], *, stop_reason: str = "end_turn", error: bytes | None = None
) -> Reply:
    """A ConverseStream answer; `error` (an exception_event) replaces the closing events."""
    events = converse_stream_events(chunks, stop_reason=stop_reason)
    if error is not None:
        events = events[: 1 + len(chunks)] + [error]
    return Reply(
        200,
        headers={"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": "req-test"},
        chunks=events,
    )


# --- JSON replies ------------------------------------------------------------------------------


def converse_reply(text: str, *, stop_reason: str = "end_turn", delay_s: float = 0.0) -> Reply:
    body = {
        "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
        "stopReason": stop_reason,
        "usage": {
            "inputTokens": 120,
            "outputTokens": max(1, len(text) // 4),
            "totalTokens": 120 + len(text) // 4,
        },
        "metrics": {"latencyMs": 42},
    }
    return Reply(200, body, {"x-amzn-RequestId": "req-test"}, delay_s=delay_s)


def aws_error_reply(status: int, error_type: str, message: str) -> Reply:
    """An AWS rest-json error, e.g. aws_error_reply(429, "ThrottlingException", "Too many requests")."""
    headers = {
        "x-amzn-ErrorType": f"{error_type}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "req-test",
        "Content-Type": "application/json",
    }
    return Reply(status, {"message": message}, headers)


def converse_images(body: dict) -> list[bytes]:
    """The decoded images of the last user turn of a Converse request (boto3 sends the bytes of
    `{"image": {"format": "png", "source": {"bytes": ...}}}` base64-encoded in the JSON)."""
    found = []
    for block in body["messages"][-1]["content"]:
        if "image" in block:
            data = base64.b64decode(block["image"]["source"]["bytes"], validate=True)
            if block["image"].get("format") == "png" and not data.startswith(b"\x89PNG"):
                raise ValueError("image bytes do not match format png")
            found.append(data)
    return found


class BedrockServer(ScriptedServer):
    """ScriptedServer answering like bedrock-runtime.<region>.amazonaws.com."""

    def __init__(self) -> None:
        super().__init__(responder=self._route)
        self.routes: dict[str, Handler] = {
            r"^/model/(?P<model_id>[^/]+)/converse$": lambda rec, m: converse_reply(self._answer(rec)),
            r"^/model/(?P<model_id>[^/]+)/converse-stream$": self._default_stream,
        }

    def add_route(self, pattern: str, handler: Handler) -> None:
        self.routes[pattern] = handler

    @staticmethod
    def _answer(recorded: Recorded) -> str:
        """A well-behaved model's answer to the Converse request (see `scripted_answer`)."""
        body = recorded.json()
        if any("image" in block for block in body["messages"][-1]["content"]):
            return scripted_judge_answer(converse_images(body))
        system = " ".join(block.get("text", "") for block in body.get("system", []))
        user = " ".join(block.get("text", "") for block in body["messages"][-1]["content"])
        return scripted_answer(system, user)

    def _default_stream(self, recorded: Recorded, match: re.Match[str]) -> Reply:
        text = self._answer(recorded)
        return converse_stream_reply([text[: len(text) // 2], text[len(text) // 2 :]])

    def _route(self, recorded: Recorded) -> Reply:
        path = recorded.path.split("?")[0]
        for pattern, handler in self.routes.items():
            match = re.match(pattern, path)
            if match:
                return handler(recorded, match)
        return aws_error_reply(404, "UnknownOperationException", f"no route for {recorded.method} {path}")

    def _next_reply(self, recorded: Recorded) -> Reply:
        if self.signature(recorded) is None:
            return aws_error_reply(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        return super()._next_reply(recorded)

    @staticmethod
    def signature(recorded: Recorded) -> dict[str, str] | None:
        """The SigV4 credential scope (key, date, region, service) of a request, or None."""
        auth = {k.lower(): v for k, v in recorded.headers.items()}.get("authorization", "")
        match = SIGV4.match(auth)
        return match.groupdict() if match else None

    def model_ids(self) -> list[str]:
        """The (URL-decoded) model ids of the requests received, in order."""
        found = [re.match(r"^/model/([^/]+)/", r.path) for r in self.requests]
        return [unquote(m.group(1)) for m in found if m]
