"""`promptrag batch brief.yaml -o OUT/`: a campaign of distinct, on-brand variants from one brief.

A thin shell over `campaign.runner.run_campaign`: `--executor ray[://HOST:PORT]` runs the drafts
as Ray tasks and the images on a Ray actor pool (core/executors.py), the same files as the
default thread pool. Reads the brief (`load_brief`: one
line per bad field), draws a tqdm bar with ETA from the run's progress events, and prints
where the manifest, contact sheet and gallery are. Ctrl-C once cancels cleanly (finished
variants stay; the same command resumes), twice stops at once.
Deliberately not here: planning, diversity, brand rules, files (all in campaign/).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import IndexOption, JsonOption, StoreOption, print_json, store_location
from core.errors import InputError
from core.executors import EXECUTOR_HELP, parse_executor
from core.progress import CancelToken, TqdmProgress
from core.signals import cancel_on_signals


def batch(
    brief_path: Path = typer.Argument(..., metavar="BRIEF",
                                      help="The campaign brief (YAML), e.g. examples/brief.yaml."),
    output: Path = typer.Option(..., "-o", "--output", help="Campaign folder: variants, images, manifest, gallery."),
    no_images: bool = typer.Option(False, "--no-images", help="Prompts only, even if the brief names a backend."),
    concurrency: int = typer.Option(1, "--concurrency", "-c", min=1,
                                    help="Enhancer calls in flight at once (API enhancers; local models use 1)."),
    reroll: str | None = typer.Option(None, "--reroll", help="Re-make these variants only, e.g. v003,v007."),
    executor: str = typer.Option("thread", "--executor", help=EXECUTOR_HELP),
    index: Path | None = IndexOption,
    store: str | None = StoreOption,
    json_output: bool = JsonOption,
) -> None:
    """Plan, fuse and (optionally) render BRIEF's variants into OUTPUT; re-running resumes."""
    from campaign.brief import load_brief  # lazy: start-up: ~3 ms pydantic model
    from campaign.runner import run_campaign  # lazy: start-up: numpy + retrieval; keeps --help fast

    spec = parse_executor(executor)  # a bad value fails before the brief is read
    brief = load_brief(brief_path)
    if index is not None or store is not None:
        brief = brief.model_copy(update={"index": str(store_location(index, store))})
    only = [part.strip() for part in reroll.split(",") if part.strip()] if reroll is not None else None
    if reroll is not None and not only:
        raise InputError(f"--reroll must name variant ids separated by commas, e.g. v003,v007; got {reroll!r}")
    # SIGTERM (the app's Cancel button, a service manager) cancels the same clean way as Ctrl-C.
    with (cancel_on_signals(CancelToken(), "cancelling after the variants in flight") as cancel,
          TqdmProgress(enabled=not json_output) as bars):
        report = run_campaign(brief, output, images=not no_images, concurrency=concurrency,
                              on_progress=bars, cancel=cancel, only=only, reroll=only is not None,
                              executor=spec)
    if json_output:
        print_json({"out_dir": str(report.out_dir), "counts": report.counts, "seconds": report.seconds,
                    "max_pairwise_similarity": report.max_pairwise_similarity,
                    "variants": [v.to_dict() for v in report.variants]})
        return
    counts = report.counts
    typer.echo(f"{len(report.variants)} variants in {report.out_dir} ({report.seconds:.1f}s): "
               f"{counts['ok']} ok, {counts['brand_violation']} brand violations, {counts['error']} errors")
    typer.echo(f"max pairwise similarity {report.max_pairwise_similarity:.3f} "
               f"(threshold {brief.similarity_threshold})")
    for variant in report.variants:
        if variant.status != "ok":
            typer.echo(f"  {variant.id} {variant.status}: "
                       f"{'; '.join([*variant.problems, variant.error or ''][:3]).strip('; ')}")
    for name in ("manifest.csv", "manifest.json", "contact_sheet.png", "gallery.html"):
        typer.echo(f"  {report.out_dir / name}")


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
