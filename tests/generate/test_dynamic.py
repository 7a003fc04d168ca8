"""Dynamic prompts ({a|b}, {2$$a|b|c}, __wildcards__ from text and YAML files): seed-stable random
draws, combinatorial counts, clear errors, and `promptrag generate` recording prompt + template."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("dynamicprompts")

import typer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cli import generate_cmd  # noqa: E402
from core.errors import InputError  # noqa: E402
from generate.dynamic import expand_prompt, is_dynamic, wildcards_dir  # noqa: E402

try:
    from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)
except ImportError:
    tiny_sd_dir = None


@pytest.fixture
def wildcards():
    folder = wildcards_dir()
    (folder / "places").mkdir(parents=True)
    (folder / "color.txt").write_text("# colours a fox can be\nred\nsilver\narctic white\n", encoding="utf-8")
    (folder / "places" / "wild.txt").write_text("a snowy forest\na misty moor\n", encoding="utf-8")
    (folder / "creatures.yaml").write_text("animals:\n  - fox\n  - owl\n  - hare\n", encoding="utf-8")
    return folder


def test_the_same_seed_draws_the_same_prompts(wildcards):
    template = "a __color__ {fox|wolf} in __places/wild__, {2$$oil painting|watercolor|ink sketch}"
    first = expand_prompt(template, seed=1234, count=6)
    assert first == expand_prompt(template, seed=1234, count=6)
    assert len(first) == 6 and len(set(first)) > 1
    for prompt in first:
        assert "__" not in prompt and "{" not in prompt
        colour = prompt.removeprefix("a ").split(" fox")[0].split(" wolf")[0]
        assert colour in {"red", "silver", "arctic white"}
        assert ("a snowy forest" in prompt) != ("a misty moor" in prompt)
        assert sum(m in prompt for m in ("oil painting", "watercolor", "ink sketch")) == 2
    assert any(expand_prompt(template, seed=s, count=6) != first for s in (1, 2, 3))


def test_combinatorial_lists_every_combination(wildcards):
    prompts = expand_prompt("__animals__ at {dawn|dusk}", combinatorial=True)
    assert len(prompts) == 6 and len(set(prompts)) == 6
    assert set(prompts) == {f"{a} at {t}" for a in ("fox", "owl", "hare") for t in ("dawn", "dusk")}
    assert len(expand_prompt("__color__ __animals__ {a|b}", combinatorial=True, max_prompts=4)) == 4


def test_missing_wildcards_and_bad_templates_are_one_clear_error(wildcards):
    with pytest.raises(InputError, match=r"wildcard __weather__ has no values: add .*wildcards/weather\.txt"):
        expand_prompt("a fox in __weather__", seed=1)
    (wildcards / "nested.txt").write_text("under __nowhere__\n")
    with pytest.raises(InputError, match="wildcard __nowhere__ has no values"):
        expand_prompt("a fox __nested__", seed=1)
    with pytest.raises(InputError, match="does not parse at character"):
        expand_prompt("a {fox|cat", seed=1)
    with pytest.raises(InputError, match="inside .* not outside"):
        expand_prompt("a __../secrets__", seed=1)


def test_plain_and_a1111_prompts_are_not_templates():
    assert not is_dynamic("a (red:1.2) fox, [snow:rain:0.5], 8k")
    assert is_dynamic("a {red|blue} fox") and is_dynamic("a __color__ fox") and is_dynamic("{2$$a|b|c}")
    assert is_dynamic("a {fox|cat")  # an unclosed choice is a template that fails to parse, not a literal


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    generate_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)
    return app


@pytest.mark.skipif(tiny_sd_dir is None, reason="tests/generate/tiny_pipelines.py not available")
def test_generate_expands_and_records_prompt_and_template(app, wildcards, tiny_sd_dir, tmp_path):  # noqa: F811
    from generate.readback import inspect_image

    template = "a __animals__ {at dawn|at dusk}"
    args = ["generate", template, "--model", str(tiny_sd_dir), "--steps", "2", "--width", "64", "--height", "64",
            "--seed", "5", "--json"]
    result = CliRunner().invoke(app, [*args, "--combinatorial", "-o", str(tmp_path / "all")])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["template"] == template and len(data["generations"]) == 6
    drawn = set()
    for generation in data["generations"]:
        [image] = generation["images"]
        recipe = inspect_image(image["path"])
        assert recipe.template == template and recipe.settings["seed"] == 5
        drawn.add(recipe.prompt)
    assert drawn == {f"a {a} {t}" for a in ("fox", "owl", "hare") for t in ("at dawn", "at dusk")}

    runs = [CliRunner().invoke(app, [*args, "--prompts", "2", "-o", str(tmp_path / f"r{i}")]) for i in range(2)]
    prompts = [[g["parameters"]["prompt"] for g in json.loads(r.stdout)["generations"]] for r in runs]
    assert prompts[0] == prompts[1] and len(prompts[0]) == 2  # same --seed, same prompts

    result = CliRunner().invoke(app, ["generate", "a __nothing__", "-o", str(tmp_path / "x")])
    assert isinstance(result.exception, InputError) and "__nothing__" in str(result.exception)
    assert not (tmp_path / "x").exists()  # nothing drawn from a half-expanded prompt
