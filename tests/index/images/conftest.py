"""Fixtures for the image tests: real part zips of generated PNGs served by the local Hub stand-in."""

from __future__ import annotations

import io
import json
import struct
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from index.images import ThumbnailCache
from tests.servers.hub_server import HubServer

PART_FILE = "images/part-000001.zip"


def color(i: int) -> tuple[int, int, int]:
    """A distinct, easily told apart colour per image number."""
    return (37 * i) % 256, (91 * i + 40) % 256, (53 * i + 200) % 256


def png(i: int, size: int = 320) -> bytes:
    """An image of colour(i) with seeded noise on it (so its thumbnail has a realistic size)."""
    noise = np.random.default_rng(i).integers(-24, 25, (size, size, 3))
    pixels = np.clip(np.array(color(i)) + noise, 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@dataclass(frozen=True)
class Part:
    """A DiffusionDB-style part zip: `img-<i>.png` members plus the part's JSON."""

    data: bytes
    names: list[str]

    def directory_bytes(self) -> int:
        """Central directory + end record: what reading the directory costs."""
        size = struct.unpack("<I", self.data[-10:-6])[0]
        return size + 22

    def member_span(self, name: str) -> int:
        """Bytes from the member's local header to the next member (or the directory)."""
        with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
            offsets = sorted(info.header_offset for info in archive.infolist()) + [archive.start_dir]
            start = archive.getinfo(name).header_offset
        return offsets[offsets.index(start) + 1] - start


def make_part(count: int = 12, compression: int = zipfile.ZIP_STORED, size: int = 320) -> Part:
    buffer = io.BytesIO()
    names = [f"img-{i}.png" for i in range(count)]
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for i, name in enumerate(names):
            archive.writestr(name, png(i, size))
        archive.writestr("part-000001.json", json.dumps({name: {"p": f"prompt {name}"} for name in names}))
    return Part(buffer.getvalue(), names)


def locator(i: int, part: int = 1) -> str:
    return f"diffusiondb:2m:{part}:img-{i}.png"


def mean_color(path) -> tuple[int, ...]:
    with Image.open(path) as image:
        small = image.convert("RGB").resize((1, 1))
        return small.getpixel((0, 0))


def close_to(a, b, tolerance: int = 10) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b))


@pytest.fixture(scope="module")
def part() -> Part:
    return make_part()


@pytest.fixture
def hub(part):
    with HubServer({PART_FILE: part.data}) as server:
        yield server


@pytest.fixture
def cache(tmp_path, hub) -> ThumbnailCache:
    return ThumbnailCache(tmp_path / "thumbnails", 50 * 1024 * 1024, endpoint=hub.url)


@pytest.fixture(autouse=True)
def hub_online(monkeypatch):
    """This process as if started without HF_HUB_OFFLINE: huggingface_hub fixes its offline flag at
    import (tests/conftest.py sets it), and its session refuses every request while it is set.
    The subprocess tests (tests/cli/test_thumbnails_cmd.py) start online for real."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
