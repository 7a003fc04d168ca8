"""Pure request/response code for Stability models on Amazon Bedrock (InvokeModel bodies).

Two wire families exist:
- ``stability.stable-diffusion-xl-v1`` (the v1 "generation" API): ``text_prompts`` with weights
  (a negative prompt is a prompt of weight -1), ``cfg_scale``, ``steps``, ``sampler``, ``seed``,
  ``style_preset``, exact ``width``/``height`` pairs; it answers ``artifacts[{base64, seed,
  finishReason}]``.
- the 2024 models (SD3.5 Large, Stable Image Core, Stable Image Ultra): ``prompt``,
  ``negative_prompt``, ``aspect_ratio``, ``seed``, ``output_format``, ``mode``; they choose the
  pixel size themselves (about one megapixel), take no steps / CFG / sampler, and answer
  ``images[base64]``, ``seeds``, ``finish_reasons``. Seed 0 asks them for a random seed; the
  seed they report back is the one recorded.

What each model accepts lives in the ``MODELS`` table (data, not if-chains). Everything here is
pure: no boto3, no network, no Pillow; `generate.bedrock_backend` does the sending.
Deliberately not here: image-to-image, inpainting, the Stability platform API (non-Bedrock).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from core.errors import BackendError, InputError
from generate.base import ImageRequest

SDXL_SIZES = frozenset(
    {(1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640),
     (640, 1536), (768, 1344), (832, 1216), (896, 1152)}
)  # the only sizes Bedrock's SDXL 1.0 accepts (the 512 family belonged to the retired v0.x)
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
SDXL_SAMPLERS = (
    "DDIM", "DDPM", "K_DPMPP_2M", "K_DPMPP_2S_ANCESTRAL", "K_DPM_2", "K_DPM_2_ANCESTRAL",
    "K_EULER", "K_EULER_ANCESTRAL", "K_HEUN", "K_LMS",
)
# A1111 display names seen in DiffusionDB-era metadata, normalised (lower case, "_" separators).
_SAMPLER_ALIASES = {
    "euler_a": "K_EULER_ANCESTRAL", "euler": "K_EULER", "lms": "K_LMS", "heun": "K_HEUN",
    "dpm2": "K_DPM_2", "dpm2_a": "K_DPM_2_ANCESTRAL", "dpm++_2m": "K_DPMPP_2M",
    "dpm++_2s_a": "K_DPMPP_2S_ANCESTRAL", "k_dpm++_2m": "K_DPMPP_2M",
}
SDXL_STYLE_PRESETS = (
    "3d-model", "analog-film", "anime", "cinematic", "comic-book", "digital-art", "enhance",
    "fantasy-art", "isometric", "line-art", "low-poly", "modeling-compound", "neon-punk",
    "origami", "photographic", "pixel-art", "tile-texture",
)
_REGION_PREFIX = re.compile(r"^(us|eu|apac|us-gov|jp|au|global)\.")


@dataclass(frozen=True)
class ModelSpec:
    """What one Bedrock Stability model accepts and honours."""

    model_id: str
    family: str  # "sdxl" (text_prompts / artifacts) or "stable-image" (prompt / images)
    label: str
    supports_negative_prompt: bool
    honours_steps: bool
    honours_guidance: bool
    honours_sampler: bool
    supports_style_preset: bool
    sizes: frozenset[tuple[int, int]] | None  # exact pixel sizes, or None: aspect ratio only
    default_size: tuple[int, int]
    max_prompt_chars: int
    max_seed: int
    steps_range: tuple[int, int] | None = None


MODELS: dict[str, ModelSpec] = {
    spec.model_id: spec
    for spec in (
        ModelSpec("stability.stable-diffusion-xl-v1", "sdxl", "SDXL 1.0", True, True, True, True,
                  True, SDXL_SIZES, (1024, 1024), 2000, 4294967295, (10, 50)),
        ModelSpec("stability.sd3-5-large-v1:0", "stable-image", "SD3.5 Large", True, False, False,
                  False, False, None, (1024, 1024), 10000, 4294967294),
        ModelSpec("stability.stable-image-core-v1:1", "stable-image", "Stable Image Core", True,
                  False, False, False, False, None, (1024, 1024), 10000, 4294967295),
        ModelSpec("stability.stable-image-ultra-v1:1", "stable-image", "Stable Image Ultra", True,
                  False, False, False, False, None, (1024, 1024), 10000, 4294967294),
    )
}


def model_spec(model_id: str) -> ModelSpec:
    """The spec of `model_id` (a cross-region prefix such as ``us.`` is allowed)."""
    spec = MODELS.get(_REGION_PREFIX.sub("", model_id.strip()))
    if spec is None:
        known = ", ".join(MODELS)
        raise InputError(f"model {model_id!r} is not a Bedrock Stability text-to-image model we know; "
                         f"use one of: {known}")
    return spec


def aspect_ratio(width: int, height: int) -> str:
    """The accepted ratio equal to width:height exactly (21:9 is 7:3 reduced, so compare products)."""
    for ratio in ASPECT_RATIOS:
        w, h = (int(part) for part in ratio.split(":"))
        if width * h == height * w:
            return ratio
    divisor = math.gcd(width, height)
    ratio = f"{width // divisor}:{height // divisor}"
    raise InputError(
        f"size {width}x{height} has aspect ratio {ratio}, which these Bedrock models do not accept; "
        f"pick width/height with one of: {', '.join(ASPECT_RATIOS)} (e.g. 1024x1024, 1024x576 is 16:9, "
        "1344x768 is 7:4 and not allowed)"
    )


def sdxl_sampler(name: str) -> str:
    """Map a DiffusionDB / A1111 sampler name (k_euler_ancestral, 'Euler a') to Bedrock's enum."""
    key = re.sub(r"[\s\-]+", "_", name.strip().lower())
    if key.upper() in SDXL_SAMPLERS:
        return key.upper()
    if f"K_{key.upper()}" in SDXL_SAMPLERS:
        return f"K_{key.upper()}"
    if key in _SAMPLER_ALIASES:
        return _SAMPLER_ALIASES[key]
    raise InputError(f"sampler {name!r} is not available on Bedrock SDXL; use one of: {', '.join(SDXL_SAMPLERS)}")


def check_request(spec: ModelSpec, request: ImageRequest, *, style_preset: str | None = None) -> None:
    """Every check that can fail before a request is sent (sizes are checked by the backend)."""
    for field, text in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        if len(text) > spec.max_prompt_chars:
            raise InputError(f"{field} has {len(text)} characters; {spec.label} accepts at most "
                             f"{spec.max_prompt_chars}: shorten it")
    if request.negative_prompt and not spec.supports_negative_prompt:
        others = ", ".join(m for m, s in MODELS.items() if s.supports_negative_prompt)
        raise InputError(f"{spec.model_id} takes no negative prompt; drop it or use one of: {others}")
    if spec.steps_range and not spec.steps_range[0] <= request.steps <= spec.steps_range[1]:
        low, high = spec.steps_range
        raise InputError(f"steps must be between {low} and {high} for {spec.model_id}, got {request.steps}")
    if spec.honours_sampler and request.sampler:
        sdxl_sampler(request.sampler)
    if style_preset is not None:
        if not spec.supports_style_preset:
            raise InputError(f"style_preset is only accepted by stability.stable-diffusion-xl-v1, "
                             f"not {spec.model_id}")
        if style_preset not in SDXL_STYLE_PRESETS:
            raise InputError(f"style_preset {style_preset!r} is unknown; use one of: "
                             f"{', '.join(SDXL_STYLE_PRESETS)}")
    if spec.sizes is None:
        aspect_ratio(request.width, request.height)
    last_seed = (request.seed or 0) + request.num_images - 1
    if request.seed is not None and last_seed > spec.max_seed:
        raise InputError(f"seed {request.seed} with {request.num_images} images goes past {spec.max_seed}, "
                         f"the largest seed {spec.model_id} accepts; pick a smaller seed")


def build_request(model_id: str, request: ImageRequest, seed: int, *,
                  style_preset: str | None = None) -> dict[str, Any]:
    """The InvokeModel JSON body for one image of `request` with `seed` (pure; no I/O)."""
    spec = model_spec(model_id)
    check_request(spec, request, style_preset=style_preset)
    if spec.family == "sdxl":
        prompts = [{"text": request.prompt, "weight": 1.0}]
        if request.negative_prompt:
            prompts.append({"text": request.negative_prompt, "weight": -1.0})
        body: dict[str, Any] = {
            "text_prompts": prompts, "cfg_scale": request.guidance, "seed": seed,
            "steps": request.steps, "width": request.width, "height": request.height, "samples": 1,
        }
        if request.sampler:
            body["sampler"] = sdxl_sampler(request.sampler)
        if style_preset:
            body["style_preset"] = style_preset
        return body
    body = {
        "prompt": request.prompt, "mode": "text-to-image",
        "aspect_ratio": aspect_ratio(request.width, request.height),
        "seed": seed, "output_format": "png",
    }
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    return body


def parse_response(model_id: str, payload: dict[str, Any], seed: int) -> list[tuple[str, int]]:
    """(base64 PNG, seed) pairs from a response body; filtered / failed generations raise."""
    spec = model_spec(model_id)
    if spec.family == "sdxl":
        pairs = []
        for artifact in payload.get("artifacts") or []:
            reason = artifact.get("finishReason")
            if reason == "CONTENT_FILTERED":
                raise BackendError(f"{model_id} filtered the content (finishReason CONTENT_FILTERED): "
                                   "rephrase the prompt")
            if reason not in (None, "SUCCESS"):
                raise BackendError(f"{model_id} failed to make the image (finishReason {reason})")
            pairs.append((artifact["base64"], int(artifact.get("seed", seed))))
    else:
        for reason in payload.get("finish_reasons") or []:
            if reason is None:
                continue
            if str(reason).startswith("Filter reason"):
                raise BackendError(f"{model_id} filtered the content ({reason}): rephrase the prompt "
                                   "or the negative prompt")
            raise BackendError(f"{model_id} failed to make the image ({reason}); try again")
        seeds = payload.get("seeds") or []
        pairs = [(image, int(seeds[i]) if i < len(seeds) else seed)
                 for i, image in enumerate(payload.get("images") or [])]
    if not pairs:
        raise BackendError(f"{model_id} answered without an image (keys: {', '.join(sorted(payload))})")
    return pairs


def used_parameters(spec: ModelSpec, request: ImageRequest, *, style_preset: str | None) -> dict[str, Any]:
    """What the model actually used (None: not taken by this model) plus the list it ignored."""
    ignored = [name for name, honoured, given in (
        ("steps", spec.honours_steps, True), ("cfg", spec.honours_guidance, True),
        ("sampler", spec.honours_sampler, bool(request.sampler)),
    ) if given and not honoured]
    params: dict[str, Any] = {
        "model": spec.model_id, "prompt": request.prompt, "negative_prompt": request.negative_prompt,
        "steps": request.steps if spec.honours_steps else None,
        "cfg": request.guidance if spec.honours_guidance else None,
        "sampler": sdxl_sampler(request.sampler) if spec.honours_sampler and request.sampler else None,
        "requested_size": f"{request.width}x{request.height}", "ignored": ignored,
    }
    if spec.sizes is None:
        params["aspect_ratio"] = aspect_ratio(request.width, request.height)
    if style_preset:
        params["style_preset"] = style_preset
    return params
