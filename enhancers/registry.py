"""Where enhancers are found by name.

Built-ins register exactly the way an add-on would (`register_builtins(register)`). Their
factories are "module:Class" strings imported on first use, so listing enhancers (or running
`promptrag --help`) never imports anthropic, boto3, torch or llama.cpp. Add-ons are installed
packages with a `promptrag.enhancers` entry point (NAME = "module:Class"), read on the first
lookup (core/registry.py). `enhancer_status()` says which enhancers are usable here and which
setting enables the others, from each class's `status(settings)`.

The one parser of what users type to name enhancers (CLI `-e`, the app, campaign briefs,
`PROMPTRAG_ENHANCER_CHAIN`): `parse_enhancer_spec("langchain:openai:gpt-4.1-mini,rules")` checks
and splits a spec into members; a member is a registry name, optionally followed by `:MODEL`
(everything after the first colon, so `local:repo:file.gguf` and `langchain:ollama:qwen2.5:7b`
work), which reaches the enhancer as its `model` option (`split_member`, `get_enhancer`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.errors import ConfigError
from core.registry import Registry
from core.settings import get_settings
from core.status import BackendStatus, collect_status
from enhancers.base import Enhancer

ENHANCERS: Registry[Enhancer] = Registry("enhancer", entry_point_group="promptrag.enhancers")


def register_enhancer(name: str, factory: Callable[..., Enhancer] | str) -> None:
    ENHANCERS.register(name, factory)


def enhancer_names() -> list[str]:
    return ENHANCERS.names()


def get_enhancer(name: str, **options: Any) -> Enhancer:
    """Build the enhancer registered as `name` with `options` (model id, client, ...).

    `name` may carry its model after a colon ("anthropic:claude-haiku-4-5",
    "langchain:openai:gpt-4.1-mini"); an explicit `model=` option wins over it.
    """
    base, model = split_member(name)
    return ENHANCERS.get(base, **{**({"model": model} if model else {}), **options})


CHAIN_NAME = "chain"  # the configured fallback chain (enhancers/chain.py), not a registry name
ENHANCER_SPEC_HELP = (
    "Who writes the prompt: an enhancer name, NAME:MODEL (e.g. anthropic:claude-haiku-4-5, "
    "langchain:openai:gpt-4.1-mini), a comma list tried in order (e.g. 'local,rules'), or 'chain' "
    "(the configured fallback chain, always ending in rules)."
)


def split_member(member: str) -> tuple[str, str | None]:
    """"langchain:openai:gpt-4.1-mini" -> ("langchain", "openai:gpt-4.1-mini"); "rules" -> ("rules", None)."""
    name, sep, model = member.strip().partition(":")
    return name.strip(), (model.strip() or None) if sep else None


def parse_enhancer_spec(spec: str) -> list[str]:
    """The members a user named, checked: "chain" -> ["chain"], "local, rules" -> ["local", "rules"].

    Raises ConfigError naming the fix for an empty spec, an unknown name (listing the known
    ones), a member with ':' but no model, or "chain" inside a list.
    """
    members = [part.strip() for part in (spec or "").split(",") if part.strip()]
    known = enhancer_names()
    if not members:
        raise ConfigError(f"no enhancer named in {spec!r}; {ENHANCER_SPEC_HELP} Known: {', '.join(known)}")
    for member in members:
        name, model = split_member(member)
        if name == CHAIN_NAME and (len(members) > 1 or model):
            raise ConfigError(f"'chain' cannot be part of a list ({spec!r}); list enhancer names such as "
                              f"{', '.join(known)}")
        if name != CHAIN_NAME and name not in known:
            raise ConfigError(f"unknown enhancer {name!r} in {spec!r}; known enhancers: {', '.join(known)} "
                              "(or 'chain', or NAME:MODEL)")
        if ":" in member and model is None:
            raise ConfigError(f"enhancer {member!r} names no model after ':'; write {name}:MODEL or just {name}")
    return members


def register_builtins(register: Callable[[str, Callable[..., Enhancer] | str], None]) -> None:
    register("rules", "enhancers.rules:RuleBasedEnhancer")
    register("grounded", "enhancers.grounded:GroundedEnhancer")
    register("anthropic", "enhancers.claude_api:AnthropicEnhancer")
    register("bedrock", "enhancers.claude_bedrock:BedrockEnhancer")
    register("local", "enhancers.local_llm:LocalLLMEnhancer")
    register("langchain", "enhancers.langchain_chat:LangChainEnhancer")


register_builtins(register_enhancer)


def enhancer_status() -> list[BackendStatus]:
    """Each registered enhancer: ready, or not configured with the setting that enables it (its class's
    `status(settings)`; an add-on that fails to load is listed with the reason).

    Loads no model, calls no network and never shows a secret value (see core/status.py).
    """
    return collect_status("enhancer", ENHANCERS, get_settings())
