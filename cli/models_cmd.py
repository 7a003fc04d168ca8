"""`promptrag models list|pull|rm`: the recommended image models and local LLMs, on first use.

A thin shell over `generate.models`: `list` says what each model is for, its size and licence,
and whether it is on this machine (cache only, no request); `pull NAME` downloads it into the
Hugging Face cache with a progress bar and ETA (Ctrl-C keeps what arrived; pulling again resumes);
`rm NAME` deletes it from the cache. Deliberately not here: the catalogue, the download, the
disk-space check (all in generate/models.py).
"""

from __future__ import annotations

from typing import Optional

import typer

from cli.common import JsonOption, print_json
from core.progress import CancelToken, TqdmProgress

models_app = typer.Typer(help="List, download and remove the recommended image models and local LLMs.",
                         no_args_is_help=True)

NameArgument = typer.Argument(..., metavar="NAME", help="A name from `promptrag models list` (or its hub id).")


@models_app.command("list")
def list_models(json_output: bool = JsonOption) -> None:
    """Recommended models: size, licence, what each is good for, and whether it is cached."""
    from generate.models import cache_dir, catalogue, model_status  # lazy: start-up: ~3 ms catalogue

    statuses = [model_status(m) for m in catalogue()]
    if json_output:
        print_json({"cache": str(cache_dir()), "models": [
            {"name": s.model.name, "repo_id": s.model.repo_id, "kind": s.model.kind, "family": s.model.family,
             "size_bytes": s.model.size_bytes, "licence": s.model.licence, "good_for": s.model.good_for,
             "state": s.state, "cached": s.cached, "location": str(s.location) if s.location else None}
            for s in statuses]})
        return
    typer.echo(f"cache: {cache_dir()}")
    for kind, title in (("image", "image models"), ("llm", "local LLMs")):
        typer.echo(f"\n{title}:")
        for s in (s for s in statuses if s.model.kind == kind):
            m = s.model
            typer.echo(f"  {m.name:<14} {m.size_label:>8}  {s.state:<17} {m.repo_id}")
            typer.echo(f"  {'':<14} {m.good_for}")
            typer.echo(f"  {'':<14} licence: {m.licence}")
    typer.echo("\ndownload one with: promptrag models pull NAME")


@models_app.command("pull")
def pull(
    name: str = NameArgument,
    hub_endpoint: Optional[str] = typer.Option(None, "--hub-endpoint",
                                               help="Hub endpoint or mirror (default: HF_ENDPOINT, else "
                                                    "huggingface.co)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Download NAME into the Hugging Face cache (checks disk space first; a second run resumes)."""
    from generate.models import get_model, human_size  # lazy: start-up: ~3 ms catalogue
    from generate.models import pull as pull_model  # lazy: start-up: ~3 ms catalogue

    model = get_model(name)
    cancel = CancelToken()
    with TqdmProgress(enabled=not quiet) as bars:
        try:
            result = pull_model(model, endpoint=hub_endpoint, on_progress=bars, cancel=cancel)
        except KeyboardInterrupt:
            # The partial file is kept in the cache; say so instead of the generic "interrupted".
            bars.close()
            typer.echo(f"promptrag: {model.name}: download interrupted; what arrived is kept, "
                       f"`promptrag models pull {model.name}` resumes it", err=True)
            raise typer.Exit(130) from None
    if result.files == 0:
        typer.echo(f"{model.name} is already here: {result.location}")
        return
    rate = result.downloaded_bytes / result.seconds if result.seconds > 0 else 0.0
    resumed = f", {human_size(result.resumed_bytes)} resumed" if result.resumed_bytes else ""
    typer.echo(f"{model.name}: {human_size(result.downloaded_bytes)} in {result.seconds:.1f} s "
               f"({human_size(int(rate))}/s{resumed}) -> {result.location}")


@models_app.command("rm")
def rm(name: str = NameArgument) -> None:
    """Delete NAME from the Hugging Face cache (interrupted downloads too)."""
    from generate.models import get_model, human_size, remove  # lazy: start-up: ~3 ms catalogue

    model = get_model(name)
    freed = remove(model)
    typer.echo(f"removed {model.name} ({human_size(freed)} freed)" if freed else f"{model.name} was not cached")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
