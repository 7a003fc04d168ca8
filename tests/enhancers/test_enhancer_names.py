"""The one enhancer-name parser (enhancers.registry.parse_enhancer_spec) as the CLI, campaign
briefs and chains use it, and the one style list (enhancers.base.STYLES) every table follows."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import ConfigError
from enhancers.registry import get_enhancer, parse_enhancer_spec, split_member

runner = CliRunner()


@pytest.mark.parametrize(("spec", "members"), [
    ("chain", ["chain"]),
    ("rules", ["rules"]),
    (" local , rules ", ["local", "rules"]),
    ("langchain:openai:gpt-4.1-mini,rules", ["langchain:openai:gpt-4.1-mini", "rules"]),
    ("local:bartowski/Qwen2.5-3B-GGUF:qwen2.5-3b-q4_k_m.gguf",
     ["local:bartowski/Qwen2.5-3B-GGUF:qwen2.5-3b-q4_k_m.gguf"]),
])
def test_specs_split_into_checked_members(spec, members):
    assert parse_enhancer_spec(spec) == members


@pytest.mark.parametrize(("spec", "message"), [
    ("", "no enhancer named"),
    ("gpt", "unknown enhancer 'gpt'.*known enhancers: .*anthropic.*rules"),
    ("rules,chain", "'chain' cannot be part of a list"),
    ("anthropic:", "names no model after ':'; write anthropic:MODEL"),
])
def test_bad_specs_say_how_to_fix_them(spec, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_enhancer_spec(spec)
    assert "\n" not in str(info.value)


def test_the_model_after_the_first_colon_reaches_the_enhancer():
    assert split_member("langchain:ollama:qwen2.5:7b") == ("langchain", "ollama:qwen2.5:7b")
    assert split_member("rules") == ("rules", None)
    pytest.importorskip("boto3")
    assert get_enhancer("bedrock:us.anthropic.claude-haiku-4-5").model == "us.anthropic.claude-haiku-4-5"


def test_a_campaign_brief_uses_the_same_parser():
    from campaign.brief import brief_from_dict

    brief = brief_from_dict({"subject": "a trail running shoe", "enhancer": "langchain:openai:gpt-4.1-mini, rules"})
    assert brief.enhancer == "langchain:openai:gpt-4.1-mini,rules"
    with pytest.raises(Exception, match="unknown enhancer 'gpt'"):
        brief_from_dict({"subject": "a trail running shoe", "enhancer": "gpt"})


def test_cli_names_a_langchain_model_and_falls_back_visibly(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("langchain_openai") is not None:
        pytest.skip("langchain-openai is installed here")
    out = runner.invoke(app, ["enhance", "a red fox", "-e", "langchain:openai:gpt-4.1-mini,rules", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["enhancer"] == "rules"
    assert data["fallback_reasons"] == {"langchain:openai:gpt-4.1-mini": "langchain:openai:gpt-4.1-mini needs the "
                                        "langchain-openai package: pip install langchain-openai"}


def test_cli_alone_member_fails_with_one_line(monkeypatch):
    import importlib.util

    if importlib.util.find_spec("langchain_openai") is not None:
        pytest.skip("langchain-openai is installed here")
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cli.main", "enhance", "a red fox", "-e",
                           "langchain:openai:gpt-4.1-mini"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert "pip install langchain-openai" in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert len(proc.stderr.strip().splitlines()) == 1


def test_cli_through_a_langchain_chat_model(monkeypatch):
    pytest.importorskip("langchain_anthropic")
    from tests.servers.anthropic_server import AnthropicServer

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-cli-test")
    with AnthropicServer() as server:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)  # read by the anthropic SDK under ChatAnthropic
        out = runner.invoke(app, ["enhance", "a red fox in the snow", "-e", "langchain:anthropic:claude-test-1",
                                  "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["enhancer"] == "langchain:anthropic:claude-test-1"
    assert data["prompt"] == "a red fox in the snow, highly detailed, dramatic light"


def test_cli_help_lists_the_styles_from_the_one_list():
    from enhancers.base import STYLES

    out = runner.invoke(app, ["enhance", "--help"], env={"COLUMNS": "400"})
    assert out.exit_code == 0
    help_text = " ".join(out.stdout.split())
    for style in STYLES:
        assert style in help_text
    assert "NAME:MODEL" in help_text


def test_every_style_table_follows_the_one_list():
    from campaign.brief import CAMPAIGN_STYLES
    from enhancers.base import CONCRETE_STYLES, STYLES
    from enhancers.prompting import _STYLE_INSTRUCTIONS
    from enhancers.styles import STYLE_PRIORITY, STYLE_SPECS

    assert STYLES[0] == "auto" and CONCRETE_STYLES == STYLES[1:]
    assert set(STYLE_SPECS) == set(STYLE_PRIORITY) == set(CONCRETE_STYLES) == set(CAMPAIGN_STYLES)
    assert set(_STYLE_INSTRUCTIONS) == set(STYLES)
