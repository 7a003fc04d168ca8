"""Tolerant extraction and pydantic validation of an LLM's prompt JSON.

Models are asked for `{"prompt": ..., "negative_prompt": ..., "rationale": ...}` (or a JSON
array of such objects), but real output wanders: ```json fences, a sentence of prose first,
trailing junk, several objects one after another, or a wrapper like `{"candidates": [...]}`.
`parse_llm_output` scans the text for JSON values, keeps the objects that validate as
`LLMPrompt`, and returns them as `Candidate`s. Only the validated fields ever leave this module,
so whatever else the model wrote (e.g. an echoed system prompt) never reaches a result.

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

MAX_PROMPT_CHARS = 4_000
MAX_SCAN_CHARS = 50_000  # ~12k tokens: well above any max_tokens we ask for
# Where a prompt object (or a list of them) can start: `{"` or `[{`, whitespace allowed.
_OPENERS = re.compile(r'\{\s*"|\[\s*\{')
_WRAPPER_KEYS = ("candidates", "prompts", "results", "items")
_SNIPPET_CHARS = 200


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


def _json_values(text: str) -> list[Any]:
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
    for value in _json_values(text or ""):
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
    from enhancers.rules import resolve_style

    return resolve_style(request)[0]
