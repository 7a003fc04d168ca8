"""Floor 2: make images from a prompt (diffusers locally, Stability models on Bedrock)."""
from generate.base import ImageBackend, ImageRequest, ImageResult
from generate.registry import get_image_backend, image_backend_names, register_image_backend

__all__ = [
    "ImageBackend",
    "ImageRequest",
    "ImageResult",
    "get_image_backend",
    "image_backend_names",
    "register_image_backend",
]
