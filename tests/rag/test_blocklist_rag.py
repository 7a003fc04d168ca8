"""The blocklist through the assistant: grounded fusion and "closer to example N" refinement."""

from __future__ import annotations

from enhancers.registry import get_enhancer
from rag.assistant import ExampleUsed, PromptAssistant
from rag.refinement import refine

EXAMPLES = [
    ExampleUsed(1, 11, "a harbour at dawn, oil painting by greg rutkowski, soft light, misty", 0.8, 3),
    ExampleUsed(2, 12, "boats in a harbour, watercolor, by alphonse mucha, pastel colors", 0.7, 1),
]


def test_fusion_and_a_pulled_example_leave_blocked_artists_out(embedder, tmp_path, monkeypatch):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("greg rutkowski\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(blocklist))
    assistant = PromptAssistant(None, get_enhancer("grounded"), embedder=embedder)
    first = assistant.fuse("a quiet harbour at dawn", EXAMPLES, creativity=1.0)
    assert first.prompt.startswith("a quiet harbour at dawn") and "rutkowski" not in first.prompt
    pulled = refine(first, "closer to example 1", embedder=embedder)
    assert "rutkowski" not in pulled.prompt and "soft light" in pulled.prompt


def test_an_idea_that_names_the_artist_keeps_it(embedder, tmp_path, monkeypatch):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("greg rutkowski\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(blocklist))
    assistant = PromptAssistant(None, get_enhancer("grounded"), embedder=embedder)
    result = assistant.fuse("a harbour at dawn by greg rutkowski", EXAMPLES)
    assert "greg rutkowski" in result.prompt
    assert any("because your idea names it" in p for p in result.problems)
