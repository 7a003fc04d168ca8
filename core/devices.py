"""Which torch device and dtype a local model runs on (CUDA → MPS → CPU), for every package.

`pick_device(None)` chooses the best available accelerator; an explicit choice ("cpu", "cuda",
"cuda:1", "mps") is validated and used as given, and fails loudly when that accelerator is
absent rather than silently running somewhere else. `dtype_for(device)` is the LLM policy
(bf16 where the GPU supports it, else fp16; fp32 on CPU); `diffusion_dtype(device)` the
diffusers one (fp16 on CUDA only: fp16 on MPS/CPU is slow or flaky for UNets).

Deliberately not here: loading models, and any torch import at module import time (torch is
imported inside the functions, so `promptrag --help` stays fast).
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import ConfigError, InputError

_DEVICE_RE = re.compile(r"^(cpu|mps|cuda(:\d+)?)$")


def validate_device(device: str | None) -> str | None:
    """Normalise a user's device string; None means "choose for me"."""
    if device is None:
        return None
    value = device.strip().lower()
    if value in ("", "auto"):
        return None
    if not _DEVICE_RE.match(value):
        raise InputError(f"device must be one of auto, cpu, cuda, cuda:N, mps; got {device!r}")
    return value


def pick_device(device: str | None = None) -> str:
    """The torch device to use: `device` if given (checked to exist), else CUDA → MPS → CPU."""
    import torch

    wanted = validate_device(device)
    cuda_ok = torch.cuda.is_available()
    mps_ok = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if wanted is None:
        return "cuda" if cuda_ok else "mps" if mps_ok else "cpu"
    if wanted.startswith("cuda") and not cuda_ok:
        raise ConfigError(
            f"device {device!r} was asked for but torch sees no CUDA GPU; use device='cpu' "
            "or install a CUDA build of torch"
        )
    if wanted == "mps" and not mps_ok:
        raise ConfigError(f"device {device!r} was asked for but MPS is not available; use device='cpu'")
    return wanted


def dtype_for(device: str) -> Any:
    """torch dtype for `device`: bf16/fp16 on accelerators, fp32 on CPU."""
    import torch

    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device == "mps":
        return torch.float16
    return torch.float32


def free_accelerator_memory(device: str) -> None:
    """Return cached allocator blocks to the driver after a model was dropped."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif device == "mps" and getattr(torch, "mps", None) is not None:
        try:
            torch.mps.empty_cache()
        except RuntimeError:  # no MPS device present after all: nothing cached to free
            pass


def diffusion_dtype(device: str) -> Any:
    """fp16 on CUDA (half the memory, tensor cores); fp32 on CPU and MPS."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def dtype_name(dtype: Any) -> str:
    """'float16' for torch.float16 or the string 'float16' (cache keys, reports)."""
    return str(dtype).removeprefix("torch.")
