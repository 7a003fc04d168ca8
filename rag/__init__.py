"""rag: retrieval over the prompt index and the PromptAssistant pipeline.

Public API (import from the modules; this package imports nothing heavy on its own):
    rag.retriever.Retriever, RetrievedPrompt, HybridParams      dense / keyword / hybrid + MMR
    rag.langchain_retriever.PromptragRetriever                 LangChain BaseRetriever adapter
    rag.assistant.PromptAssistant, AssistantResult              idea -> grounded prompt
    rag.refinement.refine, Session                               feedback rounds with history
    rag.quality.measure, QualityFigures                          tokens, consistency, novelty
"""
