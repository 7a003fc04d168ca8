"""Floor 2: turn an idea (+ example prompts) into an optimized prompt and negative prompt."""
from enhancers.base import (
    STYLES,
    TOKEN_BUDGET,
    Candidate,
    Enhancer,
    EnhanceRequest,
    EnhanceResult,
    Example,
)
from enhancers.registry import enhancer_names, get_enhancer, register_enhancer

__all__ = [
    "STYLES",
    "TOKEN_BUDGET",
    "Candidate",
    "EnhanceRequest",
    "EnhanceResult",
    "Enhancer",
    "Example",
    "enhancer_names",
    "get_enhancer",
    "register_enhancer",
]
