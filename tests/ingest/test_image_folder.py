"""A folder of the user's own generated pictures is a prompt source: A1111 / promptrag metadata
becomes rows with their settings and the picture as the row's image (ingest/image_folder.py)."""

from __future__ import annotations

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from core.errors import SourceError
from index import PromptIndex
from ingest import run_ingest


def a1111_png(path, prompt: str, seed: int) -> None:
    info = PngInfo()
    info.add_text("parameters", f"{prompt}\nNegative prompt: blurry\nSteps: 28, Sampler: Euler a, CFG scale: 6.5, "
                                f"Seed: {seed}, Size: 512x768, Model: dreamshaper_8")
    Image.new("RGB", (16, 24), (120, 40, 200)).save(path, pnginfo=info)


def test_a_folder_of_a1111_pictures_becomes_rows_with_settings_and_their_image(tmp_path, caplog):
    folder = tmp_path / "outputs"
    (folder / "2026-12-01").mkdir(parents=True)
    a1111_png(folder / "00001.png", "a lighthouse in a storm, oil painting, dramatic light", 11)
    a1111_png(folder / "2026-12-01" / "00002.png", "a red fox in the snow, watercolor", 22)
    Image.new("RGB", (8, 8)).save(folder / "plain.png")  # no metadata: skipped
    (folder / "broken.png").write_bytes(b"\x89PNG not really")  # unreadable: skipped
    (folder / "notes.txt").write_text("not a picture", encoding="utf-8")

    report = run_ingest(source=str(folder), index=tmp_path / "idx", progress=False)
    assert report.final_rows == 2
    with PromptIndex.load(tmp_path / "idx") as index:
        rows = {r.prompt: r for batch in index.iter_records() for _id, r in batch}
    fox = rows["a red fox in the snow, watercolor"]
    assert (fox.seed, fox.steps, fox.cfg, fox.width, fox.height) == (22, 28, 6.5, 512, 768)
    assert fox.image == str((folder / "2026-12-01" / "00002.png").resolve())
    assert "skipped 2 pictures" in caplog.text and "no generation metadata" in caplog.text


def test_a_folder_without_pictures_says_what_to_pass(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="holds no .png / .jpg / .webp pictures"):
        run_ingest(source=str(tmp_path / "empty"), index=tmp_path / "idx", progress=False)
