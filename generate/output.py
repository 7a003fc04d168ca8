"""Saving generated images as PNG files that carry their own recipe, and reading it back.

Each image is written with the de-facto standard (AUTOMATIC1111) ``parameters`` text chunk::

    {prompt}
    Negative prompt: {negative}            (line left out when there is none)
    Steps: 25, Sampler: k_euler, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd-turbo

(settings a model did not use, e.g. steps on Stable Image Core, are left out rather than
invented; how the prompt was made follows on the same line: ``Idea: "...", Enhancer: grounded,
Style: photography, Example ids: 12 40 7, Template: "..."`` — see `make_recipe`), plus a ``promptrag`` chunk
holding the exact parameters as JSON (so a prompt that itself contains a line "Negative prompt: ..." still reads
back exactly), plus a JSON sidecar with the same stem (parameters, seed, timings, backend).

Files are never overwritten: a name is reserved with O_EXCL (``-1``, ``-2``... on collision),
the content is written to a temporary file and renamed over the reservation.
Deliberately not here: generating images, history rows, galleries.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.files import atomic_write
from generate.base import ImageResult

PARAMETERS_KEY = "parameters"
EXACT_KEY = "promptrag"
_MAX_COLLISIONS = 10_000
# "Key: value" pairs of the settings line; a value is either JSON-quoted or runs to the next comma.
_SETTING = re.compile(r'\s*(\w[\w \-/+.]*?):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)')
_LABELS = (("steps", "Steps"), ("sampler", "Sampler"), ("cfg", "CFG scale"), ("seed", "Seed"),
           ("size", "Size"), ("model", "Model"))
# How an image's prompt was made (`recipe`): recorded after the settings on the same line.
RECIPE_KEYS = ("idea", "enhancer", "style", "example_ids", "template")
_RECIPE_LABELS = (("idea", "Idea"), ("enhancer", "Enhancer"), ("style", "Style"),
                  ("example_ids", "Example ids"), ("template", "Template"))


def make_recipe(*, idea: str | None = None, enhancer: str | None = None, style: str | None = None,
                example_ids: Any = (), template: str | None = None) -> dict[str, Any]:
    """The recipe fields an image records (None / empty values left out): the idea, the
    enhancer that answered, the style, the ids of the example prompts used and, for a
    dynamic prompt, the template it was expanded from."""
    recipe: dict[str, Any] = {"idea": idea, "enhancer": enhancer, "style": style,
                              "example_ids": [int(i) for i in example_ids or () if i is not None],
                              "template": template}
    return {key: value for key, value in recipe.items() if value not in (None, "", [])}


def slugify(text: str, max_len: int = 40) -> str:
    """A short ASCII file-name piece from a prompt ('a Cat, on Mars!' -> 'a-cat-on-mars')."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_len].rstrip("-") or "image"


def _quote(value: Any) -> str:
    # Same rule as A1111: values with separators are JSON-quoted so the line stays parseable.
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return json.dumps(text, ensure_ascii=False) if any(c in text for c in ',:\n"') else text


def format_parameters(params: dict[str, Any], seed: int) -> str:
    """The A1111 ``parameters`` text for one image of `params` made with `seed`."""
    lines = [str(params.get("prompt", ""))]
    if params.get("negative_prompt"):
        lines.append(f"Negative prompt: {params['negative_prompt']}")
    values = {"steps": params.get("steps"), "sampler": params.get("sampler"),
              "cfg": params.get("cfg", params.get("guidance")), "seed": seed,
              "size": f"{params['width']}x{params['height']}" if params.get("width") else None,
              "model": params.get("model")}
    pairs = [(label, values[key]) for key, label in _LABELS if values[key] is not None]
    for key, label in _RECIPE_LABELS:
        value = params.get(key)
        if key == "example_ids" and value:
            value = " ".join(str(i) for i in value)
        if value not in (None, "", []):
            pairs.append((label, value))
    lines.append(", ".join(f"{label}: {_quote(value)}" for label, value in pairs))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, Any]:
    """Parse an A1111 ``parameters`` text (ours or another tool's) into a dict."""
    lines = text.split("\n")
    settings: dict[str, str] = dict(_SETTING.findall(lines[-1]))
    if "Steps" in settings or "Seed" in settings:  # the last line is the settings line
        lines = lines[:-1]
    else:
        settings = {}
    negative_at = next((i for i, line in enumerate(lines) if line.startswith("Negative prompt:")), None)
    prompt_lines = lines if negative_at is None else lines[:negative_at]
    negative = "" if negative_at is None else "\n".join(lines[negative_at:])[len("Negative prompt:"):].strip()
    result: dict[str, Any] = {"prompt": "\n".join(prompt_lines), "negative_prompt": negative}
    for key, raw in settings.items():
        value = json.loads(raw) if raw.startswith('"') else raw.strip()
        result[key] = value
    converters = {"Steps": ("steps", int), "CFG scale": ("cfg", float), "Seed": ("seed", int),
                  "Sampler": ("sampler", str), "Model": ("model", str)}
    for label, (key, convert) in converters.items():
        if label in result:
            raw = result.pop(label)
            try:
                result[key] = convert(raw)
            except ValueError:
                result[key] = raw
    for key, label in _RECIPE_LABELS:
        if label in result:
            result[key] = str(result.pop(label))
    if "example_ids" in result:
        ids = result["example_ids"].split()
        result["example_ids"] = [int(i) for i in ids] if all(i.isdigit() for i in ids) else ids
    if "Size" in result:
        width, _, height = str(result.pop("Size")).partition("x")
        if width.isdigit() and height.isdigit():
            result["width"], result["height"] = int(width), int(height)
    return result


def read_png_parameters(path: Path | str) -> dict[str, Any]:
    """The parameters embedded in a PNG (A1111 ``parameters`` chunk; exact prompts from ours)."""
    from PIL import Image

    with Image.open(path) as image:
        chunks = dict(getattr(image, "text", {}) or image.info)
    if PARAMETERS_KEY not in chunks:
        raise InputError(f"{path} has no '{PARAMETERS_KEY}' text chunk (not made by promptrag / A1111)")
    result = parse_parameters(chunks[PARAMETERS_KEY])
    if EXACT_KEY in chunks:
        try:
            exact = json.loads(chunks[EXACT_KEY])
        except ValueError:
            exact = {}
        for key in ("prompt", "negative_prompt", "idea", "template"):
            if isinstance(exact.get(key), str):
                result[key] = exact[key]
    return result


def _reserve(out_dir: Path, base: str) -> tuple[Path, Path]:
    """Create empty `base[-n].png` and `.json` with O_EXCL so no other writer can take them."""
    for counter in range(_MAX_COLLISIONS):
        name = base if counter == 0 else f"{base}-{counter}"
        png, sidecar = out_dir / f"{name}.png", out_dir / f"{name}.json"
        try:
            os.close(os.open(png, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        try:
            os.close(os.open(sidecar, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            png.unlink()
            continue
        return png, sidecar
    raise InputError(f"{out_dir} already holds {_MAX_COLLISIONS} files named {base}*: use another --output")


def save_images(result: ImageResult, out_dir: Path, *, stem: str | None = None) -> list[Path]:
    """Write each image of `result` as PNG (+ JSON sidecar) under `out_dir`; return the PNG paths."""
    from PIL.PngImagePlugin import PngInfo

    if len(result.seeds) != len(result.images):
        raise ValueError(f"result has {len(result.images)} images but {len(result.seeds)} seeds")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create output directory {out_dir}: {exc.strerror}") from None
    if stem is not None and (not stem.strip() or Path(stem).name != stem or stem.startswith(".")):
        raise InputError(f"stem must be a plain file name without directories, got {stem!r}")
    stamp = datetime.now(timezone.utc)
    slug = slugify(str(result.parameters.get("prompt", "")))
    paths = []
    for index, (image, seed) in enumerate(zip(result.images, result.seeds)):
        base = stem if stem is not None else f"{stamp:%Y%m%d-%H%M%S}-{seed}-{slug}"
        if stem is not None and len(result.images) > 1:
            base = f"{stem}-{seed}"
        png_path, sidecar_path = _reserve(out_dir, base)
        params = {**result.parameters, "seed": seed}
        info = PngInfo()
        info.add_text(PARAMETERS_KEY, format_parameters(result.parameters, seed))  # iTXt if not latin-1
        info.add_itxt(EXACT_KEY, json.dumps(params, ensure_ascii=False, default=str))
        sidecar = {
            "image": png_path.name, "index": index, "seed": seed, "seeds": list(result.seeds),
            "backend": result.parameters.get("backend"), "parameters": params,
            "timings": dict(result.timings), "created": stamp.isoformat(),
        }
        atomic_write(png_path, lambda handle: image.save(handle, format="PNG", pnginfo=info))  # noqa: B023 (called now)
        payload = json.dumps(sidecar, ensure_ascii=False, indent=2, default=str).encode()
        atomic_write(sidecar_path, lambda handle: handle.write(payload))  # noqa: B023 (called now)
        paths.append(png_path)
    return paths
