"""A1111-style prompt syntax: attention weights, BREAK and timed prompts. Pure Python, no torch.

Syntax understood (the de-facto standard of the AUTOMATIC1111 web UI):

- ``(word:1.3)`` weight 1.3; ``(word)`` x1.1; ``((word))`` x1.21; ``[word]`` /1.1; groups nest
  and multiply.
- ``\\(  \\)  \\[  \\]  \\:  \\\\`` are literal characters.
- ``BREAK`` (upper case, a word of its own) ends the current 75-token chunk early.
- Timed prompts ``[from:to:when]``, ``[to:when]`` (added after ``when``) and ``[from::when]``
  (removed after ``when``). ``when`` below 1 is a fraction of the steps, otherwise a step number.
  ``prompt_schedule(text, steps)`` resolves them into ``[(until_step, prompt), ...]`` where each
  prompt still carries its weights and is used for steps ``<= until_step`` (1-based).

Errors (unbalanced brackets, a weight that is not a number, ``when`` out of range) raise
``InputError`` whose message shows the prompt with a caret under the offending column.

Deliberately not here: tokenising and embeddings (see ``generate/conditioning.py``), A1111's
alternation ``[a|b]`` and its "new" scheduling offsets; ``|`` is ordinary text.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import NamedTuple, Union

from core.errors import InputError

EMPHASIS = 1.1
_ESCAPABLE = "()[]:\\"
_NUMBER = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))\s*")
_BREAK = re.compile(r"\s*\bBREAK\b\s*")
MAX_DEPTH = 32  # deeper nesting is never meaningful and would exhaust Python's recursion


class Fragment(NamedTuple):
    """A run of text sharing one weight. ``BREAK_FRAGMENT`` marks a forced chunk boundary."""

    text: str
    weight: float


BREAK_FRAGMENT = Fragment("BREAK", -1.0)


@dataclass(frozen=True)
class _Weighted:
    children: tuple[_Node, ...]
    weight: float
    explicit: bool  # written as (x:1.3) rather than (x) / [x]


@dataclass(frozen=True)
class _Timed:
    before: tuple[_Node, ...]
    after: tuple[_Node, ...]
    when: float
    column: int  # 1-based column of the opening '[' (for range errors)


_Node = Union[str, _Weighted, _Timed]


def syntax_error(text: str, index: int, problem: str) -> InputError:
    """An InputError naming the 1-based column, with the prompt and a caret under it."""
    start = max(0, index - 60)
    shown = text[start : index + 40].replace("\n", " ")
    prefix = "..." if start else ""
    caret = " " * (len(prefix) + index - start) + "^"
    return InputError(f"prompt syntax error at column {index + 1}: {problem}\n  {prefix}{shown}\n  {caret}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.depth = 0

    def parse(self) -> tuple[_Node, ...]:
        segments, _ = self._segments(closer=None)
        return segments[0][0]

    def _segments(self, closer: str | None) -> tuple[list[tuple[tuple[_Node, ...], int]], bool]:
        """Nodes up to ``closer``, split at top-level ':' (only inside groups).

        Returns ``([(nodes, start_index), ...], closed)``; consumes the closer.
        """
        text, segments, nodes, buf = self.text, [], [], []
        seg_start = self.i

        def flush() -> None:
            if buf:
                nodes.append("".join(buf))
                buf.clear()

        while self.i < len(text):
            c = text[self.i]
            if c == "\\" and self.i + 1 < len(text) and text[self.i + 1] in _ESCAPABLE:
                buf.append(text[self.i + 1])
                self.i += 2
            elif c in "([":
                flush()
                nodes.append(self._group(c))
            elif c in ")]":
                if c != closer:
                    raise syntax_error(
                        text, self.i, f"unbalanced {c!r} (nothing to close); write \\{c} for a literal bracket"
                    )
                flush()
                segments.append((tuple(nodes), seg_start))
                self.i += 1
                return segments, True
            elif c == ":" and closer is not None:
                flush()
                segments.append((tuple(nodes), seg_start))
                nodes = []
                self.i += 1
                seg_start = self.i
            else:
                buf.append(c)
                self.i += 1
        flush()
        segments.append((tuple(nodes), seg_start))
        return segments, False

    def _group(self, opener: str) -> _Node:
        open_at = self.i
        self.i += 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise syntax_error(self.text, open_at, f"brackets nested deeper than {MAX_DEPTH} levels")
        closer = ")" if opener == "(" else "]"
        segments, closed = self._segments(closer)
        self.depth -= 1
        if not closed:
            raise syntax_error(
                self.text, open_at,
                f"unbalanced {opener!r} (no matching {closer!r}); write \\{opener} for a literal bracket"
            )
        if opener == "(":
            if len(segments) == 1:
                return _Weighted(segments[0][0], EMPHASIS, explicit=False)
            weight = self._number(segments[-1], "weight")
            children: list[_Node] = []
            for k, (nodes, _) in enumerate(segments[:-1]):
                children.extend((":",) if k else ())
                children.extend(nodes)
            return _Weighted(tuple(children), weight, explicit=True)
        if len(segments) == 1:
            return _Weighted(segments[0][0], 1 / EMPHASIS, explicit=False)
        if len(segments) > 3:
            raise syntax_error(self.text, segments[3][1] - 1, "a timed prompt is [from:to:when]; too many ':'")
        when = self._number(segments[-1], "when (a fraction below 1 or a step number)")
        if when < 0:
            raise syntax_error(self.text, segments[-1][1], f"when must be >= 0, got {when:g}")
        before = segments[0][0] if len(segments) == 3 else ()
        after = segments[1][0] if len(segments) == 3 else segments[0][0]
        return _Timed(before, after, when, column=open_at + 1)

    def _number(self, segment: tuple[tuple[_Node, ...], int], what: str) -> float:
        nodes, start = segment
        raw = "" if not nodes else nodes[0] if len(nodes) == 1 and isinstance(nodes[0], str) else None
        match = _NUMBER.fullmatch(raw) if raw is not None else None
        if match is None or not math.isfinite(float(match.group(1))):
            got = repr(raw) if raw is not None else "a bracketed group"
            raise syntax_error(
                self.text, start, f"{what} must be a number, got {got}; write \\: for a literal colon"
            )
        return float(match.group(1))


def parse(text: str) -> tuple[_Node, ...]:
    """Parse ``text`` into nodes (strings, weighted groups, timed groups) or raise InputError."""
    return _Parser(text).parse()


def has_syntax(text: str) -> bool:
    """True when ``text`` uses weights, escapes, BREAK or timed prompts (i.e. is not plain)."""
    nodes = parse(text)
    return not (nodes == () or (len(nodes) == 1 and nodes[0] == text)) or bool(_BREAK.search(text))


def _step_of(when: float, steps: int) -> int:
    return int(when * steps) if when < 1 else int(when)


def prompt_schedule(text: str, steps: int) -> list[tuple[int, str]]:
    """Resolve timed prompts: ``[(until_step, weighted_prompt), ...]``, last until_step == steps.

    A prompt without timed syntax comes back unchanged as ``[(steps, text)]``.
    """
    if steps < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    nodes = parse(text)
    switches: set[int] = set()
    _collect_switches(text, nodes, steps, switches)
    if not switches:
        return [(steps, text)]
    boundaries = sorted(s for s in switches if 1 <= s < steps) + [steps]
    return [(until, _render(nodes, until, steps, depth=0)) for until in boundaries]


def _collect_switches(text: str, nodes: tuple[_Node, ...], steps: int, out: set[int]) -> None:
    for node in nodes:
        if isinstance(node, _Weighted):
            _collect_switches(text, node.children, steps, out)
        elif isinstance(node, _Timed):
            step = _step_of(node.when, steps)
            if step > steps:
                raise syntax_error(
                    text, node.column - 1, f"when={node.when:g} is past the last step ({steps} steps)"
                )
            out.add(step)
            _collect_switches(text, node.before, steps, out)
            _collect_switches(text, node.after, steps, out)


def _escape(text: str, depth: int) -> str:
    text = re.sub(r"([()\[\]\\])", r"\\\1", text)
    return text.replace(":", "\\:") if depth else text


def _render(nodes: tuple[_Node, ...], step: int, steps: int, depth: int) -> str:
    """Back to weighted syntax, keeping for each timed group the side active at ``step``."""
    out = []
    for node in nodes:
        if isinstance(node, str):
            out.append(_escape(node, depth))
        elif isinstance(node, _Weighted):
            inner = _render(node.children, step, steps, depth + 1)
            if node.explicit:
                out.append(f"({inner}:{node.weight!r})")
            else:
                out.append(f"({inner})" if node.weight > 1 else f"[{inner}]")
        else:
            chosen = node.before if step <= _step_of(node.when, steps) else node.after
            out.append(_render(chosen, step, steps, depth))
    return "".join(out)


def parse_weights(text: str) -> list[Fragment]:
    """Weighted fragments of a prompt without timed syntax; equal neighbours are merged.

    ``parse_weights("a (cat:1.3)") == [("a ", 1.0), ("cat", 1.3)]``; a plain prompt gives
    ``[(text, 1.0)]``. Use ``prompt_schedule`` first for prompts with ``[from:to:when]``.
    """
    fragments: list[Fragment] = []
    _flatten(text, parse(text), 1.0, fragments)
    merged: list[Fragment] = []
    for frag in fragments:
        if (merged and frag is not BREAK_FRAGMENT and merged[-1] is not BREAK_FRAGMENT
                and merged[-1].weight == frag.weight):
            merged[-1] = Fragment(merged[-1].text + frag.text, frag.weight)
        elif frag.text or frag is BREAK_FRAGMENT:
            merged.append(frag)
    return merged or [Fragment("", 1.0)]


def _flatten(text: str, nodes: tuple[_Node, ...], weight: float, out: list[Fragment]) -> None:
    for node in nodes:
        if isinstance(node, str):
            for k, piece in enumerate(_BREAK.split(node)):
                if k:
                    out.append(BREAK_FRAGMENT)
                out.append(Fragment(piece, weight))
        elif isinstance(node, _Weighted):
            _flatten(text, node.children, weight * node.weight, out)
        else:
            raise syntax_error(
                text, node.column - 1, "timed prompt found; resolve it with prompt_schedule(text, steps) first"
            )


def plain_text(text: str) -> str:
    """``text`` without syntax, for backends that read prompts as plain text (Bedrock, SD3, Flux).

    Weights are dropped and their words kept (``(red:1.3) kettle`` → ``red kettle``), escapes
    become their characters, ``BREAK`` becomes a comma, and a timed prompt keeps the side active
    at the last step (``[cat:dog:0.5]`` → ``dog``), which is what the finished image shows most.
    """
    nodes = parse(text)
    out = _plain(nodes)
    out = _BREAK.sub(", ", out)
    return re.sub(r"\s{2,}", " ", out).strip()


def _plain(nodes: tuple[_Node, ...]) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, str):
            parts.append(node)
        elif isinstance(node, _Weighted):
            parts.append(_plain(node.children))
        else:
            parts.append(_plain(node.after))
    return "".join(parts)


def plain_for_backend(prompt: str, negative_prompt: str, where: str) -> tuple[str, str, list[str]]:
    """(prompt, negative, notices): the prompts as plain text when either uses syntax.

    ``where`` names the model or backend for the notice, e.g. "stability.sd3-5-large-v1:0".
    Plain prompts come back unchanged with no notice.
    """
    changed = [text for text in (prompt, negative_prompt) if text and has_syntax(text)]
    if not changed:
        return prompt, negative_prompt, []
    notice = (f"{where} does not parse A1111 prompt syntax (weights such as (word:1.2), BREAK, [from:to:when]): "
              "it was converted to plain text, keeping the words")
    return (plain_text(prompt) if prompt else prompt,
            plain_text(negative_prompt) if negative_prompt else negative_prompt, [notice])
