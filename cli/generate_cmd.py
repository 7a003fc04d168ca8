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
from enhancers.user_styles import apply_style, template_for
from generate.base import ImageBackend, ImageRequest
from generate.dynamic import expand_prompt, is_dynamic
from generate.output import make_recipe
from generate.registry import get_image_backend
from generate.saving import generate_and_save

BACKENDS = ("diffusers", "bedrock")


def _help(field_name: str) -> str:
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
    style: str | None = typer.Option(None, "--style", help="Apply a style to PROMPT and --negative: a built-in "
                                     "one or one of yours (`promptrag styles list`)."),
    num_images: int | None = typer.Option(None, "-n", "--num-images", help=_help("num_images")),
    prompts: int = typer.Option(1, "--prompts", min=1, help="For a dynamic PROMPT ({a|b}, __wildcard__): how many "
                                "prompts to draw at random (the same --seed draws the same prompts)."),
    combinatorial: bool = typer.Option(False, "--combinatorial", help="For a dynamic PROMPT: every combination "
                                       "instead of random draws."),
    output: Path = typer.Option(..., "-o", "--output", help="Directory the PNG + JSON files go to."),
    json_output: bool = JsonOption,
) -> None:
    """Generate images for PROMPT and save them as PNG files with their parameters embedded.

    PROMPT may use the dynamic-prompts syntax: {a|b} picks one, {2$$a|b|c} picks two,
    __name__ picks a line of $PROMPTRAG_HOME/wildcards/name.txt; each image records the
    prompt it was drawn with and the template."""
    if backend not in BACKENDS:
        raise InputError(f"--backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    dynamic = is_dynamic(prompt) or combinatorial or prompts > 1
    drawn = expand_prompt(prompt, seed=seed, count=prompts, combinatorial=combinatorial) if dynamic else [prompt]
    template = None
    if style is not None:
        template = template_for(style)
    options = {"width": width, "height": height, "steps": steps, "guidance": cfg, "seed": seed,
               "sampler": sampler, "num_images": num_images}
    image_backend: str | ImageBackend = backend
    if len(drawn) > 1:  # one pipeline for every prompt drawn

        image_backend, model = get_image_backend(backend, model=model), None
    results = []
    with TqdmProgress(enabled=not json_output) as bars:
        for text in drawn:
            styled_text, styled_negative = apply_style(template, text, negative) if template else (text, negative)
            recipe = make_recipe(style=style, template=prompt if dynamic else None)
            results.append(generate_and_save(styled_text, styled_negative, options, image_backend, model, output,
                                             on_progress=bars, recipe=recipe))
    if json_output:
        print_json(results[0].to_dict() if not dynamic else
                   {"template": prompt, "generations": [saved.to_dict() for saved in results]})
        return
    for saved in results:
        if dynamic:
            typer.echo(f"prompt: {saved.parameters.get('prompt')}")
        for path, image_seed in zip(saved.paths, saved.seeds):
            typer.echo(f"{path}  seed={image_seed}")
    saved = results[-1]
    ignored = saved.parameters.get("ignored")
    if ignored:
        typer.echo(f"note: {saved.model} ignores {', '.join(ignored)}")
    for notice in saved.parameters.get("notices", []):
        typer.echo(f"note: {notice}")
    typer.echo("timings: " + ", ".join(f"{k}={v:.2f}s" for k, v in saved.timings.items()))


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
