"""promptrag inside LangChain: the assistant as an LCEL Runnable, the retriever as a BaseRetriever.

    from rag.assistant import PromptAssistant
    from rag.langchain import assistant_runnable

    chain = assistant_runnable(PromptAssistant.load(index_path))   # retrieve_step | fuse_step
    chain.invoke("a lighthouse in a storm")                        # -> AssistantResult
    chain.invoke({"idea": "a lighthouse", "k": 12, "style": "cinematic", "picks": [1, 3]})
    chain.batch(["a red fox", "a tea house"], config={"max_concurrency": 4})
    for event in chain.stream("a lighthouse"): ...                 # TextDelta / MemberFailed, then
                                                                   # AssistantFinished(result)

It is a real `RunnableSequence` of two steps, so it drops into a LangChain app (or LangServe)
and composes: `retrieve_step(assistant)` turns an idea (a str, or a dict of
`rag.assistant.AssistantOptions` fields) into the fuse input `{"idea", "examples", **fuse
options}`; `fuse_step(assistant)` writes the checked prompt from it, and accepts examples as our
`ExampleUsed`s, LangChain `Document`s (from any retriever; metadata id / score / count are used
when present) or plain strings. `PromptragRetriever` is the index as a LangChain retriever.

Streaming yields the assistant's own typed events (enhancers/events.py plus
`AssistantFinished`): the text deltas are a preview, the final result is the checked prompt.
LangChain, not promptrag, runs the threads of `batch` (the assistant is safe to share).

Deliberately not here: anything the assistant does not do (this module only adapts), and any
import of LangChain outside it: `langchain-core` is the `langchain` extra, and only importing
this module needs it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableConfig
from pydantic import ConfigDict, Field

from core.errors import InputError
from core.validation import validated
from rag.assistant import (
    AssistantOptions,
    AssistantResult,
    ExampleUsed,
    FuseOptions,
    RetrieveOptions,
    default_picks,
    to_examples,
)

METADATA_FIELDS = ("seed", "steps", "cfg", "sampler", "width", "height")
FUSE_FIELDS = tuple(name for name in FuseOptions.model_fields if name != "idea")


def assistant_runnable(assistant: Any) -> Runnable:
    """retrieve → fuse as one LCEL Runnable: invoke / batch / stream; ainvoke / abatch run the
    same code in LangChain's executor (astream yields only the final result: the enhancers stream
    synchronously)."""
    return (retrieve_step(assistant) | fuse_step(assistant)).with_config(run_name="promptrag")


def retrieve_step(assistant: Any) -> Runnable:
    """idea or options dict → {"idea", "examples": [ExampleUsed], **fuse options} (the picks, default top 3)."""
    return RetrieveStep(assistant)


def fuse_step(assistant: Any) -> Runnable:
    """{"idea", "examples", **fuse options} → AssistantResult; streams the assistant's events."""
    return FuseStep(assistant)


class RetrieveStep(Runnable[Any, dict]):
    """The retrieval half of `PromptAssistant.run`, as a Runnable."""

    name = "promptrag_retrieve"

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> dict:
        return self._call_with_config(self._retrieve, input, config)

    def _retrieve(self, value: Any) -> dict:
        # 1. check inputs
        opts = _assistant_options(value)
        # 2. retrieve
        retrieve = {name: getattr(opts, name) for name in RetrieveOptions.model_fields if name != "idea"}
        retrieved = self.assistant.retrieve(opts.idea, **retrieve)
        # 3. the picks (default: the top ones, as `run` takes them)
        picks = opts.picks or default_picks(len(retrieved))
        examples = to_examples(retrieved, picks)
        return {"idea": opts.idea, "examples": examples, **{name: getattr(opts, name) for name in FUSE_FIELDS}}


class FuseStep(Runnable[dict, AssistantResult]):
    """`PromptAssistant.fuse` / `fuse_stream` as a Runnable."""

    name = "promptrag_fuse"

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    def invoke(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> AssistantResult:
        return self._call_with_config(self._fuse, input, config)

    def transform(self, input: Iterator[dict], config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._fuse_events, config)

    def stream(self, input: dict, config: RunnableConfig | None = None, **kwargs: Any) -> Iterator[Any]:
        yield from self.transform(iter([input]), config)

    def _fuse(self, value: dict) -> AssistantResult:
        idea, examples, options = _fuse_input(value)
        return self.assistant.fuse(idea, examples, **options)

    def _fuse_events(self, values: Iterator[dict]) -> Iterator[Any]:
        last = None
        for value in values:  # the step before hands over one finished dict
            last = value
        if last is None:
            raise InputError("the fuse step got no input; pass {'idea': ..., 'examples': [...]}")
        idea, examples, options = _fuse_input(last)
        yield from self.assistant.fuse_stream(idea, examples, **options)


def _assistant_options(value: Any) -> AssistantOptions:
    if isinstance(value, str):
        value = {"idea": value}
    if not isinstance(value, Mapping):
        raise InputError(f"the promptrag runnable takes an idea (str) or a dict of options with 'idea', "
                         f"got {type(value).__name__}")
    return validated(AssistantOptions, "promptrag runnable input", **value)


def _fuse_input(value: Any) -> tuple[str, list[ExampleUsed], dict[str, Any]]:
    if not isinstance(value, Mapping) or "idea" not in value:
        raise InputError("the fuse step takes a dict with 'idea', 'examples' and fuse options "
                         f"({', '.join(FUSE_FIELDS)}), got {type(value).__name__}")
    unknown = sorted(set(value) - {"idea", "examples", *FUSE_FIELDS})
    if unknown:
        raise InputError(f"the fuse step does not take {', '.join(unknown)}; it takes idea, examples, "
                         f"{', '.join(FUSE_FIELDS)}")
    examples = [as_example_used(item, rank) for rank, item in enumerate(value.get("examples") or [], start=1)]
    return value["idea"], examples, {name: value[name] for name in FUSE_FIELDS if name in value}


def as_example_used(item: Any, rank: int) -> ExampleUsed:
    """An ExampleUsed from ours, a LangChain Document (any retriever's) or a plain string."""
    if isinstance(item, ExampleUsed):
        return item
    if isinstance(item, Document):
        meta = item.metadata or {}
        settings = {name: meta[name] for name in METADATA_FIELDS if meta.get(name) is not None}
        return ExampleUsed(rank=rank, id=meta.get("id"), text=item.page_content, score=float(meta.get("score", 1.0)),
                           count=int(meta.get("count", 1)), settings=settings)
    if isinstance(item, str):
        return ExampleUsed(rank=rank, id=None, text=item, score=1.0, count=1)
    raise InputError(f"examples[{rank - 1}] must be an ExampleUsed, a LangChain Document or a string, "
                     f"got {type(item).__name__}")


# --- the index as a LangChain retriever --------------------------------------------------------


class PromptragRetriever(BaseRetriever):
    """LangChain view of a promptrag `Retriever`: one Document per stored prompt.

    `page_content` is the prompt text; `metadata` holds its id, score, count and generation
    settings (seed, steps, cfg, sampler, width, height).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    retriever: Any = Field(description="A rag.retriever.Retriever.")
    k: int = Field(8, ge=1, le=200, description="How many prompts to return.")
    mode: str = Field("hybrid", description="dense, keyword or hybrid.")
    filters: Any = Field(None, description="index.SearchFilters, or None.")
    diversity: float | None = Field(None, ge=0.0, le=1.0, description="MMR diversity, or None.")

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        results = self.retriever.search(query, k=self.k, mode=self.mode, filters=self.filters,
                                        diversity=self.diversity)
        return [to_document(r) for r in results]


def to_document(result: Any) -> Document:
    """A `RetrievedPrompt` as a LangChain Document."""
    hit = result.hit
    metadata = {"id": hit.id, "score": result.score, "count": hit.count}
    metadata.update({name: getattr(hit, name) for name in METADATA_FIELDS})
    return Document(page_content=hit.prompt, metadata=metadata)
