"""Prices of paid model calls: the one table, and what a call or a run of calls may cost.

`PRICES` maps a model id prefix to US dollars per million (input, output) tokens, list prices when
written; `IMAGE_PRICES` a Bedrock image model to dollars per image. A model missing from a table is
priced as the dearest one, so a spend cap (core/spend.py) never under-counts; local runtimes
(Ollama, llama.cpp, Hugging Face through LangChain) cost nothing. `estimate(...)` is what a page
shows before a run starts: an estimate, never a bill.

Deliberately not here: who pays, the audit log and the caps (core/spend.py); currencies other than USD.
"""

from __future__ import annotations

from dataclasses import dataclass

# Model id prefix (provider and region prefixes removed, lower case) → US dollars per million
# (input, output) tokens. The longest matching prefix wins.
PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-6": (5.0, 25.0),
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4": (15.0, 75.0),
    "claude-3-opus": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "claude-3-haiku": (0.25, 1.25),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
}
UNKNOWN_PRICE = (15.0, 75.0)  # an unlisted model counts as the dearest Claude: caps never under-count
# Image models on Bedrock (model id prefix, provider prefix removed) → US dollars per image, list prices.
IMAGE_PRICES: dict[str, float] = {
    "stable-image-core": 0.04,
    "sd3-5-large": 0.08,
    "sd3-large": 0.08,
    "stable-image-ultra": 0.14,
}
UNKNOWN_IMAGE_PRICE = 0.14  # an unlisted image model counts as the dearest one
FREE_PROVIDERS = ("ollama", "llamacpp", "huggingface")  # LangChain providers that run on this machine
_ID_PREFIXES = ("global.", "us.", "eu.", "apac.", "anthropic.")  # Bedrock inference-profile / provider prefixes


@dataclass(frozen=True)
class Price:
    input_per_million: float
    output_per_million: float
    known: bool  # False: not in PRICES, priced as UNKNOWN_PRICE


def price_for(model: str) -> Price:
    """The price of `model` ("claude-sonnet-4-6", "us.anthropic.claude-...", "openai:gpt-4.1-mini")."""
    name = model.strip().lower()
    provider, _, rest = name.partition(":")
    if rest and "/" not in provider:  # a LangChain PROVIDER:MODEL
        if provider in FREE_PROVIDERS:
            return Price(0.0, 0.0, True)
        name = rest
    for prefix in _ID_PREFIXES:
        name = name.removeprefix(prefix)
    matches = [key for key in PRICES if name.startswith(key)]
    if not matches:
        return Price(*UNKNOWN_PRICE, known=False)
    return Price(*PRICES[max(matches, key=len)], known=True)


def image_price_for(model: str) -> float:
    """US dollars per image of a Bedrock image model ("stability.sd3-5-large-v1:0")."""
    name = model.strip().lower().removeprefix("stability.")
    for prefix in _ID_PREFIXES:
        name = name.removeprefix(prefix)
    matches = [key for key in IMAGE_PRICES if name.startswith(key)]
    return IMAGE_PRICES[max(matches, key=len)] if matches else UNKNOWN_IMAGE_PRICE


def cost_usd(model: str, input_tokens: int, output_tokens: int, images: int = 0) -> float:
    """Tokens at the model's token price; images (a Bedrock image model) at its price per image."""
    if images:
        return images * image_price_for(model)
    price = price_for(model)
    return (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1_000_000


@dataclass(frozen=True)
class Estimate:
    """What `calls` calls of `model` may cost: an estimate, never a bill."""

    model: str
    calls: int
    input_tokens: int   # per call
    output_tokens: int  # per call
    usd: float
    price_known: bool

    def text(self) -> str:
        unknown = "" if self.price_known else f" ({self.model} is not in the price table: priced as the dearest model)"
        return (f"about ${self.usd:,.2f} (an estimate: {self.calls} calls of {self.model} × ~{self.input_tokens:,} "
                f"input + up to {self.output_tokens:,} output tokens at list prices){unknown}")


def estimate(model: str, calls: int, input_tokens: int, output_tokens: int) -> Estimate:
    return Estimate(model, calls, input_tokens, output_tokens, calls * cost_usd(model, input_tokens, output_tokens),
                    price_for(model).known)
