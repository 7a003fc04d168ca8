"""The enhancer contract: one request model, one result dataclass, one base class.

An enhancer turns a short idea (plus optional example prompts from the RAG step) into an
optimized text-to-image prompt and a negative prompt. Subclasses implement exactly one
method, `_enhance(request)` (build its answer with `make_result`); streaming ones may also
implement `_stream(request)`. The public `enhance()` / `stream()` wrap them in the policy every
answer keeps, so no subclass can skip it: candidates are conformed to the model family's
profile, kept to one look, and the user's blocklist is applied (`check_result`). The way
langchain-core's `BaseRetriever.invoke` wraps `_get_relevant_documents`.

Capabilities and readiness live on the class (`thread_safe`, `uses_network`, `status(settings)`),
not in side tables of names.

Deliberately not here: which enhancer to try first (see `chain.py`), how backends are found
(see `registry.py`), and any model or SDK import (those happen inside the subclasses, lazily).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from enhancers.blocklist import apply_blocklist
from enhancers.looks import Look, cohere_candidates
from enhancers.tokens import count_clip_tokens

if TYPE_CHECKING:
    from core.settings import Settings
    from enhancers.events import StreamEvent

# The one list of styles: everything else (the CLI help, the app, campaign briefs, the LLM output
# schema, the style tables of styles.py and prompting.py) reads it from here.
Style = Literal["auto", "photography", "artistic", "realistic", "cinematic", "coloring book"]
STYLES: tuple[Style, ...] = get_args(Style)
CONCRETE_STYLES: tuple[str, ...] = tuple(style for style in STYLES if style != "auto")  # what "auto" resolves to
# Image-model families, each with a prompt profile (enhancers/profiles.py): the form a prompt
# takes (tags, a sentence plus tags, prose), its budget, weight syntax and negative prompts.
# "other" is kept from older versions: a model with a T5 encoder, written for like "sd3".
ModelFamily = Literal["sd1", "sdxl", "sd3", "flux", "turbo", "other"]
MODEL_FAMILIES: tuple[str, ...] = get_args(ModelFamily)

# CLIP text encoders (SD 1.x, SDXL, the turbo / LCM distillations of both) see 77 tokens
# including the start and end tokens. T5 encoders read far more: SD3 / SD3.5 / Stable Image
# take 256 T5 tokens, Flux 512 (counted here with the CLIP BPE, a close stand-in for English).
TOKEN_BUDGET: dict[str, int] = {"sd1": 77, "sdxl": 77, "sd3": 256, "flux": 512, "turbo": 77, "other": 256}

MAX_IDEA_CHARS = 20_000
MAX_EXAMPLE_CHARS = 20_000


class Example(BaseModel):
    """A retrieved example prompt. Its text is untrusted data (it came from a public gallery)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(description="The example prompt text (untrusted; fenced before any LLM sees it).")
    score: float = Field(default=1.0, description="Similarity of the example to the idea (higher is closer).")
    count: int = Field(default=1, ge=1, description="How often the prompt occurred in the gallery.")
    id: int | None = Field(default=None, description="Row id of the example in the prompt index, if any.")

    @field_validator("text")
    @classmethod
    def _text_not_huge(cls, value: str) -> str:
        if len(value) > MAX_EXAMPLE_CHARS:
            raise ValueError(f"example text must be at most {MAX_EXAMPLE_CHARS} characters, got {len(value)}")
        return value


class EnhanceRequest(BaseModel):
    """What the user asks for. Validated at the boundary; nothing is silently clamped."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    idea: str = Field(description="The short idea to turn into a prompt, e.g. 'a frog dressed as a knight'.")
    style: Style = Field(default="auto", description="Visual style; 'auto' detects it from the idea's words.")
    creativity: float = Field(
        default=0.7, ge=0.0, le=1.0,
        description="0 keeps close to the idea, 1 adds the most descriptors (LLM temperature)."
    )
    examples: list[Example] = Field(
        default_factory=list, description="Example prompts (e.g. retrieved from the gallery) to draw style from."
    )
    n_candidates: int = Field(default=1, ge=1, le=8, description="How many candidate prompts to produce.")
    model_family: ModelFamily = Field(
        default="sdxl",
        description="Target image model family; sets the prompt's form and token budget (sd1: tags, 77 CLIP "
        "tokens; sdxl: a sentence plus a few tags; sd3/flux: prose, 256/512 T5 tokens; turbo: no negative prompt).",
    )
    previous_prompt: str | None = Field(default=None, description="For a refinement round: the prompt being revised.")
    feedback: str | None = Field(default=None, description="For a refinement round: what the user wants changed.")
    look: str | None = Field(
        default=None, description="The look to write for (a name in enhancers.looks.LOOKS: photograph, oil painting, "
        "watercolor, 3d render, anime, pixel art, ink drawing, ...); None decides it from the feedback, the idea, "
        "the style and the examples.")
    artist_media: dict[str, str] = Field(
        default_factory=dict, description="The medium family each credited artist goes with (lower-case name → "
        "family of enhancers.media), learned from the index's own prompts; artists not listed are neutral.")
    scene_phrases: list[str] = Field(
        default_factory=list, description="Phrases of the examples that the index knows as scene (subjects of "
        "other prompts, e.g. 'a beautiful terrace'): never copied in as modifiers.")
    artist_credits: bool = Field(
        default=True, description="Whether the prompt may credit artists ('by X'); campaigns turn this off unless the "
        "brief sets artist_credits: true.")
    context: str | None = Field(
        default=None, max_length=2_000,
        description="Who the picture is for and what it should say (a campaign's audience "
        "and message): shapes scene and mood, never copied in as a subject.")

    @field_validator("idea")
    @classmethod
    def _idea_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("idea must contain some text, got an empty string")
        if len(value) > MAX_IDEA_CHARS:
            raise ValueError(f"idea must be at most {MAX_IDEA_CHARS} characters, got {len(value)}")
        return value

    @model_validator(mode="after")
    def _feedback_needs_previous(self) -> "EnhanceRequest":
        if self.feedback and not self.previous_prompt:
            raise ValueError("feedback needs previous_prompt (the prompt being revised)")
        return self

    @property
    def token_budget(self) -> int:
        return TOKEN_BUDGET[self.model_family]


@dataclass(frozen=True)
class Candidate:
    prompt: str
    negative_prompt: str
    rationale: str = ""


@dataclass
class EnhanceResult:
    """What came back. `enhancer` says who answered; `fallback_reasons` why earlier ones did not."""

    prompt: str
    negative_prompt: str
    style: str
    enhancer: str
    candidates: list[Candidate]
    token_count: int
    token_budget: int
    rationale: str = ""
    fallback_reasons: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    # What the target model's profile changed or cannot honour (weights stripped, negative ignored).
    notices: list[str] = field(default_factory=list)
    # The one look (medium + style family) the prompt is written in, e.g. "photograph" (enhancers/looks.py).
    look: str = ""
    # Set once the result has been through `check_result` (profile, look, blocklist): a chain returns
    # its member's checked result as it is. Not part of `to_dict`.
    checked: bool = field(default=False, repr=False, compare=False)

    @property
    def used_fallback(self) -> bool:
        return bool(self.fallback_reasons)

    @property
    def within_budget(self) -> bool:
        return self.token_count <= self.token_budget

    def to_dict(self) -> dict:
        data = asdict(self)
        del data["checked"]
        data["used_fallback"] = self.used_fallback
        data["within_budget"] = self.within_budget
        return data


class Enhancer(ABC):
    """Base class of every enhancer. Implement `_enhance`; set the capability attributes."""

    name: ClassVar[str] = "base"
    supports_examples: ClassVar[bool] = True
    supports_streaming: ClassVar[bool] = False
    # Calls a service over the network (an API key or cloud credentials), holds no model in this process.
    uses_network: ClassVar[bool] = False
    # May serve several threads at once (pure Python, or a remote client); a local model takes turns.
    thread_safe: ClassVar[bool] = False

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        """(ready, detail): usable here and what it will use, or the setting that makes it so.

        Loads no model, calls no network, shows no secret (core/status.py has the probes).
        """
        return True, "add-on (no readiness check)"

    def enhance(self, request: EnhanceRequest) -> EnhanceResult:
        """An optimized prompt for `request`, or a core.errors.PromptragError.

        `_enhance` writes it; every answer then goes through `check_result` (profile, look, blocklist).
        """
        return check_result(request, self._enhance(request))

    @abstractmethod
    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        """Write the prompt for `request` (build it with `make_result`); `enhance` checks it."""

    def stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        """Yield typed events (enhancers/events.py) ending in one Finished.

        `_stream` produces them; the Finished result goes through `check_result` like `enhance`'s
        (the deltas before it are a preview).
        """
        from enhancers.events import Finished  # lazy: events imports this module (EnhanceResult)

        events = self._stream(request)
        try:
            for event in events:
                yield Finished(check_result(request, event.result)) if isinstance(event, Finished) else event
        finally:  # a stream left early (an error, a closed page) frees its connection now
            if isinstance(events, Generator):
                events.close()

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        """Default, for enhancers without native streaming: the finished prompt as one TextDelta,
        then Finished(result). Errors are raised before the first event, as `enhance` raises them.
        """
        from enhancers.events import Finished, TextDelta  # lazy: events imports this module (EnhanceResult)

        result = self.enhance(request)
        yield TextDelta(result.prompt)
        yield Finished(result)

    def release(self) -> None:  # noqa: B027 (an optional hook: a no-op unless overridden)
        """Free memory held by a loaded model (no-op for enhancers that hold none)."""

    def make_result(
        self,
        request: EnhanceRequest,
        candidates: list[Candidate],
        *,
        style: str,
        started: float,
        rationale: str = "",
        timings: dict[str, float] | None = None,
        look: Look | str | None = None,
        notices: list[str] | None = None,
    ) -> EnhanceResult:
        """The result of candidates (best first), with the time taken since `started`.

        `look`: the look the writer wrote for (None: `check_result` reads it off the best answer);
        `notices`: what the writer could not do. `enhance` checks the result afterwards.
        """
        if not candidates:
            raise ValueError("make_result needs at least one candidate")
        best = candidates[0]
        all_timings = dict(timings or {})
        all_timings["total_s"] = time.perf_counter() - started
        return EnhanceResult(
            prompt=best.prompt,
            negative_prompt=best.negative_prompt,
            style=style,
            enhancer=self.name,
            candidates=list(candidates),
            token_count=0,  # counted by check_result, on the prompt that is kept
            token_budget=request.token_budget,
            rationale=rationale or best.rationale,
            timings=all_timings,
            notices=list(notices or []),
            look=look if isinstance(look, str) else look.name if look is not None else "",
        )


def check_result(request: EnhanceRequest, result: EnhanceResult) -> EnhanceResult:
    """The policy every answer keeps (`Enhancer.enhance` / `stream` apply it; once per result).

    Candidates are first conformed to the request's model family (`profiles.conform`): weight
    syntax the family's models do not parse is stripped, and a negative prompt the family
    ignores is emptied. Then every candidate keeps to one look (`looks.cohere_candidates`: the
    writer's look, else the one the answer names): credits that fight it, or any credit when
    `artist_credits` is off, leave the prompt, and the negative stops banning what the prompt
    asks for. Then the user's blocklist (`blocklist.apply_blocklist`) removes blocked words and
    artist names from every candidate's prompt (the idea's own words are kept); what it removed
    is said in the rationale too. Every change is said in `notices`. The CLIP tokens of the kept
    prompt are counted last.
    """
    from enhancers.profiles import conform  # lazy: profiles imports this module (MODEL_FAMILIES)

    if result.checked:
        return result
    started = time.perf_counter()
    candidates, conformed = conform(result.candidates, request.model_family)
    candidates, look, repairs = cohere_candidates(candidates, request, result.look or None)
    candidates, blocked = apply_blocklist(candidates, request.idea)
    best = candidates[0]
    rationale = result.rationale
    if blocked:
        rationale = " ".join(filter(None, [rationale or best.rationale, f"({'; '.join(blocked)})"]))
    timings = dict(result.timings)
    timings["total_s"] = timings.get("total_s", 0.0) + time.perf_counter() - started
    return replace(
        result, prompt=best.prompt, negative_prompt=best.negative_prompt, candidates=list(candidates),
        token_count=count_clip_tokens(best.prompt), rationale=rationale, timings=timings, look=look.name,
        notices=list(dict.fromkeys([*conformed, *repairs, *blocked, *result.notices])), checked=True,
    )
