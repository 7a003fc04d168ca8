"""Count imports of promptrag's own packages made inside functions rather than at a module's top.

    python scripts/count_lazy_imports.py [ROOT]                # per module, most first, then the totals
    python scripts/count_lazy_imports.py --unexplained [ROOT]  # each one without a reason; exit 1 if any

Project imports belong at the top of a module; one inside a function is kept only to break an
import cycle or to keep a heavy third-party package (torch, numpy, httpx, langchain, ...) off the
start-up path, and then says why on its own line: `from x import y  # lazy: <reason>`. Those are
"explained"; the rest are "unexplained" (tests/test_lazy_imports.py holds them at zero).
`if TYPE_CHECKING:` blocks at module level count as the top. Deliberately not here: imports of
third-party packages (lazy by design) and checking that a reason is true.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("core", "index", "ingest", "enhancers", "generate", "rag", "campaign", "evaluation", "cli", "app",
            "pages")
REASON = re.compile(r"#\s*lazy:\s*\S")


@dataclass(frozen=True)
class LazyImport:
    path: Path
    line: int
    statement: str
    reason: str | None  # the text after "# lazy:", None when the import gives none


def lazy_imports(path: Path) -> list[LazyImport]:
    """The project imports inside functions (or other nested blocks) of the module at `path`."""
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top |= {id(inner) for inner in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
            if getattr(node, "level", 0) or (module or "").split(".")[0] in PACKAGES:
                statement = lines[node.lineno - 1:(node.end_lineno or node.lineno)]
                matches = [(line, m) for line in statement if (m := REASON.search(line))]
                reason = matches[0][0][matches[0][1].end() - 1:].strip() if matches else None
                found.append(LazyImport(path, node.lineno, ast.unparse(node), reason))
    return sorted(found, key=lambda item: item.line)


def project_modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    return [path for package in sorted(packages) for path in sorted((root / package).rglob("*.py"))]


def main(argv: list[str]) -> int:
    only_unexplained = "--unexplained" in argv
    args = [a for a in argv if a != "--unexplained"]
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    found = {path.relative_to(root): lazy_imports(path) for path in project_modules(root)}
    unexplained = [item for items in found.values() for item in items if item.reason is None]
    if only_unexplained:
        for item in unexplained:
            print(f"{item.path.relative_to(root)}:{item.line}: {item.statement}")
        return 1 if unexplained else 0
    for path, items in sorted(found.items(), key=lambda entry: -len(entry[1])):
        if items:
            bare = sum(item.reason is None for item in items)
            print(f"{len(items):4d}  {path}" + (f"  ({bare} unexplained)" if bare else ""))
    total = sum(len(items) for items in found.values())
    explained = total - len(unexplained)
    print(f"{total:4d}  in all: {explained} explained (# lazy: <reason>), {len(unexplained)} unexplained")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
