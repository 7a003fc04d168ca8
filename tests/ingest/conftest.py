"""Fixtures for ingest tests: small slices of the real prompt corpora and a DiffusionDB-schema
parquet written from them (exact column names and dtypes, several row groups)."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

REFL = "diffusiondb_imagereward/refl_prompts_dev.json"
KREA = "krea_open_prompts/1k_dev_flat.csv"
ONNX_MODEL = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture(scope="session")
def dev_prompts(shared_data) -> list[str]:
    """The first 300 real DiffusionDB prompts of the dev split (text only)."""
    rows = json.loads((shared_data / REFL).read_text(encoding="utf-8"))
    return [row["text"] for row in rows[:300]]


@pytest.fixture(scope="session")
def krea_rows(shared_data) -> list[dict]:
    with open(shared_data / KREA, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def write_diffusiondb_parquet(path: Path, rows: list[dict], row_group_size: int = 40) -> Path:
    """Write `rows` (dicts with some DiffusionDB columns) with DiffusionDB's exact schema."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ingest.diffusiondb import arrow_schema

    schema = arrow_schema()
    base = datetime(2022, 8, 20, tzinfo=timezone.utc)
    full = []
    for i, row in enumerate(rows):
        full.append(
            {
                "image_name": f"{i:08x}-0000-0000-0000-000000000000.png",
                "part_id": 1 + i // 1000,
                "seed": 1000 + i,
                "step": 50,
                "cfg": 7.0,
                "sampler": 8,
                "width": 512,
                "height": 512,
                "user_name": "e285b7ef63be99e9107cecd79b280bde602f17e0ca8363cb7a0889b67f0b5ed0",
                "timestamp": base,
                "image_nsfw": 0.05,
                "prompt_nsfw": 0.01,
                **row,
            }
        )
    table = pa.Table.from_pylist(full, schema=schema)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def diffusiondb_parquet(tmp_path, dev_prompts) -> Path:
    """48 real prompts with DiffusionDB's schema, plus planted duplicates and NSFW rows.

    Planted rows (see the tests): row 0's prompt repeated twice more with other case/spacing
    (count 3); row 1 repeated once with a blurred image (image_nsfw 2.0) so the whole prompt is
    filtered; row 2 has prompt_nsfw 0.9; samplers cycle through codes 1..9.
    """
    rows = []
    for i, prompt in enumerate(dev_prompts[:48]):
        rows.append({"prompt": prompt, "sampler": 1 + i % 9, "seed": 10_000 + i, "step": 20 + i % 5,
                     "cfg": 5.0 + i % 3, "width": 512 + 64 * (i % 2), "height": 768})
    rows[2]["prompt_nsfw"] = 0.9
    p0 = dev_prompts[0]
    rows.append({"prompt": "  " + p0.upper().replace(" ", "   "), "seed": 1, "sampler": 2})
    rows.append({"prompt": p0.strip().title() + "\n", "seed": 2, "sampler": 3, "image_nsfw": 0.3})
    rows.append({"prompt": dev_prompts[1], "image_nsfw": 2.0})
    return write_diffusiondb_parquet(tmp_path / "metadata.parquet", rows, row_group_size=10)


@pytest.fixture(scope="session")
def exported_home(tmp_path_factory) -> Path:
    """A promptrag home whose shared cache holds MiniLM's fp32 and int8 exports (written once)."""
    from index import onnx_export

    home = tmp_path_factory.mktemp("exported-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTRAG_HOME", str(home))
        assert onnx_export.main(["--cache", ONNX_MODEL, "--quantize", "int8"]) == 0  # writes fp32 first
    return home


@pytest.fixture()
def home(exported_home, tmp_path, monkeypatch) -> Path:
    """A copy of that home for one test, with the ONNX ingest path on."""
    copy = shutil.copytree(exported_home, tmp_path / "home")
    monkeypatch.setenv("PROMPTRAG_HOME", str(copy))
    monkeypatch.setenv("PROMPTRAG_ONNX_EXPORT", "1")
    return copy
