"""`promptrag generate "prompt"`: make images with a local diffusers pipeline or Bedrock, save them.

A thin shell: options are validated into `generate.base.ImageRequest`, the backend comes from
the image-backend registry, files are written by `generate.output.save_images` (PNG with the
A1111 ``parameters`` chunk + JSON sidecar, never overwriting). `generate_and_save` is the one
call the enhance command reuses for ``promptrag enhance ... --generate``.
Deliberately not here: prompt enhancement, history rows, size defaults beyond the backend's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import typer

from cli.common import JsonOption, print_json, validated
from core.errors import InputError

BACKENDS = ("diffusers", "bedrock")


@dataclass
class SavedGeneration:
    """What `generate_and_save` made: files, seeds, the parameters actually used and timings."""

    backend: str
    model: str | None
    paths: list[Path]
    seeds: list[int]
    parameters: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["images"] = [{"path": str(p), "sidecar": str(p.with_suffix(".json")), "seed": s}
                          for p, s in zip(self.paths, self.seeds)]
        del data["paths"]
        return data


def generate_and_save(prompt: str, negative: str, options: dict[str, Any], backend_name: str,
                      model: str | None, out_dir: Path, *,
                      before_load: Callable[[], None] | None = None) -> SavedGeneration:
    """Generate `prompt` with backend `backend_name` and save the images under `out_dir`.

    `options` holds ImageRequest fields (steps, guidance, seed, width, height, sampler,
    num_images); None values mean "the default". When neither width nor height is given, a
    backend with fixed sizes (Bedrock) uses its model's default size instead of 512x512.
    """
    from generate.base import ImageRequest
    from generate.output import save_images
    from generate.registry import get_image_backend

    values = {key: value for key, value in options.items() if value is not None}
    backend = get_image_backend(backend_name, model=model, before_load=before_load)
    default_size = getattr(backend, "default_size", None)
    if default_size and "width" not in values and "height" not in values:
        values["width"], values["height"] = default_size
    request = validated(ImageRequest, prompt=prompt, negative_prompt=negative or "", **values)
    result = backend.generate(request)
    result.parameters.setdefault("backend", backend.name)
    paths = save_images(result, out_dir)
    return SavedGeneration(backend=backend.name, model=getattr(backend, "model", model), paths=paths,
                           seeds=list(result.seeds), parameters=dict(result.parameters),
                           timings=dict(result.timings))


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
    saved = generate_and_save(prompt, negative, options, backend, model, output)
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
