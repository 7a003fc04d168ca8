"""Claude on Amazon Bedrock through boto3 `bedrock-runtime` Converse / ConverseStream ("bedrock").

Same templates and output schema as the Anthropic API enhancer. `build_request(request)` is a
pure function returning the Converse arguments (modelId, system, messages, inferenceConfig);
`stream` uses ConverseStream and yields the prompt text as it arrives, then the parsed result.
Region, profile and credentials come from the standard AWS configuration, resolved by boto3
(AWS_REGION / AWS_DEFAULT_REGION, AWS_PROFILE, ~/.aws, instance roles); `region`, `profile` and
`endpoint_url` (or settings.bedrock_endpoint_url) override it.

Retries are botocore's "standard" mode (throttling, 5xx, timeouts; exponential backoff with
jitter), configured with settings.max_retries; whatever still fails becomes an error that says
what to do (enable model access in the console for the region, use an inference profile, set
credentials...).

Deliberately not here: image models (see generate/), tool use, guardrails, AWS credentials in
any message (botocore never puts the secret key in its errors, and we add nothing).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import BackendError, ConfigError, MissingCredentialError
from core.settings import get_settings
from enhancers.base import Enhancer, EnhanceRequest, EnhanceResult
from enhancers.claude_api import max_tokens_for
from enhancers.events import Finished, StreamEvent, TextDelta
from enhancers.llm_output import parse_with_stop_reason, result_style
from enhancers.prompt_stream import PromptTextStream
from enhancers.prompting import build_messages, temperature_for

# Claude models after Opus 4.6 (Opus 4.7+, the 5 family) reject sampling parameters with a 400
# ValidationException; older Claude models and other Bedrock text models accept temperature.
_NO_SAMPLING = re.compile(r"claude-(?:opus-4-[7-9]|[a-z]+-[5-9])")
_CREDENTIAL_CODES = {"unrecognizedclient", "invalidsignature", "expiredtoken", "missingauthenticationtoken"}
_RETRIED_CODES = {"throttling", "internalserver", "serviceunavailable", "modelnotready"}
CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary keys), "
    "or AWS_PROFILE for a profile in ~/.aws (see `aws configure`)"
)


def accepts_temperature(model_id: str) -> bool:
    return _NO_SAMPLING.search(model_id) is None


class BedrockEnhancer(Enhancer):
    """Claude on Amazon Bedrock (Converse API) fuses the idea and the example prompts."""

    name = "bedrock"
    supports_streaming = True
    is_remote = True

    def __init__(
        self,
        model: str | None = None,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        profile: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        settings = get_settings()
        self.model = model or settings.bedrock_text_model
        self.region = region
        self.endpoint_url = endpoint_url or settings.bedrock_endpoint_url
        self.profile = profile
        self.timeout = timeout if timeout is not None else settings.request_timeout_s
        self.max_retries = max_retries if max_retries is not None else settings.max_retries
        self._client = client

    def __repr__(self) -> str:
        return f"BedrockEnhancer(model={self.model!r}, region={self.region!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            session = boto3.Session(profile_name=self.profile, region_name=self.region)
            config = Config(
                retries={"mode": "standard", "total_max_attempts": self.max_retries + 1},
                connect_timeout=self.timeout,
                read_timeout=self.timeout,
                user_agent_extra="promptrag",
            )
            self._client = session.client("bedrock-runtime", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def build_request(self, request: EnhanceRequest) -> dict[str, Any]:
        """The Converse call for `request` (pure: no I/O, no client)."""
        system, user = build_messages(request)
        inference: dict[str, Any] = {"maxTokens": max_tokens_for(request.n_candidates)}
        if accepts_temperature(self.model):
            inference["temperature"] = temperature_for(request.creativity)
        return {
            "modelId": self.model,
            "system": [{"text": system}],
            "messages": [{"role": "user", "content": [{"text": user}]}],
            "inferenceConfig": inference,
        }

    def enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        with self._aws_errors():
            response = self.client.converse(**self.build_request(request))
        content = response.get("output", {}).get("message", {}).get("content", [])
        text = "".join(block.get("text", "") for block in content)
        return self._result(request, text, response.get("stopReason"), started)

    def stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        """TextDeltas of the prompt as ConverseStream delivers it (not the raw JSON), then Finished."""
        started = time.perf_counter()
        shown = PromptTextStream()
        stop_reason = None
        with self._aws_errors():
            response = self.client.converse_stream(**self.build_request(request))
            for item in response["stream"]:
                chunk = item.get("contentBlockDelta", {}).get("delta", {}).get("text")
                if chunk and (text := shown.feed(chunk)):
                    yield TextDelta(text)
                stop_reason = item.get("messageStop", {}).get("stopReason", stop_reason)
        yield Finished(self._result(request, shown.raw, stop_reason, started))

    def _result(self, request: EnhanceRequest, text: str, stop_reason: str | None, started: float) -> EnhanceResult:
        api_s = time.perf_counter() - started
        prompts = parse_with_stop_reason(text, request.n_candidates, stop_reason, self.model)
        candidates = [prompt.to_candidate() for prompt in prompts]
        style = result_style(request, prompts)
        return self.make_result(request, candidates, style=style, started=started, timings={"api_s": api_s})

    @contextmanager
    def _aws_errors(self) -> Iterator[None]:
        from botocore import exceptions as aws

        try:
            yield
        except aws.ClientError as exc:  # EventStreamError (errors inside a stream) is one too
            raise self._client_error(exc) from None
        except (aws.NoCredentialsError, aws.PartialCredentialsError) as exc:
            raise MissingCredentialError(
                f"no usable AWS credentials for the bedrock enhancer ({exc}): {CREDENTIALS_HINT}"
            ) from None
        except aws.ProfileNotFound as exc:
            raise ConfigError(f"{exc}: set AWS_PROFILE to a profile of ~/.aws/config, or unset it") from None
        except aws.NoRegionError:
            raise ConfigError(
                "no AWS region for the bedrock enhancer: set AWS_REGION (or AWS_DEFAULT_REGION), "
                "or region in ~/.aws/config, to a region where Bedrock offers the model"
            ) from None
        except (aws.ReadTimeoutError, aws.ConnectTimeoutError):
            raise BackendError(
                f"Bedrock did not answer within {self.timeout:g}s (tried {self.max_retries + 1} "
                "times); try again, or raise PROMPTRAG_REQUEST_TIMEOUT_S"
            ) from None
        except aws.EndpointConnectionError as exc:
            raise BackendError(
                f"cannot reach Bedrock ({exc}); check the network, the region, "
                "or PROMPTRAG_BEDROCK_ENDPOINT_URL"
            ) from None

    def _client_error(self, exc: Any) -> Exception:
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "")
        region = getattr(getattr(self._client, "meta", None), "region_name", None) or self.region
        status = meta.get("HTTPStatusCode")
        where = f"for model {self.model!r} in {region}"
        said = f"Bedrock {code}{f' ({status})' if status else ''} {where}: {message}"
        kind = code.lower().removesuffix("exception")
        lowered = message.lower()
        if kind in _CREDENTIAL_CODES:
            return MissingCredentialError(f"{said}; the AWS credentials were rejected: {CREDENTIALS_HINT}")
        if kind == "accessdenied":
            if "access to the model" in lowered or "model access" in lowered or "not enabled" in lowered:
                return BackendError(
                    f"{said}; enable access to this model in the Amazon Bedrock console "
                    f"(Model access) for region {region}"
                )
            return BackendError(
                f"{said}; the IAM identity needs bedrock:InvokeModel (and "
                "bedrock:InvokeModelWithResponseStream for streaming) on this model"
            )
        if kind in _RETRIED_CODES:
            return BackendError(
                f"{said} (still failing after {meta.get('RetryAttempts', 0)} retries); "
                "try again later, raise PROMPTRAG_MAX_RETRIES, or request a higher quota"
            )
        if kind == "resourcenotfound":
            return BackendError(
                f"{said}; check PROMPTRAG_BEDROCK_TEXT_MODEL and that Bedrock offers this model in {region}"
            )
        if kind == "validation" and "inference profile" in lowered:
            return BackendError(
                f"{said}; set PROMPTRAG_BEDROCK_TEXT_MODEL to an inference profile id "
                f"(e.g. 'us.{self.model}')"
            )
        if kind == "modeltimeout":
            return BackendError(f"{said}; try again, or ask for fewer candidates")
        return BackendError(said)
