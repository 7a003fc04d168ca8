"""Where enhancers are found by name.

Built-ins register exactly the way an add-on would (`register_builtins(register)`). Their
factories are "module:Class" strings imported on first use, so listing enhancers (or running
`promptrag --help`) never imports anthropic, boto3, torch or llama.cpp.
`enhancer_status()` says which enhancers are usable here and which setting enables the others.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
from core.settings import Settings, get_settings
from core.status import BackendStatus, aws_status, collect_status, importable, model_location, secret_is_set
from enhancers.base import Enhancer

ENHANCERS: Registry[Enhancer] = Registry("enhancer")


def register_enhancer(name: str, factory: Callable[..., Enhancer] | str) -> None:
    ENHANCERS.register(name, factory)


def enhancer_names() -> list[str]:
    return ENHANCERS.names()


def get_enhancer(name: str, **options: Any) -> Enhancer:
    """Build the enhancer registered as `name` with `options` (model id, client, ...)."""
    return ENHANCERS.get(name, **options)


def register_builtins(register: Callable[[str, Callable[..., Enhancer] | str], None]) -> None:
    register("rules", "enhancers.rules:RuleBasedEnhancer")
    register("grounded", "enhancers.grounded:GroundedEnhancer")
    register("anthropic", "enhancers.claude_api:AnthropicEnhancer")
    register("bedrock", "enhancers.claude_bedrock:BedrockEnhancer")
    register("local", "enhancers.local_llm:LocalLLMEnhancer")


register_builtins(register_enhancer)


# --- readiness (what the app's sidebar and Settings page show) ----------------------------------

def _anthropic_status(settings: Settings) -> tuple[bool, str]:
    if not secret_is_set("ANTHROPIC_API_KEY"):
        return False, "set ANTHROPIC_API_KEY in the environment, .env or .streamlit/secrets.toml"
    if not importable("anthropic"):
        return False, ("ANTHROPIC_API_KEY is set but the anthropic package is missing: "
                       "pip install 'promptrag[claude]'")
    return True, settings.anthropic_model


def _bedrock_status(settings: Settings) -> tuple[bool, str]:
    if not importable("boto3"):
        return False, "install boto3: pip install 'promptrag[claude]'"
    ready, detail = aws_status()
    return ready, f"{settings.bedrock_text_model} ({detail})" if ready else detail


def _local_status(settings: Settings) -> tuple[bool, str]:
    model = settings.local_llm_model
    modules = ("llama_cpp",) if model.lower().endswith(".gguf") else ("transformers", "torch")
    missing = [module for module in modules if not importable(module)]
    if missing:
        return False, f"install {', '.join(missing)}: pip install 'promptrag[local-llm]'"
    where = model_location(model, "config.json")
    if where is None:
        repo, _, filename = model.partition(":")
        download = " ".join(part for part in ("huggingface-cli download", repo, filename) if part)
        return False, (f"model {model!r} is not on this machine: set PROMPTRAG_LOCAL_LLM_MODEL to a local "
                       f".gguf file or model directory, or download it first ({download})")
    return True, f"{model} ({where})"


_STATUS_CHECKS = {
    "anthropic": _anthropic_status,
    "bedrock": _bedrock_status,
    "local": _local_status,
    "rules": lambda settings: (True, "built in, no model"),
    "grounded": lambda settings: (True, "built in: the idea plus modifiers shared by its examples"),
}


def enhancer_status() -> list[BackendStatus]:
    """Each registered enhancer: ready, or not configured with the setting that enables it.

    Loads no model, calls no network and never shows a secret value (see core/status.py).
    Add-ons registered without a check are reported ready ("no readiness check").
    """
    return collect_status("enhancer", enhancer_names(), _STATUS_CHECKS, get_settings())
