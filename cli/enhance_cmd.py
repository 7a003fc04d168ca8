"""`promptrag enhance "idea"`: turn an idea into a prompt + negative prompt with one enhancer
or the configured fallback chain, and print it (or `result.to_dict()` as JSON).

Three small steps so later options (e.g. `--rag`) slot in without touching the others:
`build_request` (options → a validated EnhanceRequest), `run_enhance` (request + enhancer
choice → EnhanceResult), `format_result` (result → the human-readable text).

`--enhancer chain` (the default) is `Settings.enhancer_chain` ending in "rules"; a
comma-separated list ("local,rules") is a chain of those; a single name uses that enhancer
alone, so its failure is an error rather than a silent fallback.
Deliberately not here: retrieval, history, image generation.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import IndexOption, JsonOption, index_path, print_json, validated
from enhancers.base import EnhanceRequest, EnhanceResult
from enhancers.registry import enhancer_names

_FIELDS = EnhanceRequest.model_fields
ENHANCER_HELP = (
    f"Who writes the prompt: {' | '.join(enhancer_names())} | chain (the configured fallback chain, "
    "always ending in rules) | a comma list such as 'local,rules'."
)


def build_request(
    idea: str,
    *,
    style: str = "auto",
    creativity: float = 0.7,
    n_candidates: int = 1,
    examples: list[str] | None = None,
    model_family: str = "sdxl",
    previous_prompt: str | None = None,
    feedback: str | None = None,
) -> EnhanceRequest:
    """CLI values → a validated request (a bad value becomes one InputError line)."""
    return validated(
        EnhanceRequest,
        idea=idea,
        style=style,
        creativity=creativity,
        n_candidates=n_candidates,
        examples=[{"text": text} for text in (examples or [])],
        model_family=model_family,
        previous_prompt=previous_prompt,
        feedback=feedback,
    )


def run_enhance(request: EnhanceRequest, enhancer: str = "chain") -> EnhanceResult:
    """Run `request` through the chosen enhancer (see module docstring) and free it after."""
    from enhancers.chain import CHAIN_NAME, build_chain
    from enhancers.registry import get_enhancer

    names = [n.strip() for n in enhancer.split(",") if n.strip()]
    if enhancer.strip() == CHAIN_NAME:
        chosen = build_chain()
    elif len(names) > 1:
        chosen = build_chain(names)
    else:
        chosen = get_enhancer(enhancer.strip())
    try:
        return chosen.enhance(request)
    finally:
        chosen.release()


def format_result(result: EnhanceResult) -> str:
    lines = [
        f"prompt:    {result.prompt}",
        f"negative:  {result.negative_prompt or '-'}",
        f"style:     {result.style}",
        f"enhancer:  {result.enhancer}",
    ]
    for name, reason in result.fallback_reasons.items():
        lines.append(f"fallback:  {name} failed: {reason} → answered by {result.enhancer}")
    verdict = "within budget" if result.within_budget else "OVER BUDGET: the image model will cut the end"
    lines.append(f"tokens:    {result.token_count} / {result.token_budget} CLIP tokens ({verdict})")
    if result.rationale:
        lines.append(f"why:       {result.rationale}")
    if len(result.candidates) > 1:
        lines.append("candidates:")
        lines += [f"  {i}. {c.prompt}" for i, c in enumerate(result.candidates, 1)]
    return "\n".join(lines)


def enhance(
    idea: str = typer.Argument(..., help=_FIELDS["idea"].description),
    enhancer: str = typer.Option("chain", "--enhancer", "-e", help=ENHANCER_HELP),
    style: str = typer.Option(
        "auto",
        "--style",
        help=_FIELDS["style"].description + " One of: auto, "
        "photography, artistic, realistic, cinematic, 'coloring book'.",
    ),
    creativity: float = typer.Option(0.7, "--creativity", "-c", help=_FIELDS["creativity"].description),
    n_candidates: int = typer.Option(1, "-n", "--candidates", help=_FIELDS["n_candidates"].description),
    example: list[str] = typer.Option(
        [], "--example", help="An example prompt to draw style from (repeatable)."
    ),
    family: str = typer.Option(
        "sdxl", "--family", help=_FIELDS["model_family"].description + " sd1|sdxl|other."
    ),
    previous: str | None = typer.Option(None, "--previous", help=_FIELDS["previous_prompt"].description),
    feedback: str | None = typer.Option(None, "--feedback", help=_FIELDS["feedback"].description),
    json_output: bool = JsonOption,
    rag: bool = typer.Option(False, "--rag", help="Ground the prompt in real prompts retrieved from the index."),
    k: int = typer.Option(8, "-k", help="With --rag: how many prompts to retrieve."),
    pick: str | None = typer.Option(None, "--pick", help="With --rag: 1-based ranks used as examples, e.g. 1,3."),
    mode: str = typer.Option("hybrid", "--mode", help="With --rag: retrieval mode dense|keyword|hybrid."),
    index: Path | None = IndexOption,
) -> None:
    """Turn IDEA into an optimized text-to-image prompt and negative prompt."""
    if rag:  # retrieval + fusion through rag's PromptAssistant (its result includes the examples)
        from cli.refine_cmd import format_assistant_result
        from rag.assistant import PromptAssistant, parse_picks

        assistant = PromptAssistant.load(index_path(index), enhancer)
        try:
            result = assistant.run(idea, k=k, picks=parse_picks(pick), mode=mode, style=style, creativity=creativity,
                                   n_candidates=n_candidates, model_family=family)
        finally:
            assistant.enhancer.release()
        if json_output:
            print_json(result.to_dict())
        else:
            typer.echo(format_assistant_result(result))
        return
    request = build_request(
        idea,
        style=style,
        creativity=creativity,
        n_candidates=n_candidates,
        examples=example,
        model_family=family,
        previous_prompt=previous,
        feedback=feedback,
    )
    result = run_enhance(request, enhancer)
    if json_output:
        print_json(result.to_dict())
    else:
        typer.echo(format_result(result))


def register(app: typer.Typer) -> None:
    app.command("enhance")(enhance)
