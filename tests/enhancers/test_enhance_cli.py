"""`promptrag enhance`: JSON shape, visible fallback, clear one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import ConfigError, InputError
from enhancers.tokens import count_clip_tokens

runner = CliRunner()


@pytest.fixture(autouse=True)
def anthropic_then_rules(monkeypatch):
    # The chain the user configured; no ANTHROPIC_API_KEY is set (conftest removes it).
    monkeypatch.setenv("PROMPTRAG_ENHANCER_CHAIN", '["anthropic", "rules"]')


def test_json_output_is_the_result_dict():
    out = runner.invoke(app, ["enhance", "a red fox in the snow", "--enhancer", "rules", "-n", "3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["enhancer"] == "rules"
    assert data["prompt"].startswith("a red fox in the snow")
    assert len(data["candidates"]) == 3 and data["candidates"][0]["prompt"] == data["prompt"]
    assert data["token_count"] == count_clip_tokens(data["prompt"]) and data["token_budget"] == 77
    assert data["used_fallback"] is False and data["within_budget"] is True
    assert {"negative_prompt", "style", "rationale", "fallback_reasons", "timings"} <= set(data)


def test_default_chain_shows_the_fallback_and_who_answered():
    out = runner.invoke(app, ["enhance", "a red fox in the snow"])
    assert out.exit_code == 0, out.output
    assert "anthropic failed: ANTHROPIC_API_KEY is not set" in out.stdout
    assert "→ answered by rules" in out.stdout
    assert "prompt:    a red fox in the snow, " in out.stdout
    assert "/ 77 CLIP tokens (within budget)" in out.stdout


def test_options_reach_the_request():
    out = runner.invoke(
        app,
        [
            "enhance",
            "a cat",
            "-e",
            "rules",
            "--style",
            "coloring book",
            "--creativity",
            "0",
            "--family",
            "sd1",
            "--example",
            "a dog, bold outlines",
            "--json",
        ],
    )
    data = json.loads(out.stdout)
    assert data["style"] == "coloring book" and "shading" in data["negative_prompt"]
    assert "1 example(s)" in data["rationale"]


def test_candidates_are_listed_when_more_than_one():
    out = runner.invoke(app, ["enhance", "a lighthouse", "-e", "rules", "-n", "2"])
    assert "candidates:\n  1. a lighthouse" in out.stdout and "\n  2. a lighthouse" in out.stdout


def test_refinement_options():
    out = runner.invoke(
        app,
        [
            "enhance",
            "a fox",
            "-e",
            "rules",
            "--previous",
            "a fox, oil painting",
            "--feedback",
            "no text",
            "--json",
        ],
    )
    data = json.loads(out.stdout)
    assert data["prompt"] == "a fox, oil painting" and data["negative_prompt"].startswith("text, watermark")


def test_bad_values_are_input_errors_naming_the_option():
    out = runner.invoke(app, ["enhance", "a fox", "--creativity", "2"])
    assert isinstance(out.exception, InputError) and "creativity" in str(out.exception)
    out = runner.invoke(app, ["enhance", "a fox", "--style", "vaporwave"])
    assert isinstance(out.exception, InputError) and "coloring book" in str(out.exception)
    out = runner.invoke(app, ["enhance", "a fox", "--enhancer", "gpt"])
    assert isinstance(out.exception, ConfigError) and "known enhancers" in str(out.exception)


def test_explicit_single_enhancer_does_not_silently_fall_back(promptrag_cli):
    failed = promptrag_cli("enhance", "a fox", "--enhancer", "anthropic")
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.one_line_error().startswith("promptrag: error: ")
    assert "ANTHROPIC_API_KEY is not set" in failed.one_line_error()
    out = runner.invoke(app, ["enhance", "a fox", "--enhancer", "anthropic,rules", "--json"])
    assert json.loads(out.stdout)["fallback_reasons"].keys() == {"anthropic"}


def test_real_command_prints_one_clear_line_for_bad_creativity():
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "enhance", "a fox", "--creativity", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == InputError.exit_code
    assert proc.stderr.strip().splitlines() == [
        "promptrag: error: invalid enhance options: creativity: Input should be less than or equal to 1 (got 2.0)"
    ]
    assert proc.stdout == ""
