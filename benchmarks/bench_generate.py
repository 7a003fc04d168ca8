"""Benchmark image generation: what promptrag adds on top of diffusers, and full-size throughput.

Default (CPU, seconds): build tiny random SD 1.x and SDXL pipelines, then time
``DiffusersBackend.generate`` against the raw ``pipe(...)`` call on the same cached pipeline with
the same arguments, for a plain, a weighted, a long (>77 tokens) and a timed prompt. The
difference is promptrag's overhead per call (parsing, tokenising, encoding, the step callback).

``--full sd15|sdxl --device cuda``: build the published SD 1.5 / SDXL architectures from the
configs below (no download; random weights, fp16 on CUDA), then report images/s and peak VRAM
at 512² / 1024² for a plain and a weighted prompt, plus the time our conditioning takes.
CPU smoke test: ``--full sd15 --device cpu --steps 1 --size 256``.

    .venv/bin/python benchmarks/bench_generate.py
    .venv/bin/python benchmarks/bench_generate.py --full sdxl --device cuda --steps 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from generate.base import ImageRequest  # noqa: E402
from generate.conditioning import build_conditioning  # noqa: E402
from generate.diffusers_backend import DiffusersBackend  # noqa: E402

PROMPTS = {
    "plain": "a castle on a hill at dawn, highly detailed",
    "weighted": "a (castle:1.3) on a [hill] at ((dawn)), highly detailed",
    "long": "a castle on a hill at dawn, highly detailed, " * 4,
    "timed": "a [castle:cathedral:0.5] on a hill at dawn, highly detailed",
}

# --- published architectures (diffusers / transformers config values) -------------------------
CLIP_L = dict(hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
              hidden_act="quick_gelu", projection_dim=768, vocab_size=49408, max_position_embeddings=77)
CLIP_BIG_G = dict(hidden_size=1280, intermediate_size=5120, num_attention_heads=20, num_hidden_layers=32,
                  hidden_act="gelu", projection_dim=1280, vocab_size=49408, max_position_embeddings=77)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
           block_out_channels=(128, 256, 512, 512), down_block_types=("DownEncoderBlock2D",) * 4,
           up_block_types=("UpDecoderBlock2D",) * 4)
SD15_UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, attention_head_dim=8,
                 block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768, norm_num_groups=32,
                 down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
                 up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
SDXL_UNET = dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
                 block_out_channels=(320, 640, 1280), attention_head_dim=(5, 10, 20),
                 transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048, use_linear_projection=True,
                 addition_embed_type="text_time", addition_time_embed_dim=256,
                 projection_class_embeddings_input_dim=2816, norm_num_groups=32,
                 down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                 up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"))
SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1)


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def paired(ours, theirs, repeats: int) -> tuple[float, float, float]:
    """Medians of both and of their per-round difference (alternating runs cancel machine drift)."""
    ours(), theirs()  # warm-up
    a, b = [], []
    for _ in range(repeats):
        for fn, out in ((ours, a), (theirs, b)):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return statistics.median(a), statistics.median(b), statistics.median(x - y for x, y in zip(a, b))


def bench_tiny(repeats: int, steps: int, device: str = "cpu") -> list[dict]:
    from tests.generate.tiny_pipelines import build_tiny_sd, build_tiny_sdxl

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for family, builder in (("sd", build_tiny_sd), ("sdxl", build_tiny_sdxl)):
            backend = DiffusersBackend(model=str(builder(Path(tmp) / family)), device=device)
            pipe = backend.pipeline()
            for kind, prompt in PROMPTS.items():
                request = ImageRequest(prompt=prompt, negative_prompt="blurry", steps=steps, seed=1, width=64,
                                       height=64, sampler="k_euler")

                def raw() -> None:  # diffusers alone, same pipeline and scheduler, the plain prompt
                    pipe(prompt=PROMPTS["plain"], negative_prompt="blurry", num_inference_steps=steps, width=64,
                         height=64, generator=torch.Generator(device).manual_seed(1))
                    if device.startswith("cuda"):
                        torch.cuda.synchronize()

                ours, theirs, overhead = paired(lambda: backend.generate(request), raw, repeats)
                rows.append({"family": family, "device": device, "prompt": kind, "backend_s": round(ours, 4),
                             "raw_pipe_s": round(theirs, 4), "overhead_ms": round(overhead * 1000, 1)})
                print(json.dumps(rows[-1]), flush=True)
            backend.release()
    return rows


def build_full(which: str, device: str, dtype: torch.dtype):
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from tests.generate.tiny_pipelines import tiny_clip_tokenizer

    tokenizer = tiny_clip_tokenizer()  # byte-level CLIP tokenizer; ids fit CLIP's 49408 vocabulary

    def text_config(values: dict) -> CLIPTextConfig:
        return CLIPTextConfig(**values, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                              pad_token_id=tokenizer.pad_token_id)

    # Schedulers are built outside the device context: they keep numpy-bound tensors on the CPU.
    scheduler = (PNDMScheduler(**SCHEDULER, skip_prk_steps=True) if which == "sd15"
                 else EulerDiscreteScheduler(**SCHEDULER))
    with torch.device(device):  # random init directly on the target device (fast on GPU)
        if which == "sd15":
            pipe = StableDiffusionPipeline(
                vae=AutoencoderKL(**VAE, sample_size=512), text_encoder=CLIPTextModel(text_config(CLIP_L)),
                tokenizer=tokenizer, unet=UNet2DConditionModel(**SD15_UNET),
                scheduler=scheduler,
                safety_checker=None, feature_extractor=None, requires_safety_checker=False,
            )
        else:
            pipe = StableDiffusionXLPipeline(
                vae=AutoencoderKL(**VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=False),
                text_encoder=CLIPTextModel(text_config(CLIP_L)),
                text_encoder_2=CLIPTextModelWithProjection(text_config(CLIP_BIG_G)),
                tokenizer=tokenizer, tokenizer_2=tiny_clip_tokenizer(pad_token="!"),
                unet=UNet2DConditionModel(**SDXL_UNET), scheduler=scheduler,
            )
    pipe.to(device)
    if dtype != torch.float32:
        pipe.to(dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def own_embeddings(pipe, prompt: str, negative: str, device: str) -> dict:
    """The pipeline's own encode_prompt output, as prompt_embeds keyword arguments."""
    out = pipe.encode_prompt(prompt=prompt, device=device, num_images_per_prompt=1,
                             do_classifier_free_guidance=True, negative_prompt=negative)
    names = ["prompt_embeds", "negative_prompt_embeds", "pooled_prompt_embeds", "negative_pooled_prompt_embeds"]
    return dict(zip(names, out))


def bench_full(which: str, device: str, steps: int, size: int | None, repeats: int) -> list[dict]:
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    size = size or (512 if which == "sd15" else 1024)
    start = time.perf_counter()
    pipe = build_full(which, device, dtype)
    params = sum(p.numel() for p in pipe.unet.parameters()) / 1e6
    print(json.dumps({"model": which, "build_s": round(time.perf_counter() - start, 1),
                      "unet_params_M": round(params)}), flush=True)
    rows = []
    # "embeds": the plain prompt encoded by the pipeline's own encode_prompt and passed as
    # embeddings: the fair baseline for "weighted", which also hands the pipeline embeddings.
    for kind in ("weighted", "plain", "embeds"):
        prompt = PROMPTS["plain" if kind == "embeds" else kind]

        def run() -> None:
            kwargs = dict(num_inference_steps=steps, width=size, height=size, guidance_scale=7.0,
                          generator=torch.Generator(device).manual_seed(0))
            if kind == "plain":
                kwargs |= {"prompt": prompt, "negative_prompt": "blurry"}
            elif kind == "embeds":
                kwargs |= own_embeddings(pipe, prompt, "blurry", device)
            else:
                kwargs |= build_conditioning(pipe, prompt, "blurry", steps).pipeline_kwargs()
            pipe(**kwargs)
            if device.startswith("cuda"):
                torch.cuda.synchronize()

        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        seconds = median_time(run, repeats)
        cond_s = median_time(lambda: build_conditioning(pipe, prompt, "blurry", steps), repeats)
        row = {"model": which, "device": device, "dtype": str(dtype).removeprefix("torch."), "size": size,
               "steps": steps, "prompt": kind, "s_per_image": round(seconds, 3),
               "images_per_s": round(1 / seconds, 3), "conditioning_ms": round(cond_s * 1000, 1)}
        if kind == "weighted":
            row["embeds_dtype"] = str(build_conditioning(pipe, prompt, "blurry", steps).positive[0].embeds.dtype)
        if device.startswith("cuda"):
            row["peak_vram_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
            row["gpu"] = torch.cuda.get_device_name()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", choices=["sd15", "sdxl"], help="full-size architecture with random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="default: 2 (tiny) / 20 (full)")
    parser.add_argument("--size", type=int, default=None, help="default: 512 (sd15) / 1024 (sdxl)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs after one warm-up (median)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy box)")
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    if args.full:
        rows = bench_full(args.full, args.device, args.steps or 20, args.size, args.repeats or 3)
    else:
        rows = bench_tiny(args.repeats or 15, args.steps or 2, args.device)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
