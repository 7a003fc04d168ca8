"""Ingest keeps where each prompt's image is: DiffusionDB part/name, or a source's image column."""

from __future__ import annotations

import json

from index import PromptIndex
from ingest import run_ingest
from tests.ingest.conftest import write_diffusiondb_parquet

PROMPTS = [f"a watercolor painting of a {animal} in a garden" for animal in
           ("fox", "heron", "badger", "otter", "lynx", "hare")]


def _images(path) -> dict[str, str | None]:
    with PromptIndex.load(path) as index:
        return {record.prompt: record.image for batch in index.iter_records() for _id, record in batch}


def test_diffusiondb_rows_keep_part_and_image_name(tmp_path):
    rows = [{"prompt": p, "part_id": 7 + i, "image_name": f"img-{i}.png"} for i, p in enumerate(PROMPTS)]
    rows.append({"prompt": PROMPTS[0].upper(), "part_id": 99, "image_name": "later-copy.png"})
    two_m = write_diffusiondb_parquet(tmp_path / "metadata.parquet", rows)
    run_ingest(source=str(two_m), index=tmp_path / "idx", progress=False)

    images = _images(tmp_path / "idx")
    assert images[PROMPTS[2]] == "diffusiondb:2m:9:img-2.png"
    assert images[PROMPTS[0]] == "diffusiondb:2m:7:img-0.png"  # the first occurrence's image

    large = write_diffusiondb_parquet(tmp_path / "metadata-large.parquet",
                                      [{"prompt": p, "part_id": 12_345, "image_name": "x.webp"} for p in PROMPTS[:2]])
    run_ingest(source=str(large), index=tmp_path / "large", progress=False)
    assert set(_images(tmp_path / "large").values()) == {"diffusiondb:large:12345:x.webp"}


def test_an_image_column_is_kept_and_relative_paths_are_anchored(tmp_path):
    source = tmp_path / "data" / "prompts.jsonl"
    source.parent.mkdir()
    lines = [{"prompt": PROMPTS[0], "image_path": "pics/fox.png"},
             {"prompt": PROMPTS[1], "image_url": "https://example.org/heron.jpg"},
             {"prompt": PROMPTS[2], "image": "000044-0048"},  # another system's id: not a file
             {"prompt": PROMPTS[3]}]
    source.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    run_ingest(source=str(source), index=tmp_path / "idx", progress=False)

    images = _images(tmp_path / "idx")
    assert images[PROMPTS[0]] == str(tmp_path / "data" / "pics" / "fox.png")
    assert images[PROMPTS[2]] is None and images[PROMPTS[3]] is None
    csv = tmp_path / "data" / "more.csv"
    csv.write_text("prompt,image_url\n" + f"{PROMPTS[4]},https://example.org/lynx.png\n", encoding="utf-8")
    run_ingest(source=str(csv), index=tmp_path / "csv", progress=False)
    assert _images(tmp_path / "csv") == {PROMPTS[4]: "https://example.org/lynx.png"}


def test_re_ingest_adds_images_to_an_index_without_them_and_embeds_nothing(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("\n".join(PROMPTS), encoding="utf-8")
    run_ingest(source=str(plain), index=tmp_path / "idx", progress=False)
    assert set(_images(tmp_path / "idx").values()) == {None}

    rows = [{"prompt": p, "part_id": 3, "image_name": f"img-{i}.png"} for i, p in enumerate(PROMPTS)]
    report = run_ingest(source=str(write_diffusiondb_parquet(tmp_path / "metadata.parquet", rows)),
                        index=tmp_path / "idx", progress=False)

    assert report.new_prompts_embedded == 0
    images = _images(tmp_path / "idx")
    assert images == {p: f"diffusiondb:2m:3:img-{i}.png" for i, p in enumerate(PROMPTS)}


def test_a_parquet_image_column_is_read_with_the_prompts(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ingest.sources import open_source

    table = pa.table({"prompt": PROMPTS[:3],
                      "image_url": ["https://example.org/a.png", "shots/b.webp", None]})
    pq.write_table(table, tmp_path / "gallery.parquet")
    rows = [row for batch in open_source(tmp_path / "gallery.parquet").batches() for row in batch]
    assert [row["image"] for row in rows] == ["https://example.org/a.png", str(tmp_path / "shots" / "b.webp"), None]
