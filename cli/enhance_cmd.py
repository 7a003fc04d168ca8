"""`promptrag enhance "idea"`: turn an idea into a prompt + negative prompt with one enhancer
or the configured fallback chain, and print it (or `result.to_dict()` as JSON).

Small steps: `build_request` (options → a validated EnhanceRequest),
`enhancers.chain.build_enhancer` (the enhancer choice → an Enhancer), `format_result` (result →
the human-readable text).
`--rag` runs rag's PromptAssistant instead (retrieve → pick → fuse → validate);
`--generate` hands the prompt to `generate.saving.generate_and_save`, wiring the enhancer's
`release()` into the image backend's `before_load` hook (a local LLM leaves VRAM to diffusers).

`--enhancer chain` (the default) is `Settings.enhancer_chain` ending in "rules"; a
comma-separated list ("local,rules") is a chain of those; a single name (or NAME:MODEL, e.g.
"langchain:openai:gpt-4.1-mini") uses that enhancer alone, so its failure is an error rather
than a silent fallback. Specs are parsed by `enhancers.registry.parse_enhancer_spec`.
Deliberately not here: retrieval, fusion or generation logic (rag/, enhancers/, generate/).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import (
    IndexOption,
    JsonOption,
    StoreOption,
    parse_picks,
    parse_size,
    print_json,
    store_location,
)
from cli.refine_cmd import format_assistant_result
from core.errors import InputError
from core.progress import TqdmProgress
from core.validation import validated
from enhancers.base import MODEL_FAMILIES, STYLES, EnhanceRequest, EnhanceResult
from enhancers.profiles import resolve_family
from enhancers.registry import ENHANCER_SPEC_HELP, enhancer_names
from enhancers.user_styles import split_user_style, styled
from generate.output import make_recipe
from generate.saving import generate_and_save, image_options_from_settings

_FIELDS = EnhanceRequest.model_fields
ENHANCER_HELP = f"{ENHANCER_SPEC_HELP} Enhancers: {', '.join(enhancer_names())}."
STYLE_HELP = (f"{_FIELDS['style'].description} One of: {', '.join(repr(s) if ' ' in s else s for s in STYLES)}, "
              "or one of your styles (`promptrag styles list`).")


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
        EnhanceRequest, "enhance options",
        idea=idea,
        style=style,
        creativity=creativity,
        n_candidates=n_candidates,
        examples=[{"text": text} for text in (examples or [])],
        model_family=model_family,
        previous_prompt=previous_prompt,
        feedback=feedback,
    )


def format_result(result: EnhanceResult) -> str:
    lines = [
        f"prompt:    {result.prompt}",
        f"negative:  {result.negative_prompt or '-'}",
        f"style:     {result.style}" + (f" · look: {result.look}" if result.look else ""),
        f"enhancer:  {result.enhancer}",
    ]
    for name, reason in result.fallback_reasons.items():
        lines.append(f"fallback:  {name} failed: {reason} → answered by {result.enhancer}")
    verdict = "within budget" if result.within_budget else "OVER BUDGET: the image model will cut the end"
    lines.append(f"tokens:    {result.token_count} / {result.token_budget} CLIP tokens ({verdict})")
    if result.rationale:
        lines.append(f"why:       {result.rationale}")
    lines += [f"note:      {notice}" for notice in getattr(result, "notices", [])]
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
        help=STYLE_HELP,
    ),
    creativity: float = typer.Option(0.7, "--creativity", "-c", help=_FIELDS["creativity"].description),
    n_candidates: int = typer.Option(1, "-n", "--candidates", help=_FIELDS["n_candidates"].description),
    example: list[str] = typer.Option(
        [], "--example", help="An example prompt to draw style from (repeatable)."
    ),
    family: str = typer.Option(
        "auto", "--family", help=_FIELDS["model_family"].description + f" One of: auto, {'|'.join(MODEL_FAMILIES)}; "
        "auto follows --image-backend/--image-model with --generate (e.g. sd3 for Bedrock SD3.5), else sdxl."
    ),
    previous: str | None = typer.Option(None, "--previous", help=_FIELDS["previous_prompt"].description),
    feedback: str | None = typer.Option(None, "--feedback", help=_FIELDS["feedback"].description),
    json_output: bool = JsonOption,
    rag: bool = typer.Option(False, "--rag", help="Ground the prompt in real prompts retrieved from the index."),
    k: int = typer.Option(8, "-k", help="With --rag: how many prompts to retrieve."),
    pick: str | None = typer.Option(None, "--pick", help="With --rag: 1-based ranks used as examples, e.g. 1,3."),
    mode: str = typer.Option("hybrid", "--mode", help="With --rag: retrieval mode dense|keyword|hybrid."),
    index: Path | None = IndexOption,
    store: str | None = StoreOption,
    generate: bool = typer.Option(False, "--generate",
                                  help="Also make images from the prompt (see promptrag generate)."),
    image_backend: str = typer.Option("diffusers", "--image-backend", help="With --generate: diffusers or bedrock."),
    image_model: str | None = typer.Option(None, "--image-model", help="With --generate: model id or local path."),
    out: Path = typer.Option(Path("promptrag-images"), "--out", help="With --generate: directory for PNG + JSON."),
    use_settings: int | None = typer.Option(
        None, "--use-settings", help="With --rag --generate: reuse example N's seed, steps, CFG, sampler and size."
    ),
    size: str | None = typer.Option(None, "--size", help="With --generate: image size WIDTHxHEIGHT, e.g. 768x512."),
    steps: int | None = typer.Option(None, "--steps", help="With --generate: denoising steps."),
    seed: int | None = typer.Option(None, "--seed", help="With --generate: random seed (default: random, reported)."),
) -> None:
    """Turn IDEA into an optimized text-to-image prompt and negative prompt."""
    if use_settings is not None and not (rag and generate):
        raise InputError("--use-settings needs --rag and --generate (it reuses a retrieved example's settings)")
    family = _family(family, image_backend if generate else None, image_model)
    if rag:  # retrieval + fusion through rag's PromptAssistant (its result includes the examples)
        from rag.assistant import PromptAssistant  # lazy: start-up: numpy + retrieval; keeps --help fast

        assistant = PromptAssistant.load(store_location(index, store), enhancer)
        chosen = assistant.enhancer
        try:
            result = assistant.run(idea, k=k, picks=parse_picks(pick), mode=mode, style=style, creativity=creativity,
                                   n_candidates=n_candidates, model_family=family)
        finally:
            if not generate:
                chosen.release()
        payload, text = result.to_dict(), format_assistant_result(result)  # a user style applied by the assistant
        image_options = example_settings(result.examples, use_settings) if use_settings else {}
    else:  # the enhancer alone (no assistant): a user style lets it choose, then wraps its answer here
        enhancer_style, user_style = split_user_style(style)
        request = build_request(
            idea,
            style=enhancer_style,
            creativity=creativity,
            n_candidates=n_candidates,
            examples=example,
            model_family=family,
            previous_prompt=previous,
            feedback=feedback,
        )
        from enhancers.chain import build_enhancer  # lazy: start-up: the rule-based enhancer, ~15 ms

        chosen = build_enhancer(enhancer)
        try:
            result = chosen.enhance(request)
        finally:
            if not generate:
                chosen.release()
        result = styled(result, user_style)
        payload, text, image_options = result.to_dict(), format_result(result), {}
    if generate:
        width, height = parse_size(size)
        given = {"width": width, "height": height, "steps": steps, "seed": seed}
        image_options.update({key: value for key, value in given.items() if value is not None})

        # VRAM hand-off: a local LLM is released only when a diffusion pipeline is about to load.
        with TqdmProgress(enabled=not json_output) as bars:
            recipe = make_recipe(idea=idea, enhancer=result.enhancer, style=result.style,
                                 example_ids=[e.id for e in getattr(result, "examples", [])])
            saved = generate_and_save(result.prompt, result.negative_prompt, image_options, image_backend,
                                      image_model, out, before_load=chosen.release, on_progress=bars,
                                      recipe=recipe)
        chosen.release()
        payload["images"] = saved.to_dict()
        text += "\nimages:\n" + "\n".join(f"  {path}  seed={seed}" for path, seed in zip(saved.paths, saved.seeds))
        text += "".join(f"\nnote:      {notice}" for notice in saved.parameters.get("notices", []))
    if json_output:
        print_json(payload)
    else:
        typer.echo(text)


def _family(family: str, backend: str | None, model: str | None) -> str:
    """--family as given, or (auto) the family of the image model the prompt is for."""
    if family != "auto" and family not in MODEL_FAMILIES:
        raise InputError(f"--family must be auto or one of {', '.join(MODEL_FAMILIES)}, got {family!r}")
    return resolve_family(family, backend=backend, model=model)


def example_settings(examples: list, number: int) -> dict:
    """ImageRequest options reproducing retrieved example `number` (1-based among those used)."""
    if not 1 <= number <= len(examples):
        raise InputError(f"--use-settings must be between 1 and {len(examples)} (the examples used), got {number}")
    return image_options_from_settings(examples[number - 1].settings)


def register(app: typer.Typer) -> None:
    app.command("enhance")(enhance)
