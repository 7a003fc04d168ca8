"""Which device and dtype to run diffusers on: CUDA → MPS → CPU; fp16 on CUDA, fp32 elsewhere.

Deliberately not here: multi-GPU placement and bf16 policies (callers may pass a dtype).
"""

from __future__ import annotations

from typing import Any


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def default_dtype(device: str) -> Any:
    """fp16 on CUDA (half the memory, tensor cores); fp32 on CPU and MPS, where fp16 is slow or flaky."""
    import torch

    return torch.float16 if device.startswith("cuda") else torch.float32


def dtype_name(dtype: Any) -> str:
    """'float16' for torch.float16 or the string 'float16' (cache keys, reports)."""
    return str(dtype).removeprefix("torch.")
