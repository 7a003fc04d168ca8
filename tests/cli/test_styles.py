"""User styles: real A1111 styles.csv and SDXL Prompt Styler / Fooocus JSON files, applied the A1111
way, round-tripped import → export → import, malformed files refused whole, and the CLI
(`promptrag styles ...`, `enhance --style <yours>`)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import InputError
from enhancers.user_styles import (
    IMPORT_FILE,
    UserStyle,
    apply_style,
    export_styles,
    import_styles,
    load_user_styles,
    read_styles,
    split_user_style,
    styles_dir,
)

# The A1111 styles.csv format: a header, quoted cells where needed, {prompt} optional.
A1111_CSV = '''name,prompt,negative_prompt
Cinematic Photo,"cinematic photo {prompt} . 35mm photograph, film, bokeh, professional, 4k, highly detailed","drawing, painting, crayon, sketch, graphite, impressionist, noisy, blurry, soft, deformed, ugly"
Watercolor,"watercolor painting, soft edges, paper texture",
"Line art, clean","line art drawing {prompt} . professional, sleek, modern, minimalist, graphic, line art, vector graphics","anime, photorealistic, 35mm film, deformed, glitch, blurry, noisy"
Multi line,"a ""quoted"" word
on two lines",{prompt}
'''  # noqa: E501 (rows as A1111's styles.csv ships them)

# The sdxl_styles.json format of the SDXL Prompt Styler (and Fooocus' style files).
STYLER_JSON = [
    {"name": "base", "prompt": "{prompt}", "negative_prompt": ""},
    {"name": "sai-3d-model",
     "prompt": "professional 3d model {prompt} . octane render, highly detailed, volumetric, dramatic lighting",
     "negative_prompt": "ugly, deformed, noisy, low poly, blurry, painting"},
    {"name": "sai-anime", "prompt": "anime artwork {prompt} . anime style, key visual, vibrant, studio anime,  "
                                    "highly detailed",
     "negative_prompt": "photo, deformed, black and white, realism, disfigured, low contrast"},
    {"name": "Fooocus Sharp", "prompt": "cinematic still {prompt} . emotional, harmonious, vignette, 4k epic detailed"},
]


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "styles.csv"
    path.write_text(A1111_CSV, encoding="utf-8")
    return path


@pytest.fixture
def json_file(tmp_path):
    path = tmp_path / "sdxl_styles.json"
    path.write_text(json.dumps(STYLER_JSON, indent=4), encoding="utf-8")
    return path


def test_a1111_csv_reads_every_row_with_quotes_and_newlines(csv_file):
    styles = read_styles(csv_file)
    assert [s.name for s in styles] == ["Cinematic Photo", "Watercolor", "Line art, clean", "Multi line"]
    assert styles[3].prompt == 'a "quoted" word\non two lines' and styles[3].negative_prompt == "{prompt}"
    assert styles[1].negative_prompt == ""


def test_styles_apply_the_a1111_way(csv_file, json_file):
    by_name = {s.name: s for s in [*read_styles(csv_file), *read_styles(json_file)]}
    # {prompt} placeholder: replaced; the negative without one is appended after ", ".
    assert apply_style(by_name["Cinematic Photo"], "a fox", "text") == (
        "cinematic photo a fox . 35mm photograph, film, bokeh, professional, 4k, highly detailed",
        "text, drawing, painting, crayon, sketch, graphite, impressionist, noisy, blurry, soft, deformed, ugly")
    # No placeholder: appended; empty parts dropped (no dangling comma).
    assert apply_style(by_name["Watercolor"], "a fox", "") == ("a fox, watercolor painting, soft edges, paper texture",
                                                               "")
    assert apply_style(by_name["base"], "a fox", "blurry") == ("a fox", "blurry")
    assert apply_style(by_name["Fooocus Sharp"], "a fox")[1] == ""


@pytest.mark.parametrize("fmt, suffix", [("a1111", ".csv"), ("styler", ".json")])
def test_import_export_import_round_trips(csv_file, json_file, tmp_path, fmt, suffix):
    first = import_styles(csv_file)
    import_styles(json_file)
    assert first.path == styles_dir() / IMPORT_FILE and len(first.added) == 4
    before = load_user_styles()
    assert len(before) == 8
    exported = tmp_path / f"out{suffix}"
    assert export_styles(exported, fmt) == 8
    (styles_dir() / IMPORT_FILE).unlink()
    assert load_user_styles() == {}
    import_styles(exported)
    assert load_user_styles() == before


def test_reimporting_replaces_same_names_and_a_dropped_file_is_read(csv_file):
    import_styles(csv_file)
    report = import_styles(csv_file)
    assert report.added == [] and len(report.replaced) == 4
    (styles_dir() / "zz-mine.json").write_text(json.dumps([{"name": "Watercolor", "prompt": "aquarelle {prompt}"}]))
    assert load_user_styles()["Watercolor"].prompt == "aquarelle {prompt}"  # a later file wins


@pytest.mark.parametrize("name, content, message", [
    ("bad.json", "[{\"name\": \"x\"", "is not valid JSON"),
    ("obj.json", '{"name": "x", "prompt": "{prompt}"}', "must hold a JSON list"),
    ("noname.json", '[{"prompt": "{prompt}"}]', "item 1: the style has no name"),
    ("num.json", '[{"name": "x", "prompt": 3}]', "prompt must be text, got int"),
    ("item.json", '["just text"]', "item 1: a style must be an object"),
    ("dup.json", '[{"name": "x"}, {"name": "x"}]', "style 'x' appears twice"),
    ("builtin.json", '[{"name": "Photography", "prompt": "{prompt}"}]', "is a built-in style name"),
    ("ctrl.json", '[{"name": "a\\nb"}]', "must be one line"),
    ("header.csv", "title,text\nx,y\n", "must have the A1111 header"),
    ("cells.csv", "name,prompt,negative_prompt\nx,y,z,extra\n", "line 2: more cells than the header"),
    ("styles.txt", "name,prompt\n", "end in .csv"),
])
def test_malformed_files_are_one_clear_error_and_nothing_is_written(csv_file, tmp_path, name, content, message):
    import_styles(csv_file)
    saved = (styles_dir() / IMPORT_FILE).read_bytes()
    bad = tmp_path / name
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message):
        import_styles(bad)
    assert (styles_dir() / IMPORT_FILE).read_bytes() == saved
    assert sorted(p.name for p in styles_dir().iterdir()) == [IMPORT_FILE]  # no temporary leftovers


def test_a_non_utf8_file_is_refused(tmp_path):
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("name,prompt,negative_prompt\ncaf\xe9,x,y\n".encode("latin-1"))
    with pytest.raises(InputError, match="is not UTF-8"):
        read_styles(bad)


def test_split_user_style_tells_built_ins_from_yours(csv_file):
    import_styles(csv_file)
    assert split_user_style("cinematic") == ("cinematic", None)
    assert split_user_style("Watercolor") == ("auto", UserStyle("Watercolor",
                                                             "watercolor painting, soft edges, paper texture"))
    with pytest.raises(InputError, match="unknown style 'nope'.*your styles: Cinematic Photo"):
        split_user_style("nope")


def test_styles_commands_import_list_export(csv_file, json_file, tmp_path):
    runner = CliRunner()
    result = runner.invoke(app, ["styles", "import", str(csv_file)])
    assert result.exit_code == 0, result.output
    assert "imported 4 styles" in result.stdout and "4 new, 0 replaced" in result.stdout
    assert runner.invoke(app, ["styles", "import", str(json_file)]).exit_code == 0
    listed = json.loads(runner.invoke(app, ["styles", "list", "--json"]).stdout)
    assert "photography" in listed["built_in"] and len(listed["user"]) == 8
    out = tmp_path / "export.csv"
    result = runner.invoke(app, ["styles", "export", "--format", "a1111", str(out)])
    assert result.exit_code == 0 and "wrote 8 styles" in result.stdout
    assert out.read_text().splitlines()[0] == "name,prompt,negative_prompt"
    result = runner.invoke(app, ["styles", "export", "--format", "comfy", str(out)])
    assert isinstance(result.exception, InputError) and "a1111, styler" in str(result.exception)


def test_enhance_takes_a_user_style_through_the_same_style_option(json_file):
    import_styles(json_file)
    result = CliRunner().invoke(app, ["enhance", "a red fox in the snow", "-e", "rules", "--style", "sai-3d-model",
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["style"] == "sai-3d-model"
    assert data["prompt"].startswith("professional 3d model a red fox in the snow")
    assert data["prompt"].endswith(". octane render, highly detailed, volumetric, dramatic lighting")
    assert data["negative_prompt"].endswith("ugly, deformed, noisy, low poly, blurry, painting")
    result = CliRunner().invoke(app, ["enhance", "a fox", "-e", "rules", "--style", "nope"])
    assert isinstance(result.exception, InputError) and "sai-3d-model" in str(result.exception)
