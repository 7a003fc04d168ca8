"""Local image generation with diffusers: any SD 1.x/2.x, SDXL or turbo text-to-image pipeline.

``DiffusersBackend(model)`` loads a hub id or a local directory with
``AutoPipelineForText2Image`` (fp16 on CUDA, fp32 elsewhere; device CUDA → MPS → CPU), keeps
it in a class-level cache keyed by (model, device, dtype, offload) until ``release()``, and
calls the ``before_load`` hook just before it actually loads one (the app wires the local LLM's
``release()`` there so both never sit in memory together).

``generate(request, on_progress=, cancel=)`` is a numbered recipe: check → seeds → scheduler →
conditioning → run. Image k uses seed + k through its own ``torch.Generator``, so any single
image can be reproduced alone. Progress (one event per denoising step) and cancellation ride on
``callback_on_step_end``, composed with the timed-prompt callback when both are needed.
``default_size`` is the model's native size, read from its config without loading it.
A ``.safetensors`` / ``.ckpt`` file (what A1111 users have) loads through diffusers'
``from_single_file`` (SDXL or SD told apart by the checkpoint's tensor names); a catalogue model
(generate/models.py) loads the fp16 files ``promptrag models pull`` fetched.
A plain prompt (no syntax, one 75-token window) is passed to diffusers as the ``prompt=``
string, so results equal diffusers' own; weights, BREAK, long and timed prompts go through
``generate/conditioning.py``.

Deliberately not here: downloading weights at generate time beyond what ``from_pretrained``
does, img2img / inpainting, PNG metadata (the caller writes files).
"""

from __future__ import annotations

import gc
import inspect
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from core.devices import diffusion_dtype, dtype_name, pick_device
from core.errors import BackendError, InputError
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import Settings, get_settings
from core.status import importable, model_location
from generate.base import ImageBackend, ImageRequest, ImageResult
from generate.conditioning import build_conditioning, needs_conditioning, pipeline_family
from generate.models import cache_dir, find_model, model_status
from generate.prompt_syntax import plain_for_backend, prompt_schedule
from generate.schedulers import canonical_sampler, make_scheduler, sampler_name_of

INSTALL_HINT = "install the extra: pip install 'promptrag[generate]'"


def _import_diffusers() -> Any:
    try:
        import diffusers
        import torch  # noqa: F401
    except ImportError as exc:
        raise BackendError(f"the diffusers backend needs diffusers and torch ({exc}); {INSTALL_HINT}") from exc
    return diffusers


def _dtype_argument() -> str:
    # diffusers renamed from_pretrained's torch_dtype to dtype (and warns about the old name).
    from diffusers.utils import deprecation_utils

    return "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"


def _native_size(sample: Any, vae_blocks: int) -> tuple[int, int] | None:
    if not isinstance(sample, int) or sample <= 0:
        return None
    side = sample * 2 ** (vae_blocks - 1)
    return side, side


def _configured_size(model: str) -> tuple[int, int] | None:
    """Native size from unet/vae config.json in a local directory or the hub cache (no download)."""

    def config(sub: str) -> dict | None:
        local = Path(model).expanduser() / sub / "config.json"
        path: Any = local if local.is_file() else None
        if path is None and "/" in model and not model.startswith((".", "/", "~")):
            try:
                from huggingface_hub import try_to_load_from_cache

                found = try_to_load_from_cache(model, f"{sub}/config.json")
                path = Path(found) if isinstance(found, str) else None
            except (ImportError, ValueError):  # no hub client, or not a valid repo id: size unknown
                path = None
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path is not None else None
        except (OSError, ValueError):
            return None

    unet, vae = config("unet"), config("vae")
    if not unet or not vae:
        return None
    return _native_size(unet.get("sample_size"), len(vae.get("block_out_channels", [0] * 4)))


SINGLE_FILE_SUFFIXES = (".safetensors", ".ckpt")
_SDXL_KEY = "conditioner.embedders.1."  # SDXL checkpoints carry a second text encoder


def safetensors_keys(path: Path) -> list[str]:
    """Tensor names from a .safetensors header (8-byte length + JSON), without reading the weights."""
    with open(path, "rb") as handle:
        size = int.from_bytes(handle.read(8), "little")
        if not 0 < size < 100_000_000:
            raise BackendError(f"{path} is not a .safetensors file (bad header); re-download it")
        header = json.loads(handle.read(size))
    return [k for k in header if k != "__metadata__"]


def single_file_pipeline(path: Path) -> str:
    """Which diffusers pipeline class loads checkpoint `path` (A1111-style single file)."""
    if path.suffix.lower() not in SINGLE_FILE_SUFFIXES:
        raise BackendError(f"{path.name}: a checkpoint file must end in {' or '.join(SINGLE_FILE_SUFFIXES)}; "
                           f"for a diffusers model give its directory")
    if path.suffix.lower() == ".safetensors":
        sdxl = any(k.startswith(_SDXL_KEY) for k in safetensors_keys(path))
    else:  # a pickle: not opened just to peek; the name decides (diffusers loads it weights-only)
        sdxl = "xl" in path.stem.lower()
    return "StableDiffusionXLPipeline" if sdxl else "StableDiffusionPipeline"


def _load_single_file(diffusers: Any, path: Path, dtype: Any) -> Any:
    """A .safetensors / .ckpt checkpoint through diffusers' single-file loader. Its configs and
    tokenizers come from the base model's hub repo (cached by `promptrag models pull sdxl|sd-1.5`)."""
    cls = single_file_pipeline(path)
    base = "sdxl" if cls == "StableDiffusionXLPipeline" else "sd-1.5"
    try:
        return getattr(diffusers, cls).from_single_file(str(path), **{_dtype_argument(): dtype})
    except (OSError, ValueError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BackendError(
            f"cannot load checkpoint {str(path)!r} as {cls}: {first}. The single-file loader needs the base "
            f"model's configuration from the Hub once: go online, or `promptrag models pull {base}`"
        ) from exc


def _takes_step_callback(pipe: Any) -> bool:
    return "callback_on_step_end" in inspect.signature(pipe.__call__).parameters


class StepReporter:
    """Turns the pipeline's per-UNet-evaluation callback into one Progress per denoising step.

    Second-order samplers (Heun, DPM2) evaluate the UNet about twice per step and PNDM once more
    in all; evaluation i of n belongs to step (i + 1) * steps // n, so exactly `steps` events
    arrive, the last with done == total. A set cancel token raises Cancelled at the next one.
    """

    def __init__(self, steps: int, on_progress: ProgressCallback | None, cancel: CancelToken | None) -> None:
        self.steps, self.cancel = steps, cancel
        self.watch = Stopwatch("generate", on_progress)
        self.reported = 0

    @property
    def active(self) -> bool:
        return self.watch.on_progress is not None or self.cancel is not None

    def wrap(self, inner: Callable[..., dict] | None) -> Callable[..., dict]:
        def callback(pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
            out = inner(pipe, i, t, tensors) if inner is not None else {}
            evaluations = max(1, len(pipe.scheduler.timesteps))
            step = min(self.steps, (i + 1) * self.steps // evaluations)
            if step > self.reported:
                self.reported = step
                self.watch.report(step, self.steps)
            if self.cancel is not None:
                self.cancel.raise_if_cancelled("image generation", f"stopped after step {step} of {self.steps}; "
                                               "nothing was saved")
            return out

        return callback


@dataclass
class _Loaded:
    pipe: Any
    default_scheduler: Any  # restored when a request names no sampler
    lock: threading.Lock = field(default_factory=threading.Lock)  # one generation at a time


class DiffusersBackend(ImageBackend):
    """Text-to-image with a local diffusers pipeline."""

    name: ClassVar[str] = "diffusers"
    supports_negative_prompt: ClassVar[bool] = True
    supports_prompt_syntax: ClassVar[bool] = True

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        missing = [module for module in ("diffusers", "torch", "transformers") if not importable(module)]
        if missing:
            return False, f"install {', '.join(missing)}: pip install 'promptrag[generate]'"
        model = settings.image_model
        where = model_location(model, "model_index.json")
        if where is None:
            return False, (f"image model {model!r} is not on this machine: set PROMPTRAG_IMAGE_MODEL to a local "
                           f"diffusers directory, or download it first (huggingface-cli download {model})")
        return True, f"{model} ({where})"

    _cache: ClassVar[dict[tuple[str, str, str, bool], _Loaded]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        dtype: Any = None,
        cpu_offload: bool = False,
        before_load: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(before_load=before_load)
        _import_diffusers()  # fail here, with the extra to install, rather than mid-request
        import torch

        self.model = model or get_settings().image_model
        self.device = pick_device(device)
        if isinstance(dtype, str):
            if not isinstance(getattr(torch, dtype, None), torch.dtype):
                raise InputError(f"dtype must be a torch dtype name such as 'float16', got {dtype!r}")
            dtype = getattr(torch, dtype)
        self.dtype = dtype if dtype is not None else diffusion_dtype(self.device)
        self.cpu_offload = cpu_offload

    @property
    def cache_key(self) -> tuple[str, str, str, bool]:
        return (self.model, self.device, dtype_name(self.dtype), self.cpu_offload)

    def is_loaded(self) -> bool:
        return self.cache_key in self._cache

    def pipeline(self) -> Any:
        """The cached pipeline, loading it (after ``before_load``) on first use."""
        return self._loaded()[0].pipe

    def _loaded(self) -> tuple[_Loaded, float]:
        with self._lock:
            entry = self._cache.get(self.cache_key)
            if entry is not None:
                return entry, 0.0
            if self.before_load is not None:
                self.before_load()
            start = time.perf_counter()
            pipe = self._load()
            entry = self._cache[self.cache_key] = _Loaded(pipe, pipe.scheduler)
            return entry, time.perf_counter() - start

    def _load(self) -> Any:
        diffusers = _import_diffusers()
        looks_local = self.model.startswith((".", "/", "~")) or Path(self.model).expanduser().exists()
        path = str(Path(self.model).expanduser()) if looks_local else self.model
        if looks_local and Path(path).is_file():
            return self._placed(_load_single_file(diffusers, Path(path), self.dtype))
        if looks_local and not Path(path).is_dir():
            raise BackendError(
                f"image model {path!r} does not exist; give a local diffusers directory (with model_index.json), "
                f"a .safetensors / .ckpt checkpoint file, or a hub id such as 'stabilityai/sd-turbo'"
            )
        options: dict[str, Any] = {_dtype_argument(): self.dtype}

        if not looks_local:  # the cache `promptrag models pull` fills (PROMPTRAG_HUB_CACHE), not only HF's default
            options["cache_dir"] = str(cache_dir())
        known = None if looks_local else find_model(self.model)
        if known is not None and model_status(known).cached:
            # the files `promptrag models pull` fetched (fp16: half the bytes), loaded without asking the hub
            options["local_files_only"] = True
            if known.variant:
                options["variant"] = known.variant
        try:
            pipe = diffusers.AutoPipelineForText2Image.from_pretrained(path, **options)
        except (OSError, ValueError) as exc:  # hub errors (not found, offline, gated) are OSErrors
            how = (f"download it first: `promptrag models pull {known.name}` ({known.size_label}) or Settings > "
                   f"Models" if known is not None else
                   f"the weights must be downloaded first (e.g. `hf download {self.model}` while online)")
            raise BackendError(
                f"cannot load image model {path!r}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. "
                f"{how[0].upper() + how[1:]}, or give a local diffusers directory or checkpoint file "
                f"(--model / PROMPTRAG_IMAGE_MODEL)"
            ) from exc
        return self._placed(pipe)

    def _placed(self, pipe: Any) -> Any:
        if self.cpu_offload and self.device != "cpu":
            pipe.enable_model_cpu_offload(device=self.device)
        else:
            pipe.to(self.device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def release(self) -> None:
        """Drop this backend's pipeline from the cache and free accelerator memory."""
        with self._lock:
            self._cache.pop(self.cache_key, None)
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    @property
    def default_size(self) -> tuple[int, int]:
        """The model's native size (e.g. 512 for SD 1.5 / sd-turbo, 1024 for SDXL), read from its
        config — the loaded pipeline, a local directory or the hub cache; 512x512 when unknown."""
        entry = self._cache.get(self.cache_key)
        if entry is not None:
            pipe = entry.pipe
            sample = getattr(pipe, "default_sample_size", None) or pipe.unet.config.sample_size
            size = _native_size(sample, len(pipe.vae.config.block_out_channels))
        else:
            size = _configured_size(self.model)
        return size or (512, 512)

    def generate(self, request: ImageRequest, *, on_progress: ProgressCallback | None = None,
                 cancel: CancelToken | None = None) -> ImageResult:
        # 1. check inputs: sampler names and prompt syntax fail before any model is loaded
        self.check_request(request)
        sampler = canonical_sampler(request.sampler) if request.sampler else None
        for text in filter(None, (request.prompt, request.negative_prompt)):
            prompt_schedule(text, request.steps)  # raises InputError pointing at the column
        seed = self.resolve_seed(request)
        seeds = [seed + k for k in range(request.num_images)]
        if seeds[-1] > 2**32 - 1:
            raise InputError(f"seed {seed} + {request.num_images - 1} images exceeds 2**32-1; pick a smaller seed")
        if cancel is not None:
            cancel.raise_if_cancelled("image generation", "nothing was made")
        # 2. load (or reuse) the pipeline
        entry, load_s = self._loaded()
        with entry.lock:
            reporter = StepReporter(request.steps, on_progress, cancel)
            return self._run(entry, request, sampler, seed, seeds, load_s, reporter)

    def _run(self, entry: _Loaded, request: ImageRequest, sampler: str | None, seed: int, seeds: list[int],
             load_s: float, reporter: StepReporter) -> ImageResult:
        import torch

        pipe = entry.pipe
        notices: list[str] = []
        if pipeline_family(pipe) is None:  # SD3, Flux...: syntax would reach the T5 encoder as literal text
            prompt, negative, notices = plain_for_backend(request.prompt, request.negative_prompt,
                                                          type(pipe).__name__)
            request = request.model_copy(update={"prompt": prompt, "negative_prompt": negative})
        if request.negative_prompt and request.guidance <= 1:  # turbo / lightning / LCM settings
            notices.append(f"a negative prompt has no effect at CFG {request.guidance:g} (classifier-free guidance "
                           "is off at CFG <= 1): it was not used")
        # 3. scheduler from the sampler name, from the model's own scheduler config
        pipe.scheduler = make_scheduler(sampler, entry.default_scheduler.config) if sampler else entry.default_scheduler
        # 4. one generator per image: image k is reproducible from seed + k alone
        # MPS generators are not reproducible across runs; diffusers recommends CPU ones there.
        gen_device = "cpu" if self.device.startswith("mps") else self.device
        generators = [torch.Generator(gen_device).manual_seed(s) for s in seeds]
        kwargs: dict[str, Any] = dict(
            num_inference_steps=request.steps,
            guidance_scale=request.guidance,
            width=request.width,
            height=request.height,
            num_images_per_prompt=request.num_images,
            generator=generators,
        )
        # 5. prompts: plain strings go to diffusers untouched; syntax / long prompts become embeddings
        start = time.perf_counter()
        try:
            if needs_conditioning(pipe, request.prompt, request.negative_prompt):
                conditioning = build_conditioning(
                    pipe, request.prompt, request.negative_prompt, request.steps, device=torch.device(self.device)
                )
                kwargs |= conditioning.pipeline_kwargs()
            else:
                kwargs |= {"prompt": request.prompt, "negative_prompt": request.negative_prompt or None}
            if reporter.active and _takes_step_callback(pipe):
                # One callback per UNet evaluation: the timed-prompt switch (if any), then progress/cancel.
                kwargs["callback_on_step_end"] = reporter.wrap(kwargs.get("callback_on_step_end"))
            images = pipe(**kwargs).images
        except torch.cuda.OutOfMemoryError as exc:
            raise BackendError(
                f"out of GPU memory at {request.width}x{request.height} x{request.num_images} with {self.model!r}; "
                "use cpu_offload=True (--cpu-offload), a smaller size or fewer images"
            ) from exc
        generate_s = time.perf_counter() - start
        parameters = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "steps": request.steps,
            "cfg": request.guidance,
            "sampler": sampler or sampler_name_of(pipe.scheduler),
            "seed": seed,
            "width": request.width,
            "height": request.height,
            "model": self.model,
        }
        if notices:
            parameters["notices"] = notices
        return ImageResult(images, parameters, seeds, {"load_s": load_s, "generate_s": generate_s})
