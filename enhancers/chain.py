"""The fallback chain: try enhancers in order, say who answered and why the others did not.

`FallbackChain([anthropic, local, rules]).enhance(request)` calls each member in turn. A member
that fails with a `core.errors.PromptragError` (BackendError, MissingCredentialError, ...) is
recorded as `name → one-line reason` and the next one is tried. The chain always ends in the
rule-based enhancer (appended when missing), which needs nothing and does not fail, so a user
always gets a prompt — and the result's `enhancer` and `fallback_reasons` show what happened.
Exceptions that are not PromptragError are bugs: they propagate, never hidden by a fallback.

`build_chain(names)` builds members from the registry (default: `Settings.enhancer_chain`); a
member whose construction fails with a PromptragError (a missing API key, say) becomes a
fallback reason up front instead of a crash. `build_enhancer(spec)` turns what a user types
("chain", "local,rules", "anthropic") into an Enhancer; with `grounded=True` the configured
chain gets the grounded fusion before the rules (for callers that pass retrieved examples).

`stream(request)` yields typed events (events.py) and falls back only before the first text
delta; no call leaves state on the chain (a cached chain is shared by every app session).

Deliberately plain Python rather than LangChain's `with_fallbacks`: recording each member's
reason and appending "rules" would take as much code around the runnable as the loop below.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

from core.errors import BackendError, Cancelled, ConfigError, PromptragError, one_line
from core.settings import get_settings
from enhancers.base import Enhancer, EnhanceRequest, EnhanceResult
from enhancers.events import Finished, MemberFailed, StreamEvent, TextDelta
from enhancers.registry import CHAIN_NAME, get_enhancer, parse_enhancer_spec, split_member
from enhancers.rules import RuleBasedEnhancer

FALLBACK_NAME = "rules"
GROUNDED_NAME = "grounded"


class FallbackChain(Enhancer):
    """An Enhancer that asks its members in order and falls back on user-facing errors."""

    name: ClassVar[str] = CHAIN_NAME
    supports_examples: ClassVar[bool] = True
    supports_streaming: ClassVar[bool] = True
    supports_negative_prompt: ClassVar[bool] = True

    def __init__(
        self, enhancers: Sequence[Enhancer], *, unavailable: Mapping[str, str] | None = None
    ) -> None:
        """`unavailable`: name → reason for members that could not even be built (see build_chain)."""
        members = list(enhancers)
        if not any(m.name == FALLBACK_NAME for m in members):
            members.append(RuleBasedEnhancer())
        self.enhancers: list[Enhancer] = members
        self.unavailable: dict[str, str] = dict(unavailable or {})

    @property
    def thread_safe(self) -> bool:  # type: ignore[override]  (a chain is as safe as its members)
        return all(member.thread_safe for member in self.enhancers)

    @property
    def uses_network(self) -> bool:  # type: ignore[override]
        return any(member.uses_network for member in self.enhancers)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.enhancers]

    def __repr__(self) -> str:
        return f"FallbackChain({' → '.join(self.names)})"

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        reasons = dict(self.unavailable)
        for member in self.enhancers:
            try:
                result = member.enhance(request)
            except Cancelled:
                raise  # a cancel (or a background run's spend cap, core/spend.py) stops: no fallback
            except PromptragError as exc:
                reasons[member.name] = one_line(exc)
                continue
            # A member may itself be a chain with its own reasons; keep those too.
            result.fallback_reasons = {**reasons, **result.fallback_reasons}
            result.timings["chain_total_s"] = time.perf_counter() - started
            return result
        raise BackendError(_all_failed(reasons))

    def _stream(self, request: EnhanceRequest) -> Iterator[StreamEvent]:
        """Stream from the first member that produces text; fall back before its first delta only.

        Members that could not be built, and members that fail before their first TextDelta
        (or Finished), each yield a MemberFailed and the next member is asked. After a delta
        has been yielded a failure propagates: text already shown cannot be taken back. The
        final Finished result names who answered and carries every fallback reason; nothing is
        kept on the chain, so one cached chain serves concurrent sessions.
        """
        started = time.perf_counter()
        reasons = dict(self.unavailable)
        for name, why in self.unavailable.items():
            yield MemberFailed(name, why)
        for member in self.enhancers:
            events = member.stream(request)
            answered = False
            try:
                for event in events:
                    if isinstance(event, Finished):
                        result = event.result
                        # A member may itself be a chain with its own reasons; keep those too.
                        result.fallback_reasons = {**reasons, **result.fallback_reasons}
                        result.timings["chain_total_s"] = time.perf_counter() - started
                        yield Finished(result)
                        return
                    answered = answered or isinstance(event, TextDelta)
                    yield event
            except Cancelled:
                raise
            except PromptragError as exc:
                if answered:
                    raise
                reasons[member.name] = one_line(exc)
                yield MemberFailed(member.name, reasons[member.name])
                continue
            finally:
                events.close()  # a generator left early (error, no Finished) frees its connection
            if answered:
                raise BackendError(f"{member.name} stopped streaming without a final result")
            reasons[member.name] = "returned an empty stream"
            yield MemberFailed(member.name, reasons[member.name])
        raise BackendError(_all_failed(reasons))

    def release(self) -> None:
        for member in self.enhancers:
            member.release()


def _all_failed(reasons: Mapping[str, str]) -> str:
    details = "; ".join(f"{name}: {why}" for name, why in reasons.items())
    return f"every enhancer in the chain failed ({details}); check the settings named above"


def build_chain(names: Sequence[str] | None = None, **options_by_name: Mapping[str, Any]) -> FallbackChain:
    """Build a chain from registry names (default: the configured `enhancer_chain`).

    `options_by_name` maps a member name to its constructor options, e.g.
    `build_chain(["anthropic", "rules"], anthropic={"model": "claude-haiku-4-5"})`.
    Unknown names, "chain" inside a chain, or options for a name not in the chain are
    configuration mistakes and raise ConfigError; a member that fails to build with a
    PromptragError is recorded as unavailable and skipped.
    """
    chosen = list(names) if names is not None else list(get_settings().enhancer_chain)
    if CHAIN_NAME in (split_member(name)[0] for name in chosen):
        raise ConfigError(
            f"enhancer chain {chosen} may not contain 'chain' itself; list enhancer names such as rules, "
            "anthropic, langchain:PROVIDER:MODEL"
        )
    try:
        parse_enhancer_spec(",".join(chosen))  # unknown names, "name:" without a model
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in the enhancer chain {chosen})") from None
    # Options are keyed by the member as written ("langchain:openai:gpt-4.1-mini") or by its name.
    stray = sorted(set(options_by_name) - set(chosen) - {split_member(name)[0] for name in chosen})
    if stray:
        raise ConfigError(
            f"options given for {', '.join(stray)} but the chain is {chosen}; "
            "add the name to the chain or drop its options"
        )
    members: list[Enhancer] = []
    unavailable: dict[str, str] = {}
    for name in dict.fromkeys(chosen):  # a repeated name would only fail twice
        options = options_by_name.get(name, options_by_name.get(split_member(name)[0], {}))
        try:
            members.append(get_enhancer(name, **dict(options)))
        except PromptragError as exc:
            unavailable[name] = one_line(exc)
    return FallbackChain(members, unavailable=unavailable)


def build_enhancer(spec: str = CHAIN_NAME, *, grounded: bool = False) -> Enhancer:
    """The enhancer a user named (parsed by `registry.parse_enhancer_spec`): "chain", a comma
    list ("local,rules"), or one member ("anthropic", "langchain:openai:gpt-4.1-mini").

    "chain" is the configured `Settings.enhancer_chain` (always ending in rules); with
    `grounded=True` it also gets "grounded" just before "rules" — with retrieved examples the
    grounded fusion beats the fixed rules. A single member is that enhancer alone, so its
    failure is an error rather than a silent fallback.
    """
    names = parse_enhancer_spec(spec)
    if names == [CHAIN_NAME]:
        names = [n for n in get_settings().enhancer_chain if n != FALLBACK_NAME]
        if grounded and GROUNDED_NAME not in names:
            names.append(GROUNDED_NAME)
        return build_chain([*names, FALLBACK_NAME])
    if len(names) > 1:
        return build_chain(names)
    return get_enhancer(names[0])
