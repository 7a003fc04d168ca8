"""`promptrag ingest` as a user runs it: exit codes, one-line errors, JSON report."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.ingest.conftest import REFL


def promptrag(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], capture_output=True, text=True,
                          timeout=300)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("promptrag: error: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_ingest_json_report(tmp_path, shared_data):
    from typer.testing import CliRunner

    from cli.main import app

    index = tmp_path / "idx"
    result = CliRunner().invoke(app, ["ingest", str(shared_data / REFL), "--index", str(index), "--limit", "8",
                                      "--json", "-q"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows_read"] == 8 and report["final_rows"] == report["new_prompts_embedded"] > 0
    assert report["index_path"] == str(index) and report["prompts_per_s"] > 0
    assert (index / "manifest.json").is_file() and not (tmp_path / "idx.ingest-work").exists()


@pytest.mark.parametrize(
    "args, expected",
    [
        (["{tmp}/missing.csv"], "not found"),
        (["{tmp}/cols.csv"], "no prompt column"),
        (["{tmp}/empty.txt"], "is empty"),
        (["{tmp}/junk.txt"], "no usable prompts"),
        (["{tmp}/junk.txt", "--max-image-nsfw", "3"], "max_image_nsfw"),
        (["{tmp}/junk.txt", "--index-type", "annoy"], "index_type"),
        (["{tmp}/junk.txt", "--limit", "0"], "limit"),
    ],
)
def test_bad_input_is_one_line_error(tmp_path, args, expected):
    (tmp_path / "cols.csv").write_text("title,seed\nfoo,1\n", encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "junk.txt").write_bytes(b"1234\n\xff\xfe\n" + b"a" * 100_000 + b"\n")
    result = promptrag("ingest", *[a.format(tmp=tmp_path) for a in args], "--index", str(tmp_path / "idx"), "-q")
    line = _one_line_error(result)
    assert expected in line
    assert not (tmp_path / "idx").exists()


def test_ingest_draws_progress_bars_from_its_events(tmp_path, shared_data):
    from typer.testing import CliRunner

    from cli.main import app

    result = CliRunner().invoke(app, ["ingest", str(shared_data / REFL), "--index", str(tmp_path / "idx"),
                                      "--limit", "8", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    bars = result.stderr
    for stage in ("stage", "embed", "write"):
        assert f"{stage}: 100%" in bars, bars
    assert "prompts/s" in bars or "s/prompts" in bars  # tqdm's rate, in the embed bar's unit
