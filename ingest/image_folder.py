"""A folder of the user's own images as a prompt source: each picture's recipe becomes a row.

A1111 / Forge write the prompt and settings into a PNG's "parameters" chunk, ComfyUI its graph,
promptrag a sidecar; `generate.readback.inspect_image` (what `promptrag inspect` uses) reads all
three. `promptrag ingest --source ~/outputs` then indexes the prompts that made those pictures,
with their seed / steps / CFG / sampler / size, and the picture itself as the row's `image`
(the Explore gallery shows it; nothing is copied).

Files are read in sorted path order (so a stopped ingest resumes at the same place), down the
whole tree, image suffixes only. A picture without a recipe, or one that cannot be read, is
skipped and counted in `FolderScan.skipped` with its reason, never an error for the whole folder.

Deliberately not here: images without metadata (captioning them is another product), EXIF
"UserComment" prompts of JPEGs from other tools, and watching the folder for new files.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import InputError
from generate.readback import inspect_image

log = logging.getLogger(__name__)
SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp"})
MAX_IMAGE_BYTES = 64 * 1024 * 1024  # a bigger file is not a generated picture


@dataclass
class FolderScan:
    """Records of the pictures in `folder` that carry a recipe; what was skipped, by reason."""

    folder: Path
    skipped: Counter = field(default_factory=Counter)

    def images(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())

    def records(self) -> Iterator[dict]:
        for path in self.images():
            if path.stat().st_size > MAX_IMAGE_BYTES:
                self.skipped["too large"] += 1
                continue
            try:
                recipe = inspect_image(path)
            except InputError:
                self.skipped["no generation metadata"] += 1
                continue
            except (OSError, ValueError) as exc:  # truncated or not an image at all (PIL: UnidentifiedImageError)
                self.skipped[f"unreadable ({type(exc).__name__})"] += 1
                continue
            settings = recipe.settings
            yield {"prompt": recipe.prompt, "seed": settings.get("seed"), "steps": settings.get("steps"),
                   "cfg": settings.get("cfg"), "sampler": settings.get("sampler"), "width": settings.get("width"),
                   "height": settings.get("height"), "image": str(path.resolve())}
        if self.skipped:
            log.warning("%s: skipped %d pictures (%s)", self.folder, sum(self.skipped.values()),
                        ", ".join(f"{n} {why}" for why, n in self.skipped.most_common()))


COLUMNS = ("prompt", "seed", "steps", "cfg", "sampler", "width", "height", "image")
