"""`promptrag search --hide-blocked`: prompts holding a blocklisted word or artist are left out."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from cli import search_cmd


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    search_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)
    return app


def prompts(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [r["prompt"] for r in json.loads(result.stdout)["results"]]


def test_hide_blocked_leaves_out_blocked_prompts_and_says_how_many(app, literal_index_dir, tmp_path, monkeypatch):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("# mine\nre:^rembrandt$\nrembrandt\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(blocklist))
    args = ["search", "an old fisherman portrait oil painting", "-k", "3", "--json", "--index", str(literal_index_dir)]
    shown = prompts(CliRunner().invoke(app, args))
    assert any("rembrandt" in p for p in shown)
    result = CliRunner().invoke(app, [*args, "--hide-blocked"])
    hidden = prompts(result)
    assert len(hidden) == 3 and not any("rembrandt" in p for p in hidden)
    assert "hid 1 prompts that hold a blocked word or artist" in result.stderr


def test_a_bad_blocklist_is_one_line_naming_the_line(app, literal_index_dir, tmp_path, monkeypatch):
    blocklist = tmp_path / "blocklist.txt"
    blocklist.write_text("fine\nre:[unclosed\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(blocklist))
    result = CliRunner().invoke(app, ["search", "a fox", "--hide-blocked", "--index", str(literal_index_dir)])
    assert result.exit_code != 0
    assert isinstance(result.exception, Exception) and "line 2: invalid regular expression" in str(result.exception)
