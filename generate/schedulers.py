"""Sampler names → diffusers schedulers, so a retrieved example's sampler can be reproduced.

Accepted names: DiffusionDB's (``ddim``, ``plms``, ``k_euler``, ``k_euler_ancestral``,
``k_heun``, ``k_dpm_2``, ``k_dpm_2_ancestral``, ``k_lms``), A1111's display names
("Euler a", "DPM++ 2M Karras" ...), short names (``euler_a``, ``dpmpp_2m``, ``unipc``) and
diffusers class names (``EulerDiscreteScheduler``). Matching ignores case, spaces and dashes.

Deliberately not here: samplers that need extra packages (``torchsde`` for DPM++ SDE) and any
guessing: an unknown name is an InputError listing the known names.
"""

from __future__ import annotations

import re
from typing import Any

from core.errors import InputError

# canonical name -> (diffusers class name, extra config overrides)
SAMPLERS: dict[str, tuple[str, dict[str, Any]]] = {
    "ddim": ("DDIMScheduler", {}),
    "plms": ("PNDMScheduler", {}),
    "k_euler": ("EulerDiscreteScheduler", {}),
    "k_euler_ancestral": ("EulerAncestralDiscreteScheduler", {}),
    "k_heun": ("HeunDiscreteScheduler", {}),
    "k_dpm_2": ("KDPM2DiscreteScheduler", {}),
    "k_dpm_2_ancestral": ("KDPM2AncestralDiscreteScheduler", {}),
    "k_lms": ("LMSDiscreteScheduler", {}),
    "ddpm": ("DDPMScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": False}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "dpmpp_2m_sde": ("DPMSolverMultistepScheduler", {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": False}),
    "dpmpp_2m_sde_karras": ("DPMSolverMultistepScheduler",
                            {"algorithm_type": "sde-dpmsolver++", "use_karras_sigmas": True}),
    "dpm_single": ("DPMSolverSinglestepScheduler", {}),
    "k_lms_karras": ("LMSDiscreteScheduler", {"use_karras_sigmas": True}),
    "k_euler_karras": ("EulerDiscreteScheduler", {"use_karras_sigmas": True}),
    "unipc": ("UniPCMultistepScheduler", {}),
    "deis": ("DEISMultistepScheduler", {}),
    "lcm": ("LCMScheduler", {}),
}

_ALIASES: dict[str, str] = {
    "pndm": "plms",
    "euler": "k_euler",
    "euler_a": "k_euler_ancestral",
    "euler_ancestral": "k_euler_ancestral",
    "k_euler_a": "k_euler_ancestral",
    "heun": "k_heun",
    "dpm2": "k_dpm_2",
    "dpm_2": "k_dpm_2",
    "dpm2_a": "k_dpm_2_ancestral",
    "dpm_2_a": "k_dpm_2_ancestral",
    "dpm2_ancestral": "k_dpm_2_ancestral",
    "dpm_2_ancestral": "k_dpm_2_ancestral",
    "lms": "k_lms",
    "lms_karras": "k_lms_karras",
    "euler_karras": "k_euler_karras",
    "dpm_solver": "dpmpp_2m",
    "dpmpp_2m_sde_k": "dpmpp_2m_sde_karras",
    "unipc_multistep": "unipc",
}


def _normalise(name: str) -> str:
    key = name.strip().lower().replace("++", "pp").replace("+", "p")
    return re.sub(r"[\s\-]+", "_", key)


def canonical_sampler(name: str) -> str:
    """The canonical sampler name for ``name`` (e.g. "Euler a" → "k_euler_ancestral")."""
    key = _normalise(name)
    if key in SAMPLERS:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    by_class = {cls.lower(): canon for canon, (cls, extra) in SAMPLERS.items() if not extra}
    if key in by_class:
        return by_class[key]
    known = ", ".join(sorted(SAMPLERS))
    raise InputError(f"unknown sampler {name!r}; known samplers: {known} (A1111 names such as 'Euler a' work too)")


def sampler_names() -> list[str]:
    return sorted(SAMPLERS)


def make_scheduler(name: str, base_config: Any) -> Any:
    """A new diffusers scheduler for sampler ``name``, built from a pipeline scheduler's config."""
    import diffusers

    class_name, overrides = SAMPLERS[canonical_sampler(name)]
    scheduler_cls = getattr(diffusers, class_name)
    return scheduler_cls.from_config(base_config, **overrides)


def sampler_name_of(scheduler: Any) -> str:
    """Best canonical name for a scheduler instance (its class name when we have none)."""
    class_name = type(scheduler).__name__
    config = getattr(scheduler, "config", {})
    # Most specific first: entries whose overrides all match the config beat plain ones.
    candidates = sorted(SAMPLERS.items(), key=lambda item: -len(item[1][1]))
    for canon, (cls, overrides) in candidates:
        if cls == class_name and all(config.get(k) == v for k, v in overrides.items()):
            return canon
    return class_name
