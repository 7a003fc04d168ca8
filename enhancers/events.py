"""Typed streaming events: what `Enhancer.stream(request)` yields.

A stream is zero or more `TextDelta`s (pieces of the prompt text as the user should see it,
never raw JSON) and `MemberFailed`s (a chain member failed before answering, so the next one
is asked), and always ends in exactly one `Finished` carrying the complete `EnhanceResult`:
who answered (`result.enhancer`) and why the others did not (`result.fallback_reasons`).

The `Finished` result is authoritative: the deltas show progress, but the final prompt is the
validated one in the result (an LLM may, say, write a second candidate the deltas never showed).
Everything about one call travels in its events, so a cached enhancer shared by many sessions
keeps no per-call state.

Deliberately not here: how enhancers produce events (base.py, chain.py, claude_*.py) and the
assistant's own final event (rag.assistant.AssistantFinished).
"""

from __future__ import annotations

from dataclasses import dataclass

from enhancers.base import EnhanceResult


@dataclass(frozen=True)
class TextDelta:
    """The next piece of the prompt text."""

    text: str


@dataclass(frozen=True)
class MemberFailed:
    """Chain member `name` failed before its first delta; `reason` is one line a user can act on."""

    name: str
    reason: str


@dataclass(frozen=True)
class Finished:
    """The last event of every stream: the finished, validated result."""

    result: EnhanceResult


StreamEvent = TextDelta | MemberFailed | Finished


def collect(events) -> tuple[str, EnhanceResult]:
    """Run a stream to its end: (the streamed text, the Finished result). For tests and scripts."""
    text, result = [], None
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        elif isinstance(event, Finished):
            result = event.result
    if result is None:
        raise RuntimeError("the stream ended without a Finished event")
    return "".join(text), result
