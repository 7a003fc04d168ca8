"""`promptrag generate`: in process (CliRunner) against the local Bedrock server and a tiny
diffusers pipeline, and through the real entry point (subprocess) for the one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("boto3")
pytest.importorskip("PIL")

from cli import generate_cmd  # noqa: E402
from core.errors import InputError  # noqa: E402
from generate.output import read_png_parameters  # noqa: E402
from generate.saving import generate_and_save  # noqa: E402
from tests.servers.base import ScriptedServer  # noqa: E402
from tests.servers.bedrock_invoke import SDXL_MODEL, StabilityInvokeResponder, bedrock_error, use_fake_aws  # noqa: E402

try:  # written by the diffusers helper; the diffusers CLI test skips without it
    from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)
except ImportError:
    tiny_sd_dir = None

REPO = Path(__file__).resolve().parents[2]
SD35 = "stability.sd3-5-large-v1:0"


@pytest.fixture(scope="module")
def app():
    app = typer.Typer()
    generate_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)  # keep "generate" a named sub-command
    return app


@pytest.fixture
def server(monkeypatch, tmp_path):
    use_fake_aws(monkeypatch, tmp_path)
    with ScriptedServer(StabilityInvokeResponder()) as srv:
        monkeypatch.setenv("PROMPTRAG_BEDROCK_ENDPOINT_URL", srv.url)
        yield srv


def test_bedrock_generate_prints_paths_and_seeds(app, server, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", "a koi pond, ukiyo-e", "--backend", "bedrock", "--model", SD35,
                                      "--negative", "text", "--seed", "11", "-n", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 2 and len(list(out.glob("*.json"))) == 2
    for png in pngs:
        assert f"{png}  seed=" in result.stdout
    assert "seed=11" in result.stdout and "seed=12" in result.stdout
    assert "ignores steps, cfg" in result.stdout and "timings: invoke_s=" in result.stdout
    # no size given: the model's default (1024x1024 → 1:1), not 512x512
    assert [r.json()["aspect_ratio"] for r in server.requests] == ["1:1", "1:1"]
    back = read_png_parameters(pngs[0])
    assert back["prompt"] == "a koi pond, ukiyo-e" and back["negative_prompt"] == "text"
    assert back["model"] == SD35 and back["seed"] in (11, 12)


def test_bedrock_generate_json(app, server, tmp_path):
    result = CliRunner().invoke(app, ["generate", "a koi pond", "--backend", "bedrock", "--model", SDXL_MODEL,
                                      "--width", "1216", "--height", "832", "--steps", "30", "--cfg", "5",
                                      "--sampler", "k_dpmpp_2m", "--seed", "5", "-o", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["backend"] == "bedrock" and data["model"] == SDXL_MODEL and data["seeds"] == [5]
    [image] = data["images"]
    assert Path(image["path"]).is_file() and Path(image["sidecar"]).is_file() and image["seed"] == 5
    assert data["parameters"]["sampler"] == "K_DPMPP_2M" and data["parameters"]["steps"] == 30
    sent = server.requests[0].json()
    assert (sent["width"], sent["height"], sent["cfg_scale"], sent["sampler"]) == (1216, 832, 5.0, "K_DPMPP_2M")


def test_bad_options_are_input_errors_before_any_request(app, server, tmp_path):
    for args in (["--width", "500"], ["--steps", "0"], ["--backend", "dalle"], ["--width", "512", "--height", "512"]):
        result = CliRunner().invoke(app, ["generate", "fox", "--backend", "bedrock", "--model", SDXL_MODEL,
                                          "-o", str(tmp_path), *args])
        assert isinstance(result.exception, InputError), (args, result.output)
    assert server.requests == [] and list(tmp_path.glob("*.png")) == []


def test_generate_and_save_is_callable_without_the_cli(server, tmp_path):
    saved = generate_and_save("a lantern", "", {"seed": 1, "width": 1024, "height": 576},
                              "bedrock", "stability.stable-image-core-v1:1", tmp_path)
    assert saved.seeds == [1] and saved.paths[0].exists()
    assert saved.parameters["aspect_ratio"] == "16:9" and saved.parameters["backend"] == "bedrock"


def _run_cli(args: list[str], env_extra: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(env_extra, PROMPTRAG_HOME=str(home), PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "cli.main", "generate", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_entry_point_errors_are_one_line_with_exit_code(server, tmp_path, isolated_env):
    server.queue(bedrock_error(403, "AccessDeniedException",
                               "You don't have access to the model with the specified model ID."))
    aws = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    denied = _run_cli(["a fox", "--backend", "bedrock", "--model", SD35, "-o", str(tmp_path)],
                      {**aws, "PROMPTRAG_BEDROCK_ENDPOINT_URL": server.url}, isolated_env)
    assert denied.returncode == 1, denied.stderr
    [line] = denied.stderr.strip().splitlines()
    assert line.startswith("promptrag: error: ") and "enable model access" in line and "us-west-2" in line
    assert len(server.requests) == 1 and list(tmp_path.glob("*.png")) == []

    bad_size = _run_cli(["a fox", "--backend", "bedrock", "--model", SDXL_MODEL, "--width", "512", "--height",
                         "512", "-o", str(tmp_path)], {**aws, "PROMPTRAG_BEDROCK_ENDPOINT_URL": server.url},
                        isolated_env)
    assert bad_size.returncode == 2
    [line] = bad_size.stderr.strip().splitlines()
    assert "512x512" in line and "1024x1024" in line and len(server.requests) == 1


@pytest.mark.slow
@pytest.mark.skipif(tiny_sd_dir is None, reason="tests/generate/tiny_pipelines.py (diffusers helper) not present")
def test_diffusers_backend_with_a_tiny_pipeline(app, tmp_path, request):
    pytest.importorskip("diffusers")
    model_dir = request.getfixturevalue("tiny_sd_dir")
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["generate", "a cat", "--backend", "diffusers", "--model", str(model_dir),
                                      "--width", "64", "--height", "64", "--steps", "2", "--seed", "3",
                                      "--negative", "dog", "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [image] = data["images"]
    back = read_png_parameters(image["path"])
    assert (back["prompt"], back["negative_prompt"], back["seed"], back["steps"]) == ("a cat", "dog", 3, 2)
    assert (back["width"], back["height"]) == (64, 64)
    sidecar = json.loads(Path(image["sidecar"]).read_text())
    assert sidecar["backend"] == "diffusers" and sidecar["seed"] == 3
