"""The enhancers that `test_contract.py` runs its one suite against, by name.

How to add a backend: add one function to the "Backends" section at the end of this file:

    @contract_backend("anthropic")
    def anthropic_backend(request):            # request: pytest's FixtureRequest
        server = request.getfixturevalue("scripted_server")   # any fixture you need
        enhancer = AnthropicEnhancer(base_url=server.url, ...)
        yield enhancer                          # the suite runs here
        enhancer.release()                      # clean-up after the yield

* The function is a generator used as a context manager: set up, `yield` a ready enhancer,
  clean up. Call `pytest.skip("why")` inside when a dependency (a model file) is missing.
* `answers_as=` is the `EnhanceResult.enhancer` the backend reports when it differs from the
  name (a chain reports the member that answered).
* Scripted servers see the requests built from `CONTRACT_IDEA`, `CONTRACT_REFINEMENT` and
  friends below; their replies must keep every word of `CONTRACT_KEY_WORDS`.
* Every name in the enhancer registry without a backend here fails one test
  (`test_registered_enhancer_has_a_contract_backend[name]`) naming the missing backend.

The fakes used by the chain tests live here too: real `Enhancer` subclasses registered through
the real registry by the `fake_enhancers` fixture (and removed again after each test).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import ClassVar

import pytest

from core.errors import BackendError
from core.settings import resolve_secret
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.events import Finished, StreamEvent, TextDelta

# What the suite sends (scripted LLM servers can key their replies on these).
CONTRACT_IDEA = "a red fox sleeping in a snowy forest"
CONTRACT_KEY_WORDS = ("fox", "snowy", "forest")
CONTRACT_EXAMPLES = (
    "a wolf in a misty pine forest at dawn, soft light, highly detailed, 8k",
    "arctic fox curled up in snow, national geographic photo, bokeh",
)
CONTRACT_PREVIOUS = "a red fox sleeping in a snowy forest, digital painting, soft lighting, highly detailed"
CONTRACT_FEEDBACK = "moodier, no text"
FAKE_KEY_VARIABLE = "PROMPTRAG_TEST_FAKE_KEY"


@dataclass(frozen=True)
class ContractBackend:
    name: str
    open: Callable[[pytest.FixtureRequest], AbstractContextManager[Enhancer]]
    answers_as: str | Callable[[EnhanceRequest], str]


CONTRACT_BACKENDS: dict[str, ContractBackend] = {}


def contract_backend(name: str, *, answers_as: str | Callable[[EnhanceRequest], str] | None = None):
    """Register a generator `fn(request) -> Iterator[Enhancer]` as contract backend `name`."""

    def decorate(fn: Callable[[pytest.FixtureRequest], Iterator[Enhancer]]):
        CONTRACT_BACKENDS[name] = ContractBackend(name, contextmanager(fn), answers_as or name)
        return fn

    return decorate


# ----------------------------------------------------------------------------------------------
# Fakes: real subclasses, registered through the real registry by `register_fakes`.


class FailingEnhancer(Enhancer):
    """Always fails the way a remote backend does (a user-facing BackendError)."""

    name: ClassVar[str] = "fake-failing"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        raise BackendError("fake-failing: scripted outage (HTTP 529 overloaded)\nsecond line of detail")


class BuggyEnhancer(Enhancer):
    """Has a bug: raises an ordinary exception, which no chain may swallow."""

    name: ClassVar[str] = "fake-buggy"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        raise ZeroDivisionError("division by zero in fake-buggy")


class KeylessEnhancer(Enhancer):
    """Needs a secret at construction, resolved through the real `resolve_secret`."""

    name: ClassVar[str] = "fake-keyless"

    def __init__(self) -> None:
        self._key = resolve_secret(FAKE_KEY_VARIABLE, purpose="the fake-keyless enhancer")

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:  # pragma: no cover - never built
        raise AssertionError("fake-keyless must not be built without its key")


class EchoEnhancer(Enhancer):
    """Answers with the idea plus a marker; streams it in words; counts releases."""

    name: ClassVar[str] = "fake-echo"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, suffix: str = "echoed") -> None:
        self.suffix = suffix
        self.releases = 0

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        import time

        started = time.perf_counter()
        prompts = [f"{request.idea.strip()}, {self.suffix} {i}" for i in range(request.n_candidates)]
        return self.make_result(
            request, [Candidate(p, "blurry") for p in prompts], style="artistic", started=started
        )

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        result = self.enhance(request)
        words = result.prompt.split(" ")
        for i, word in enumerate(words):
            yield TextDelta(word + (" " if i < len(words) - 1 else ""))
        yield Finished(result)

    def release(self) -> None:
        self.releases += 1


class StreamBreaksEnhancer(Enhancer):
    """Streams one chunk, then fails: the failure must reach the caller (no silent switch)."""

    name: ClassVar[str] = "fake-stream-breaks"
    supports_streaming: ClassVar[bool] = True

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        raise BackendError("fake-stream-breaks: connection reset")

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        yield TextDelta("a red ")
        raise BackendError("fake-stream-breaks: connection reset mid-stream")


class SilentFailureEnhancer(Enhancer):
    """Streams: fails before its first delta, as a remote backend whose request is refused."""

    name: ClassVar[str] = "fake-refused-stream"
    supports_streaming: ClassVar[bool] = True

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        raise BackendError("fake-refused-stream: 429 too many requests")

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        raise BackendError("fake-refused-stream: 429 too many requests")
        yield  # a generator: the error comes at the first next(), as an SDK's would


FAKES: dict[str, type[Enhancer]] = {
    cls.name: cls
    for cls in (FailingEnhancer, BuggyEnhancer, KeylessEnhancer, EchoEnhancer, StreamBreaksEnhancer,
                SilentFailureEnhancer)
}


def register_fakes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Register the fakes in the real enhancer registry for one test (undone afterwards)."""
    from enhancers.registry import ENHANCERS

    for name, cls in FAKES.items():
        monkeypatch.setitem(ENHANCERS._factories, name, cls)


# ----------------------------------------------------------------------------------------------
# Backends.


@contract_backend("rules")
def rules_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    from enhancers.registry import get_enhancer

    enhancer = get_enhancer("rules")
    yield enhancer
    enhancer.release()


@contract_backend("chain", answers_as="rules")
def chain_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    """A chain whose first member fails and whose second cannot be built: rules answers."""
    from enhancers.chain import build_chain

    register_fakes(request.getfixturevalue("monkeypatch"))
    chain = build_chain(["fake-failing", "fake-keyless"])
    yield chain
    chain.release()


def registered_names() -> list[str]:
    """Every enhancer in the registry (each one should have a contract backend)."""
    from enhancers.registry import enhancer_names

    return enhancer_names()


def missing_backend_reason(name: str) -> str:
    return (
        f"enhancer {name!r} is registered but has no contract backend: add "
        f"@contract_backend({name!r}) in tests/enhancers/contract_backends.py"
    )


@contract_backend("anthropic")
def anthropic_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    """The real anthropic SDK against the scripted Messages API (a well-behaved model)."""
    pytest.importorskip("anthropic")
    from enhancers.registry import get_enhancer
    from tests.servers.anthropic_server import AnthropicServer

    request.getfixturevalue("monkeypatch").setenv("ANTHROPIC_API_KEY", "sk-ant-contract-test")
    with AnthropicServer() as server:
        enhancer = get_enhancer("anthropic", base_url=server.url, timeout=10.0, max_retries=0)
        yield enhancer
        enhancer.release()


@contract_backend("bedrock")
def bedrock_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    """Real boto3 (SigV4, Converse, ConverseStream) against the scripted Bedrock Runtime."""
    pytest.importorskip("boto3")
    from enhancers.registry import get_enhancer
    from tests.servers.bedrock_server import BedrockServer

    monkeypatch = request.getfixturevalue("monkeypatch")
    missing = request.getfixturevalue("tmp_path") / "no-aws-files"
    for name, value in {
        "AWS_ACCESS_KEY_ID": "AKIDCONTRACTTEST",
        "AWS_SECRET_ACCESS_KEY": "contract-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(missing),
        "AWS_SHARED_CREDENTIALS_FILE": str(missing),
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_BEDROCK_RUNTIME"):
        monkeypatch.delenv(name, raising=False)
    with BedrockServer() as server:
        enhancer = get_enhancer("bedrock", endpoint_url=server.url, timeout=10.0, max_retries=0)
        yield enhancer
        enhancer.release()


@contract_backend("local")
def local_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    """Real transformers loading and sampling of a tiny random-weight model saved by the test.

    Named like a MagicPrompt continuation model, so the enhancer keeps the idea first and the
    model adds its (random) words: the contract holds without a real checkpoint or download.
    """
    pytest.importorskip("transformers")
    from enhancers.registry import get_enhancer
    from tests.enhancers.tiny_models import tiny_llama_dir

    path = tiny_llama_dir(
        request.getfixturevalue("tmp_path_factory"), "magicprompt-stable-diffusion-contract", chat_template=None
    )
    enhancer = get_enhancer("local", model=str(path), seed=0, max_new_tokens=8, device="cpu")
    yield enhancer
    enhancer.release()


def _grounded_answers_as(request: EnhanceRequest) -> str:
    # Grounded fuses examples; with none (or for a refinement round) it hands over to the
    # rules and says so in fallback_reasons.
    return "grounded" if request.examples and not request.previous_prompt else "rules"


@contract_backend("grounded", answers_as=_grounded_answers_as)
def grounded_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    from enhancers.registry import get_enhancer

    enhancer = get_enhancer("grounded")
    yield enhancer
    enhancer.release()


LANGCHAIN_MODEL = "claude-test-1"


@contract_backend("langchain", answers_as=f"langchain:anthropic:{LANGCHAIN_MODEL}")
def langchain_backend(request: pytest.FixtureRequest) -> Iterator[Enhancer]:
    """langchain-anthropic's ChatAnthropic (built by init_chat_model) against the scripted Messages
    API, answering through the forced structured-output tool."""
    pytest.importorskip("langchain")
    pytest.importorskip("langchain_anthropic")
    from enhancers.registry import get_enhancer
    from tests.servers.anthropic_server import AnthropicServer

    request.getfixturevalue("monkeypatch").setenv("ANTHROPIC_API_KEY", "sk-ant-contract-test")
    with AnthropicServer() as server:
        enhancer = get_enhancer("langchain", model=f"anthropic:{LANGCHAIN_MODEL}", base_url=server.url,
                                timeout=10.0, max_retries=0)
        yield enhancer
        enhancer.release()
