"""Generate and save in one call: what the CLI, the app and batch jobs share.

`generate_and_save(prompt, negative, options, backend, model, out_dir)` validates `options` into
an `ImageRequest` (a bad value is an InputError naming the field and the value), fills in the
backend's `default_size` when no size is given, runs the backend (with progress / cancel), and
writes each image as PNG with the A1111 ``parameters`` chunk plus a JSON sidecar
(`generate.output.save_images`, never overwriting). It returns a `SavedGeneration`: files,
seeds, the parameters actually used and timings.

`image_options(values, backend=...)` picks those options out of a form's values (the app's
generation settings); `image_options_from_settings(settings)` turns a retrieved example's
settings (seed, steps, cfg, sampler, width, height — `rag.assistant.ExampleUsed.settings`)
into those options, so one click reproduces an example's settings.

Deliberately not here: choosing the prompt (enhancers/, rag/), history rows (app/history.py),
printing (cli/).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.progress import CancelToken, ProgressCallback
from core.validation import validated
from generate.base import ImageBackend, ImageRequest
from generate.output import RECIPE_KEYS, save_images
from generate.registry import get_image_backend

# The ImageRequest fields a caller chooses (the prompt and negative prompt come separately).
IMAGE_OPTION_FIELDS = ("steps", "guidance", "seed", "width", "height", "sampler", "num_images")
# DiffusionDB's sampler code 0 means "another sampler": it names no scheduler to reproduce.
_NO_SAMPLER = (None, "", "others")


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


def image_options(values: dict[str, Any], *, backend: str) -> dict[str, Any]:
    """The ImageRequest options among a form's `values` (other keys, such as the backend and
    model, are left out; None means "the default"). Bedrock's Stability models choose their own
    sampler, so a sampler (named for diffusers' schedulers) is dropped for "bedrock"."""
    options = {name: values.get(name) for name in IMAGE_OPTION_FIELDS}
    if backend == "bedrock":
        options["sampler"] = None
    return options


def image_options_from_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """ImageRequest options reproducing an example's settings (unknown values are left out)."""
    options = {"seed": settings.get("seed"), "steps": settings.get("steps"), "guidance": settings.get("cfg"),
               "width": settings.get("width"), "height": settings.get("height")}
    if settings.get("sampler") not in _NO_SAMPLER:
        options["sampler"] = settings["sampler"]
    return {key: value for key, value in options.items() if value is not None}


def image_request(prompt: str, negative: str, options: dict[str, Any]) -> ImageRequest:
    """A validated ImageRequest; a bad value becomes one InputError naming field and value."""
    return validated(ImageRequest, "image options", prompt=prompt, negative_prompt=negative or "", **options)


def generate_and_save(prompt: str, negative: str, options: dict[str, Any], backend: str | ImageBackend,
                      model: str | None, out_dir: Path, *, before_load: Callable[[], None] | None = None,
                      on_progress: ProgressCallback | None = None,
                      cancel: CancelToken | None = None,
                      recipe: dict[str, Any] | None = None) -> SavedGeneration:
    """Generate `prompt` with `backend` (a registry name or a ready ImageBackend) and save under `out_dir`.

    `options` holds ImageRequest fields (steps, guidance, seed, width, height, sampler,
    num_images); None values mean "the default". When neither width nor height is given the
    backend's `default_size` is used (Bedrock: the model's; diffusers: the model's native size).
    `model` and `before_load` build a backend from a name; a ready backend (the app's cached
    one) already has both, so passing them with an instance is a programming error.
    `recipe` (`generate.output.make_recipe`: idea, enhancer, style, example ids, template) is
    recorded with the parameters in each PNG and sidecar, so `promptrag inspect` can read it back.
    """
    values = {key: value for key, value in options.items() if value is not None}
    if isinstance(backend, ImageBackend):
        if before_load is not None or (model is not None and model != getattr(backend, "model", model)):
            raise ValueError("pass model / before_load only with a backend name; "
                             f"the {backend.name} backend given was built with its own")
    else:
        backend = get_image_backend(backend, model=model, before_load=before_load)
    if "width" not in values and "height" not in values:
        values["width"], values["height"] = backend.default_size
    request = image_request(prompt, negative, values)
    result = backend.generate(request, on_progress=on_progress, cancel=cancel)
    result.parameters.setdefault("backend", backend.name)
    if recipe:
        unknown = set(recipe) - set(RECIPE_KEYS)
        if unknown:
            raise ValueError(f"recipe keys must be among {RECIPE_KEYS}, got {sorted(unknown)}")
        result.parameters.update(recipe)
    paths = save_images(result, out_dir)
    return SavedGeneration(backend=backend.name, model=getattr(backend, "model", model), paths=paths,
                           seeds=list(result.seeds), parameters=dict(result.parameters),
                           timings=dict(result.timings))
