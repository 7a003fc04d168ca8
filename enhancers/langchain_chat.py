"""Any LangChain chat model as the fuser: `-e langchain:PROVIDER:MODEL` ("langchain").

`LangChainEnhancer(model="openai:gpt-4.1-mini")` builds the chat model with LangChain's
`init_chat_model` (so every provider LangChain knows works: anthropic, openai, ollama, bedrock,
google_genai, mistralai, groq, ...). The provider's integration package is the user's to
install; a missing one fails at construction with one line naming it (`pip install
langchain-openai`), so a chain records it and moves on.

It is a `ChatEnhancer` (chat_base.py): the same injection-safe templates (prompting.py), the
same validated prompt schema (`llm_output.LLMPrompt`), the same streaming events and fallback
behaviour as the Claude enhancers. Structured output: the model is bound to one forced tool
whose arguments are our schema (`PromptAnswer`, or `PromptAnswers` for n candidates) — what
LangChain's `with_structured_output` does for tool-calling models. We bind it ourselves to keep
the raw arguments: a truncated answer then fails the strict parse with "cut off at its output
token limit" instead of being completed by a partial-JSON parser, and the streamed arguments
show the prompt as it is written. A model without tool calling gets the JSON instruction of
the templates and its text is parsed the same way.

API keys: when the provider's usual variable (e.g. OPENAI_API_KEY) is set in the environment,
`.env` or Streamlit secrets, it is passed to the model (LangChain itself reads the environment
only); otherwise the provider looks for its own.

Deliberately not here: provider-specific options beyond what the caller passes (temperature,
base_url, timeouts go straight to `init_chat_model`), agents, tools of the user's, memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import BaseModel, Field

from core.errors import BackendError, ConfigError, MissingCredentialError, PromptragError, one_line
from core.settings import Settings, get_settings, resolve_secret
from core.status import importable
from enhancers.base import EnhanceRequest
from enhancers.chat_base import Answer, ChatEnhancer
from enhancers.llm_output import LLMPrompt
from enhancers.prompting import build_messages

REGISTRY_NAME = "langchain"
EXAMPLE_SPEC = "langchain:openai:gpt-4.1-mini"
# The variable each common provider's LangChain class reads its key from (the rest find their own).
KEY_VARIABLES = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "azure_openai": "AZURE_OPENAI_API_KEY",
    "google_genai": "GOOGLE_API_KEY",
    "mistralai": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "cohere": "COHERE_API_KEY",
    "fireworks": "FIREWORKS_API_KEY",
    "together": "TOGETHER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
    "xai": "XAI_API_KEY",
    "perplexity": "PPLX_API_KEY",
}
_STOP_REASON_KEYS = ("stop_reason", "finish_reason", "done_reason", "stopReason")


class PromptAnswer(LLMPrompt):
    """A text-to-image prompt for the user's idea, with its negative prompt."""


class PromptAnswers(BaseModel):
    """Several clearly different text-to-image prompts for the user's idea, best first."""

    candidates: list[PromptAnswer] = Field(description="The prompts, as many as asked for, best first.")


def split_model_spec(spec: str) -> tuple[str, str]:
    """"openai:gpt-4.1-mini" -> ("openai", "gpt-4.1-mini"); the model may hold colons ("qwen2.5:7b")."""
    provider, _, model = (spec or "").strip().partition(":")
    if not provider.strip() or not model.strip():
        raise ConfigError(
            f"the langchain enhancer needs PROVIDER:MODEL, got {spec!r}: name it like {EXAMPLE_SPEC} "
            "or langchain:ollama:qwen2.5"
        )
    return provider.strip(), model.strip()


def schema_for(request: EnhanceRequest) -> type[BaseModel]:
    return PromptAnswer if request.n_candidates == 1 else PromptAnswers


class LangChainEnhancer(ChatEnhancer):
    """A LangChain chat model fuses the idea and the example prompts into n candidates."""

    name = REGISTRY_NAME

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        if not importable("langchain"):
            return False, "install LangChain: pip install 'promptrag[langchain]', then -e langchain:PROVIDER:MODEL"
        if not settings.langchain_model:
            return False, ("not configured: set PROMPTRAG_LANGCHAIN_MODEL=PROVIDER:MODEL (e.g. openai:gpt-4.1-mini; "
                           "install the provider's package, e.g. langchain-openai), or pass "
                           "-e langchain:PROVIDER:MODEL")
        return True, f"{settings.langchain_model} (PROMPTRAG_LANGCHAIN_MODEL)"

    def __init__(self, model: str | None = None, chat_model: Any = None, **model_options: Any) -> None:
        """`model`: "PROVIDER:MODEL"; `chat_model`: an already built LangChain chat model (then
        `model` only names it); `model_options`: passed to `init_chat_model` (base_url, timeout,
        max_retries, temperature, ...)."""
        if model is None and chat_model is None:
            model = get_settings().langchain_model
        if model is None and chat_model is None:
            raise ConfigError(f"the langchain enhancer needs a model: set PROMPTRAG_LANGCHAIN_MODEL (Settings > "
                              f"Enhancers) or pass -e {EXAMPLE_SPEC} (langchain:PROVIDER:MODEL)")
        if chat_model is None:
            self.provider, self.model = split_model_spec(model or "")
            chat_model = init_model(self.provider, self.model, model_options)
        else:
            self.provider, _, self.model = (model or f"custom:{type(chat_model).__name__}").partition(":")
        self.name = f"{REGISTRY_NAME}:{self.provider}:{self.model}"  # who answered, as the user named it
        self.chat_model = chat_model

    def __repr__(self) -> str:
        return f"LangChainEnhancer({self.provider}:{self.model})"

    def build_request(self, request: EnhanceRequest) -> dict[str, Any]:
        """The messages (system + human, rendered from the templates) and the answer's schema (pure)."""
        system, user = build_messages(request)
        return {"messages": [("system", system), ("human", user)], "schema": schema_for(request)}

    def _bound(self, call: dict[str, Any]) -> tuple[Any, bool]:
        """(the model bound to the forced answer tool, True) or (the plain model, False) without tool calling."""
        schema = call["schema"]
        try:
            return self.chat_model.bind_tools([schema], tool_choice=schema.__name__), True
        except NotImplementedError:
            return self.chat_model, False

    def send(self, call: dict[str, Any]) -> Answer:
        model, tools = self._bound(call)
        message = model.invoke(call["messages"])
        if tools and message.tool_calls:
            text = json.dumps(message.tool_calls[0]["args"])
        elif tools and message.invalid_tool_calls:
            text = message.invalid_tool_calls[0].get("args") or ""
        else:
            text = str(message.text)
        return Answer(text, stop_reason(message), *usage_of(message))

    def send_stream(self, call: dict[str, Any]) -> Iterator[str | Answer]:
        model, tools = self._bound(call)
        parts: list[str] = []
        tool_index = None
        last = None
        for chunk in model.stream(call["messages"]):
            last = chunk if last is None else last + chunk
            pieces = [str(chunk.text)]
            if tools:
                pieces = []
                for piece in chunk.tool_call_chunks:
                    tool_index = piece.get("index") if tool_index is None else tool_index
                    if piece.get("index") == tool_index and piece.get("args"):
                        pieces.append(piece["args"])
            for piece in pieces:
                if piece:
                    parts.append(piece)
                    yield piece
        if tools and not parts and last is not None:
            parts = [str(last.text)]  # the model answered in prose despite the tool: parse that
        yield Answer("".join(parts), stop_reason(last), *usage_of(last))

    @contextmanager
    def errors(self) -> Iterator[None]:
        # Any provider's package may raise its own exception types; the model call is the boundary
        # where they become one line the chain can record. Our own errors pass unchanged.
        try:
            yield
        except PromptragError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> PromptragError:
        kinds = {cls.__name__ for cls in type(exc).__mro__}
        said = f"{self.name} failed ({type(exc).__name__}: {one_line(exc, 200)})"
        if kinds & {"ModelAuthenticationError", "AuthenticationError"}:
            variable = KEY_VARIABLES.get(self.provider, "the provider's API key variable")
            return MissingCredentialError(f"{said}; check {variable} (the key was rejected or is missing)")
        if kinds & {"ModelNotFoundError", "NotFoundError"}:
            return BackendError(f"{said}; check the model name after 'langchain:{self.provider}:'")
        if kinds & {"ModelRateLimitError", "RateLimitError"}:
            return BackendError(f"{said}; try again later")
        if kinds & {"ModelConnectionError", "ModelTimeoutError", "APIConnectionError", "APITimeoutError",
                    "ConnectError", "ConnectionError", "TimeoutError"}:
            return BackendError(f"{said}; check the network and the provider's endpoint")
        return BackendError(said)


def stop_reason(message: Any) -> str | None:
    """Why the model stopped, from any provider's response metadata (None if it does not say)."""
    metadata = getattr(message, "response_metadata", None) or {}
    for key in _STOP_REASON_KEYS:
        if metadata.get(key):
            return str(metadata[key])
    return None


def usage_of(message: Any) -> tuple[int | None, int | None]:
    """(input, output) tokens from a message's `usage_metadata` (None, None when the provider gives none)."""
    usage = getattr(message, "usage_metadata", None) or {}
    return usage.get("input_tokens"), usage.get("output_tokens")


def init_model(provider: str, model: str, options: dict[str, Any]) -> Any:
    """`init_chat_model(model, model_provider=provider, **options)`, its failures as one ConfigError line."""
    spec = f"{REGISTRY_NAME}:{provider}:{model}"
    try:
        from langchain.chat_models import init_chat_model
    except ImportError:
        raise ConfigError(
            f"{spec} needs LangChain, which is not installed: pip install 'promptrag[langchain]'") from None
    options = dict(options)
    if "api_key" not in options and provider in KEY_VARIABLES:
        options.update(_resolved_key(KEY_VARIABLES[provider]))
    try:
        return init_chat_model(model, model_provider=provider, **options)
    except ImportError as exc:
        missing = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None) or f"langchain_{provider}"
        package = missing.split(".")[0].replace("_", "-")
        raise ConfigError(f"{spec} needs the {package} package: pip install {package}") from None
    except ValueError as exc:
        if "provider" in str(exc).lower():
            raise ConfigError(f"{spec}: {' '.join(str(exc).split())}") from None
        raise ConfigError(f"cannot set up {spec} ({one_line(exc, 200)}); check its options") from None
    except Exception as exc:  # a provider class refusing its settings (a missing key, a bad URL...)
        raise ConfigError(f"cannot set up {spec} ({type(exc).__name__}: {one_line(exc, 200)})") from None


def _resolved_key(variable: str) -> dict[str, Any]:
    """{"api_key": value} when `variable` is set in the environment, .env or Streamlit secrets, else {}."""
    try:
        return {"api_key": resolve_secret(variable).get_secret_value()}
    except MissingCredentialError:
        return {}  # not configured here: the provider reports its own missing key, mapped by errors()
