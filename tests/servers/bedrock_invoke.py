"""Bedrock ``InvokeModel`` for Stability image models, as a ScriptedServer responder.

`StabilityInvokeResponder` answers ``POST /model/{modelId}/invoke`` the way bedrock-runtime
does: it insists on a SigV4 ``Authorization: AWS4-HMAC-SHA256 ...`` header, answers SDXL 1.0
with ``artifacts[{base64, seed, finishReason}]`` and the 2024 models (SD3.5 Large, Stable Image
Core / Ultra) with ``images``/``seeds``/``finish_reasons``, drawing a real PNG with Pillow at the
size the real model would return. `bedrock_error` builds the restJson1 error replies
(``x-amzn-ErrorType`` header + ``{"message": ...}``) that botocore turns into ClientError codes.
"""

from __future__ import annotations

import base64
import io
import re
from urllib.parse import unquote

from tests.servers.base import Recorded, Reply

SDXL_MODEL = "stability.stable-diffusion-xl-v1"
STABLE_IMAGE_MODELS = ("stability.sd3-5-large-v1:0", "stability.stable-image-core-v1:1",
                       "stability.stable-image-ultra-v1:1")
# Pixel sizes the 2024 models return per aspect ratio (about one megapixel).
RATIO_SIZES = {"1:1": (1024, 1024), "16:9": (1344, 768), "21:9": (1536, 640), "2:3": (832, 1248),
               "3:2": (1216, 832), "4:5": (896, 1120), "5:4": (1120, 896), "9:16": (768, 1344),
               "9:21": (640, 1536)}
_PATH = re.compile(r"^/model/([^/]+)/invoke$")


def png_base64(width: int, height: int, color: tuple[int, int, int] = (200, 80, 40)) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def bedrock_error(status: int, code: str, message: str) -> Reply:
    return Reply(status, {"message": message}, headers={
        "Content-Type": "application/json",
        "x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-RequestId": "00000000-test-request",
    })


class StabilityInvokeResponder:
    """Callable responder; `finish_reason` set to e.g. "Filter reason: prompt" simulates filtering."""

    def __init__(self, *, finish_reason: str | None = None, models: tuple[str, ...] | None = None) -> None:
        self.finish_reason = finish_reason
        self.models = models or (SDXL_MODEL, *STABLE_IMAGE_MODELS)

    def __call__(self, recorded: Recorded) -> Reply:
        match = _PATH.match(recorded.path)
        if recorded.method != "POST" or not match:
            return bedrock_error(404, "UnknownOperationException", f"no route {recorded.path}")
        if not recorded.headers.get("Authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            return bedrock_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
        model_id = unquote(match.group(1))
        if model_id not in self.models:
            return bedrock_error(400, "ValidationException", "The provided model identifier is invalid.")
        body = recorded.json()
        if model_id == SDXL_MODEL:
            return self._sdxl(body)
        return self._stable_image(body)

    def _sdxl(self, body: dict) -> Reply:
        size = (body.get("width", 1024), body.get("height", 1024))
        if size not in {(1024, 1024), (1152, 896), (1216, 832), (1344, 768), (1536, 640),
                        (640, 1536), (768, 1344), (832, 1216), (896, 1152)}:
            return bedrock_error(400, "ValidationException",
                                 "Malformed input request: height and width are not a supported pair")
        reason = "CONTENT_FILTERED" if self.finish_reason else "SUCCESS"
        artifact = {"base64": png_base64(*size), "seed": body.get("seed", 0), "finishReason": reason}
        return Reply(200, {"result": "success", "artifacts": [artifact]})

    def _stable_image(self, body: dict) -> Reply:
        if self.finish_reason:
            return Reply(200, {"seeds": [body.get("seed", 0)], "finish_reasons": [self.finish_reason],
                               "images": []})
        size = RATIO_SIZES.get(body.get("aspect_ratio", "1:1"))
        if size is None or not body.get("prompt"):
            return bedrock_error(400, "ValidationException", "Malformed input request: invalid aspect_ratio")
        seed = body.get("seed") or 1234567  # 0 means "random" on the real service
        return Reply(200, {"seeds": [seed], "finish_reasons": [None], "images": [png_base64(*size)]})


def use_fake_aws(monkeypatch, tmp_path, *, credentials: bool = True, region: str = "us-west-2") -> None:
    """Point boto3 at fake credentials (or none) and away from ~/.aws, IMDS and container roles."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                 "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
                 "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    if credentials:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)


FAKE_KEY_ID = "AKIATESTPROMPTRAG01"
FAKE_SECRET = "fake-secret-never-printed-0123456789abcdef"
