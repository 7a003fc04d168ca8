"""The floors of the README's layout hold: no package imports one on a floor above it.

Runs import-linter's contract from pyproject.toml (`[tool.importlinter]`), the same check as
`lint-imports` in a shell. A new upward import (say, enhancers/ importing rag/) fails here with the
import chain import-linter prints.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_package_imports_a_floor_above_it():
    run = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                          "lint_imports_command()"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert "1 kept, 0 broken" in run.stdout
