"""`promptrag enhance ... --generate`: the prompt reaches a real (tiny) diffusers pipeline, the
enhancer's memory is released just before the pipeline loads (VRAM hand-off), and with
`--rag --use-settings N` the image reproduces retrieved example N's settings."""

from __future__ import annotations

import json
import time
from typing import ClassVar

import pytest
from typer.testing import CliRunner

pytest.importorskip("diffusers")

from cli.main import app  # noqa: E402
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult  # noqa: E402
from enhancers.registry import ENHANCERS  # noqa: E402
from generate.diffusers_backend import DiffusersBackend  # noqa: E402
from generate.output import read_png_parameters  # noqa: E402
from index import IndexWriter, PromptRecord, load_embedder  # noqa: E402
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir  # noqa: E402,F401 (fixtures)


class VramHoldingEnhancer(Enhancer):
    """Stands for a local LLM on the GPU: records whether a pipeline was loaded when it was released."""

    name: ClassVar[str] = "fake-vram"
    releases: ClassVar[list[bool]] = []

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        prompt = f"{request.idea}, oil painting, golden hour"
        return self.make_result(request, [Candidate(prompt, "blurry")], style="artistic", started=time.perf_counter())

    def release(self) -> None:
        VramHoldingEnhancer.releases.append(any(DiffusersBackend._cache))


@pytest.fixture
def fake_vram_enhancer():
    ENHANCERS.register("fake-vram", VramHoldingEnhancer)
    VramHoldingEnhancer.releases = []
    DiffusersBackend._cache.clear()
    yield VramHoldingEnhancer
    ENHANCERS._factories.pop("fake-vram", None)
    DiffusersBackend._cache.clear()


def test_enhance_generate_releases_the_llm_before_the_pipeline_loads(fake_vram_enhancer, tiny_sd_dir, tmp_path):
    out = tmp_path / "images"
    result = CliRunner().invoke(app, [
        "enhance", "a lighthouse in a storm", "-e", "fake-vram", "--generate", "--image-model", str(tiny_sd_dir),
        "--out", str(out), "--size", "64x64", "--steps", "2", "--seed", "5", "--json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    # First release happened while no pipeline was loaded: the hand-off order.
    assert fake_vram_enhancer.releases and fake_vram_enhancer.releases[0] is False
    (png,) = sorted(out.glob("*.png"))
    assert payload["images"]["images"][0]["path"] == str(png)
    parameters = read_png_parameters(png)
    assert parameters["prompt"] == "a lighthouse in a storm, oil painting, golden hour"
    assert (parameters["seed"], parameters["steps"], parameters["width"]) == (5, 2, 64)


def test_rag_use_settings_reproduces_the_example(tiny_sd_dir, tmp_path):
    records = [
        PromptRecord("a lighthouse on a cliff in a storm, oil painting, dramatic sky", seed=1234, steps=3, cfg=5.5,
                     sampler="k_euler_ancestral", width=64, height=72),
        PromptRecord("a bowl of ramen, food photography, 85mm", seed=7, steps=2, cfg=7.0, sampler="ddim",
                     width=64, height=64),
    ]
    embedder = load_embedder()
    index_dir = tmp_path / "index"
    writer = IndexWriter(index_dir, model_id=embedder.model_id, dimension=embedder.dimension)
    writer.add(records, embedder.embed([r.prompt for r in records]))
    writer.publish()
    out = tmp_path / "images"
    result = CliRunner().invoke(app, [
        "enhance", "a lighthouse in a storm", "--rag", "--index", str(index_dir), "-k", "2", "--pick", "1",
        "-e", "rules", "--generate", "--use-settings", "1", "--image-model", str(tiny_sd_dir), "--out", str(out),
        "--json",
    ])
    assert result.exit_code == 0, result.output
    used = json.loads(result.stdout)["images"]["parameters"]
    assert (used["seed"], used["steps"], used["cfg"], used["sampler"]) == (1234, 3, 5.5, "k_euler_ancestral")
    assert (used["width"], used["height"]) == (64, 72)


def test_use_settings_without_rag_is_a_clear_error(tmp_path, promptrag_cli):
    result = promptrag_cli("enhance", "a cat", "--generate", "--use-settings", "1", "--out", tmp_path)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.one_line_error() == ("promptrag: error: --use-settings needs --rag and --generate "
                                       "(it reuses a retrieved example's settings)")
