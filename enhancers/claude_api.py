"""Claude through the Anthropic Messages API (the `anthropic` SDK), registered as "anthropic".

The transport of a `ChatEnhancer` (chat_base.py): `build_request(request)` is a pure function
of the request (model, max_tokens, the rendered system/user templates); `send` calls
`messages.create`, `send_stream` the SSE stream; the base parses and validates the answer.
Creativity reaches Claude through the system prompt only: API version 2026-10-21 (sent by
anthropic SDK >= 2) and Claude models after Opus 4.6 reject `temperature` / `top_p` with a 400,
and SDK >= 1 no longer accepts them as arguments; sending none works with every SDK and model.

For n > 1 candidates we ask for ONE JSON array in ONE call rather than making n calls: it costs
one round trip and one copy of the (long) examples, and the model can make the candidates
deliberately different from each other, which independent samples are not.

Retries: the SDK already retries 408/409/429/5xx and timeouts with exponential backoff and
honours `retry-after` / `retry-after-ms`; we only configure it (`max_retries`, `timeout` from
settings). What is left after the retries becomes a BackendError that says what to do.

Deliberately not here: the API key's value in any message or repr (it is a SecretStr, and
error text is scrubbed), tool use / JSON-schema output modes (the tolerant parser suffices and
works with every Claude model), and prompt caching.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from core.errors import BackendError, MissingCredentialError
from core.settings import Settings, get_settings, resolve_secret
from core.status import importable, secret_is_set
from enhancers.base import EnhanceRequest
from enhancers.chat_base import MAX_OUTPUT_TOKENS, TOKENS_PER_CANDIDATE, Answer, ChatEnhancer, max_tokens_for
from enhancers.prompting import build_messages

KEY_NAME = "ANTHROPIC_API_KEY"
__all__ = ["KEY_NAME", "MAX_OUTPUT_TOKENS", "TOKENS_PER_CANDIDATE", "AnthropicEnhancer", "max_tokens_for"]


class AnthropicEnhancer(ChatEnhancer):
    """Claude (Anthropic API) fuses the idea and the example prompts into n candidates."""

    name = "anthropic"

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        if not secret_is_set(KEY_NAME):
            return False, f"set {KEY_NAME} in the environment, .env or .streamlit/secrets.toml"
        if not importable("anthropic"):
            return False, (f"{KEY_NAME} is set but the anthropic package is missing: "
                           "pip install 'promptrag[claude]'")
        return True, settings.anthropic_model

    def __init__(
        self,
        model: str | None = None,
        client: Any = None,
        base_url: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
    ) -> None:
        settings = get_settings()
        self.model = model or settings.anthropic_model
        self.base_url = base_url or settings.anthropic_base_url
        self.timeout = timeout if timeout is not None else settings.request_timeout_s
        self.max_retries = max_retries if max_retries is not None else settings.max_retries
        self._secret = None
        if client is None:
            # Resolved now so a missing key fails at construction (the chain records it).
            self._secret = resolve_secret(KEY_NAME, purpose="the anthropic enhancer")
        self._client = client

    def __repr__(self) -> str:
        return f"AnthropicEnhancer(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def client(self) -> Any:
        if self._client is None:
            import anthropic

            self._client = anthropic.Anthropic(
                api_key=self._secret.get_secret_value(),
                base_url=self.base_url,
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def build_request(self, request: EnhanceRequest) -> dict[str, Any]:
        """The Messages API call for `request` (pure: no I/O, no client)."""
        system, user = build_messages(request)
        return {
            "model": self.model,
            "max_tokens": max_tokens_for(request.n_candidates),
            "system": system,
            "messages": [{"role": "user", "content": user}],
        }

    def send(self, call: dict[str, Any]) -> Answer:
        message = self.client.messages.create(**call)
        text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
        usage = getattr(message, "usage", None)
        return Answer(text, message.stop_reason, getattr(usage, "input_tokens", None),
                      getattr(usage, "output_tokens", None))

    def send_stream(self, call: dict[str, Any]) -> Iterator[str | Answer]:
        with self.client.messages.stream(**call) as events:
            parts: list[str] = []
            for chunk in events.text_stream:
                parts.append(chunk)
                yield chunk
            final = events.get_final_message()
        usage = getattr(final, "usage", None)
        yield Answer("".join(parts), final.stop_reason, getattr(usage, "input_tokens", None),
                     getattr(usage, "output_tokens", None))

    @contextmanager
    def errors(self) -> Iterator[None]:
        import anthropic

        try:
            yield
        except anthropic.APIStatusError as exc:
            raise self._status_error(exc) from None
        except anthropic.APITimeoutError:
            raise BackendError(
                f"the Anthropic API did not answer within {self.timeout:g}s "
                f"(tried {self.max_retries + 1} times); try again, or raise PROMPTRAG_REQUEST_TIMEOUT_S"
            ) from None
        except anthropic.APIConnectionError as exc:
            where = self.base_url or "https://api.anthropic.com"
            raise BackendError(
                f"cannot reach the Anthropic API at {where} ({self._scrub(str(exc.__cause__ or exc))}); "
                "check the network, or PROMPTRAG_ANTHROPIC_BASE_URL"
            ) from None


    def _status_error(self, exc: Any) -> Exception:
        status = exc.status_code
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        kind = error.get("type") or "error"
        detail = self._scrub(str(error.get("message") or exc.message))[:300]
        said = f"Anthropic API {status} {kind}: {detail}"
        if status == 401:
            return MissingCredentialError(f"{said}; check {KEY_NAME} (the key was rejected)")
        if status == 403:
            return BackendError(
                f"{said}; the key in {KEY_NAME} may not be allowed to use model {self.model!r}"
            )
        if status == 404:
            return BackendError(f"{said}; set PROMPTRAG_ANTHROPIC_MODEL to a model id your account can use")
        if status == 429 or status >= 500:
            return BackendError(
                f"{said} (still failing after {self.max_retries} retries); try again later, "
                "or raise PROMPTRAG_MAX_RETRIES"
            )
        return BackendError(said)

    def _scrub(self, text: str) -> str:
        """Remove the API key from text that came back from the server or the network layer."""
        if self._secret is not None and self._secret.get_secret_value():
            text = text.replace(self._secret.get_secret_value(), "**********")
        return text
