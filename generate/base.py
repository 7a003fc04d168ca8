"""The image-backend contract: one request model, one result dataclass, one base class.

A backend turns a prompt into images. Subclasses implement
`generate(request, *, on_progress=None, cancel=None)` and say whether they are usable here in
`status(settings)`; the base class supplies `check_request`
(size rules every backend shares plus the backend's own `allowed_sizes`), `resolve_seed` (a
random seed is always chosen here and reported), `default_size` (what a caller gets without a
size) and a no-op `release()`.

Deliberately not here: enhancers. A backend that loads a big model calls the `before_load`
hook it was given (the app / CLI wire the local LLM's `release()` into it), so this package
never imports `enhancers/`.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.errors import InputError
from core.progress import CancelToken, ProgressCallback
from core.settings import Settings

MAX_SEED = 2**32 - 1


class ImageRequest(BaseModel):
    """What to draw and how. Sizes must be multiples of 8; nothing is silently rounded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt: str = Field(description="The text prompt (A1111 weights and [from:to:when] allowed locally).")
    negative_prompt: str = Field("", description="What the image should not contain.")
    steps: int = Field(25, ge=1, le=150, description="Number of denoising steps.")
    guidance: float = Field(7.0, ge=0.0, le=30.0, description="Classifier-free guidance scale (CFG).")
    seed: int | None = Field(None, ge=0, le=MAX_SEED, description="Random seed; omitted means a random one (reported).")
    width: int = Field(512, ge=64, le=2048, description="Image width in pixels, a multiple of 8.")
    height: int = Field(512, ge=64, le=2048, description="Image height in pixels, a multiple of 8.")
    sampler: str | None = Field(None, description="Sampler / scheduler name (e.g. k_euler_ancestral, ddim).")
    num_images: int = Field(1, ge=1, le=8, description="How many images to make (seeds seed, seed+1, ...).")

    @field_validator("prompt")
    @classmethod
    def _prompt_has_text(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must contain some text, got an empty string")
        return value

    @field_validator("width", "height")
    @classmethod
    def _multiple_of_8(cls, value: int, info) -> int:
        if value % 8:
            raise ValueError(f"{info.field_name} must be a multiple of 8, got {value}")
        return value


@dataclass
class ImageResult:
    """Images plus the exact parameters that made them (seeds included) and timings."""

    images: list[Any]  # PIL.Image.Image
    parameters: dict[str, Any]
    seeds: list[int]
    timings: dict[str, float] = field(default_factory=dict)


class ImageBackend(ABC):
    """Base class of every image backend. Implement `generate`."""

    name: ClassVar[str] = "base"
    supports_negative_prompt: ClassVar[bool] = True
    supports_prompt_syntax: ClassVar[bool] = False  # A1111 weights / timed prompts
    # None means any multiple-of-8 size; otherwise the (width, height) pairs the model accepts.
    allowed_sizes: ClassVar[frozenset[tuple[int, int]] | None] = None

    # The size used when a caller gives neither width nor height (Bedrock: per model, set in __init__).
    default_size: tuple[int, int] = (512, 512)

    def __init__(self, *, before_load: Callable[[], None] | None = None) -> None:
        self.before_load = before_load

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        """(ready, detail): usable here and what it will use, or the setting that makes it so.

        Loads no model, calls no network, shows no secret (core/status.py has the probes).
        """
        return True, "add-on (no readiness check)"

    @abstractmethod
    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ImageResult:
        """Make `request.num_images` images, or raise a core.errors.PromptragError.

        `on_progress` gets Progress(stage="generate", done, total) as the work advances (steps
        for diffusers, images for remote backends); `cancel` raises core.errors.Cancelled at the
        next such point.
        """

    def release(self) -> None:  # noqa: B027 (an optional hook: a no-op unless overridden)
        """Free memory held by a loaded model (no-op for backends that hold none)."""

    def check_request(self, request: ImageRequest) -> None:
        sizes = self.allowed_sizes
        if sizes is not None and (request.width, request.height) not in sizes:
            listed = ", ".join(f"{w}x{h}" for w, h in sorted(sizes))
            raise InputError(
                f"{self.name} does not accept size {request.width}x{request.height}; allowed sizes: {listed}"
            )

    @staticmethod
    def resolve_seed(request: ImageRequest) -> int:
        return request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
