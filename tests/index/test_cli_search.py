"""`promptrag search` through the real Typer command (in process) and the real entry point (subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from cli import search_cmd
from core.errors import IndexLoadError, InputError


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    search_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep "search" a named sub-command
    return app


def test_json_output_shape(app, literal_index_dir):
    result = CliRunner().invoke(
        app, ["search", "a fox in the snow", "-k", "3", "--json", "--index", str(literal_index_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert list(data) == ["results"] and len(data["results"]) == 3
    first = data["results"][0]
    assert first["prompt"].startswith("a majestic red fox") and first["id"] == 0
    assert {"score", "count", "seed", "steps", "cfg", "sampler", "width", "height", "source"} <= set(first)


def test_filters_and_table(app, literal_index_dir):
    args = [
        "search",
        "a painting",
        "--index",
        str(literal_index_dir),
        "--size",
        "512x768",
        "--sampler",
        "k_lms",
        "--min-count",
        "2",
        "--max-nsfw",
        "0.5",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split()[:3] == ["#", "score", "count"]
    rows = lines[2:]
    assert len(rows) == 2 and all("k_lms" in r and "512x768" in r for r in rows)


def test_bad_options_are_input_errors(app, literal_index_dir):
    for args in (["--size", "big"], ["--max-nsfw", "2"], ["-k", "0"], ["--min-count", "0"]):
        result = CliRunner().invoke(app, ["search", "fox", "--index", str(literal_index_dir), *args])
        assert isinstance(result.exception, InputError), args


def test_missing_index_in_process(app, tmp_path):
    result = CliRunner().invoke(app, ["search", "fox", "--index", str(tmp_path / "none")])
    assert isinstance(result.exception, IndexLoadError)


def test_missing_index_entry_point_one_line_and_exit_code(tmp_path):
    env_home = tmp_path / "home"
    proc = subprocess.run(
        [sys.executable, "-c", "from cli.main import main; main()", "search", "a fox"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PROMPTRAG_HOME": str(env_home), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "promptrag ingest" in lines[0] and str(env_home) in lines[0]
    assert proc.stdout == ""
