"""Where image backends are found by name (built-ins register like add-ons would).

`image_backend_status()` says which backends are usable here and which setting enables the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
from core.settings import Settings, get_settings
from core.status import BackendStatus, aws_status, collect_status, importable, model_location
from generate.base import ImageBackend

IMAGE_BACKENDS: Registry[ImageBackend] = Registry("image backend")


def register_image_backend(name: str, factory: Callable[..., ImageBackend] | str) -> None:
    IMAGE_BACKENDS.register(name, factory)


def image_backend_names() -> list[str]:
    return IMAGE_BACKENDS.names()


def get_image_backend(name: str, **options: Any) -> ImageBackend:
    return IMAGE_BACKENDS.get(name, **options)


def register_builtins(register: Callable[[str, Callable[..., ImageBackend] | str], None]) -> None:
    register("diffusers", "generate.diffusers_backend:DiffusersBackend")
    register("bedrock", "generate.bedrock_backend:BedrockImageBackend")


register_builtins(register_image_backend)


# --- readiness (what the app's sidebar and Settings page show) ----------------------------------

def _diffusers_status(settings: Settings) -> tuple[bool, str]:
    missing = [module for module in ("diffusers", "torch", "transformers") if not importable(module)]
    if missing:
        return False, f"install {', '.join(missing)}: pip install 'promptrag[generate]'"
    model = settings.image_model
    where = model_location(model, "model_index.json")
    if where is None:
        return False, (f"image model {model!r} is not on this machine: set PROMPTRAG_IMAGE_MODEL to a local "
                       f"diffusers directory, or download it first (huggingface-cli download {model})")
    return True, f"{model} ({where})"


def _bedrock_status(settings: Settings) -> tuple[bool, str]:
    if not importable("boto3"):
        return False, "install boto3: pip install 'promptrag[generate]'"
    ready, detail = aws_status()
    return ready, f"{settings.bedrock_image_model} ({detail})" if ready else detail


_STATUS_CHECKS = {"diffusers": _diffusers_status, "bedrock": _bedrock_status}


def image_backend_status() -> list[BackendStatus]:
    """Each registered image backend: ready, or not configured with the setting that enables it.

    Loads no model, calls no network and never shows a secret value (see core/status.py).
    Add-ons registered without a check are reported ready ("no readiness check").
    """
    return collect_status("image", image_backend_names(), _STATUS_CHECKS, get_settings())
