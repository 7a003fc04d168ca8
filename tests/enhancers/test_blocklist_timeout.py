"""A blocklist pattern cannot hang a call: a slow `re:` entry is refused when the list is saved
(naming it), and one written into the file by hand is skipped with a notice at enhance time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.errors import ConfigError
from enhancers.base import EnhanceRequest
from enhancers.blocklist import add_entries, file_lines, load_blocklist, parse_blocklist, save_blocklist
from enhancers.registry import get_enhancer

SLOW = "re:(a|aa)+$"  # a repeat of a repeat: exponential backtracking on "aaaa…a!"
ISSUE = "re:(a+)+$"  # the issue's pattern: held `promptrag enhance` for over 60 s with Python's re
LONG_RUN = "a" * 3000 + "!"


@pytest.fixture
def blocklist_file(tmp_path, monkeypatch):
    path = tmp_path / "blocklist.txt"
    monkeypatch.setenv("PROMPTRAG_BLOCKLIST", str(path))
    return path


def test_a_slow_pattern_is_refused_when_saved_and_the_file_is_left_as_it_was(blocklist_file):
    add_entries(["greg rutkowski", "re:artgerm\\w*"])
    with pytest.raises(ConfigError) as refused:
        add_entries(["re:mucha", SLOW])
    message = str(refused.value)
    # the file: its header line, two entries, then the new ones
    assert f"{blocklist_file} line 5: the pattern {SLOW!r} takes over 0.1 s" in message and "simplify it" in message
    assert load_blocklist().lines == ["greg rutkowski", "re:artgerm\\w*"]
    with pytest.raises(ConfigError, match=r"'re:\(k\|kk\)\+z' takes over 0\.1 s on a run of \d+ characters \('k'"):
        save_blocklist(["re:(k|kk)+z"])  # found by a run of the pattern's own characters
    assert [line for line in file_lines() if not line.startswith("#")] == ["greg rutkowski", "re:artgerm\\w*"]


def test_ordinary_patterns_and_the_issues_pattern_are_saved(blocklist_file):
    lines = ["greg rutkowski", "re:rutkowsk\\w*", "re:^greg\\s+rutkowski$", ISSUE]
    saved = save_blocklist(lines)
    assert saved.lines == lines == load_blocklist().lines
    redaction = saved.redact("a fox, by greg rutkowski, " + LONG_RUN)
    assert redaction.removed == ("greg rutkowski",) and not redaction.skipped
    assert redaction.text == "a fox, " + LONG_RUN, redaction.text[:40]


def test_a_slow_pattern_in_the_file_is_skipped_with_a_notice_and_the_others_still_apply(blocklist_file):
    blocklist_file.write_text(f"{SLOW}\ngreg rutkowski\n", encoding="utf-8")  # by hand: never checked
    redaction = load_blocklist().redact(f"a fox, {LONG_RUN}, by greg rutkowski")
    assert redaction.text == f"a fox, {LONG_RUN}", redaction.text[:40]
    assert redaction.removed == ("greg rutkowski",)
    assert redaction.skipped == (SLOW,)
    result = get_enhancer("rules").enhance(EnhanceRequest(idea=f"a fox by greg rutkowski {LONG_RUN}"))
    notes = [n for n in result.notices if "skipped" in n]
    assert notes == [f"blocklist: skipped {SLOW!r}: it took over 0.1 s on this prompt; "
                     f"simplify the pattern in {blocklist_file}"]


def test_enhance_from_the_cli_with_slow_patterns_finishes_and_says_which_was_skipped(blocklist_file, tmp_path):
    blocklist_file.write_text(f"{ISSUE}\n{SLOW}\n", encoding="utf-8")
    env = {**os.environ, "PROMPTRAG_HOME": str(tmp_path / "home")}
    try:
        result = subprocess.run([sys.executable, "-m", "cli.main", "enhance", LONG_RUN, "-e", "rules"],
                                capture_output=True, text=True, timeout=60, env=env)
    except subprocess.TimeoutExpired:
        pytest.fail("promptrag enhance was held up by a blocklist pattern for 60 s")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"blocklist: skipped {SLOW!r}" in result.stdout
    assert f"skipped {ISSUE!r}" not in result.stdout  # the regex engine matches it at once


def test_a_slow_pattern_is_still_a_valid_entry_when_parsed():
    blocklist = parse_blocklist(f"{SLOW}\n")  # loading never refuses a file: enhance-time skipping handles it
    assert blocklist.lines == [SLOW]
    with pytest.raises(ConfigError, match="takes over"):
        blocklist.check_speed()
