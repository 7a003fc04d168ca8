"""Helpers every command shares: the --index / --json conventions, option validation, output,
`--pick` parsing. Progress bars: `core.progress.TqdmProgress` (an on_progress callback)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import typer

from core.errors import InputError
from core.settings import get_settings

INDEX_HELP = "Index directory (default: the home's default index, $PROMPTRAG_HOME/indexes/default)."
JSON_HELP = "Print machine-readable JSON instead of a table."

_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")

IndexOption = typer.Option(None, "--index", help=INDEX_HELP)
STORE_HELP = (
    "Where the prompts live instead of --index: an index directory, milvus://HOST:PORT/COLLECTION "
    "(a Milvus server) or milvus-lite://PATH/FILE.db/COLLECTION (a local Milvus Lite file)."
)
StoreOption = typer.Option(None, "--store", help=STORE_HELP)
JsonOption = typer.Option(False, "--json", help=JSON_HELP)


def index_path(path: Path | None) -> Path:
    """--index as an absolute directory (the default index when not given): background runs and Ray
    workers, which start elsewhere, open the same one."""
    return path.expanduser().resolve() if path is not None else get_settings().default_index


def store_location(index: Path | None, store: str | None) -> Path | str:
    """--index / --store -> what index.prompt_store.open_store opens (a directory or a Milvus URI)."""
    if index is not None and store is not None:
        raise InputError("give --index or --store, not both (--store takes a directory too)")
    if store is None:
        return index_path(index)
    if store.strip().lower().startswith(("milvus://", "milvus-lite://")):
        return store.strip()
    return Path(store).expanduser().resolve()


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


def parse_size(size: str | None) -> tuple[int | None, int | None]:
    if size is None:
        return None, None
    match = _SIZE.match(size)
    if not match:
        raise InputError(f"--size must look like WIDTHxHEIGHT, e.g. 512x512, got {size!r}")
    return int(match.group(1)), int(match.group(2))


def parse_picks(text: str | None) -> list[int] | None:
    """"1,3" -> [1, 3]; None/"" -> None (the default picks)."""
    if text is None or not text.strip():
        return None
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--pick must be 1-based ranks separated by commas, e.g. 1,3; got {text!r}") from None
