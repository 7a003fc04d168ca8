"""The README stays a front door whose commands CI really runs, and its links lead somewhere.

- `.ci/run` runs exactly the README's test command (its last line, character for character);
- the README holds exactly two set-up commands (start the app, run the tests) and stays short;
- every relative link in README.md, CHANGELOG.md and docs/*.md names a file that exists.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETUP = re.compile(r"^python3 -m venv \.venv && .+$", re.MULTILINE)
LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_ci_runs_exactly_the_readme_test_command():
    commands = SETUP.findall(_readme())
    assert len(commands) == 2, f"the README should hold two set-up commands, found {commands}"
    app, tests = commands
    assert app.endswith("promptrag app") and "pytest" in tests
    ci_lines = (ROOT / ".ci/run").read_text(encoding="utf-8").strip().splitlines()
    assert ci_lines[-1] == tests, f".ci/run runs\n  {ci_lines[-1]}\nbut the README says\n  {tests}"


def test_readme_is_a_front_door():
    lines = _readme().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move reference text to docs/"


def test_relative_links_resolve():
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = [f"{page.relative_to(ROOT)} → {target}"
              for page in pages for target in LINK.findall(page.read_text(encoding="utf-8"))
              if not target.startswith(("http://", "https://")) and not (page.parent / target).exists()]
    assert not broken, "links to missing files: " + ", ".join(broken)
