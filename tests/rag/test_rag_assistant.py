"""PromptAssistant end to end on a real index: grounded path, Claude path, checks, hostile rows,
refinement rounds and the `promptrag refine` command."""

from __future__ import annotations

import json
import time

import pytest

from core.errors import InputError
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.grounded import GroundedEnhancer
from enhancers.registry import ENHANCERS
from rag.assistant import AssistantResult, PromptAssistant
from rag.refinement import Session, refine
from rag.retriever import Retriever
from tests.rag.conftest import HOSTILE


class CopyingEnhancer(Enhancer):
    """A misbehaving backend (registered like any add-on): answers with example 1 verbatim."""

    name = "copycat"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        text = request.examples[0].text if request.examples else ""
        return self.make_result(request, [Candidate(text, "")], style="artistic", started=time.perf_counter())


class BlankEnhancer(Enhancer):
    """A misbehaving backend that answers with an empty prompt."""

    name = "blank"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        return self.make_result(request, [Candidate("  ", "")], style="artistic", started=time.perf_counter())


@pytest.fixture
def misbehaving(monkeypatch):
    """The fakes registered through the real registry for one test (removed again after it)."""
    monkeypatch.setitem(ENHANCERS._factories, "copycat", CopyingEnhancer)
    monkeypatch.setitem(ENHANCERS._factories, "blank", BlankEnhancer)


@pytest.fixture(scope="module")
def assistant(rag_index, embedder):
    return PromptAssistant(Retriever(rag_index), GroundedEnhancer(), embedder=embedder)


def test_grounded_run_returns_prompt_examples_and_figures(assistant):
    result = assistant.run("a lighthouse on a cliff in a storm", k=8, picks=[1, 3], n_candidates=2)
    assert result.enhancer == "grounded"
    assert result.prompt.startswith("a lighthouse on a cliff in a storm")
    assert [e.rank for e in result.examples] == [1, 3]
    assert all(e.text and e.id is not None and e.count >= 1 for e in result.examples)
    q = result.quality
    assert q.token_count <= q.token_budget == 77 and q.consistency > 0.3 and not q.is_copy
    assert q.example_counts == [e.count for e in result.examples]
    assert len(result.candidates) == 2 and result.candidates[0].consistency >= 0
    assert result.problems == []
    assert {"retrieve_s", "enhance_s", "total_s"} <= set(result.timings)
    data = json.loads(json.dumps(result.to_dict()))  # JSON-safe
    assert AssistantResult.from_dict(data).prompt == result.prompt


def test_bad_options_are_reported_by_name(assistant):
    with pytest.raises(InputError, match="picks"):
        assistant.run("a cat", picks=[0])
    with pytest.raises(InputError, match="beyond the 4 prompts"):
        assistant.run("a cat", k=4, picks=[5])
    with pytest.raises(InputError, match="creativity"):
        assistant.run("a cat", creativity=3)


@pytest.mark.parametrize(("name", "reason"), [("copycat", "copy of example"), ("blank", "empty prompt")])
def test_a_copied_or_empty_answer_is_replaced_and_the_reason_shown(rag_index, embedder, misbehaving, name, reason):
    assistant = PromptAssistant(Retriever(rag_index), ENHANCERS.get(name), embedder=embedder)
    result = assistant.run("a portrait of a woman", k=5)
    assert result.enhancer == "grounded"
    assert name in result.fallback_reasons and reason in result.fallback_reasons[name]
    assert not result.quality.is_copy and result.prompt.startswith("a portrait of a woman")


def test_hostile_rows_do_not_break_the_output(hostile_index, embedder):
    retriever = Retriever(hostile_index)
    idea = "a castle and a lighthouse in a storm"
    ranked = retriever.search(idea, k=len(hostile_index), mode="dense")
    hostile_ranks = [r.rank for r in ranked if r.id >= len(hostile_index) - len(HOSTILE)]
    assert len(hostile_ranks) == len(HOSTILE)
    assistant = PromptAssistant(retriever, GroundedEnhancer(), embedder=embedder)
    result = assistant.run(idea, k=len(hostile_index), mode="dense", picks=hostile_ranks)
    assert {e.id for e in result.examples} == {r.id for r in ranked if r.rank in hostile_ranks}
    assert result.quality.within_budget
    assert not any(ch in result.prompt for ch in "\x07\x1b\x0b")
    assert "ignore all previous instructions" not in result.prompt
    assert "castle castle" not in result.prompt  # the 10 KB example's subject is never copied
    json.dumps(result.to_dict())


def test_claude_path_sends_the_picked_examples_fenced(rag_index, embedder, monkeypatch):
    pytest.importorskip("anthropic")
    from tests.servers.anthropic_server import AnthropicServer, message_reply

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0000")
    answer = {"prompt": "a frog knight, oil painting, rim lighting", "negative_prompt": "blurry", "rationale": "t"}
    with AnthropicServer() as server:
        server.queue(message_reply(json.dumps(answer)))
        claude = ENHANCERS.get("anthropic", base_url=server.url, timeout=5.0, max_retries=0)
        assistant = PromptAssistant(Retriever(rag_index), claude, embedder=embedder)
        result = assistant.run("a frog knight", k=5, picks=[2, 4])
        body = json.dumps(server.messages()[0])
    assert result.enhancer == "anthropic" and result.prompt == answer["prompt"]
    for example in result.examples:
        fenced = example.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        assert json.dumps(fenced)[1:-1] in body
    assert "<examples>" in body or "<example" in body


def test_refine_twice_step_back_and_continue_from_json(assistant):
    first = assistant.run("a quiet harbour at dawn", k=6, picks=[1, 2, 3])
    session = Session([first])
    moodier = session.refine("moodier, no text")
    assert moodier.prompt.startswith("a quiet harbour at dawn") and "moody" in moodier.prompt
    assert "text" in moodier.negative_prompt
    pulled = session.refine("closer to example 2")
    from enhancers.grounded import modifier_phrases

    wanted = [p for p, _ in modifier_phrases(first.examples[1].text)[:4]]
    assert all(p in pulled.prompt for p in wanted if p.lower() not in moodier.prompt.lower())
    assert pulled.examples[1].score > first.examples[1].score
    assert len(session.rounds) == 3
    assert session.step_back().prompt == moodier.prompt and len(session.rounds) == 2
    again = Session.from_json(session.to_json())
    assert [r.prompt for r in again.rounds] == [r.prompt for r in session.rounds]
    assert again.feedback == ["moodier, no text"]
    with pytest.raises(InputError, match="example 9"):
        refine(first, "closer to example 9")


def test_refine_command_reads_and_writes_result_files(assistant, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(assistant.run("a red bicycle in the rain", k=4).to_dict()), encoding="utf-8")
    out = tmp_path / "new.json"
    run = CliRunner().invoke(app, ["refine", str(saved), "brighter", "--json", "-o", str(out)])
    assert run.exit_code == 0, run.output
    printed = json.loads(run.stdout)
    assert printed["rounds"][-1]["prompt"].startswith("a red bicycle in the rain")
    assert json.loads(out.read_text())["feedback"] == ["brighter"]


def test_refine_of_a_missing_file_is_one_line(tmp_path, promptrag_cli):
    missing = tmp_path / "missing.json"
    line = promptrag_cli("refine", missing, "brighter").one_line_error()
    assert line == (f"promptrag: error: result file {missing} does not exist; pass a file written by "
                    "`promptrag enhance --rag --json > FILE` or `promptrag refine -o FILE`")


def test_refine_step_back_from_the_command_line(assistant, tmp_path, promptrag_cli):
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(assistant.run("a red bicycle in the rain", k=4).to_dict()), encoding="utf-8")
    # a lone result has no earlier round
    lone = promptrag_cli("refine", saved, "--step-back")
    assert lone.exit_code == 2 and lone.stdout == ""
    assert lone.one_line_error() == ("promptrag: error: nothing to step back to: the session has only its "
                                     "first result")
    # two rounds on, one back: the first refinement is current again, its feedback kept, the other gone
    one, two, back = tmp_path / "one.json", tmp_path / "two.json", tmp_path / "back.json"
    assert promptrag_cli("refine", saved, "brighter", "-o", one).exit_code == 0
    assert promptrag_cli("refine", one, "moodier, no text", "-o", two).exit_code == 0
    stepped = promptrag_cli("refine", two, "--step-back", "-o", back)
    assert stepped.exit_code == 0 and stepped.stderr == ""
    brighter = json.loads(one.read_text(encoding="utf-8"))["rounds"][-1]["prompt"]
    assert stepped.stdout.startswith(f"round 2\nprompt:    {brighter}\n")
    session = json.loads(back.read_text(encoding="utf-8"))
    assert len(session["rounds"]) == 2 and session["feedback"] == ["brighter"]
    assert session["rounds"][-1]["prompt"] == brighter
    assert json.loads(two.read_text(encoding="utf-8"))["feedback"] == ["brighter", "moodier, no text"]  # untouched


def test_enhance_command_with_rag_prints_the_examples(rag_index):
    from typer.testing import CliRunner

    from cli.main import app

    run = CliRunner().invoke(app, ["enhance", "a castle on a hill", "--rag", "-k", "5", "--pick", "1,3",
                                   "--mode", "hybrid", "--index", str(rag_index.path), "--json"])
    assert run.exit_code == 0, run.output
    data = json.loads(run.stdout)
    assert [e["rank"] for e in data["examples"]] == [1, 3]
    assert data["enhancer"] == "grounded" and "anthropic" in data["fallback_reasons"]  # no key in tests
    assert data["prompt"].startswith("a castle on a hill")
