"""DiffusersBackend through the registry, on tiny random pipelines loaded from disk (CPU, 64x64)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from core.errors import BackendError, InputError
from generate.base import ImageRequest
from generate.diffusers_backend import DiffusersBackend
from generate.registry import get_image_backend
from generate.schedulers import canonical_sampler
from ingest.diffusiondb import SAMPLER_NAMES as DIFFUSIONDB_SAMPLER_NAMES
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir, tiny_sdxl_dir  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes inside diffusers


def request(**overrides) -> ImageRequest:
    values = dict(prompt="a red cat", negative_prompt="blurry", steps=2, seed=42, width=64, height=64)
    return ImageRequest(**(values | overrides))


def pixels(image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def test_generates_images_with_parameters_seeds_and_timings(tiny_sd_dir):
    backend = get_image_backend("diffusers", model=str(tiny_sd_dir))
    result = backend.generate(request(num_images=2, guidance=6.5, sampler="k_euler", width=64, height=72))
    assert [im.size for im in result.images] == [(64, 72), (64, 72)]
    assert result.seeds == [42, 43]
    assert result.parameters == {
        "prompt": "a red cat", "negative_prompt": "blurry", "steps": 2, "cfg": 6.5, "sampler": "k_euler",
        "seed": 42, "width": 64, "height": 72, "model": str(tiny_sd_dir),
    }
    assert set(result.timings) == {"load_s", "generate_s"} and result.timings["generate_s"] > 0


def test_default_model_comes_from_settings(tiny_sd_dir, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_IMAGE_MODEL", str(tiny_sd_dir))
    assert DiffusersBackend().model == str(tiny_sd_dir)


@pytest.mark.parametrize("which", ["tiny_sd_dir", "tiny_sdxl_dir"])
def test_same_seed_same_pixels_other_seed_other_pixels(request_fixture, which):
    backend = DiffusersBackend(model=str(request_fixture(which)))
    first = backend.generate(request(seed=7)).images[0]
    again = backend.generate(request(seed=7)).images[0]
    other = backend.generate(request(seed=8)).images[0]
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


@pytest.fixture
def request_fixture(request):
    return request.getfixturevalue


def test_each_image_of_a_batch_is_reproducible_alone_from_its_seed(tiny_sd_dir):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    batch = backend.generate(request(seed=100, num_images=3, sampler="k_euler_ancestral"))
    alone = backend.generate(request(seed=102, sampler="k_euler_ancestral"))
    assert batch.seeds == [100, 101, 102]
    # Equal up to float rounding of a different batch size (at most a level or two of 255).
    assert np.abs(pixels(batch.images[2]) - pixels(alone.images[0])).max() <= 2
    assert np.abs(pixels(batch.images[1]) - pixels(alone.images[0])).max() > 20


def test_plain_prompt_gives_exactly_what_diffusers_gives(tiny_sd_dir):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    ours = backend.generate(request(seed=5)).images[0]
    pipe = backend.pipeline()
    theirs = pipe(
        prompt="a red cat", negative_prompt="blurry", num_inference_steps=2, guidance_scale=7.0,
        width=64, height=64, generator=torch.Generator("cpu").manual_seed(5),
    ).images[0]
    assert np.array_equal(pixels(ours), pixels(theirs))
    # Weight 1.0 written out goes through our embeddings and still lands on the same pixels.
    same = backend.generate(request(seed=5, prompt="(a red cat:1.0)")).images[0]
    assert np.array_equal(pixels(same), pixels(theirs))


@pytest.mark.parametrize("which", ["tiny_sd_dir", "tiny_sdxl_dir"])
def test_weighted_and_long_prompts_run_and_change_the_image(request_fixture, which):
    backend = DiffusersBackend(model=str(request_fixture(which)))
    plain = backend.generate(request()).images[0]
    weighted = backend.generate(request(prompt="a (red:1.6) [cat]")).images[0]
    assert weighted.size == (64, 64)
    assert not np.array_equal(pixels(plain), pixels(weighted))
    # Beyond 77 tokens diffusers alone truncates; our windows make the tail count.
    head = "a castle on a hill at dawn, " * 4
    tail_a = backend.generate(request(prompt=head + "red roses")).images[0]
    tail_b = backend.generate(request(prompt=head + "blue fog")).images[0]
    assert not np.array_equal(pixels(tail_a), pixels(tail_b))


# The names ingest stores for DiffusionDB rows must all reproduce ("others" has no scheduler).
@pytest.mark.parametrize("name", sorted(set(DIFFUSIONDB_SAMPLER_NAMES.values()) - {"others"}))
def test_every_diffusiondb_sampler_name_runs(tiny_sd_dir, name):
    expected = {
        "ddim": "DDIMScheduler", "plms": "PNDMScheduler", "k_euler": "EulerDiscreteScheduler",
        "k_euler_ancestral": "EulerAncestralDiscreteScheduler", "k_heun": "HeunDiscreteScheduler",
        "k_dpm_2": "KDPM2DiscreteScheduler", "k_dpm_2_ancestral": "KDPM2AncestralDiscreteScheduler",
        "k_lms": "LMSDiscreteScheduler",
    }
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    result = backend.generate(request(sampler=name))
    assert type(backend.pipeline().scheduler).__name__ == expected[name]
    assert result.parameters["sampler"] == name
    assert np.isfinite(pixels(result.images[0])).all()


def test_a1111_sampler_names_and_default_scheduler_restored(tiny_sdxl_dir):
    backend = DiffusersBackend(model=str(tiny_sdxl_dir))
    assert backend.generate(request(sampler="DPM++ 2M Karras")).parameters["sampler"] == "dpmpp_2m_karras"
    assert backend.pipeline().scheduler.config.use_karras_sigmas is True
    result = backend.generate(request(sampler=None))
    assert type(backend.pipeline().scheduler).__name__ == "EulerDiscreteScheduler"
    assert result.parameters["sampler"] == "k_euler"


def test_unknown_sampler_is_an_input_error_listing_names_before_loading(tiny_sd_dir):
    calls = []
    backend = DiffusersBackend(model=str(tiny_sd_dir), before_load=lambda: calls.append(1))
    backend.release()
    with pytest.raises(InputError, match=r"unknown sampler 'k_magic'; known samplers: .*k_euler_ancestral"):
        backend.generate(request(sampler="k_magic"))
    assert calls == [] and not backend.is_loaded()


def test_before_load_runs_once_and_before_the_pipeline_loads(tiny_sd_dir):
    seen = []
    backend = DiffusersBackend(model=str(tiny_sd_dir), before_load=lambda: seen.append(backend.is_loaded()))
    backend.release()
    first = backend.generate(request())
    backend.generate(request())
    assert seen == [False]  # called once, while the pipeline was not loaded yet
    assert first.timings["load_s"] > 0
    backend.release()
    assert not backend.is_loaded()
    backend.generate(request())
    assert seen == [False, False]


def test_bad_sizes_and_seed_overflow_are_rejected(tiny_sd_dir):
    with pytest.raises(ValidationError, match="width must be a multiple of 8, got 500"):
        request(width=500)
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    with pytest.raises(InputError, match="exceeds"):
        backend.generate(request(seed=2**32 - 1, num_images=2))


def test_bad_prompt_syntax_is_an_input_error_with_the_column_before_loading(tiny_sd_dir):
    calls = []
    backend = DiffusersBackend(model=str(tiny_sd_dir), before_load=lambda: calls.append(1))
    backend.release()
    with pytest.raises(InputError, match="column 3"):
        backend.generate(request(prompt="a (cat"))
    with pytest.raises(InputError, match=r"column 1: when=9 is past the last step \(2 steps\)"):
        backend.generate(request(negative_prompt="[a:b:9]"))
    assert calls == [] and not backend.is_loaded()


def test_missing_local_model_and_uncached_hub_id_are_backend_errors(tmp_path, monkeypatch):
    # HF_HUB_OFFLINE is read when huggingface_hub is imported (here, by an earlier fixture).
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    missing = tmp_path / "no-such-model"
    with pytest.raises(BackendError, match="does not exist"):
        DiffusersBackend(model=str(missing), device="cpu").generate(request())
    with pytest.raises(BackendError, match=r"'promptrag-test/not-a-model'.*downloaded first"):
        DiffusersBackend(model="promptrag-test/not-a-model", device="cpu").generate(request())


def test_missing_diffusers_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "diffusers", None)  # what Python sees when it is not installed
    with pytest.raises(BackendError, match=r"pip install 'promptrag\[generate\]'"):
        get_image_backend("diffusers", model="any/model")


def test_string_dtype_and_bad_dtype(tiny_sd_dir):
    assert DiffusersBackend(model=str(tiny_sd_dir), dtype="float32").dtype is torch.float32
    with pytest.raises(InputError, match="dtype must be a torch dtype name"):
        DiffusersBackend(model=str(tiny_sd_dir), dtype="float99")


@pytest.mark.parametrize(
    "name, canonical",
    [("Euler a", "k_euler_ancestral"), ("DPM++ 2M Karras", "dpmpp_2m_karras"), ("PLMS", "plms"),
     ("EulerDiscreteScheduler", "k_euler"), ("k_lms", "k_lms"), ("DPM2 a", "k_dpm_2_ancestral")],
)
def test_sampler_names_normalise(name, canonical):
    assert canonical_sampler(name) == canonical
