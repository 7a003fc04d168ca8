"""`promptrag search "idea"`: the stored prompts closest to an idea.

A thin shell over `rag.retriever.Retriever` (the same retriever `enhance --rag` uses): parses
options into `SearchFilters`, loads the index (which checks its manifest) and prints a table
or `{"results": [...]}` JSON (each result's `image` is its example image's locator, None when
none is known). `--images` also fetches the results' thumbnails (index.images.ThumbnailCache)
and names each file below the table, or in the JSON as `thumbnail` (a path, or null with
`thumbnail_reason` saying why). Default mode is hybrid (dense + BM25), the best in
benchmarks/README.md; `--mode dense` is plain FAISS similarity.
Deliberately not here: retrieval logic itself, diversity, enhancement (see rag/ and enhance).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import IndexOption, JsonOption, StoreOption, parse_size, print_json, store_location
from core.errors import InputError
from core.settings import get_settings
from core.validation import validated
from enhancers.blocklist import load_blocklist

PROMPT_WIDTH = 70


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def format_table(hits: list, variants: bool = False) -> str:
    header = (
        f"{'#':>3} {'score':>6} {'count':>5} {'steps':>5} {'cfg':>5} "
        f"{'sampler':<18} {'size':<9} {'seed':>10}  prompt"
    )
    lines = [header, "-" * len(header)]
    for rank, hit in enumerate(hits, 1):
        size = f"{hit.width}x{hit.height}" if hit.width and hit.height else "-"
        prompt = " ".join(hit.prompt.split())
        if len(prompt) > PROMPT_WIDTH:
            prompt = prompt[: PROMPT_WIDTH - 1] + "…"
        lines.append(
            f"{rank:>3} {hit.score:>6.3f} {hit.count:>5} {_cell(hit.steps):>5} {_cell(hit.cfg):>5} "
            f"{_cell(hit.sampler)[:18]:<18} {size:<9} {_cell(hit.seed):>10}  {prompt}"
        )
        for variant in getattr(hit, "variants", ()) if variants else ():
            text = " ".join(variant.text.split())
            lines.append(f"{'':>19}{variant.count:>5}  also as: {text}")
    return "\n".join(lines)


def search(
    idea: str = typer.Argument(..., help="The idea to find similar real prompts for."),
    k: int = typer.Option(10, "-k", "--k", help="How many prompts to return."),
    json_output: bool = JsonOption,
    index: Path | None = IndexOption,
    store: str | None = StoreOption,
    mode: str = typer.Option(
        "hybrid", "--mode", help="hybrid (meaning + words, fused), dense (meaning) or keyword (BM25 words)."
    ),
    min_count: int = typer.Option(1, "--min-count", help="Only prompts that occurred at least N times."),
    size: str | None = typer.Option(
        None, "--size", help="Only prompts generated at this size, e.g. 512x512."
    ),
    sampler: str | None = typer.Option(None, "--sampler", help="Only prompts generated with this sampler."),
    max_nsfw: float | None = typer.Option(
        None, "--max-nsfw", help="Drop prompts whose prompt or image NSFW score is above X (0-1)."
    ),
    variants: bool = typer.Option(
        False, "--variants", help="Also list the other wordings folded into each prompt at ingest (with counts)."
    ),
    hide_blocked: bool = typer.Option(
        False, "--hide-blocked", help="Leave out prompts that hold a word or artist of your blocklist "
        "(PROMPTRAG_BLOCKLIST, default <home>/blocklist.txt).",
    ),
    images: bool = typer.Option(
        False, "--images", help="Also fetch the results' example-image thumbnails (cached in "
        "$PROMPTRAG_HOME/thumbnails) and name their files.",
    ),
) -> None:
    """Find the stored prompts closest in meaning to IDEA."""
    from dataclasses import replace

    from index.prompt_store import open_store  # lazy: start-up: numpy; keeps --help fast
    from index.records import SearchFilters  # lazy: start-up: ~2 ms
    from rag.retriever import Retriever  # lazy: start-up: numpy; keeps --help fast

    if not 1 <= k <= 1000:
        raise InputError(f"-k must be between 1 and 1000, got {k}")
    if not idea.strip():
        raise InputError(
            "the idea to search for is empty: pass some words, e.g. promptrag search 'a red fox'"
        )
    width, height = parse_size(size)
    filters = validated(
        SearchFilters, "search filters",
        min_count=min_count,
        width=width,
        height=height,
        sampler=sampler,
        max_prompt_nsfw=max_nsfw,
        max_image_nsfw=max_nsfw,
    )
    blocklist = None
    if hide_blocked:
        blocklist = load_blocklist()  # a bad file fails now, before the index loads
    with open_store(store_location(index, store)) as prompt_index:
        # Hiding blocked prompts: ask for more so that k are left (a blocked artist may be common).
        wanted = min(1000, 4 * k) if blocklist else k
        found = Retriever(prompt_index).search(idea, k=wanted, mode=mode, filters=filters)
        hits = [replace(r.hit, score=r.score) for r in found]
    if blocklist:
        shown, hidden = [], 0
        for hit in hits:
            if len(shown) == k:
                break
            if blocklist.blocks(hit.prompt):
                hidden += 1
            else:
                shown.append(hit)
        if hidden:
            typer.echo(f"hid {hidden} prompts that hold a blocked word or artist (--hide-blocked)", err=True)
        hits = shown
    fetched = _thumbnails(hits) if images else None
    if json_output:
        results = [hit.to_dict() for hit in hits]
        for result, fetch in zip(results, fetched or ()):
            result["thumbnail"] = str(fetch.path) if fetch.path else None
            result["thumbnail_reason"] = fetch.reason
        print_json({"results": results})
    elif not hits:
        typer.echo("no matching prompts (try fewer filters)")
    else:
        typer.echo(format_table(hits, variants=variants))
        if fetched is not None:
            typer.echo(format_thumbnails(fetched))


def _thumbnails(hits: list) -> list:
    from index.images import ThumbnailCache  # lazy: start-up: ~3 ms

    return ThumbnailCache.from_settings(get_settings()).thumbnails([hit.image for hit in hits])


def format_thumbnails(fetched: list) -> str:
    """One line per result under the table: its thumbnail's file, or why there is none."""
    lines = ["", "thumbnails:"]
    for rank, fetch in enumerate(fetched, 1):
        lines.append(f"{rank:>3}  {fetch.path if fetch.path else 'no image: ' + (fetch.reason or 'unknown')}")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
