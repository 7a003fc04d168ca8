"""Prompt embeddings: diffusers parity, weights, 75-token windows, BREAK, SDXL, timed switches."""

from __future__ import annotations

import pytest
import torch

from core.errors import InputError
from generate.base import ImageRequest
from generate.conditioning import build_conditioning, encode_prompts, needs_conditioning
from generate.diffusers_backend import DiffusersBackend
from tests.generate.tiny_pipelines import single_torch_thread, tiny_sd_dir, tiny_sdxl_dir  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # numpy 2 notes inside diffusers

LONG = "a castle on a hill at dawn, " * 5  # ~140 byte-level tokens: two windows


@pytest.fixture
def sd(tiny_sd_dir):
    return DiffusersBackend(model=str(tiny_sd_dir)).pipeline()


@pytest.fixture
def sdxl(tiny_sdxl_dir):
    return DiffusersBackend(model=str(tiny_sdxl_dir)).pipeline()


def test_unweighted_short_prompt_matches_diffusers_encode_prompt(sd, sdxl):
    ours = encode_prompts(sd, ["a red cat"])[0]
    theirs, _ = sd.encode_prompt("a red cat", "cpu", 1, False)
    assert torch.equal(ours.embeds, theirs)

    ours = encode_prompts(sdxl, ["a red cat"])[0]
    theirs, _, pooled, _ = sdxl.encode_prompt("a red cat", device="cpu", do_classifier_free_guidance=False)
    assert torch.equal(ours.embeds, theirs)
    assert torch.equal(ours.pooled, pooled)
    assert ours.embeds.shape == (1, 77, 64)


def test_weight_scales_the_tokens_and_keeps_the_mean(sd):
    plain, weighted = (e.embeds[0] for e in encode_prompts(sd, ["a cat dog", "a (cat:1.5) dog"]))
    tokens = sd.tokenizer("a cat dog", add_special_tokens=False)["input_ids"]
    cat = 1 + tokens.index(sd.tokenizer.convert_tokens_to_ids("cat</w>"))
    other = cat + 1  # " dog" keeps weight 1
    ratio_plain = plain[cat] / plain[other]
    ratio_weighted = weighted[cat] / weighted[other]
    assert torch.allclose(ratio_weighted, 1.5 * ratio_plain, rtol=1e-3, atol=1e-4)
    assert torch.allclose(weighted.mean(), plain.mean(), atol=1e-6)
    assert not torch.allclose(weighted, plain)


def test_de_emphasis_lowers_the_weight(sd):
    plain, down = (e.embeds[0] for e in encode_prompts(sd, ["a cat", "a [cat]"]))
    position = 2  # BOS, "a", then "cat"
    ratio = (down[position] / down[0]) / (plain[position] / plain[0])
    assert torch.allclose(ratio, torch.full_like(ratio, 1 / 1.1), rtol=1e-3)


def test_long_prompt_is_encoded_in_75_token_windows(sd):
    ids = sd.tokenizer(LONG, add_special_tokens=False)["input_ids"]
    assert 75 < len(ids) <= 150
    long, short = encode_prompts(sd, [LONG, "a cat"])
    assert long.embeds.shape == short.embeds.shape == (1, 154, 32)  # both padded to two windows
    first_window = sd.tokenizer.decode(ids[:75])
    alone = encode_prompts(sd, [first_window])[0]
    assert torch.allclose(long.embeds[:, :77], alone.embeds, atol=1e-6)
    assert needs_conditioning(sd, LONG, "")
    assert not needs_conditioning(sd, "a cat", "blurry")


def test_huge_prompt_is_an_input_error(sd):
    with pytest.raises(InputError, match=r"prompt too long: it needs \d+ windows of 75 tokens; at most 20"):
        encode_prompts(sd, ["a cat " * 1000])


def test_break_starts_a_new_window(sd):
    broken = encode_prompts(sd, ["a red cat BREAK a blue dog"])[0]
    first, second = encode_prompts(sd, ["a red cat", "a blue dog"])
    assert broken.embeds.shape == (1, 154, 32)
    assert torch.allclose(broken.embeds[:, :77], first.embeds, atol=1e-6)
    assert torch.allclose(broken.embeds[:, 77:], second.embeds, atol=1e-6)


def test_sdxl_long_prompt_uses_both_encoders_and_first_window_pool(sdxl):
    long = encode_prompts(sdxl, [LONG])[0]
    assert long.embeds.shape == (1, 154, 64)
    assert long.pooled.shape == (1, 32)


def test_empty_negative_prompt_is_zeros_on_sdxl_like_diffusers(sdxl):
    cond = build_conditioning(sdxl, "a (cat:1.2)", "", steps=4)
    assert not cond.negative[0].embeds.any() and not cond.negative[0].pooled.any()
    assert cond.negative[0].embeds.shape == cond.positive[0].embeds.shape


def record_unet_inputs(pipe):
    """Forward pre-hook: the text conditioning the UNet receives at each evaluation."""
    seen: list[dict] = []

    def hook(module, args, kwargs):
        added = kwargs.get("added_cond_kwargs") or {}
        seen.append({"embeds": kwargs["encoder_hidden_states"].clone(), "pooled": added.get("text_embeds")})

    return seen, pipe.unet.register_forward_pre_hook(hook, with_kwargs=True)


@pytest.mark.parametrize(
    "which, sampler, steps",
    [("sd", "k_euler", 4), ("sdxl", "k_euler_ancestral", 4), ("sd", "k_heun", 3)],
)
def test_timed_prompt_switches_conditioning_at_the_requested_step(request, which, sampler, steps):
    model = request.getfixturevalue("tiny_sd_dir" if which == "sd" else "tiny_sdxl_dir")
    backend = DiffusersBackend(model=str(model))
    pipe = backend.pipeline()
    a, b, neg = encode_prompts(pipe, ["a red cat", "a blue dog", "blurry"])
    seen, handle = record_unet_inputs(pipe)
    try:
        backend.generate(
            ImageRequest(
                prompt="[a red cat:a blue dog:2]", negative_prompt="blurry", steps=steps, guidance=7.0,
                seed=3, width=64, height=64, sampler=sampler, num_images=2,
            )
        )
    finally:
        handle.remove()
    evaluations = len(seen)
    assert evaluations == (2 * steps - 1 if sampler == "k_heun" else steps)
    for j, record in enumerate(seen):
        step = j * steps // evaluations + 1  # 1-based sampler step of this UNet evaluation
        expected = a if step <= 2 else b
        negative, positive = record["embeds"].chunk(2)  # CFG batch: [negative x2, positive x2]
        assert torch.equal(positive, expected.embeds.expand(2, -1, -1)), f"evaluation {j} (step {step})"
        assert torch.equal(negative, neg.embeds.expand(2, -1, -1))
        if which == "sdxl":
            _, pooled = record["pooled"].chunk(2)
            assert torch.equal(pooled, expected.pooled.expand(2, -1))
    assert any(torch.equal(r["embeds"].chunk(2)[1][:1], b.embeds) for r in seen)


def test_timed_prompt_without_cfg_switches_the_positive_batch(tiny_sd_dir):
    backend = DiffusersBackend(model=str(tiny_sd_dir))
    pipe = backend.pipeline()
    cat, dog = encode_prompts(pipe, ["cat", "dog"])
    seen, handle = record_unet_inputs(pipe)
    try:
        backend.generate(ImageRequest(prompt="[cat:dog:0.5]", steps=4, guidance=0.0, seed=1, width=64, height=64,
                                      sampler="ddim"))
    finally:
        handle.remove()
    assert [r["embeds"].shape[0] for r in seen] == [1, 1, 1, 1]  # no CFG: positive only
    assert [torch.equal(r["embeds"], cat.embeds) for r in seen] == [True, True, False, False]
    assert [torch.equal(r["embeds"], dog.embeds) for r in seen] == [False, False, True, True]
