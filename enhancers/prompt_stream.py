"""Show the prompt while an LLM is still writing its JSON answer.

LLM enhancers ask for `{"prompt": "...", "negative_prompt": "...", ...}` (or an array of such
objects). Streaming that raw JSON to a user would show braces, keys and escapes, so
`PromptTextStream.feed(chunk)` returns only the new characters of the first `"prompt"` string
value, decoded (`\\"`, `\\n`, `\\u00e9`...), as they arrive; everything before and after it stays
hidden. `raw` keeps the whole answer for the real parse (`llm_output.parse_with_stop_reason`)
when the stream ends — the shown text is a preview, the parsed result is what counts.

A `<think>…</think>` block before the answer (reasoning models) is skipped, so a draft written
while thinking is not previewed.

Deliberately not here: validating the answer, candidates after the first, or prose answers
(no `"prompt"` key means nothing is shown, and the final parse raises the usual error).
"""

from __future__ import annotations

import json
import re

_PROMPT_KEY = re.compile(r'"prompt"\s*:\s*"')
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)\s*>", re.I)
_SIMPLE_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class PromptTextStream:
    """Feed raw model text chunks; get back the decoded prompt characters each one adds."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._buffer = ""  # raw text not yet consumed by the scanner
        self._state = "seek"  # seek → inside (the prompt string) → done
        self._thinking = False  # inside a <think> block while seeking

    @property
    def raw(self) -> str:
        """Everything fed so far, unchanged."""
        return "".join(self._parts)

    def feed(self, chunk: str) -> str:
        self._parts.append(chunk)
        if self._state == "done":
            return ""
        self._buffer += chunk
        if self._state == "seek":
            if not self._skip_reasoning():
                return ""
            found = _PROMPT_KEY.search(self._buffer)
            if found is None:
                # Keep a tail long enough to hold a key split across chunks ('"prompt"   :  "').
                self._buffer = self._buffer[-32:]
                return ""
            self._buffer = self._buffer[found.end():]
            self._state = "inside"
        return self._decode()

    def _skip_reasoning(self) -> bool:
        """Drop `<think>…</think>` blocks from the seek buffer; False while inside one.

        Reasoning models draft JSON while thinking; a draft's "prompt" must not be shown.
        """
        while True:
            if self._thinking:
                closed = _THINK_CLOSE.search(self._buffer)
                if closed is None:
                    self._buffer = self._buffer[-16:]  # room for a closing tag split across chunks
                    return False
                self._buffer = self._buffer[closed.end():]
                self._thinking = False
            opened = _THINK_OPEN.search(self._buffer)
            key = _PROMPT_KEY.search(self._buffer)
            if opened is None or (key is not None and key.start() < opened.start()):
                return True
            self._buffer = self._buffer[opened.end():]
            self._thinking = True

    def _decode(self) -> str:
        out: list[str] = []
        text, i = self._buffer, 0
        while i < len(text):
            ch = text[i]
            if ch == '"':
                self._state = "done"
                self._buffer = ""
                return "".join(out)
            if ch != "\\":
                out.append(ch)
                i += 1
                continue
            if i + 1 >= len(text):
                break  # escape split across chunks: wait for the rest
            kind = text[i + 1]
            if kind in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[kind])
                i += 2
            elif kind == "u":
                width = 12 if text[i + 2:i + 4].lower() in ("d8", "d9", "da", "db") else 6  # surrogate pair
                if i + width > len(text):
                    break
                try:
                    out.append(json.loads(f'"{text[i:i + width]}"'))
                except json.JSONDecodeError:
                    out.append(text[i:i + width])  # not valid JSON: show it as written
                i += width
            else:
                out.append(kind)  # invalid escape: the parser will judge the answer
                i += 2
        self._buffer = text[i:]
        return "".join(out)
