"""Project imports sit at the top of a module; one inside a function says why (`# lazy: <reason>`).

Uses scripts/count_lazy_imports.py, the same count a shell gets. A lazy import is kept only to
break an import cycle or to keep a heavy third-party package off the start-up path; the start-up
side is checked here too: `import cli.main` (what `promptrag --help` runs) loads none of them.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("count_lazy_imports", ROOT / "scripts" / "count_lazy_imports.py")
assert _spec and _spec.loader
counter = importlib.util.module_from_spec(_spec)
sys.modules["count_lazy_imports"] = counter  # dataclasses look their module up while the class is built
_spec.loader.exec_module(counter)

CHECKED = tuple(counter.PACKAGES)  # every package of the project

# What `promptrag --help` must not pay for (each costs ~50 ms to seconds to import).
HEAVY = ("numpy", "faiss", "torch", "sentence_transformers", "transformers", "diffusers", "onnxruntime", "httpx",
         "pyarrow", "pandas", "langchain_core", "anthropic", "boto3", "ray", "streamlit", "pymilvus", "tantivy")


def test_every_lazy_project_import_says_why():
    bare = [f"{item.path.relative_to(ROOT)}:{item.line}: {item.statement}"
            for path in counter.project_modules(ROOT, CHECKED)
            for item in counter.lazy_imports(path) if item.reason is None]
    assert not bare, ("move these imports to the top of their module, or end the line with "
                      "`# lazy: <the cycle or heavy package that keeps it here>`:\n" + "\n".join(bare))


def test_the_count_tells_a_bare_lazy_import_from_an_explained_one(tmp_path):
    module = tmp_path / "cli" / "example.py"
    module.parent.mkdir()
    module.write_text(
        "from core.errors import InputError\n"
        "import json\n\n\n"
        "def bare():\n"
        "    from core.settings import get_settings\n"
        "    import numpy\n\n\n"
        "def explained():\n"
        "    from rag.retriever import Retriever  # lazy: numpy; keeps --help fast\n\n\n"
        "def wrapped():\n"
        "    from index.records import (  # lazy: import cycle\n"
        "        SearchFilters,\n"
        "    )\n",
        encoding="utf-8")
    found = counter.lazy_imports(module)
    assert [(item.line, item.reason) for item in found] == [
        (6, None), (11, "numpy; keeps --help fast"), (15, "import cycle")]
    listed = subprocess.run([sys.executable, str(ROOT / "scripts" / "count_lazy_imports.py"), "--unexplained",
                             str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 1
    assert listed.stdout.strip() == "cli/example.py:6: from core.settings import get_settings"


def test_the_cli_starts_without_heavy_packages():
    code = ("import sys, cli.main; print(' '.join(m for m in sys.argv[1:] if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *HEAVY], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == [], f"`import cli.main` (promptrag --help) loaded {done.stdout.strip()}"
