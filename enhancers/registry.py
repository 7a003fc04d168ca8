"""Where enhancers are found by name.

Built-ins register exactly the way an add-on would (`register_builtins(register)`). Their
factories are "module:Class" strings imported on first use, so listing enhancers (or running
`promptrag --help`) never imports anthropic, boto3, torch or llama.cpp.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.registry import Registry
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
