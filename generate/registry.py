"""Where image backends are found by name (built-ins register like add-ons would).

Add-ons are installed packages with a `promptrag.image_backends` entry point (NAME =
"module:Class"), read on the first lookup (core/registry.py). `image_backend_status()` says which
backends are usable here and which setting enables the others, from each class's `status(settings)`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
from core.settings import get_settings
from core.status import BackendStatus, collect_status
from generate.base import ImageBackend

IMAGE_BACKENDS: Registry[ImageBackend] = Registry("image backend", entry_point_group="promptrag.image_backends")


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


def image_backend_status() -> list[BackendStatus]:
    """Each registered image backend: ready, or not configured with the setting that enables it (its
    class's `status(settings)`; an add-on that fails to load is listed with the reason).

    Loads no model, calls no network and never shows a secret value (see core/status.py).
    """
    return collect_status("image", IMAGE_BACKENDS, get_settings())
