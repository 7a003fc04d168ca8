"""Image generation with Stability models on Amazon Bedrock (boto3 ``bedrock-runtime`` InvokeModel).

`BedrockImageBackend(model=...)` checks a request against the model's capabilities
(`generate.bedrock_schemas.MODELS`) before anything is sent, invokes the model once per image
(seeds seed, seed+1, ...: Bedrock's Stability models make one image per call), decodes the PNGs
and reports what the model actually used. Retries on throttling / 5xx are botocore's own
("standard" mode, exponential backoff with jitter, `settings.max_retries` retries).

Region and credentials come from the standard AWS configuration (AWS_REGION / AWS_PROFILE /
~/.aws / instance roles); the client is created on first use or injected, never at import.
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

from core.errors import BackendError, ConfigError, InputError, MissingCredentialError, PromptragError
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import get_settings
from generate import bedrock_schemas as schemas
from generate.base import ImageBackend, ImageRequest, ImageResult

_CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (plus AWS_SESSION_TOKEN for temporary keys), "
    "or AWS_PROFILE naming a profile in ~/.aws/credentials"
)


class BedrockImageBackend(ImageBackend):
    """Stability text-to-image models on Bedrock: SDXL 1.0, SD3.5 Large, Stable Image Core/Ultra."""

    name = "bedrock"
    supports_negative_prompt = True  # every model in the table does; the spec says per model
    supports_prompt_syntax = False  # weights like (word:1.2) reach the model as plain text

    def __init__(self, model: str | None = None, *, region: str | None = None,
                 endpoint_url: str | None = None, client: Any = None,
                 before_load: Callable[[], None] | None = None, style_preset: str | None = None) -> None:
        super().__init__(before_load=before_load)  # nothing is loaded locally, so it is never called
        settings = get_settings()
        self.model = model or settings.bedrock_image_model
        self.spec = schemas.model_spec(self.model)
        self.allowed_sizes = self.spec.sizes  # per model, read by ImageBackend.check_request
        self.default_size = self.spec.default_size  # per model (ImageBackend.default_size)
        self.region = region
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
        # 1. check inputs (nothing is sent when this fails)
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
        timings = {"invoke_s": invoke_s, "total_s": time.perf_counter() - started}
        return ImageResult(images=images, parameters=params, seeds=[s for _, s in encoded], timings=timings)

    def _random_seed(self) -> int:
        import secrets

        return secrets.randbelow(self.spec.max_seed - 8)  # room for seed+1.. with num_images <= 8

    def _invoke(self, body: dict[str, Any]) -> dict[str, Any]:
        client = self._get_client()
        try:
            response = client.invoke_model(modelId=self.model, body=json.dumps(body),
                                           contentType="application/json", accept="application/json")
            raw = response["body"].read()
        except Exception as exc:  # botocore errors become one message a user can act on
            _raise_translated(exc, self.model, self._region_name())
        try:
            payload = json.loads(raw)
        except ValueError:
            raise BackendError(f"Bedrock answered {self.model} with a body that is not JSON") from None
        if not isinstance(payload, dict):
            raise BackendError(f"Bedrock answered {self.model} with JSON that is not an object")
        return payload

    def _get_client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError as exc:
                raise BackendError(f"the bedrock backend needs boto3 ({exc}); "
                                   "install the extra: pip install 'promptrag[generate]'") from exc

            config = Config(
                retries={"max_attempts": self._max_retries, "mode": "standard"},
                read_timeout=self._timeout_s, connect_timeout=min(self._timeout_s, 10.0),
                user_agent_extra="promptrag",
            )
            try:
                # A session of our own: boto3's module-level default session caches credentials
                # and region from the first call, so later changes to the environment were ignored.
                session = boto3.session.Session(region_name=self.region)
                self._client = session.client("bedrock-runtime", endpoint_url=self.endpoint_url, config=config)
            except Exception as exc:
                _raise_translated(exc, self.model, self.region)
        return self._client

    def _region_name(self) -> str | None:
        return self._client.meta.region_name if self._client is not None else self.region


def _raise_translated(exc: Exception, model_id: str, region: str | None) -> None:
    error = translate_error(exc, model_id, region)
    if error is exc:
        raise exc
    raise error from exc


def _decode_image(data: str, model_id: str) -> Any:
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
    except (binascii.Error, ValueError, TypeError, UnidentifiedImageError, OSError):
        raise BackendError(f"{model_id} returned an image that cannot be decoded (bad base64 / PNG)") from None
    return image


def translate_error(exc: Exception, model_id: str, region: str | None) -> Exception:
    """A botocore exception as the PromptragError a user can act on (others are returned as is)."""
    from botocore import exceptions as bx

    where = f"region {region}" if region else "the configured region"
    if isinstance(exc, PromptragError):
        return exc
    if isinstance(exc, (bx.NoCredentialsError, bx.PartialCredentialsError)):
        return MissingCredentialError(f"no AWS credentials found for Bedrock: {_CREDENTIALS_HINT}")
    if isinstance(exc, bx.NoRegionError):
        return ConfigError("no AWS region configured for Bedrock: set AWS_REGION (e.g. us-west-2, where "
                           "the Stability models are offered) or region in ~/.aws/config")
    if isinstance(exc, bx.ProfileNotFound):
        return ConfigError(f"AWS profile not found ({exc}): fix AWS_PROFILE or ~/.aws/config")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return BackendError(f"could not reach Bedrock for {model_id} ({type(exc).__name__}); check the "
                            "network / PROMPTRAG_BEDROCK_ENDPOINT_URL, or raise PROMPTRAG_REQUEST_TIMEOUT_S")
    if not isinstance(exc, bx.ClientError):
        return exc
    error = exc.response.get("Error", {})
    code, message = error.get("Code", "Unknown"), error.get("Message", "")
    attempts = exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
    if code == "AccessDeniedException":
        if "access to the model" in message:
            return BackendError(f"your AWS account has no access to {model_id} in {where}: enable model "
                                f"access for it in the Bedrock console (Model access) in {where}")
        return BackendError(f"access denied calling {model_id} in {where}: allow bedrock:InvokeModel for "
                            f"this model to your IAM identity ({message})")
    if code in ("ResourceNotFoundException",):
        return BackendError(f"model {model_id} is not available in {where} ({message}); use a region that "
                            "offers it (AWS_REGION, e.g. us-west-2) or another --model")
    if code == "ValidationException":
        return InputError(f"Bedrock rejected the request for {model_id}: {message}")
    if code in ("ThrottlingException", "ModelNotReadyException"):
        return BackendError(f"Bedrock throttled {model_id} ({code}) after {attempts} retries: wait and try "
                            "again, or raise PROMPTRAG_MAX_RETRIES / ask for a higher quota")
    if code == "ServiceQuotaExceededException":
        return BackendError(f"Bedrock quota exceeded for {model_id} in {where} ({message}): request a quota "
                            "increase in Service Quotas or try later")
    if code in ("UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException"):
        return MissingCredentialError(f"AWS rejected the credentials ({code}): {_CREDENTIALS_HINT}")
    return BackendError(f"Bedrock failed for {model_id} ({code}, after {attempts} retries): {message}")
