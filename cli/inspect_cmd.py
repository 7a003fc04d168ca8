"""`promptrag inspect IMAGE`: print the prompt, negative prompt and settings an image carries.

Reads A1111 / Forge ``parameters``, ComfyUI ``prompt`` / ``workflow`` chunks and our own sidecar
through `generate.readback.inspect_image`. `--reproduce -o DIR` draws the image again with the
same prompt, negative prompt and settings (the recipe is carried over into the new files).
Deliberately not here: parsing (generate/readback.py), generating (generate/saving.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JsonOption, print_json
from core.errors import InputError
from core.progress import TqdmProgress
from generate.output import make_recipe
from generate.readback import inspect_image
from generate.saving import generate_and_save


def inspect(
    image: Path = typer.Argument(..., metavar="IMAGE", help="A PNG made by promptrag, A1111/Forge or ComfyUI."),
    reproduce: bool = typer.Option(False, "--reproduce", help="Generate the image again with its prompt and settings."),
    output: Path | None = typer.Option(None, "-o", "--output",
                                       help="With --reproduce: the directory for the new images."),
    backend: str = typer.Option("diffusers", "--backend", "-b",
                                help="With --reproduce: diffusers (local) or bedrock (AWS)."),
    model: str | None = typer.Option(None, "--model", "-m",
                                     help="With --reproduce: model id or path (default: settings; not the image's)."),
    json_output: bool = JsonOption,
) -> None:
    """Show how IMAGE was made; --reproduce makes it again."""
    if reproduce and output is None:
        raise InputError("--reproduce needs -o/--output DIR for the new images")
    recipe = inspect_image(image)
    payload = recipe.to_dict()
    if reproduce:
        carried = make_recipe(idea=recipe.idea, enhancer=recipe.enhancer, style=recipe.style,
                              example_ids=recipe.example_ids, template=recipe.template)
        with TqdmProgress(enabled=not json_output) as bars:
            saved = generate_and_save(recipe.prompt, recipe.negative_prompt, recipe.image_options(), backend,
                                      model, output, on_progress=bars, recipe=carried or None)
        payload["reproduced"] = saved.to_dict()
    if json_output:
        print_json(payload)
        return
    typer.echo(f"source:    {recipe.source} ({', '.join(recipe.read_from)})")
    typer.echo(f"prompt:    {recipe.prompt}")
    typer.echo(f"negative:  {recipe.negative_prompt}")
    if recipe.settings:
        typer.echo("settings:  " + ", ".join(f"{key}={value}" for key, value in recipe.settings.items()))
    for label, value in (("idea", recipe.idea), ("enhancer", recipe.enhancer), ("style", recipe.style),
                         ("template", recipe.template)):
        if value:
            typer.echo(f"{label + ':':<10} {value}")
    if recipe.example_ids:
        typer.echo(f"examples:  {', '.join(str(i) for i in recipe.example_ids)}")
    if reproduce:
        for path, seed in zip(saved.paths, saved.seeds):
            typer.echo(f"reproduced: {path}  seed={seed}")


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
