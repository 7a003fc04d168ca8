"""Text metrics of one prompt made for one idea (no image, no judge).

- tokens: the prompt's CLIP token count (enhancers/tokens.py) and whether it is over the
  model family's budget (77 for SD 1.x / SDXL): the image model cuts what is over;
- consistency: cosine of the idea and prompt embeddings (did the prompt stay on the idea?);
- example_similarity: the prompt's highest cosine to the retrieved examples it was made from
  (1.0 is a copy; None without retrieval) — the same figure as the app's "novelty";
- diversity: 1 − the mean pairwise cosine of the candidate prompts (None with one candidate):
  how different the alternatives a user is offered are;
- craft (`craft_figures`, enhancers/craft_checks.py): negative-prompt terms that ban what the
  prompt asks for, broken joins ("with during", ". ,"), and scene nouns leaked from the
  retrieved examples (issue 19).

Embeddings come from one embedder (the index's, so the figures live in the space retrieval
uses); `RunEmbedder` is the one a run's threads share (serialised calls, each text embedded once).
Aggregating over ideas is summary.py's job; percentiles and rates live there.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from enhancers.base import TOKEN_BUDGET
from enhancers.craft_checks import broken_joins, negative_contradictions, scene_leaks
from enhancers.tokens import count_clip_tokens
from index.embedder import Embedder


@dataclass(frozen=True)
class TextMetrics:
    tokens: int
    token_budget: int
    over_budget: bool
    consistency: float | None
    example_similarity: float | None
    diversity: float | None


def token_figures(prompt: str, model_family: str = "sdxl") -> tuple[int, int, bool]:
    """(CLIP tokens, budget, over budget) of `prompt` for `model_family`."""
    budget = TOKEN_BUDGET[model_family]
    tokens = count_clip_tokens(prompt)
    return tokens, budget, tokens > budget


def diversity(vectors: np.ndarray) -> float | None:
    """1 − mean pairwise cosine of L2-normalised rows; None for fewer than two rows."""
    n = len(vectors)
    if n < 2:
        return None
    sims = vectors @ vectors.T
    mean = (sims.sum() - np.trace(sims)) / (n * (n - 1))
    return round(max(0.0, float(1.0 - mean)), 4)


def text_metrics(idea: str, prompt: str, *, candidates: Sequence[str] = (), examples: Sequence[str] = (),
                 embedder: Any, model_family: str = "sdxl") -> TextMetrics:
    """All text figures of `prompt` made from `idea` (candidates include the prompt itself)."""
    tokens, budget, over = token_figures(prompt, model_family)
    offered = [c for c in candidates if c.strip()]
    texts = [idea, prompt, *examples, *offered]
    vectors = np.asarray(embedder.embed(texts), dtype=np.float32)
    consistency = round(float(vectors[0] @ vectors[1]), 4)
    example_vectors = vectors[2 : 2 + len(examples)]
    similarity = round(float((example_vectors @ vectors[1]).max()), 4) if len(examples) else None
    spread = diversity(vectors[2 + len(examples):])
    return TextMetrics(tokens, budget, over, consistency, similarity, spread)


@dataclass(frozen=True)
class CraftFigures:
    contradictions: list[str]  # negative terms that ban what the prompt or the idea asks for
    broken_joins: list[str]  # seams, each with the text around it
    scene_leaks: list[str]  # nouns of the examples' scenes the idea never said (empty without examples)


def craft_figures(idea: str, prompt: str, negative: str = "", *, examples: Sequence[str] = ()) -> CraftFigures:
    """The prompt-craft checks of one prompt (pure text; no embedder)."""
    return CraftFigures(negative_contradictions(prompt, negative, idea=idea), broken_joins(prompt),
                        scene_leaks(prompt, idea, examples) if examples else [])


class RunEmbedder(Embedder):
    """The run's one embedder, shared by its threads: one model call at a time (Hugging Face
    fast tokenizers are not re-entrant) and each distinct text embedded once (an idea is
    embedded for retrieval, by the assistant's checks and by the metrics)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self._lock = threading.Lock()
        self._memo: dict[str, np.ndarray] = {}

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: Sequence[str], batch_size: int = 64, progress: Any = None) -> np.ndarray:
        texts = list(texts)
        with self._lock:
            new = [t for t in dict.fromkeys(texts) if t not in self._memo]
            if new:
                for text, vector in zip(new, self.inner.embed(new, batch_size=batch_size)):
                    self._memo[text] = vector
            if not texts:
                return np.zeros((0, self.dimension), dtype=np.float32)
            return np.stack([self._memo[t] for t in texts])
