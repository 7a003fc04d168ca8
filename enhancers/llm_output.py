"""Tolerant extraction and pydantic validation of an LLM's prompt JSON.

Models are asked for `{"prompt": ..., "negative_prompt": ..., "rationale": ...}` (or a JSON
array of such objects), but real output wanders: ```json fences, a sentence of prose first,
trailing junk, several objects one after another, or a wrapper like `{"candidates": [...]}`.
`parse_llm_output` scans the text for JSON values, keeps the objects that validate as
`LLMPrompt`, and returns them as `Candidate`s. Only the validated fields ever leave this module,
so whatever else the model wrote (e.g. an echoed system prompt) never reaches a result.

Before any scan `clean_llm_text` strips what reasoning and chatty models wrap an answer in:
`<think>…</think>` blocks (also `<thinking>` / `<reasoning>`); an answer whose chat template
opened the block itself, so the text holds only the closing `</think>` (everything before it is
reasoning); an unclosed `<think>` at the start (the reasoning runs up to the first line that
opens the JSON answer or a code fence; with none, the whole answer was reasoning and the error
says so); code fence lines; and a preamble line ("Sure! Here is your prompt:"). Drafts a model
wrote while thinking are therefore never mistaken for its answer.

Deliberately not here: repairing truncated JSON, guessing a prompt from free prose (the chain
falls back to another enhancer instead), or any token-budget policy.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import BackendError
from enhancers.base import STYLES, Candidate, EnhanceRequest
from enhancers.rules import choose_style

MAX_PROMPT_CHARS = 4_000
MAX_SCAN_CHARS = 50_000  # ~12k tokens: well above any max_tokens we ask for
# Where a prompt object (or a list of them) can start: `{"` or `[{`, whitespace allowed.
_OPENERS = re.compile(r'\{\s*"|\[\s*\{')
_WRAPPER_KEYS = ("candidates", "prompts", "results", "items")
_SNIPPET_CHARS = 200


_THINK_TAGS = r"(?:think|thinking|reasoning)"
_THINK_BLOCK = re.compile(rf"<({_THINK_TAGS})>.*?</\1\s*>", re.S | re.I)
_ORPHAN_CLOSE = re.compile(rf"\A.*</{_THINK_TAGS}\s*>", re.S | re.I)
_UNCLOSED_OPEN = re.compile(rf"\A\s*<{_THINK_TAGS}>", re.I)
_ANSWER_LINE = re.compile(r"^[ \t]*(?:[\[{]|```)", re.M)
_FENCE_LINE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$\n?", re.M)
# A chatty first line before the answer: "Sure! Here is your prompt:", "Here's the JSON:", "Okay."
_PREAMBLE = re.compile(
    r"\A\s*(?:(?:sure|okay|ok|certainly|of course|absolutely|great|alright)\b[^\n{\[]*|"
    r"here(?:'s| is| are)\b[^\n{\[]*|[^\n{\[]*:)[ \t]*(?:\n|(?=[{\[]))",
    re.I,
)


def clean_llm_text(text: str) -> str:
    """`text` without reasoning blocks, code fences and a chatty preamble line (see the module doc).

    Returns "" when everything was reasoning (an unclosed `<think>` with no answer after it).
    """
    text = (text or "")[:MAX_SCAN_CHARS]
    text = _THINK_BLOCK.sub("", text)
    # The chat template opened <think> itself: only the closing tag is in the answer.
    text = _ORPHAN_CLOSE.sub("", text, count=1)
    if _UNCLOSED_OPEN.match(text):
        # Reasoning that never closed: the answer (if any) starts at the first JSON or fence line.
        found = _ANSWER_LINE.search(text, _UNCLOSED_OPEN.match(text).end())
        text = text[found.start():] if found else ""
    text = _FENCE_LINE.sub("", text)
    text = _PREAMBLE.sub("", text, count=1)
    return text.strip()


def unclosed_reasoning(text: str) -> bool:
    """True when `text` opens a `<think>` block it never closes and no answer follows it."""
    text = _THINK_BLOCK.sub("", text or "")
    return bool(_UNCLOSED_OPEN.match(text)) and not clean_llm_text(text)


class LLMPrompt(BaseModel):
    """One prompt as an LLM returns it; unknown keys are ignored, the prompt must have text."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    prompt: str = Field(description="The positive text-to-image prompt.")
    negative_prompt: str = Field("", description="What the image should avoid.")
    rationale: str = Field("", description="Why the model chose these words (shown to the user).")
    style: str = Field("", description="The style the model chose when asked to pick one ('' if none).")

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value:
            raise ValueError("prompt must not be empty")
        if len(value) > MAX_PROMPT_CHARS:
            raise ValueError(f"prompt must be at most {MAX_PROMPT_CHARS} characters, got {len(value)}")
        return value

    @field_validator("negative_prompt", "rationale", mode="before")
    @classmethod
    def _join_lists(cls, value: Any) -> Any:
        # Models sometimes answer a list of negative terms instead of one comma-separated string.
        if value is None:
            return ""
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return ", ".join(item.strip() for item in value if item.strip())
        return value

    @field_validator("style", mode="before")
    @classmethod
    def _known_style_or_empty(cls, value: Any) -> str:
        # Only a concrete style of ours is kept; anything else means "the model did not say".
        text = value.strip().lower() if isinstance(value, str) else ""
        return text if text in STYLES and text != "auto" else ""

    def to_candidate(self) -> Candidate:
        return Candidate(prompt=self.prompt, negative_prompt=self.negative_prompt, rationale=self.rationale)


def json_values(text: str) -> list[Any]:
    """Every top-level JSON object or array embedded in `text`, in order.

    Only the first MAX_SCAN_CHARS are read, and a value nested deeper than Python's recursion
    limit ends the scan: model output is untrusted and must not cost quadratic time or crash.
    """
    decoder = json.JSONDecoder()
    values: list[Any] = []
    text = text[:MAX_SCAN_CHARS]
    pos = 0
    while (found := _OPENERS.search(text, pos)) is not None:
        start = found.start()
        try:
            # Decoding a slice, not (text, start): a failed decode reports its line number by
            # counting newlines from the start of what it was given, which made hostile output
            # with many false starts quadratic.
            value, length = decoder.raw_decode(text[start:])
        except json.JSONDecodeError:
            pos = start + 1  # not JSON here (prose bracket, truncated value): look further on
            continue
        except RecursionError:
            break  # absurdly deep nesting: keep what was found before it
        values.append(value)
        pos = start + length
    return values


def _prompt_objects(value: Any) -> list[Any]:
    """Flatten a decoded value into the objects that might be prompts."""
    if isinstance(value, list):
        return [item for item in value if isinstance(item, dict)]
    if isinstance(value, dict):
        for key in _WRAPPER_KEYS:
            if isinstance(value.get(key), list) and "prompt" not in value:
                return [item for item in value[key] if isinstance(item, dict)]
        return [value]
    return []


def parse_llm_output(text: str, n: int = 1) -> list[Candidate]:
    """Up to `n` validated candidates from model output `text`, in the order written.

    Raises BackendError("model output had no valid prompt JSON: ...") when nothing validates.
    Fewer than `n` valid candidates is not an error: the caller gets what the model produced.
    """
    return [prompt.to_candidate() for prompt in parse_llm_prompts(text, n)]


def parse_llm_prompts(text: str, n: int = 1) -> list[LLMPrompt]:
    """Like `parse_llm_output`, but the validated `LLMPrompt`s (with the style the model chose)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    candidates: list[LLMPrompt] = []
    problems: list[str] = []
    if unclosed_reasoning(text):
        raise BackendError(
            "model output was all reasoning (<think> never closed, no answer after it); "
            "give the model more output tokens or turn its thinking off"
        )
    for value in json_values(clean_llm_text(text)):
        for obj in _prompt_objects(value):
            try:
                candidates.append(LLMPrompt.model_validate(obj))
            except ValidationError as exc:
                problems.append("; ".join(err["msg"] for err in exc.errors()))
    if not candidates:
        snippet = " ".join((text or "").split())[:_SNIPPET_CHARS]
        why = f" ({problems[0]})" if problems else ""
        raise BackendError(f"model output had no valid prompt JSON{why}: {snippet!r}")
    return candidates[:n]


_CUT_OFF = {"max_tokens", "length"}  # Anthropic / Bedrock say max_tokens, OpenAI-style runtimes length
_DECLINED = {"refusal", "content_filtered", "guardrail_intervened"}


def parse_with_stop_reason(text: str, n: int, stop_reason: str | None, model: str) -> list[LLMPrompt]:
    """`parse_llm_prompts`, whose error says why when the model stopped early or refused."""
    try:
        return parse_llm_prompts(text, n)
    except BackendError as exc:
        if stop_reason in _CUT_OFF:
            raise BackendError(
                f"{exc} (the answer of {model} was cut off at its output token limit)"
            ) from None
        if stop_reason in _DECLINED:
            raise BackendError(
                f"{model} declined to write this prompt (stop reason {stop_reason}): {exc}"
            ) from None
        raise


def result_style(request: EnhanceRequest, prompts: list[LLMPrompt]) -> str:
    """The concrete style to report: the requested one; for "auto" the one the model says it
    chose, else the rule-based detection (idea, previous prompt, examples, default)."""
    if request.style != "auto":
        return request.style
    if prompts and prompts[0].style:
        return prompts[0].style

    return choose_style(request)[0]
