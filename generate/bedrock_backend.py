"""Image generation with Stability models on Amazon Bedrock (boto3 ``bedrock-runtime`` InvokeModel).

`BedrockImageBackend(model=...)` checks a request against the model's capabilities
(`generate.bedrock_schemas.MODELS`) before anything is sent, invokes the model once per image
(seeds seed, seed+1, ...: Bedrock's Stability models make one image per call), decodes the PNGs
and reports what the model actually used. Retries on throttling / 5xx are botocore's own
("standard" mode, exponential backoff with jitter, `settings.max_retries` retries).

The client comes from `core.aws.bedrock_client` (region and credentials from the standard AWS
configuration: AWS_REGION / AWS_PROFILE / ~/.aws / instance roles), created on first use or
injected, never at import; AWS errors become one clear line through `core.aws.aws_errors`,
the same factory and mapping the Bedrock text enhancer uses.
Deliberately not here: request bodies (pure, in `bedrock_schemas`), saving files (`output`).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import time
from collections.abc import Callable
from typing import Any

from core.aws import BedrockCall, aws_errors, bedrock_client, client_region
from core.errors import BackendError, InputError
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import Settings, get_settings
from core.spend import paid_call
from core.status import aws_status, importable
from generate import bedrock_schemas as schemas
from generate.base import ImageBackend, ImageRequest, ImageResult
from generate.prompt_syntax import plain_for_backend


class BedrockImageBackend(ImageBackend):
    """Stability text-to-image models on Bedrock: SDXL 1.0, SD3.5 Large, Stable Image Core/Ultra."""

    name = "bedrock"
    supports_negative_prompt = True  # every model in the table does; the spec says per model
    supports_prompt_syntax = False  # weights like (word:1.2) are converted to plain text, with a notice

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        if not importable("boto3"):
            return False, "install boto3: pip install 'promptrag[generate]'"
        ready, detail = aws_status()
        return ready, f"{settings.bedrock_image_model} ({detail})" if ready else detail

    def __init__(self, model: str | None = None, *, region: str | None = None, profile: str | None = None,
                 endpoint_url: str | None = None, client: Any = None,
                 before_load: Callable[[], None] | None = None, style_preset: str | None = None) -> None:
        super().__init__(before_load=before_load)  # nothing is loaded locally, so it is never called
        settings = get_settings()
        self.model = model or settings.bedrock_image_model
        self.spec = schemas.model_spec(self.model)
        self.allowed_sizes = self.spec.sizes  # per model, read by ImageBackend.check_request
        self.default_size = self.spec.default_size  # per model (ImageBackend.default_size)
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url or settings.bedrock_endpoint_url
        self.style_preset = style_preset
        self._client = client
        self._timeout_s = settings.request_timeout_s
        self._max_retries = settings.max_retries

    def __repr__(self) -> str:
        return f"BedrockImageBackend(model={self.model!r}, region={self.region!r})"

    def check_request(self, request: ImageRequest) -> None:
        super().check_request(request)
        schemas.check_request(self.spec, request, style_preset=self.style_preset)

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ImageResult:
        # 1. check inputs (nothing is sent when this fails); A1111 syntax reaches these models as
        # literal text, so it becomes plain text first and the result's notices say so
        prompt, negative, notices = plain_for_backend(request.prompt, request.negative_prompt, self.spec.label)
        if notices:
            request = request.model_copy(update={"prompt": prompt, "negative_prompt": negative})
        self.check_request(request)
        first_seed = request.seed if request.seed is not None else self._random_seed()
        # 2. one InvokeModel call per image; progress and cancellation between images
        started = time.perf_counter()
        watch = Stopwatch("generate", on_progress)
        encoded: list[tuple[str, int]] = []
        for index in range(request.num_images):
            if cancel is not None:
                cancel.raise_if_cancelled("image generation", f"stopped after {index} of {request.num_images} "
                                          "images; nothing was saved")
            seed = first_seed + index
            body = schemas.build_request(self.model, request, seed, style_preset=self.style_preset)
            encoded.extend(schemas.parse_response(self.model, self._invoke(body), seed))
            watch.report(index + 1, request.num_images, f"image {index + 1} of {request.num_images}")
        invoke_s = time.perf_counter() - started
        # 3. decode and report what the model used
        images = [_decode_image(data, self.model) for data, _ in encoded]
        params = schemas.used_parameters(self.spec, request, style_preset=self.style_preset)
        params.update(backend=self.name, region=self._region_name(), width=images[0].width,
                      height=images[0].height, num_images=len(images))
        if notices:
            params["notices"] = notices
        timings = {"invoke_s": invoke_s, "total_s": time.perf_counter() - started}
        return ImageResult(images=images, parameters=params, seeds=[s for _, s in encoded], timings=timings)

    def _random_seed(self) -> int:
        import secrets

        return secrets.randbelow(self.spec.max_seed - 8)  # room for seed+1.. with num_images <= 8

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        client = self._get_client()  # its region is the one error messages name
        # a paid call: the spend caps are checked first, and the image goes in the audit log (core/spend.py)
        with paid_call("image", self.model, images=1) as meter, self._aws_errors():
            response = client.invoke_model(modelId=self.model, body=json.dumps(body),
                                           contentType="application/json", accept="application/json")
            raw = response["body"].read()
            meter.record(0, 0, images=1)
        try:
            payload = json.loads(raw)
        except ValueError:
            raise BackendError(f"Bedrock answered {self.model} with a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise BackendError(f"Bedrock answered {self.model} with JSON that is not an object")
        return payload

    def _aws_errors(self) -> Any:
        return aws_errors(BedrockCall(
            model=self.model, region=self._region_name(), timeout_s=self._timeout_s, max_retries=self._max_retries,
            model_setting="PROMPTRAG_BEDROCK_IMAGE_MODEL", invalid_request=InputError, asks_for="fewer images",
        ))

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = bedrock_client(region=self.region, profile=self.profile, endpoint_url=self.endpoint_url,
                                          timeout_s=self._timeout_s, max_retries=self._max_retries, extra="generate")
        return self._client

    def _region_name(self) -> str | None:
        return client_region(self._client, self.region)


def _decode_image(data: str, model_id: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
    except (binascii.Error, ValueError, TypeError, UnidentifiedImageError, OSError):
        raise BackendError(f"{model_id} returned an image that cannot be decoded (bad base64 / PNG)") from None
    return image
