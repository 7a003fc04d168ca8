"""One Bedrock client factory and one AWS error mapping, for text (enhancers/claude_bedrock.py)
and images (generate/bedrock_backend.py).

`bedrock_client(region=, profile=, endpoint_url=, timeout_s=, max_retries=)` builds a
`bedrock-runtime` client in a session of its own (boto3's module-level default session caches
credentials and region from its first use, so later changes to the environment were ignored),
with botocore's "standard" retry mode (throttling, 5xx and timeouts retried with exponential
backoff and jitter). Region, profile and credentials otherwise come from the standard AWS
configuration (AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, ~/.aws, instance roles), except keys
set in the settings (environment, `.env`, secrets.toml: `Settings.aws_keys()`), passed explicitly;
`endpoint_url` points the client at a proxy or a test server.

`aws_errors(BedrockCall(...))` is a context in which botocore's exceptions (ClientError codes,
missing credentials / region / profile, timeouts, unreachable endpoints) become the one-line
core.errors types that say what to do. `translate_aws_error` is the same mapping as a function.

Deliberately not here: request bodies (each caller builds its own), AWS credentials in any
message (botocore never puts the secret key in its errors, and we add nothing), other services.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from core.errors import BackendError, ConfigError, MissingCredentialError, PromptragError
from core.settings import get_settings

CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), "
    "or AWS_PROFILE for a profile in ~/.aws (see `aws configure`)"
)
REGION_HINT = (
    "set AWS_REGION (or AWS_DEFAULT_REGION), or region in ~/.aws/config, to a region where Bedrock "
    "offers the model"
)
_CREDENTIAL_CODES = {"unrecognizedclient", "invalidsignature", "expiredtoken", "missingauthenticationtoken"}
_THROTTLED_CODES = {"throttling", "modelnotready", "toomanyrequests"}
_SERVER_CODES = {"internalserver", "serviceunavailable"}


def bedrock_client(
    *,
    region: str | None = None,
    profile: str | None = None,
    endpoint_url: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 2,
    extra: str = "claude",
) -> Any:
    """A boto3 `bedrock-runtime` client; errors (no region, unknown profile) become ConfigErrors.

    `extra`: the promptrag extra that brings boto3, named in the message when it is missing.
    """
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError(f"Bedrock needs boto3, which is not installed: pip install 'promptrag[{extra}]'") from None
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max_retries + 1},
        connect_timeout=min(timeout_s, 10.0),
        read_timeout=timeout_s,
        user_agent_extra="promptrag",
    )
    with aws_errors(BedrockCall(model="(client set-up)", region=region, timeout_s=timeout_s,
                                max_retries=max_retries)):
        # Keys written in .env / .streamlit/secrets.toml reach boto3 only through the settings.
        keys = get_settings().aws_keys()
        session = boto3.Session(profile_name=profile, region_name=region, **keys)
        return session.client("bedrock-runtime", endpoint_url=endpoint_url, config=config)


def client_region(client: Any, default: str | None = None) -> str | None:
    """The region a client signs for (what error messages name)."""
    return getattr(getattr(client, "meta", None), "region_name", None) or default


@dataclass(frozen=True)
class BedrockCall:
    """What an error message needs to know about the call that failed."""

    model: str
    region: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    model_setting: str = "--model"  # the setting that picks another model, e.g. PROMPTRAG_BEDROCK_TEXT_MODEL
    invalid_request: type[PromptragError] = BackendError  # what a ValidationException becomes
    asks_for: str = "fewer candidates"  # what a smaller request is, for ModelTimeoutException


@contextmanager
def aws_errors(call: BedrockCall) -> Iterator[None]:
    """Run the body; botocore exceptions leave it as PromptragErrors (others pass unchanged)."""
    try:
        yield
    except Exception as exc:
        error = translate_aws_error(exc, call)
        if error is exc:
            raise
        raise error from None


def translate_aws_error(exc: Exception, call: BedrockCall) -> Exception:
    """A botocore exception as the PromptragError a user can act on (anything else is returned as is)."""
    try:
        from botocore import exceptions as aws
    except ImportError:
        return exc
    if isinstance(exc, PromptragError):
        return exc
    if isinstance(exc, aws.ClientError):  # EventStreamError (an error inside a stream) is one too
        return _client_error(exc, call)
    if isinstance(exc, (aws.NoCredentialsError, aws.PartialCredentialsError)):
        return MissingCredentialError(f"no usable AWS credentials for Bedrock ({exc}): {CREDENTIALS_HINT}")
    if isinstance(exc, aws.ProfileNotFound):
        return ConfigError(f"{exc}: set AWS_PROFILE to a profile of ~/.aws/config, or unset it")
    if isinstance(exc, aws.NoRegionError):
        return ConfigError(f"no AWS region for Bedrock: {REGION_HINT}")
    if isinstance(exc, (aws.ReadTimeoutError, aws.ConnectTimeoutError)):
        return BackendError(
            f"Bedrock did not answer within {call.timeout_s:g}s ({type(exc).__name__}, tried "
            f"{call.max_retries + 1} times); try again, or raise PROMPTRAG_REQUEST_TIMEOUT_S"
        )
    if isinstance(exc, aws.EndpointConnectionError):
        return BackendError(
            f"cannot reach Bedrock ({exc}); check the network, the region, or PROMPTRAG_BEDROCK_ENDPOINT_URL"
        )
    return exc


def _client_error(exc: Any, call: BedrockCall) -> PromptragError:
    error = exc.response.get("Error", {})
    meta = exc.response.get("ResponseMetadata", {})
    code = str(error.get("Code") or "Unknown")
    message = str(error.get("Message") or "")
    status = meta.get("HTTPStatusCode")
    retries = meta.get("RetryAttempts", 0)
    region = call.region or "the configured region"
    said = f"Bedrock {code}{f' ({status})' if status else ''} for model {call.model!r} in {region}: {message}"
    kind = code.lower().removesuffix("exception")
    lowered = message.lower()
    if kind in _CREDENTIAL_CODES:
        return MissingCredentialError(f"{said}; the AWS credentials were rejected: {CREDENTIALS_HINT}")
    if kind == "accessdenied":
        if "access to the model" in lowered or "model access" in lowered or "not enabled" in lowered:
            return BackendError(
                f"{said}; enable access to this model in the Amazon Bedrock console for region {region} "
                f"(Model access page: enable model access for {call.model})"
            )
        return BackendError(
            f"{said}; the IAM identity needs bedrock:InvokeModel (and "
            "bedrock:InvokeModelWithResponseStream for streaming) on this model"
        )
    if kind in _THROTTLED_CODES:
        return BackendError(
            f"{said} (still failing after {retries} retries); Bedrock throttled the calls: try again later, "
            "raise PROMPTRAG_MAX_RETRIES, or request a higher quota"
        )
    if kind in _SERVER_CODES:
        return BackendError(
            f"{said} (still failing after {retries} retries); try again later, or raise PROMPTRAG_MAX_RETRIES"
        )
    if kind == "servicequotaexceeded":
        return BackendError(f"{said}; request a quota increase in Service Quotas, or try later")
    if kind == "resourcenotfound":
        return BackendError(
            f"{said}; model {call.model} is not available in region {region}: check {call.model_setting}, "
            "or use a region that offers it (AWS_REGION)"
        )
    if kind == "validation" and "inference profile" in lowered:
        return BackendError(
            f"{said}; set {call.model_setting} to an inference profile id (e.g. 'us.{call.model}')"
        )
    if kind == "validation":
        return call.invalid_request(said)
    if kind == "modeltimeout":
        return BackendError(f"{said}; try again, or ask for {call.asks_for}")
    return BackendError(said)
