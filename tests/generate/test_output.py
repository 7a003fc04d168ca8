"""Saving images: the A1111 `parameters` chunk, exact read-back, JSON sidecars, no overwrites."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PIL")

from PIL import Image  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402

from core.errors import InputError  # noqa: E402
from generate.base import ImageResult  # noqa: E402
from generate.output import parse_parameters, read_png_parameters, save_images, slugify  # noqa: E402


def make_result(prompt="a red fox in the snow", negative="blurry, lowres", seeds=(42,), **extra) -> ImageResult:
    params = {"prompt": prompt, "negative_prompt": negative, "steps": 20, "cfg": 7.5,
              "sampler": "k_euler_ancestral", "width": 64, "height": 48, "model": "tiny/sd-test",
              "backend": "diffusers", **extra}
    images = [Image.new("RGB", (64, 48), (10 * i, 100, 200)) for i in range(len(seeds))]
    return ImageResult(images=images, parameters=params, seeds=list(seeds), timings={"generate_s": 1.25})


def raw_chunk(path) -> str:
    with Image.open(path) as image:
        return image.text["parameters"]


def test_parameters_chunk_is_the_a1111_format(tmp_path):
    [path] = save_images(make_result(), tmp_path)
    assert raw_chunk(path) == (
        "a red fox in the snow\nNegative prompt: blurry, lowres\n"
        "Steps: 20, Sampler: k_euler_ancestral, CFG scale: 7.5, Seed: 42, Size: 64x48, Model: tiny/sd-test"
    )
    assert path.suffix == ".png" and "-42-a-red-fox-in-the-snow" in path.name


def test_no_negative_line_when_empty_and_unused_settings_are_left_out(tmp_path):
    result = make_result(negative="", steps=None, cfg=None, sampler=None, model="stability.sd3-5-large-v1:0")
    [path] = save_images(result, tmp_path)
    assert raw_chunk(path) == 'a red fox in the snow\nSeed: 42, Size: 64x48, Model: "stability.sd3-5-large-v1:0"'
    back = read_png_parameters(path)
    assert back["model"] == "stability.sd3-5-large-v1:0" and back["negative_prompt"] == ""
    assert "steps" not in back and "cfg" not in back


@pytest.mark.parametrize(("prompt", "negative"), [
    ("a cat, on mars: 8k, (detailed:1.2)\nsecond line, with commas", "ugly,\nbad hands: extra fingers"),
    ("東京の夜景, ネオン, 雨 — café crème ☕ \"quoted\"", "водяной знак, текст"),
    ("line one\nNegative prompt: this is still the positive prompt", "real negative"),
    ("Steps: 99, Seed: 1", ""),
])
def test_round_trip_of_odd_prompts(tmp_path, prompt, negative):
    [path] = save_images(make_result(prompt=prompt, negative=negative, seeds=(7,)), tmp_path)
    back = read_png_parameters(path)
    assert (back["prompt"], back["negative_prompt"]) == (prompt, negative)
    assert (back["steps"], back["cfg"], back["seed"], back["sampler"]) == (20, 7.5, 7, "k_euler_ancestral")
    assert (back["width"], back["height"], back["model"]) == (64, 48, "tiny/sd-test")
    assert Image.open(path).size == (64, 48)


def test_reads_a1111_files_made_elsewhere(tmp_path):
    info = PngInfo()
    info.add_text("parameters", "masterpiece, a castle\nin the clouds\nNegative prompt: lowres, text\n"
                                "Steps: 28, Sampler: Euler a, CFG scale: 7, Seed: 3735928559, Size: 512x768, "
                                'Model hash: 6ce0161689, Model: v1-5, Lora hashes: "a: 1, b: 2"')
    path = tmp_path / "a1111.png"
    Image.new("RGB", (8, 8)).save(path, pnginfo=info)
    back = read_png_parameters(path)
    assert back["prompt"] == "masterpiece, a castle\nin the clouds"
    assert back["negative_prompt"] == "lowres, text"
    assert (back["steps"], back["sampler"], back["cfg"], back["seed"]) == (28, "Euler a", 7.0, 3735928559)
    assert (back["width"], back["height"], back["model"]) == (512, 768, "v1-5")
    assert back["Model hash"] == "6ce0161689" and back["Lora hashes"] == "a: 1, b: 2"


def test_png_without_parameters_is_a_clear_error(tmp_path):
    path = tmp_path / "plain.png"
    Image.new("RGB", (8, 8)).save(path)
    with pytest.raises(InputError, match="no 'parameters'"):
        read_png_parameters(path)


def test_sidecar_holds_exact_parameters_seed_timings_backend(tmp_path):
    result = make_result(seeds=(100, 101))
    paths = save_images(result, tmp_path)
    assert len(paths) == 2
    for path, seed in zip(paths, (100, 101)):
        sidecar = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        assert sidecar["image"] == path.name and sidecar["seed"] == seed and sidecar["seeds"] == [100, 101]
        assert sidecar["backend"] == "diffusers" and sidecar["timings"] == {"generate_s": 1.25}
        assert sidecar["parameters"] == {**result.parameters, "seed": seed}
        assert read_png_parameters(path)["seed"] == seed  # each image carries its own seed


def test_never_overwrites_on_collision(tmp_path):
    first = save_images(make_result(), tmp_path)[0]
    before = first.read_bytes()
    second = save_images(make_result(), tmp_path)[0]
    third = save_images(make_result(), tmp_path, stem="fox")[0]
    fourth = save_images(make_result(), tmp_path, stem="fox")[0]
    assert len({first, second, third, fourth}) == 4 and first.read_bytes() == before
    assert (third.name, fourth.name) == ("fox.png", "fox-1.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        n for p in (first, second, third, fourth) for n in (p.name, p.with_suffix(".json").name))


def test_a_leftover_sidecar_is_not_overwritten_either(tmp_path):
    (tmp_path / "fox.json").write_text("mine")
    path = save_images(make_result(), tmp_path, stem="fox")[0]
    assert path.name == "fox-1.png" and (tmp_path / "fox.json").read_text() == "mine"
    assert not (tmp_path / "fox.png").exists()


@pytest.mark.parametrize("stem", ["../escape", "a/b", "", ".hidden"])
def test_bad_stem_is_rejected(tmp_path, stem):
    with pytest.raises(InputError, match="stem"):
        save_images(make_result(), tmp_path, stem=stem)


def test_slug_is_short_ascii():
    assert slugify("A Cat, on Mars!  (8k)") == "a-cat-on-mars-8k"
    assert slugify("東京") == "image" and len(slugify("word " * 50)) <= 40


def test_parse_without_settings_line_keeps_everything_as_prompt():
    assert parse_parameters("just a prompt, with: colon") == {"prompt": "just a prompt, with: colon",
                                                              "negative_prompt": ""}
