"""A multimodal Claude judge: does an image realise the idea, and which of two images does it better?

    judge = get_judge("anthropic")            # or "bedrock" (Converse through boto3)
    judge.verdict(idea, png) -> Verdict       # reasoning, then score 0..1 and correct / incorrect
    judge.prefer(idea, png_a, png_b, rng) -> Preference   # faithful / aesthetic: "a" | "b" | "tie"

The image goes to the model as image content (base64 PNG for the Anthropic API, raw bytes that
boto3 base64-encodes for Converse), beside the idea fenced as data. The answer must be one JSON
object, validated with pydantic; a malformed answer is asked again (`attempts` in all), then
raises `JudgeError`, which the eval runner records as an error row (it never ends a run).

Position bias: for a preference the pair is shown in an order drawn from the caller's `rng`
(seeded by the run, so a re-run shows the same order), and the model's "1" / "2" are mapped
back to "a" / "b", so a judge that always prefers the first image wins half for each side.

Transports are the Claude enhancers' own (enhancers/chat_base.py): `AnthropicEnhancer` (key
from core/settings, base_url, timeout, SDK retries) and `BedrockEnhancer` (core/aws.py's client
factory and error mapping); the judge builds its own request (`build_request`, pure) and sends
it through the enhancer's `send` inside its `errors()`, so a missing key or a throttled call
reads the same everywhere. The judge templates are files
(evaluation/templates/judge_*.txt), overridable in `$PROMPTRAG_HOME/templates/` like the
enhancer templates, through the same loader (enhancers/prompting.py).

Deliberately not here: choosing which pairs to judge, concurrency and storage (runner.py),
sampling parameters (newer Claude models reject them), tool use / JSON-schema output modes.
"""

from __future__ import annotations

import base64
import random
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import BackendError, InputError
from core.registry import Registry
from core.settings import resolve_secret
from core.spend import paid_call
from enhancers.claude_api import KEY_NAME, AnthropicEnhancer
from enhancers.claude_bedrock import BedrockEnhancer
from enhancers.llm_output import clean_llm_text, json_values
from enhancers.prompting import fence_text, render_template

SYSTEM_TEMPLATE = "judge_system.txt"
VERDICT_TEMPLATE = "judge_verdict.txt"
PREFER_TEMPLATE = "judge_prefer.txt"
TEMPLATE_NAMES: tuple[str, ...] = (SYSTEM_TEMPLATE, VERDICT_TEMPLATE, PREFER_TEMPLATE)
TEMPLATE_PACKAGE = "evaluation"

VERDICT_FORMAT = (
    'Answer with exactly one JSON object: {"reasoning": "what you checked and what you saw", '
    '"score": a number from 0 to 1, "correct": true or false}. Write "reasoning" first.'
)
PREFER_FORMAT = (
    'Answer with exactly one JSON object: {"reasoning": "how the two images differ", '
    '"faithful": "1" or "2" or "tie", "aesthetic": "1" or "2" or "tie"}. Write "reasoning" first.'
)
DEFAULT_ATTEMPTS = 3
MAX_OUTPUT_TOKENS = 1024
IMAGE_TOKENS = 1600  # what Claude counts for a ~1 megapixel image (width × height / 750), for estimates
MAX_IDEA_CHARS = 2_000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SNIPPET_CHARS = 160

Side = Literal["a", "b"]
Choice = Literal["a", "b", "tie"]
Part = str | bytes  # text, or the bytes of a PNG image
M = TypeVar("M", bound=BaseModel)


class JudgeError(BackendError):
    """The judge gave no usable answer (after its retries); the runner records it as an error row."""


class Verdict(BaseModel):
    """The judge's verdict on one image: reasoning first, then the figures."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reasoning: str = Field(min_length=1,
                           description="What the judge checked and saw, written before scoring.")
    score: float = Field(ge=0.0, le=1.0, description="Faithfulness to the idea, 0 (none) to 1 (all of it).")
    correct: bool = Field(description="False when any object, colour, count or relation is wrong or missing.")


class _ShownPreference(BaseModel):
    """The answer as the model gives it: images by the position they were shown in."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    reasoning: str = Field(min_length=1)
    faithful: Literal["1", "2", "tie"]
    aesthetic: Literal["1", "2", "tie"]

    @field_validator("faithful", "aesthetic", mode="before")
    @classmethod
    def _position(cls, value: Any) -> Any:
        # Models write 1, "1", "Image 1", "image_2" or "Tie" for the same thing.
        if isinstance(value, bool):
            return value  # rejected below: true/false is not a position
        text = str(value).strip().lower().replace("_", " ").removeprefix("image").strip()
        return text


class Preference(BaseModel):
    """Which of a pair's images the judge preferred, mapped back to the pair's own order."""

    reasoning: str = Field(description="How the judge saw the two images differ.")
    faithful: Choice = Field(description="Which image realises the idea better: 'a', 'b' or 'tie'.")
    aesthetic: Choice = Field(description="Which image is more aesthetically pleasing: 'a', 'b' or 'tie'.")
    shown_first: Side = Field(description="Which image of the pair the judge saw first.")

    def record(self, idea_id: str, a: str, b: str) -> dict[str, Any]:
        """The pairs.jsonl row for configurations `a` and `b` (choices as configuration names)."""
        names = {"a": a, "b": b, "tie": "tie"}
        return {"idea_id": idea_id, "a": a, "b": b, "shown_first": names[self.shown_first],
                "faithful": names[self.faithful], "aesthetic": names[self.aesthetic],
                "reasoning": self.reasoning}


def parse_answer(text: str, schema: type[M]) -> M:
    """The last JSON object in `text` that validates as `schema`; ValueError saying why if none."""
    problem = "no JSON object in the answer"
    found = None
    for value in json_values(clean_llm_text(text)):  # a reasoning model's <think> block is not the answer
        if not isinstance(value, dict):
            continue
        try:
            found = schema.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "answer"
            problem = f"{where}: {first['msg']}"
    if found is None:
        snippet = " ".join(text.split())[:_SNIPPET_CHARS]
        raise ValueError(f"{problem} (answer began: {snippet!r})")
    return found


def check_png(png: bytes, what: str = "png") -> bytes:
    if not isinstance(png, bytes) or not png.startswith(PNG_SIGNATURE):
        raise InputError(f"{what} must be the bytes of a PNG image (got {type(png).__name__} "
                         f"starting {bytes(png[:8]) if isinstance(png, (bytes, bytearray)) else ''!r})")
    return png


def check_idea(idea: str) -> str:
    if not isinstance(idea, str) or not idea.strip():
        raise InputError("idea must be non-empty text for the judge")
    if len(idea) > MAX_IDEA_CHARS:
        raise InputError(f"idea must be at most {MAX_IDEA_CHARS} characters for the judge, got {len(idea)}")
    return idea.strip()


def render(name: str, idea: str = "", output_format: str = "") -> str:
    """Judge template `name` (the user's override if any), filled with the fenced idea."""
    values = {} if name == SYSTEM_TEMPLATE else {"idea": fence_text(idea), "output_format": output_format}
    return render_template(name, values, package=TEMPLATE_PACKAGE, names=TEMPLATE_NAMES)


class Judge(ABC):
    """A multimodal model asked for verdicts and preferences; subclasses are one transport each."""

    name: ClassVar[str]
    _api: Any  # the transport: a ChatEnhancer (build_request is ours, send / errors are its)

    def __init__(self, model: str, attempts: int = DEFAULT_ATTEMPTS) -> None:
        if attempts < 1:
            raise InputError(f"attempts must be at least 1, got {attempts}")
        self.model = model
        self.attempts = attempts
        self._calls = 0
        self._lock = threading.Lock()  # one judge serves the runner's worker threads

    @property
    def calls(self) -> int:
        """Requests sent so far (retries included): the cost summary's `judge_calls`."""
        return self._calls

    @abstractmethod
    def build_request(self, system: str, parts: Sequence[Part]) -> dict[str, Any]:
        """The transport's request for `system` and the user turn `parts` (pure: no I/O)."""

    def send(self, request: dict[str, Any]) -> str:
        """Send `request` through the transport (an enhancer's `send`); the model's answer text.
        A paid call: core/spend.py checks the caps first and logs its tokens and images."""
        blocks = request["messages"][-1]["content"]
        images = sum(1 for b in blocks if b.get("type") == "image" or "image" in b)
        text = sum(len(str(b.get("text", ""))) for b in blocks) + len(str(request.get("system", "")))
        with paid_call(f"judge:{self.name}", self.model, input_estimate=text // 3 + IMAGE_TOKENS * images,
                       output_limit=MAX_OUTPUT_TOKENS) as meter:
            with self._api.errors():
                answer = self._api.send(request)
            meter.record(answer.input_tokens, answer.output_tokens, text_out=answer.text, images=images)
        return answer.text

    def verdict(self, idea: str, png: bytes) -> Verdict:
        """The judge's verdict on one image made for `idea`."""
        idea, png = check_idea(idea), check_png(png)
        user = render(VERDICT_TEMPLATE, idea, VERDICT_FORMAT)
        return self._ask([png, user], Verdict)

    def prefer(self, idea: str, png_a: bytes, png_b: bytes, rng: random.Random) -> Preference:
        """Which of images a and b realises `idea` better, and which is nicer. The pair is shown
        in an order drawn from `rng`; the answer comes back in terms of a and b."""
        idea = check_idea(idea)
        check_png(png_a, "png_a"), check_png(png_b, "png_b")
        shown_first: Side = "a" if rng.random() < 0.5 else "b"
        first, second = (png_a, png_b) if shown_first == "a" else (png_b, png_a)
        user = render(PREFER_TEMPLATE, idea, PREFER_FORMAT)
        shown = self._ask(["Image 1:", first, "Image 2:", second, user], _ShownPreference)
        back = {"1": shown_first, "2": "b" if shown_first == "a" else "a", "tie": "tie"}
        return Preference(reasoning=shown.reasoning, faithful=back[shown.faithful],
                          aesthetic=back[shown.aesthetic], shown_first=shown_first)

    def _ask(self, parts: Sequence[Part], schema: type[M]) -> M:
        request = self.build_request(render(SYSTEM_TEMPLATE), parts)
        problem = ""
        for _ in range(self.attempts):
            with self._lock:
                self._calls += 1
            try:
                return parse_answer(self.send(request), schema)
            except ValueError as exc:  # a malformed answer: ask again
                problem = str(exc)
        raise JudgeError(
            f"the {self.name} judge ({self.model}) gave no valid answer in {self.attempts} attempts: "
            f"{problem}; check the judge templates in the templates folder of PROMPTRAG_HOME, "
            "or use another judge model"
        )


class AnthropicJudge(Judge):
    """Claude through the Anthropic Messages API; images as base64 image content blocks."""

    name = "anthropic"

    def __init__(self, model: str | None = None, client: Any = None, base_url: str | None = None,
                 timeout: float | None = None, max_retries: int | None = None,
                 attempts: int = DEFAULT_ATTEMPTS) -> None:

        if client is None:  # fail now, naming the judge, rather than at the first idea
            resolve_secret(KEY_NAME, purpose="the anthropic judge")
        self._api = AnthropicEnhancer(model=model, client=client, base_url=base_url, timeout=timeout,
                                      max_retries=max_retries)
        super().__init__(self._api.model, attempts)

    def __repr__(self) -> str:
        return f"AnthropicJudge(model={self.model!r}, base_url={self._api.base_url!r})"

    def build_request(self, system: str, parts: Sequence[Part]) -> dict[str, Any]:
        content = []
        for part in parts:
            if isinstance(part, bytes):
                data = base64.b64encode(part).decode("ascii")
                content.append({"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                            "data": data}})
            else:
                content.append({"type": "text", "text": part})
        return {"model": self.model, "max_tokens": MAX_OUTPUT_TOKENS, "system": system,
                "messages": [{"role": "user", "content": content}]}


class BedrockJudge(Judge):
    """Claude on Amazon Bedrock through the Converse API; images as PNG image blocks."""

    name = "bedrock"

    def __init__(self, model: str | None = None, client: Any = None, region: str | None = None,
                 endpoint_url: str | None = None, profile: str | None = None, timeout: float | None = None,
                 max_retries: int | None = None, attempts: int = DEFAULT_ATTEMPTS) -> None:
        self._api = BedrockEnhancer(model=model, client=client, region=region, endpoint_url=endpoint_url,
                                    profile=profile, timeout=timeout, max_retries=max_retries)
        super().__init__(self._api.model, attempts)

    def __repr__(self) -> str:
        return f"BedrockJudge(model={self.model!r}, region={self._api.region!r})"

    def build_request(self, system: str, parts: Sequence[Part]) -> dict[str, Any]:
        content = [{"image": {"format": "png", "source": {"bytes": part}}} if isinstance(part, bytes)
                   else {"text": part} for part in parts]
        return {"modelId": self.model, "system": [{"text": system}],
                "messages": [{"role": "user", "content": content}],
                "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS}}


judges: Registry[Judge] = Registry("judge")
judges.register("anthropic", AnthropicJudge)
judges.register("bedrock", BedrockJudge)


def get_judge(name: str, **options: Any) -> Judge:
    """The judge `name` ("anthropic" or "bedrock"); unknown names fail with the known list."""
    return judges.get(name, **options)


__all__ = ["AnthropicJudge", "BedrockJudge", "Judge", "JudgeError", "Preference", "Verdict", "get_judge",
           "judges", "parse_answer"]
