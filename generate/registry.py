"""Where image backends are found by name (built-ins register like add-ons would)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
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
