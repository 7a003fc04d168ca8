"""Reading prompts back from images: ours (chunk + sidecar, with the recipe), hand-built A1111 and
ComfyUI PNGs, malformed chunks, and `promptrag inspect` (--json, --reproduce on a tiny pipeline)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("PIL")

import typer  # noqa: E402
from PIL import Image  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cli import inspect_cmd  # noqa: E402
from core.errors import InputError  # noqa: E402
from generate.base import ImageResult  # noqa: E402
from generate.output import make_recipe, read_png_parameters, save_images  # noqa: E402
from generate.readback import inspect_image  # noqa: E402

try:
    from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)
except ImportError:
    tiny_sd_dir = None

A1111_TEXT = (
    "masterpiece, a lighthouse on a cliff, (stormy sea:1.2)\n"
    "Negative prompt: blurry, lowres, watermark\n"
    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 6.5, Seed: 1234567, Size: 768x512, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: "v1.9.4"'
)

COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler_name": "euler", "scheduler": "normal",
        "denoise": 1.0, "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {
        "text": "beautiful scenery nature glass bottle landscape, purple galaxy bottle,", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "text, watermark", "clip": ["4", 1]}},
    "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
}

COMFY_WORKFLOW = {
    "last_node_id": 9, "last_link_id": 9,
    "nodes": [
        {"id": 7, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "type": "CLIP", "link": 5}],
         "outputs": [{"name": "CONDITIONING", "links": [6]}], "widgets_values": ["text, watermark"]},
        {"id": 6, "type": "CLIPTextEncode", "inputs": [{"name": "clip", "type": "CLIP", "link": 3}],
         "outputs": [{"name": "CONDITIONING", "links": [4]}], "widgets_values": ["a koi pond, ukiyo-e"]},
        {"id": 3, "type": "KSampler",
         "inputs": [{"name": "model", "link": 1}, {"name": "positive", "link": 4},
                    {"name": "negative", "link": 6}, {"name": "latent_image", "link": 2}],
         "widgets_values": [42, "randomize", 12, 5.5, "dpmpp_2m", "karras", 1]},
    ],
    "links": [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"],
              [4, 6, 0, 3, 1, "CONDITIONING"], [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"]],
}


def png_with(path, **chunks):
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    Image.new("RGB", (16, 16), (40, 80, 120)).save(path, format="PNG", pnginfo=info)
    return path


def our_png(tmp_path, **extra):
    params = {"prompt": "a red fox in the snow, golden hour", "negative_prompt": "blurry", "steps": 20,
              "cfg": 7.5, "sampler": "k_euler", "width": 64, "height": 48, "model": "tiny/sd-test",
              "backend": "diffusers", **extra}
    result = ImageResult(images=[Image.new("RGB", (64, 48))], parameters=params, seeds=[42])
    [path] = save_images(result, tmp_path)
    return path


RECIPE = make_recipe(idea='a fox, "in snow"\nat dawn', enhancer="grounded", style="coloring book",
                     example_ids=[12, 40, 7], template="a {red|white} fox")


def test_our_images_record_how_the_prompt_was_made(tmp_path):
    path = our_png(tmp_path, **RECIPE)
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["parameters"]["example_ids"] == [12, 40, 7]
    # The A1111 chunk alone (another tool reading it) carries the recipe too.
    path.with_suffix(".json").unlink()
    back = read_png_parameters(path)
    assert back["idea"] == 'a fox, "in snow"\nat dawn' and back["style"] == "coloring book"
    assert back["enhancer"] == "grounded" and back["example_ids"] == [12, 40, 7]
    assert back["template"] == "a {red|white} fox" and back["seed"] == 42


@pytest.mark.parametrize("keep_sidecar", [True, False])
def test_inspect_reads_our_png_with_or_without_its_sidecar(tmp_path, keep_sidecar):
    path = our_png(tmp_path, **RECIPE)
    if not keep_sidecar:
        path.with_suffix(".json").unlink()
    recipe = inspect_image(path)
    assert recipe.source == "promptrag"
    assert recipe.read_from[0] == (path.with_suffix(".json").name if keep_sidecar else "parameters")
    assert recipe.prompt == "a red fox in the snow, golden hour" and recipe.negative_prompt == "blurry"
    assert recipe.settings == {"seed": 42, "steps": 20, "cfg": 7.5, "sampler": "k_euler", "width": 64,
                               "height": 48, "model": "tiny/sd-test"}
    assert (recipe.idea, recipe.enhancer, recipe.style) == ('a fox, "in snow"\nat dawn', "grounded", "coloring book")
    assert recipe.example_ids == [12, 40, 7] and recipe.template == "a {red|white} fox"
    assert recipe.image_options() == {"seed": 42, "steps": 20, "guidance": 7.5, "width": 64, "height": 48,
                                      "sampler": "k_euler"}


def test_inspect_reads_a_hand_built_a1111_png(tmp_path):
    recipe = inspect_image(png_with(tmp_path / "a1111.png", parameters=A1111_TEXT))
    assert recipe.source == "a1111" and recipe.read_from == ["parameters"]
    assert recipe.prompt == "masterpiece, a lighthouse on a cliff, (stormy sea:1.2)"
    assert recipe.negative_prompt == "blurry, lowres, watermark"
    assert recipe.settings == {"seed": 1234567, "steps": 28, "cfg": 6.5, "sampler": "DPM++ 2M Karras",
                               "width": 768, "height": 512, "model": "v1-5-pruned-emaonly"}
    assert recipe.idea is None and recipe.example_ids == []


def test_inspect_reads_a_comfyui_prompt_graph(tmp_path):
    path = png_with(tmp_path / "comfy.png", prompt=COMFY_PROMPT, workflow=COMFY_WORKFLOW)
    recipe = inspect_image(path)
    assert recipe.source == "comfyui" and recipe.read_from == ["prompt"]
    assert recipe.prompt == "beautiful scenery nature glass bottle landscape, purple galaxy bottle,"
    assert recipe.negative_prompt == "text, watermark"
    assert recipe.settings == {"seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler": "euler",
                               "width": 512, "height": 640, "model": "v1-5-pruned-emaonly.safetensors"}


def test_inspect_falls_back_to_the_comfyui_workflow(tmp_path):
    recipe = inspect_image(png_with(tmp_path / "wf.png", workflow=COMFY_WORKFLOW))
    assert recipe.read_from == ["workflow"]
    assert (recipe.prompt, recipe.negative_prompt) == ("a koi pond, ukiyo-e", "text, watermark")
    assert recipe.settings == {"seed": 42, "steps": 12, "cfg": 5.5, "sampler": "dpmpp_2m"}


@pytest.mark.parametrize("chunks, message", [
    ({"prompt": "{not json"}, "'prompt' chunk is not valid JSON"),
    ({"prompt": "[1, 2]"}, "must be a JSON object of nodes"),
    ({"prompt": json.dumps({"1": {"class_type": "VAEDecode", "inputs": {}}})}, "no CLIPTextEncode text"),
    ({"workflow": '{"nodes": 3}'}, "'workflow' chunk must be a JSON object with a 'nodes' list"),
    ({"parameters": "a cat\nSteps: 20, Seed: 1", "promptrag": "{oops"}, "'promptrag' chunk is not valid JSON"),
    ({"Software": "GIMP"}, "carries no generation metadata"),
])
def test_malformed_or_missing_chunks_are_one_clear_error(tmp_path, chunks, message):
    with pytest.raises(InputError, match=message):
        inspect_image(png_with(tmp_path / "bad.png", **chunks))


def test_a_bad_sidecar_or_a_non_image_is_one_clear_error(tmp_path):
    path = our_png(tmp_path)
    path.with_suffix(".json").write_text("{truncated")
    with pytest.raises(InputError, match="sidecar .* is not valid JSON"):
        inspect_image(path)
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match="is not a readable image"):
        inspect_image(tmp_path / "notes.png")
    with pytest.raises(InputError, match="no image at"):
        inspect_image(tmp_path / "missing.png")


def test_inspect_reads_uploaded_bytes(tmp_path):
    path = png_with(tmp_path / "a1111.png", parameters=A1111_TEXT)
    assert inspect_image(path.read_bytes()).settings["seed"] == 1234567


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    inspect_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)
    return app


def test_inspect_command_prints_and_emits_json(app, tmp_path):
    path = png_with(tmp_path / "comfy.png", prompt=COMFY_PROMPT)
    result = CliRunner().invoke(app, ["inspect", str(path)])
    assert result.exit_code == 0, result.output
    assert "source:    comfyui (prompt)" in result.stdout
    assert "prompt:    beautiful scenery nature glass bottle landscape" in result.stdout
    assert "seed=156680208700286" in result.stdout
    result = CliRunner().invoke(app, ["inspect", str(our_png(tmp_path, **RECIPE)), "--json"])
    data = json.loads(result.stdout)
    assert data["example_ids"] == [12, 40, 7] and data["style"] == "coloring book"


def test_inspect_reproduce_needs_an_output(app, tmp_path):
    path = png_with(tmp_path / "a.png", parameters=A1111_TEXT)
    result = CliRunner().invoke(app, ["inspect", str(path), "--reproduce"])
    assert isinstance(result.exception, InputError) and "--output" in str(result.exception)


@pytest.mark.skipif(tiny_sd_dir is None, reason="tests/generate/tiny_pipelines.py not available")
def test_inspect_reproduce_draws_the_same_image_again(app, tiny_sd_dir, tmp_path):  # noqa: F811
    from generate.saving import generate_and_save

    first = generate_and_save("a lantern on a table", "fog", {"steps": 2, "seed": 9, "width": 64, "height": 64},
                              "diffusers", str(tiny_sd_dir), tmp_path / "first", recipe=RECIPE)
    result = CliRunner().invoke(app, ["inspect", str(first.paths[0]), "--reproduce", "-o", str(tmp_path / "again"),
                                      "--model", str(tiny_sd_dir), "--json"])
    assert result.exit_code == 0, result.output
    again = json.loads(result.stdout)["reproduced"]
    [image] = again["images"]
    with Image.open(first.paths[0]) as a, Image.open(image["path"]) as b:
        assert a.tobytes() == b.tobytes()  # same prompt, negative, seed, steps: same pixels
    recipe = inspect_image(image["path"])
    assert recipe.prompt == "a lantern on a table" and recipe.negative_prompt == "fog"
    assert recipe.idea == RECIPE["idea"] and recipe.example_ids == [12, 40, 7]
