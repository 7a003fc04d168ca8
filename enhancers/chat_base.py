"""The one base of the chat-model enhancers: Claude (Anthropic API, Bedrock) and LangChain models.

Every chat-model enhancer does the same five things: render the templates into a request
(`build_request`, pure), send it (`send`) or stream it (`send_stream`), turn transport errors
into our errors (`errors`), and parse the answer into validated candidates (`result`). Only the
transport differs, so a subclass implements the four transport methods and nothing else:

    class AnthropicEnhancer(ChatEnhancer):
        def build_request(self, request) -> dict: ...          # the Messages API call
        def send(self, call) -> Answer: ...                    # messages.create
        def send_stream(self, call) -> Iterator[str | Answer]: # raw text chunks, then the Answer
        def errors(self) -> ContextManager: ...                # SDK errors -> BackendError & co

`stream` shows the prompt text as it arrives (`prompt_stream.PromptTextStream` hides the JSON
around it) and ends in `Finished(result)`; the parsed answer, not the preview, is the result.

Deliberately not here: templates (prompting.py), the tolerant parser (llm_output.py), SDK
clients and their retry policies (each subclass configures its own SDK's retries).
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, ClassVar

from core.errors import BackendError
from core.spend import paid_call
from enhancers.base import Enhancer, EnhanceRequest, EnhanceResult
from enhancers.events import Finished, StreamEvent, TextDelta
from enhancers.llm_output import parse_with_stop_reason, result_style
from enhancers.prompt_stream import PromptTextStream

TOKENS_PER_CANDIDATE = 512
MAX_OUTPUT_TOKENS = 4096


def max_tokens_for(n_candidates: int) -> int:
    """Output budget: a prompt + negative prompt + rationale fit well within 512 tokens."""
    return min(MAX_OUTPUT_TOKENS, TOKENS_PER_CANDIDATE * n_candidates)


@dataclass(frozen=True)
class Answer:
    """What a model sent back: its raw text (the JSON answer) and why it stopped."""

    text: str
    stop_reason: str | None = None
    input_tokens: int | None = None   # the usage the API reported (None: it did not; core.spend estimates)
    output_tokens: int | None = None


class ChatEnhancer(Enhancer):
    """A chat model writes the prompt JSON; subclasses supply the transport."""

    supports_streaming: ClassVar[bool] = True
    uses_network: ClassVar[bool] = True
    thread_safe: ClassVar[bool] = True  # each call is its own HTTP request; SDK clients are thread-safe
    model: str

    @abstractmethod
    def build_request(self, request: EnhanceRequest) -> Any:
        """The transport's call for `request` (pure: no I/O, no client)."""

    @abstractmethod
    def send(self, call: Any) -> Answer:
        """Send `call` and return the whole answer."""

    @abstractmethod
    def send_stream(self, call: Any) -> Iterator[str | Answer]:
        """Send `call` streaming: yield raw text chunks as they arrive, then one `Answer`."""

    @abstractmethod
    def errors(self) -> AbstractContextManager[None]:
        """A context in which the transport's exceptions become core.errors types."""

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        call = self.build_request(request)
        with self._paid(request, call) as meter:
            with self.errors():
                answer = self.send(call)
            meter.record(answer.input_tokens, answer.output_tokens, text_out=answer.text)
        return self.result(request, answer, started)

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        """TextDeltas of the prompt as the model writes it (not the raw JSON), then Finished(result)."""
        started = time.perf_counter()
        call = self.build_request(request)
        shown = PromptTextStream()
        answer = None
        with self._paid(request, call) as meter:
            with self.errors():
                for item in self.send_stream(call):
                    if isinstance(item, Answer):
                        answer = item
                    elif text := shown.feed(item):
                        yield TextDelta(text)
            if answer is not None:
                meter.record(answer.input_tokens, answer.output_tokens, text_out=answer.text)
        if answer is None:
            raise BackendError(f"{self.name} stopped streaming without a final answer; try again")
        yield Finished(self.result(request, answer, started))

    def _paid(self, request: EnhanceRequest, call: Any) -> AbstractContextManager[Any]:
        """core.spend's caps checked before the call (~3 characters a token), its usage logged after."""
        return paid_call(self.name, self.model, input_estimate=len(str(call)) // 3,
                         output_limit=max_tokens_for(request.n_candidates))

    def result(self, request: EnhanceRequest, answer: Answer, started: float) -> EnhanceResult:
        """Parse and validate `answer` into the result (raises BackendError saying why it is unusable)."""
        api_s = time.perf_counter() - started
        prompts = parse_with_stop_reason(answer.text, request.n_candidates, answer.stop_reason, self.model)
        candidates = [prompt.to_candidate() for prompt in prompts]
        style = result_style(request, prompts)
        return self.make_result(request, candidates, style=style, started=started, timings={"api_s": api_s})
