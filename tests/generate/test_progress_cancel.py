"""Progress, cancel, default sizes and generate_and_save, on tiny random diffusers pipelines (CPU)
and through real boto3 against the local Bedrock InvokeModel server."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest

from core.errors import Cancelled
from core.progress import CancelToken, Progress
from generate.base import ImageRequest
from generate.diffusers_backend import DiffusersBackend
from generate.saving import (
    IMAGE_OPTION_FIELDS,
    generate_and_save,
    image_options,
    image_options_from_settings,
)
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir, tiny_sdxl_dir  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes inside diffusers


def request(**overrides) -> ImageRequest:
    values = {"prompt": "a red cat", "negative_prompt": "blurry", "steps": 4, "seed": 42, "width": 64, "height": 64}
    return ImageRequest(**(values | overrides))


@pytest.mark.parametrize(("sampler", "steps"), [("k_euler", 4), ("k_heun", 3), ("plms", 3)])
def test_one_progress_event_per_denoising_step(tiny_sd_dir, sampler, steps):
    events: list[Progress] = []
    DiffusersBackend(model=str(tiny_sd_dir)).generate(request(sampler=sampler, steps=steps), on_progress=events.append)
    # Heun evaluates the UNet twice per step and PLMS once more in all: still one event per step.
    assert [(e.stage, e.done, e.total) for e in events] == [("generate", s, steps) for s in range(1, steps + 1)]
    assert events[-1].fraction == 1.0 and events[-1].eta_s == 0.0
    assert all(a.elapsed_s <= b.elapsed_s for a, b in pairwise(events))


def test_cancel_stops_at_the_next_step_and_the_backend_stays_usable(tiny_sd_dir):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    token, seen = CancelToken(), []

    def on_progress(event: Progress) -> None:
        seen.append(event.done)
        if event.done == 2:
            token.cancel()  # what the page's Cancel button does, from another thread

    with pytest.raises(Cancelled, match="stopped after step 2 of 6"):
        backend.generate(request(steps=6), on_progress=on_progress, cancel=token)
    assert seen == [1, 2]
    assert len(backend.generate(request(steps=2)).images) == 1  # lock released, pipeline intact


def test_a_cancelled_token_stops_before_the_pipeline_loads(tiny_sd_dir):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    backend.release()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled, match="nothing was made"):
        backend.generate(request(), cancel=token)
    assert not backend.is_loaded()


@pytest.mark.parametrize("which", ["tiny_sd_dir", "tiny_sdxl_dir"])
def test_progress_composes_with_the_timed_prompt_switch(request_fixture, which):
    backend = DiffusersBackend(model=str(request_fixture(which)))
    timed = request(prompt="[a red cat:a blue dog:2]", sampler="k_euler")
    events: list[Progress] = []
    with_progress = backend.generate(timed, on_progress=events.append, cancel=CancelToken()).images[0]
    without = backend.generate(timed).images[0]
    only_cat = backend.generate(request(sampler="k_euler")).images[0]
    assert [e.done for e in events] == [1, 2, 3, 4]
    assert np.array_equal(np.asarray(with_progress), np.asarray(without))  # the switch still happened...
    assert not np.array_equal(np.asarray(with_progress), np.asarray(only_cat))  # ...and it matters


@pytest.fixture
def request_fixture(request):
    return request.getfixturevalue


def test_default_size_is_the_models_native_size_loaded_or_not(tiny_sd_dir, tmp_path):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    backend.release()
    assert backend.default_size == (64, 64)  # read from unet/vae config.json, nothing loaded
    backend.pipeline()
    assert backend.default_size == (64, 64)
    assert DiffusersBackend(model=str(tmp_path / "not-there")).default_size == (512, 512)


def test_generate_and_save_with_a_ready_backend_uses_its_default_size_and_reports_progress(tiny_sd_dir, tmp_path):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    events: list[Progress] = []
    saved = generate_and_save("a lantern", "", {"steps": 2, "seed": 9, "width": None}, backend, None,
                              tmp_path / "out", on_progress=events.append)
    assert saved.backend == "diffusers" and saved.model == str(tiny_sd_dir) and saved.seeds == [9]
    [path] = saved.paths
    assert path.is_file() and path.with_suffix(".json").is_file()
    assert (saved.parameters["width"], saved.parameters["height"]) == (64, 64)
    assert [e.done for e in events] == [1, 2]
    with pytest.raises(ValueError, match="only with a backend name"):
        generate_and_save("a lantern", "", {}, backend, "other/model", tmp_path)


def test_image_options_from_settings_reproduce_an_example():
    settings = {"seed": 1234, "steps": 30, "cfg": 5.5, "sampler": "k_euler_ancestral", "width": 512, "height": 768}
    assert image_options_from_settings(settings) == {
        "seed": 1234, "steps": 30, "guidance": 5.5, "sampler": "k_euler_ancestral", "width": 512, "height": 768,
    }
    # DiffusionDB's "others" names no scheduler, and unknown values are left to the defaults
    assert image_options_from_settings({"seed": 7, "steps": None, "sampler": "others"}) == {"seed": 7}


def test_image_options_pick_the_request_fields_and_bedrock_chooses_its_sampler():
    form = {"backend": "diffusers", "model": None, "steps": 30, "guidance": 7.5, "seed": None, "width": 512,
            "height": 768, "sampler": "k_lms", "num_images": 2}
    assert image_options(form, backend="diffusers") == {
        "steps": 30, "guidance": 7.5, "seed": None, "width": 512, "height": 768, "sampler": "k_lms",
        "num_images": 2,
    }
    assert image_options(form, backend="bedrock")["sampler"] is None
    assert image_options({}, backend="diffusers") == dict.fromkeys(IMAGE_OPTION_FIELDS)  # all defaults


def test_bedrock_reports_each_image_and_cancels_between_them(monkeypatch, tmp_path):
    pytest.importorskip("boto3")
    from generate.bedrock_backend import BedrockImageBackend
    from tests.servers.base import ScriptedServer
    from tests.servers.bedrock_invoke import SDXL_MODEL, StabilityInvokeResponder, use_fake_aws

    use_fake_aws(monkeypatch, tmp_path)
    with ScriptedServer(StabilityInvokeResponder()) as server:
        backend = BedrockImageBackend(SDXL_MODEL, endpoint_url=server.url)
        assert backend.default_size == (1024, 1024)
        events: list[Progress] = []
        backend.generate(request(width=1024, height=1024, steps=20, num_images=3), on_progress=events.append)
        assert [(e.done, e.total) for e in events] == [(1, 3), (2, 3), (3, 3)]
        token = CancelToken()
        before = len(server.requests)
        with pytest.raises(Cancelled, match="after 1 of 3 images"):
            backend.generate(request(width=1024, height=1024, steps=20, num_images=3),
                             on_progress=lambda e: token.cancel(), cancel=token)
        assert len(server.requests) - before == 1


def test_generate_command_draws_a_step_bar(tiny_sd_dir, tmp_path):
    import typer
    from typer.testing import CliRunner

    from cli import generate_cmd

    app = typer.Typer()
    generate_cmd.register(app)
    app.command("noop", hidden=True)(lambda: None)
    result = CliRunner().invoke(app, ["generate", "a cat", "--model", str(tiny_sd_dir), "--width", "64",
                                      "--height", "64", "--steps", "3", "--seed", "1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "generate: 100%" in result.stderr and "3/3" in result.stderr
