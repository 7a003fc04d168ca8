"""Where enhancers are found by name.

Built-ins register exactly the way an add-on would (`register_builtins(register)`). Their
factories are "module:Class" strings imported on first use, so listing enhancers (or running
`promptrag --help`) never imports anthropic, boto3, torch or llama.cpp.
`enhancer_status()` says which enhancers are usable here and which setting enables the others.

The one parser of what users type to name enhancers (CLI `-e`, the app, campaign briefs,
`PROMPTRAG_ENHANCER_CHAIN`): `parse_enhancer_spec("langchain:openai:gpt-4.1-mini,rules")` checks
and splits a spec into members; a member is a registry name, optionally followed by `:MODEL`
(everything after the first colon, so `local:repo:file.gguf` and `langchain:ollama:qwen2.5:7b`
work), which reaches the enhancer as its `model` option (`split_member`, `get_enhancer`).
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
    """Build the enhancer registered as `name` with `options` (model id, client, ...).

    `name` may carry its model after a colon ("anthropic:claude-haiku-4-5",
    "langchain:openai:gpt-4.1-mini"); an explicit `model=` option wins over it.
    """
    base, model = split_member(name)
    return ENHANCERS.get(base, **{**({"model": model} if model else {}), **options})


CHAIN_NAME = "chain"
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
    from core.errors import ConfigError

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


def _langchain_status(settings: Settings) -> tuple[bool, str]:
    if not importable("langchain"):
        return False, "install LangChain: pip install 'promptrag[langchain]', then -e langchain:PROVIDER:MODEL"
    if not settings.langchain_model:
        return False, ("not configured: set PROMPTRAG_LANGCHAIN_MODEL=PROVIDER:MODEL (e.g. openai:gpt-4.1-mini; "
                       "install the provider's package, e.g. langchain-openai), or pass -e langchain:PROVIDER:MODEL")
    return True, f"{settings.langchain_model} (PROMPTRAG_LANGCHAIN_MODEL)"


_STATUS_CHECKS = {
    "anthropic": _anthropic_status,
    "bedrock": _bedrock_status,
    "local": _local_status,
    "langchain": _langchain_status,
    "rules": lambda settings: (True, "built in, no model"),
    "grounded": lambda settings: (True, "built in: the idea plus modifiers shared by its examples"),
}


def enhancer_status() -> list[BackendStatus]:
    """Each registered enhancer: ready, or not configured with the setting that enables it.

    Loads no model, calls no network and never shows a secret value (see core/status.py).
    Add-ons registered without a check are reported ready ("no readiness check").
    """
    return collect_status("enhancer", enhancer_names(), _STATUS_CHECKS, get_settings())
