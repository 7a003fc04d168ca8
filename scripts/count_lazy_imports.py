"""Count imports of promptrag's own packages made inside functions rather than at a module's top.

    python scripts/count_lazy_imports.py [ROOT]      # per module, most first, then the total

Project imports belong at the top of a module; one inside a function is kept only to break an
import cycle or to keep a heavy third-party package (torch, diffusers, langchain, ...) off the
start-up path. `if TYPE_CHECKING:` blocks at module level count as the top.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

PACKAGES = {"core", "index", "ingest", "enhancers", "generate", "rag", "campaign", "evaluation", "cli", "app",
            "pages"}


def lazy_imports(path: Path) -> int:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top |= {id(inner) for inner in ast.walk(node)}
    count = 0
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if getattr(node, "level", 0) or (module or "").split(".")[0] in PACKAGES:
                count += 1
    return count


def main(root: Path) -> None:
    counts = {path.relative_to(root): lazy_imports(path)
              for package in sorted(PACKAGES) for path in sorted((root / package).rglob("*.py"))}
    for path, count in sorted(counts.items(), key=lambda item: -item[1]):
        if count:
            print(f"{count:4d}  {path}")
    print(f"{sum(counts.values()):4d}  in all")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
