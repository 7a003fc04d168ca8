"""A LangChain `BaseRetriever` over our `Retriever`, for users who compose LangChain chains.

`PromptragRetriever(retriever=Retriever.load(path), k=8, mode="hybrid")` returns one
`Document` per stored prompt: `page_content` is the prompt text, `metadata` holds its id,
score, count and generation settings (seed, steps, cfg, sampler, width, height).

Deliberately not here: anything the plain `Retriever` does not do; this is a thin seam so the
rest of promptrag never depends on LangChain (it is imported only when this module is).
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict, Field

METADATA_FIELDS = ("seed", "steps", "cfg", "sampler", "width", "height")


class PromptragRetriever(BaseRetriever):
    """LangChain view of a promptrag `Retriever`."""

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
