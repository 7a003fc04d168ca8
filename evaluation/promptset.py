"""Prompt sets: the ideas an evaluation runs over, read from the common benchmark formats.

`load_promptset(path)` returns `Idea`s (id, text, category) from:

- TSV / CSV (by extension: `.tsv` is tab-separated, `.csv` comma-separated) with an idea
  column named `Prompt`, `Prompts`, `prompt` or `text` (any case) and an optional category
  column `Category` or, failing that, `Challenge` — the shape PartiPrompts (TSV: Prompt,
  Category, Challenge) and DrawBench (CSV: Prompts, Category) ship in;
- JSONL: one object per line with a `prompt` / `text` / `idea` key and optional
  `category` / `challenge`, or one JSON string per line;
- anything else: plain text, one idea per non-blank line.

An idea's id is its 1-based position among the file's ideas ("0007"), so ids stay the same
when a run is resumed or a larger `--limit` is asked for. `choose(ideas, limit, seed)` picks
`limit` ideas spread over the whole set (a seeded shuffle, kept in file order): the same seed
picks the same ideas, and a larger limit keeps every idea a smaller one picked.

A file that cannot be used (missing, empty, no idea column, a bad JSON line) is a SourceError
whose one line names the file, what is wrong and the fix. Rows with an empty idea are skipped.

Deliberately not here: running anything on the ideas (runner.py).
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from core.errors import SourceError

IDEA_COLUMNS = ("prompt", "prompts", "text")
CATEGORY_COLUMNS = ("category", "challenge")
JSON_IDEA_KEYS = ("prompt", "text", "idea")
FORMATS_HINT = ("one idea per line (.txt), a TSV/CSV with a Prompt column (optional Category), "
                "or JSONL with a \"prompt\" key")


@dataclass(frozen=True)
class Idea:
    id: str
    text: str
    category: str | None = None


def load_promptset(path: Path | str) -> list[Idea]:
    """Every idea in the file at `path`, in file order (see the module docstring for formats)."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise SourceError(f"promptset {path} {what}: pass a file of ideas ({FORMATS_HINT})")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(f"promptset {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix in (".tsv", ".csv"):
        pairs = _table(path, text, "\t" if suffix == ".tsv" else ",")
    elif suffix in (".jsonl", ".ndjson"):
        pairs = _jsonl(path, text)
    else:
        pairs = [(line.strip(), None) for line in text.splitlines()]
    pairs = [(" ".join(idea.split()), category) for idea, category in pairs]
    pairs = [(idea, category) for idea, category in pairs if idea]
    if not pairs:
        raise SourceError(f"promptset {path} holds no ideas: write {FORMATS_HINT}")
    width = max(4, len(str(len(pairs))))
    return [Idea(f"{i:0{width}d}", idea, category) for i, (idea, category) in enumerate(pairs, start=1)]


def choose(ideas: list[Idea], limit: int | None, seed: int) -> list[Idea]:
    """`limit` ideas spread over the set (seeded, in file order); all of them when limit is None."""
    if limit is None or limit >= len(ideas):
        return list(ideas)
    if limit < 1:
        raise SourceError(f"limit must be at least 1, got {limit}")
    order = list(range(len(ideas)))
    random.Random(seed).shuffle(order)
    return [ideas[i] for i in sorted(order[:limit])]


def _column(fields: list[str], names: tuple[str, ...]) -> str | None:
    lowered = {f.strip().lower(): f for f in fields}
    return next((lowered[name] for name in names if name in lowered), None)


def _table(path: Path, text: str, delimiter: str) -> list[tuple[str, str | None]]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    fields = [f for f in (reader.fieldnames or []) if f is not None]
    if not fields:
        raise SourceError(f"promptset {path} is empty: write a header row with a Prompt column, then one idea per row")
    idea_col = _column(fields, IDEA_COLUMNS)
    if idea_col is None:
        shown = ", ".join(repr(f) for f in fields[:8])
        kind = "TSV (tab-separated)" if delimiter == "\t" else "CSV (comma-separated)"
        raise SourceError(f"promptset {path} has no Prompt column (a {kind} header with columns {shown}): "
                          "name the idea column Prompt, prompt or text")
    category_col = _column(fields, CATEGORY_COLUMNS)
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise SourceError(f"promptset {path} is not valid {'TSV' if delimiter == chr(9) else 'CSV'}: {exc}") from None
    return [((row.get(idea_col) or ""), (row.get(category_col) or "").strip() or None if category_col else None)
            for row in rows]


def _jsonl(path: Path, text: str) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceError(f"promptset {path} line {number} is not JSON ({exc.msg}): "
                              "write one JSON object per line") from None
        if isinstance(value, str):
            pairs.append((value, None))
            continue
        key = next((k for k in JSON_IDEA_KEYS if isinstance(value, dict) and isinstance(value.get(k), str)), None)
        if key is None:
            raise SourceError(f"promptset {path} line {number} has no \"prompt\" text: write objects like "
                              '{"prompt": "a red fox", "category": "animals"}')
        category = value.get("category", value.get("challenge"))
        pairs.append((value[key], str(category).strip() or None if category is not None else None))
    return pairs
