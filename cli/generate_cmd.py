"""`promptrag generate "prompt"`: make images with a local diffusers pipeline or Bedrock, save them.

A thin shell over `generate.saving.generate_and_save` (options validated into an
`ImageRequest`, the backend from the registry, PNG with the A1111 ``parameters`` chunk + JSON
sidecar, never overwriting); a tqdm bar shows the denoising steps. The enhance command calls
the same function for ``promptrag enhance ... --generate``.
Deliberately not here: prompt enhancement, history rows, size defaults beyond the backend's.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JsonOption, print_json
from core.errors import InputError
from core.progress import TqdmProgress
from generate.saving import generate_and_save

BACKENDS = ("diffusers", "bedrock")


def _help(field_name: str) -> str:
    from generate.base import ImageRequest

    return ImageRequest.model_fields[field_name].description or ""


def generate(
    prompt: str = typer.Argument(..., help="The text prompt to draw."),
    backend: str = typer.Option("diffusers", "--backend", "-b", help="diffusers (local) or bedrock (AWS)."),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="Model id or local path (default: from settings)."),
    width: int | None = typer.Option(None, "--width", help=_help("width") + " Default: the model's."),
    height: int | None = typer.Option(None, "--height", help=_help("height") + " Default: the model's."),
    steps: int | None = typer.Option(None, "--steps", help=_help("steps")),
    cfg: float | None = typer.Option(None, "--cfg", help=_help("guidance")),
    seed: int | None = typer.Option(None, "--seed", help=_help("seed")),
    sampler: str | None = typer.Option(None, "--sampler", help=_help("sampler")),
    negative: str = typer.Option("", "--negative", help=_help("negative_prompt")),
    num_images: int | None = typer.Option(None, "-n", "--num-images", help=_help("num_images")),
    output: Path = typer.Option(..., "-o", "--output", help="Directory the PNG + JSON files go to."),
    json_output: bool = JsonOption,
) -> None:
    """Generate images for PROMPT and save them as PNG files with their parameters embedded."""
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    options = {"width": width, "height": height, "steps": steps, "guidance": cfg, "seed": seed,
               "sampler": sampler, "num_images": num_images}
    with TqdmProgress(enabled=not json_output) as bars:
        saved = generate_and_save(prompt, negative, options, backend, model, output, on_progress=bars)
    if json_output:
        print_json(saved.to_dict())
        return
    for path, image_seed in zip(saved.paths, saved.seeds):
        typer.echo(f"{path}  seed={image_seed}")
    ignored = saved.parameters.get("ignored")
    if ignored:
        typer.echo(f"note: {saved.model} ignores {', '.join(ignored)}")
    typer.echo("timings: " + ", ".join(f"{k}={v:.2f}s" for k, v in saved.timings.items()))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
