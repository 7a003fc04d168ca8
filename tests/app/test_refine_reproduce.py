"""The Refine page's drop zone ("reproduce this image"), driven with AppTest: a dropped A1111,
ComfyUI or promptrag PNG becomes a new round with its prompt, negative and settings; an image
without a recipe is one error; hostile prompt text from an image renders as text."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

pytest.importorskip("streamlit")
pytest.importorskip("PIL")

from PIL import Image  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402
from streamlit.testing.v1 import AppTest  # noqa: E402

from tests.app.conftest import APP  # noqa: E402

PAGE = "pages/refine.py"
HOSTILE = "a lighthouse <img src=x onerror=alert(1)> [click](javascript:alert(1)) **moody** <script>x</script>"


def png_bytes(**chunks) -> bytes:
    info = PngInfo()
    for key, value in chunks.items():
        info.add_text(key, value if isinstance(value, str) else json.dumps(value))
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


@pytest.fixture()
def app(tiny_index, workdir):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["index_path"] = str(tiny_index)
    at.switch_page(PAGE)
    at.run()
    assert not at.exception, at.exception
    return at


def run(target) -> AppTest:
    at = target.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def drop(at: AppTest, data: bytes, name: str = "image.png") -> AppTest:
    run(at.file_uploader(key="refine-drop").set_value((name, data, "image/png")))
    return run(at.button(key="refine-load-image").click())


def test_a_dropped_a1111_png_becomes_a_round_with_its_settings_and_hostile_text_stays_text(app):
    text = (f"{HOSTILE}\nNegative prompt: blurry, <b>text</b>\n"
            "Steps: 31, Sampler: k_lms, CFG scale: 6.5, Seed: 4242, Size: 512x768, Model: v1-5")
    at = drop(app, png_bytes(parameters=text), name="<img src=x>.png")
    s = at.session_state["refine"]
    assert len(s.rounds) == 1 and s.rounds[0].enhancer == "image"
    assert at.text_area(key="refine-draft").value == HOSTILE
    assert at.text_area(key="refine-negative").value == "blurry, <b>text</b>"
    assert at.text_area(key="refine-idea").value == HOSTILE  # no idea recorded: the prompt stands in
    assert at.number_input(key="refine-gen-seed").value == 4242
    assert at.number_input(key="refine-gen-steps").value == 31
    assert s.gen["guidance"] == 6.5 and (s.gen["width"], s.gen["height"]) == (512, 768)
    assert s.gen["sampler"] == "k_lms"
    for element in [*at.markdown, *at.caption, *at.info, *at.warning, *at.error, *at.toast]:
        value = str(element.value)
        assert not re.search(r"(?<!\\)<(?:script|img|b>)|(?<!\\)\]\(javascript", value), value
        assert not getattr(element.proto, "allow_html", False)


def test_a_dropped_promptrag_png_brings_its_idea(app, tmp_path):
    from generate.base import ImageResult
    from generate.output import make_recipe, save_images

    params = {"prompt": "a red fox in the snow, golden hour, 85mm", "negative_prompt": "cartoon", "steps": 12,
              "cfg": 5.0, "width": 64, "height": 64, "backend": "diffusers",
              **make_recipe(idea="a fox in snow", enhancer="grounded", style="photography", example_ids=[3])}
    [path] = save_images(ImageResult(images=[Image.new("RGB", (64, 64))], parameters=params, seeds=[7]), tmp_path)
    at = drop(app, Path(path).read_bytes())
    assert at.text_area(key="refine-idea").value == "a fox in snow"
    assert at.text_area(key="refine-draft").value == "a red fox in the snow, golden hour, 85mm"
    assert at.session_state["refine"].gen["seed"] == 7


def test_a_png_without_a_recipe_is_one_error_and_no_round(app):
    at = drop(app, png_bytes(Software="GIMP"))
    assert any("Reading the image failed" in str(e.value) and "no generation metadata" in str(e.value)
               for e in at.error), [e.value for e in at.error]
    assert at.session_state["refine"].rounds == []


# ---- user styles in the app ----------------------------------------------------------------
HOSTILE_STYLE = "<img src=x onerror=alert(1)> [x](javascript:alert(1))"


def import_user_styles(tmp_path):
    from enhancers.user_styles import import_styles

    source = tmp_path / "sdxl_styles.json"
    source.write_text(json.dumps([
        {"name": "sai-3d-model", "prompt": "professional 3d model {prompt} . octane render, highly detailed",
         "negative_prompt": "ugly, deformed, low poly"},
        {"name": HOSTILE_STYLE, "prompt": "{prompt}, <b>bold</b>", "negative_prompt": ""},
    ]))
    import_styles(source)


def test_settings_lists_user_styles_as_text(make_app, home_index, tmp_path):
    import_user_styles(tmp_path)
    at = run(make_app())
    at.switch_page("pages/settings.py")
    at = run(at)
    tables = [d.value for d in at.dataframe if "negative prompt" in d.value.columns]
    assert [list(t["name"]) for t in tables] == [["sai-3d-model", HOSTILE_STYLE]]
    for element in [*at.markdown, *at.caption, *at.info, *at.error]:
        assert not re.search(r"(?<!\\)<(?:img|b>)|(?<!\\)\]\(javascript", str(element.value)), element.value


def test_refine_offers_user_styles_and_writes_with_them(app, tmp_path):
    import_user_styles(tmp_path)
    at = run(app)
    box = at.selectbox(key="refine-style")
    assert box.options[-2:] == ["sai-3d-model", HOSTILE_STYLE] and box.options[0] == "auto"
    at.text_area(key="refine-idea").input("a lighthouse in a storm")
    box.set_value("sai-3d-model")
    run(at.button(key="refine-write-now").click())
    draft = at.text_area(key="refine-draft").value
    assert draft.startswith("professional 3d model ") and draft.endswith(". octane render, highly detailed")
    assert at.text_area(key="refine-negative").value.endswith("ugly, deformed, low poly")
    assert at.session_state["refine"].rounds[-1].style == "sai-3d-model"
