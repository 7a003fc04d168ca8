"""Image locators: the one string a prompt row keeps to say where its image lives.

A locator is one of
- `diffusiondb:<subset>:<part_id>:<image_name>` — an image inside a DiffusionDB part zip on the
  Hugging Face Hub (subset `2m`: `images/part-000123.zip`, PNGs; subset `large`:
  `diffusiondb-large-part-1/part-000123.zip` for parts 1-10000 and `diffusiondb-large-part-2/`
  for 10001-14000, lossless WebP);
- an `http://` / `https://` URL;
- a local file path (`~` expanded).

`parse_locator` turns the string into one of three small frozen dataclasses, or raises ValueError
naming the problem (the cache turns that into a reason, never an exception to a page).
`diffusiondb_locator` builds the string at ingest.

Deliberately not here: any I/O (see remote_zip.py, fetchers.py and cache.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SUBSETS = ("2m", "large")
PREFIX = "diffusiondb:"
LARGE_SPLIT_PART = 10_000  # parts 1..10000 in diffusiondb-large-part-1/, the rest in -part-2/
LARGE_LAST_PART = 14_000
TWO_M_LAST_PART = 2_000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")


@dataclass(frozen=True)
class DiffusionDBImage:
    """One image inside a DiffusionDB part zip."""

    subset: str  # "2m" | "large"
    part_id: int
    image_name: str

    @property
    def part_key(self) -> str:
        """Names the part zip (for the central-directory cache and per-part back-off)."""
        return f"{self.subset}-{self.part_id:06d}"

    @property
    def part_file(self) -> str:
        """The part zip's path inside the poloclub/diffusiondb dataset repository."""
        name = f"part-{self.part_id:06d}.zip"
        if self.subset == "2m":
            return f"images/{name}"
        folder = 1 if self.part_id <= LARGE_SPLIT_PART else 2
        return f"diffusiondb-large-part-{folder}/{name}"


@dataclass(frozen=True)
class UrlImage:
    url: str


@dataclass(frozen=True)
class LocalImage:
    path: Path


Locator = DiffusionDBImage | UrlImage | LocalImage


def diffusiondb_subset(image_name: str, source_name: str = "") -> str:
    """"large" for the Large set (its images are WebP; its table is metadata-large.parquet), else "2m"."""
    if "large" in source_name.lower() or image_name.lower().endswith(".webp"):
        return "large"
    return "2m"


def diffusiondb_locator(subset: str, part_id: int, image_name: str) -> str:
    """The locator string of a DiffusionDB image; raises ValueError on values that cannot be one."""
    return format_locator(DiffusionDBImage(*_checked(subset, part_id, image_name)))


def format_locator(image: DiffusionDBImage) -> str:
    return f"{PREFIX}{image.subset}:{image.part_id}:{image.image_name}"


def _checked(subset: str, part_id: object, image_name: str) -> tuple[str, int, str]:
    if subset not in SUBSETS:
        raise ValueError(f"DiffusionDB subset must be one of {', '.join(SUBSETS)}, got {subset!r}")
    try:
        part = int(part_id)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"DiffusionDB part_id must be an integer, got {part_id!r}") from None
    last = TWO_M_LAST_PART if subset == "2m" else LARGE_LAST_PART
    if not 1 <= part <= last:
        raise ValueError(f"DiffusionDB {subset} part_id must be between 1 and {last}, got {part}")
    name = str(image_name or "").strip()
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"DiffusionDB image_name must be a plain file name, got {image_name!r}")
    return subset, part, name


def parse_locator(locator: str) -> Locator:
    """The locator's parts; ValueError (saying what is wrong) when it is not a locator."""
    if not isinstance(locator, str) or not locator.strip():
        raise ValueError(f"an image locator must be non-empty text, got {locator!r}")
    text = locator.strip()
    if text.startswith(PREFIX):
        fields = text[len(PREFIX):].split(":", 2)
        if len(fields) != 3:
            raise ValueError(f"{text!r} is not diffusiondb:<subset>:<part_id>:<image_name>")
        return DiffusionDBImage(*_checked(*fields))
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        return UrlImage(text)
    if lowered.startswith("file://"):
        text = text[len("file://"):]
    elif _SCHEME.match(text):
        raise ValueError(f"unsupported image URL scheme in {text!r}; use http(s):// or a local path")
    return LocalImage(Path(text).expanduser())
