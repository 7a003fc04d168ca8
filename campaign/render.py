"""One variant's image: the size it is made at, generated and saved under its own name.

`size_for(size, backend)`: "768x512" as given; an aspect ratio ("16:9") at the backend's native
area (`default_size`), in multiples of 64 — or, for a backend with a fixed list of sizes
(Bedrock), the allowed size closest to that ratio.
`render_image(...)` runs `generate.saving.generate_and_save` into a private temporary folder
(the PNG with its A1111 ``parameters`` chunk and JSON sidecar) and then renames both to
`images/<name>.png` / `.json` — the sidecar first, the PNG last — so the name is the variant's
(a re-run replaces its own file, never adds `-1`), and a kill leaves no half file under it.

Deliberately not here: when an image is made, or what is recorded about it (runner.py).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from campaign.brief import parse_size
from core.files import fsync_dir
from core.progress import CancelToken
from generate.saving import generate_and_save


def size_for(size: str, backend: Any) -> tuple[int, int]:
    """The (width, height) a brief's size entry means for `backend`."""
    parsed = parse_size(size)
    if isinstance(parsed[0], int):
        return parsed  # type: ignore[return-value]
    ratio = int(parsed[0]) / int(parsed[1])
    allowed = getattr(backend, "allowed_sizes", None)
    if allowed:
        return min(sorted(allowed), key=lambda wh: abs(wh[0] / wh[1] - ratio))
    area = backend.default_size[0] * backend.default_size[1]
    width = max(64, round((area * ratio) ** 0.5 / 64) * 64)
    height = max(64, round((area / ratio) ** 0.5 / 64) * 64)
    return width, height


def render_image(prompt: str, negative: str, options: dict[str, Any], backend: Any, images_dir: Path, name: str,
                 cancel: CancelToken, recipe: dict[str, Any] | None = None) -> tuple[Path, Any]:
    """Generate one image and save it as `images_dir/<name>.png` (+ sidecar); (its path, SavedGeneration).

    `recipe` (generate.output.make_recipe: idea, enhancer, style, example ids) goes into the PNG too.
    """
    tmp = images_dir / f".tmp-{name}-{os.getpid()}"
    try:
        saved = generate_and_save(prompt, negative, options, backend, None, tmp, cancel=cancel, recipe=recipe)
        png = images_dir / f"{name}.png"
        os.replace(saved.paths[0].with_suffix(".json"), png.with_suffix(".json"))
        os.replace(saved.paths[0], png)  # the PNG last: its presence means the sidecar is there too
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    fsync_dir(images_dir)
    return png, saved
