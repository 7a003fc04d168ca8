"""`promptrag thumbnails`: fetch the example-image thumbnails of an index's prompts ahead of time.

Reads every stored row's image locator (`--limit N`: the first N rows that have one), leaves out
those already in the thumbnail cache (so a stopped run resumes where it was), and fetches the
rest through `index.images.ThumbnailCache` a batch at a time, several at once, with a progress
bar on stderr. Locators are sorted first, so the images of one DiffusionDB part zip come together
and its central directory is fetched once. Prints a summary (or `--json`), with the most common
reasons images could not be had.

Deliberately not here: fetching, caching, back-off (index/images/).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import typer

from cli.common import IndexOption, JsonOption, StoreOption, print_json, store_location
from core.errors import InputError
from core.progress import Stopwatch, TqdmProgress
from core.settings import get_settings

BATCH = 64


def _locators(store, limit: int | None) -> list[str]:
    found: list[str] = []
    for batch in store.iter_records(batch_size=10_000):
        for _id, record in batch:
            if record.image:
                found.append(record.image)
                if limit is not None and len(found) >= limit:
                    return found
    return found


def thumbnails(
    index: Path | None = IndexOption,
    store: str | None = StoreOption,
    limit: int | None = typer.Option(None, "--limit", help="Only the first N prompts that have an image."),
    workers: int = typer.Option(8, "--workers", help="Images fetched at once (1-32)."),
    json_output: bool = JsonOption,
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Draw a progress bar on stderr."),
) -> None:
    """Fetch and cache the thumbnails of an index's example images (skips those already cached)."""
    from index.images import ThumbnailCache  # lazy: start-up: ~3 ms
    from index.prompt_store import open_store  # lazy: start-up: numpy; keeps --help fast

    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1, got {limit}")
    if not 1 <= workers <= 32:
        raise InputError(f"--workers must be between 1 and 32, got {workers}")
    with open_store(store_location(index, store)) as prompt_store:
        locators = sorted(set(_locators(prompt_store, limit)))
    cache = ThumbnailCache.from_settings(get_settings())
    todo = [locator for locator in locators if cache.cached(locator) is None]
    reasons: Counter[str] = Counter()
    with TqdmProgress(enabled=progress and bool(todo)) as bars:
        watch = Stopwatch("thumbnails", bars)
        watch.report(0, len(todo))
        for start in range(0, len(todo), BATCH):
            for answer in cache.thumbnails(todo[start : start + BATCH], max_workers=workers):
                if answer.path is None:
                    reasons[answer.reason or "unknown"] += 1
            watch.report(min(start + BATCH, len(todo)), len(todo))
    summary = {
        "images": len(locators), "already_cached": len(locators) - len(todo),
        "fetched": len(todo) - sum(reasons.values()), "failed": sum(reasons.values()),
        "reasons": dict(reasons.most_common(5)), "cache_dir": str(cache.root), "cache_bytes": cache.size_bytes(),
    }
    if json_output:
        print_json(summary)
        return
    typer.echo(f"{summary['images']} images: {summary['already_cached']} already cached, "
               f"{summary['fetched']} fetched, {summary['failed']} failed "
               f"({summary['cache_bytes'] / 1e6:.1f} MB in {cache.root})")
    for reason, times in reasons.most_common(5):
        typer.echo(f"  {times} x {reason}")


def register(app: typer.Typer) -> None:
    app.command("thumbnails")(thumbnails)
