"""Tiny random-weight SD 1.x and SDXL pipelines, built in code and saved to a directory.

They load through the real ``AutoPipelineForText2Image.from_pretrained(dir)`` and make a 64x64
image in two steps in ~0.1 s on CPU, so the diffusers backend, prompt weights, long prompts and
timed prompts are tested offline. Shapes follow diffusers' own ``get_dummy_components``.

The CLIP tokenizer is a real ``CLIPTokenizer`` loaded from files written here: a byte-level
vocabulary (every byte, with and without the end-of-word marker ``</w>``) and a few merges, so
any text tokenises (about one token per character) without downloading CLIP's vocabulary.

Use in a test module::

    from tests.generate.tiny_pipelines import tiny_sd_dir, tiny_sdxl_dir  # noqa: F401 (fixtures)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MERGES = [("a", "n</w>"), ("t", "h"), ("th", "e</w>"), ("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>")]


def _bytes_to_unicode() -> list[str]:
    """CLIP / GPT-2's reversible byte → printable character table."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
                 + list(range(ord("®"), ord("ÿ") + 1)))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def tiny_clip_tokenizer(pad_token: str = EOS):
    """A CLIPTokenizer loaded from a tiny vocab.json/merges.txt written to a temporary directory.

    (transformers 5 ignores vocab_file/merges_file arguments, hence the files.)
    """
    with tempfile.TemporaryDirectory() as tmp:
        return _write_and_load(Path(tmp), pad_token)


def _write_and_load(directory: Path, pad_token: str):
    from transformers import CLIPTokenizer

    chars = _bytes_to_unicode()
    tokens = chars + [c + "</w>" for c in chars] + ["".join(pair) for pair in MERGES] + [BOS, EOS]
    (directory / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}), encoding="utf-8")
    merges = "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in MERGES)
    (directory / "merges.txt").write_text(merges, encoding="utf-8")
    return CLIPTokenizer.from_pretrained(str(directory), pad_token=pad_token, model_max_length=77)


def _text_config(tokenizer, projection_dim: int = 32):
    from transformers import CLIPTextConfig

    return CLIPTextConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=3,
        vocab_size=len(tokenizer),
        max_position_embeddings=77,
        hidden_act="gelu",
        projection_dim=projection_dim,
    )


def _text_encoder(model_cls, tokenizer):
    encoder = model_cls(_text_config(tokenizer)).eval()
    # Real CLIP's final LayerNorm has a learned bias; a zero one makes every token's mean 0.
    import torch

    with torch.no_grad():
        for name, module in encoder.named_modules():
            if name.endswith("final_layer_norm"):
                module.bias.normal_(0.0, 0.5)
    return encoder


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
        sample_size=32,
    )


def build_tiny_sd(directory: Path) -> Path:
    """Save a tiny SD 1.x-shaped pipeline (PNDM scheduler, like SD 1.5) to ``directory``."""
    import torch
    from diffusers import PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        norm_num_groups=2,
    )
    scheduler = PNDMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", skip_prk_steps=True, steps_offset=1
    )
    pipe = StableDiffusionPipeline(
        vae=_vae(),
        text_encoder=_text_encoder(CLIPTextModel, tokenizer),
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(str(directory))
    return directory


def build_tiny_sdxl(directory: Path) -> Path:
    """Save a tiny SDXL-shaped pipeline (two text encoders, Euler scheduler) to ``directory``."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    tokenizer = tiny_clip_tokenizer()
    # SDXL's second tokenizer pads with "!" rather than EOS; keep that quirk.
    tokenizer_2 = tiny_clip_tokenizer(pad_token="!")
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids * 8 + 32 pooled
        cross_attention_dim=64,  # 32 + 32 from the two encoders
        norm_num_groups=2,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=_text_encoder(CLIPTextModel, tokenizer),
        text_encoder_2=_text_encoder(CLIPTextModelWithProjection, tokenizer_2),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
        force_zeros_for_empty_prompt=True,
    )
    pipe.save_pretrained(str(directory))
    return directory


def _built(tmp_path_factory, name: str, builder) -> Path:
    # Test modules import these fixtures separately; build once per session all the same.
    directory = tmp_path_factory.getbasetemp() / name
    if not (directory / "model_index.json").exists():
        builder(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_sd_dir(tmp_path_factory) -> Path:
    return _built(tmp_path_factory, "tiny-sd", build_tiny_sd)


@pytest.fixture(scope="session")
def tiny_sdxl_dir(tmp_path_factory) -> Path:
    return _built(tmp_path_factory, "tiny-sdxl", build_tiny_sdxl)


@pytest.fixture(autouse=True, scope="module")
def single_torch_thread():
    """Tiny models run ~50x faster on one thread when the CPU is shared (no oversubscription)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny_sd_turbo_repo(directory: Path) -> dict[str, bytes]:
    """The tiny SD 1.x pipeline laid out as the catalogue's sd-turbo files (fp16-named weights, a
    slow-tokenizer folder): what the local Hub stand-in serves as a "downloadable" model, so
    `promptrag models pull sd-turbo` and the page's Download button fetch a model that really loads.
    (The weights stay fp32 under the fp16 names: diffusers picks files by name, casting at load.)"""
    from diffusers import DiffusionPipeline

    from generate.models import CATALOGUE

    pipe = DiffusionPipeline.from_pretrained(str(build_tiny_sd(directory / "plain")))
    repo = directory / "sd-turbo"
    pipe.save_pretrained(str(repo), variant="fp16")
    tokenizer = repo / "tokenizer"
    (tokenizer / "tokenizer.json").unlink(missing_ok=True)  # sd-turbo ships vocab.json + merges.txt
    _write_and_load(tokenizer, EOS)
    (tokenizer / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": BOS, "eos_token": EOS, "pad_token": EOS, "unk_token": EOS}), encoding="utf-8")
    files = {name: (repo / name).read_bytes() for name in CATALOGUE["sd-turbo"].files}
    return files
