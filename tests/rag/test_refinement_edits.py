"""A round as the user edited it by hand: what the next feedback revises, and its figures."""

from __future__ import annotations

import numpy as np

from rag.assistant import AssistantResult, ExampleUsed
from rag.quality import QualityFigures
from rag.refinement import edited_figures, with_edits


class WordEmbedder:
    """Bag-of-words vectors over a tiny vocabulary, L2-normalised like the index's embedder."""

    words = ("lighthouse", "storm", "oil", "painting", "moody", "neon", "city")

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        rows = np.array([[float(w in t) for w in self.words] for t in texts], dtype=np.float32) + 1e-3
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def result() -> AssistantResult:
    examples = [ExampleUsed(1, 11, "a lighthouse in a storm, oil painting", 0.9, 3),
                ExampleUsed(2, 12, "neon city at night", 0.2, 1)]
    quality = QualityFigures(9, 77, 0.8, 0.7, 11, [3, 1])
    return AssistantResult("a lighthouse in a storm", "a lighthouse in a storm, oil painting, moody",
                           "blurry", "artistic", "grounded", examples, [], {}, [], quality,
                           {"model_family": "sd1"})


def test_with_edits_is_the_round_itself_until_edited():
    original = result()
    assert with_edits(original, original.prompt, original.negative_prompt) is original
    edited = with_edits(original, "a lighthouse, neon city", "text")
    assert (edited.prompt, edited.negative_prompt) == ("a lighthouse, neon city", "text")
    assert edited.examples == original.examples and edited.options == original.options
    assert original.prompt.endswith("moody")  # the round itself is untouched


def test_edited_figures_are_measured_again_only_for_an_edited_prompt():
    original, embedder = result(), WordEmbedder()
    assert edited_figures(original, original.prompt, embedder=embedder) is original.quality
    assert edited_figures(original, "  ", embedder=embedder) is original.quality
    assert embedder.calls == []
    figures = edited_figures(original, "neon city", embedder=embedder)
    assert figures.token_budget == 77 and figures.token_count < original.quality.token_count
    assert figures.closest_example_id == 12 and figures.novelty > 0.99  # a copy of example 2
    assert figures.consistency < 0.1  # it left the idea
    assert embedder.calls == [["a lighthouse in a storm", "neon city", *(e.text for e in original.examples)]]
