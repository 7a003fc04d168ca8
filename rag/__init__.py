"""rag: retrieval over the prompt index and the PromptAssistant pipeline.

Public API (import from the modules; this package imports nothing heavy on its own):
    rag.retriever.Retriever, RetrievedPrompt, HybridParams      dense / keyword / hybrid + MMR
    rag.langchain.PromptragRetriever, assistant_runnable        LangChain retriever + LCEL Runnable
    rag.assistant.PromptAssistant, AssistantResult              idea -> grounded prompt
    rag.refinement.refine, Session                               feedback rounds with history
    rag.quality.measure, QualityFigures                          tokens, consistency, novelty
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what __getattr__ hands out, seen by type checkers; nothing is imported at run time
    from rag.assistant import AssistantResult, PromptAssistant
    from rag.langchain import PromptragRetriever, assistant_runnable
    from rag.refinement import Session, refine
    from rag.retriever import HybridParams, RetrievedPrompt, Retriever

_LAZY = {
    "Retriever": "rag.retriever",
    "RetrievedPrompt": "rag.retriever",
    "HybridParams": "rag.retriever",
    "PromptAssistant": "rag.assistant",
    "AssistantResult": "rag.assistant",
    "PromptragRetriever": "rag.langchain",
    "assistant_runnable": "rag.langchain",
    "Session": "rag.refinement",
    "refine": "rag.refinement",
}


def __getattr__(name: str):
    """`from rag import Retriever` works, but importing `rag` alone stays free of FAISS/torch."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rag' has no attribute {name!r}")


# _LAZY's names, spelled out: type checkers and `from rag import *` read a literal list.
__all__ = ["Retriever", "RetrievedPrompt", "HybridParams", "PromptAssistant", "AssistantResult",
           "PromptragRetriever", "assistant_runnable", "Session", "refine"]
