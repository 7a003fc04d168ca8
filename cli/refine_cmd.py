"""`promptrag refine RESULT.json "feedback"`: one more refinement round of a saved result.

RESULT.json is what `promptrag enhance --rag --json` (one result) or an earlier `refine`
(a session with its rounds) wrote. The new round is printed; `-o NEW.json` saves the whole
session (all rounds and feedback) so the next `refine` continues from it, and `--step-back`
drops the latest round instead of adding one.
Deliberately not here: the refinement logic (rag/refinement.py).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JsonOption, print_json
from core.errors import InputError
from core.files import atomic_write

MAX_RESULT_BYTES = 20 * 1024 * 1024


def _read(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"result file {path} does not exist; pass a file written by "
                         "`promptrag enhance --rag --json > FILE` or `promptrag refine -o FILE`")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise InputError(f"result file {path} is larger than {MAX_RESULT_BYTES // 2**20} MiB; is it a result file?")
    return path.read_text(encoding="utf-8")


def format_assistant_result(result) -> str:
    """Human-readable lines of a rag.assistant.AssistantResult (shared with `enhance --rag`)."""
    q = result.quality
    lines = [f"prompt:    {result.prompt}", f"negative:  {result.negative_prompt or '-'}",
             f"style:     {result.style}" + (f" · look: {result.look}" if result.look else ""),
             f"enhancer:  {result.enhancer}"]
    lines += [f"fallback:  {name}: {why}" for name, why in result.fallback_reasons.items()]
    figures = f"tokens:    {q.token_count} / {q.token_budget} CLIP tokens"
    if q.consistency is not None:
        figures += f" · consistency {q.consistency:.2f} · closest example {q.novelty:.2f}" if q.novelty is not None \
            else f" · consistency {q.consistency:.2f}"
    lines.append(figures)
    lines.append("examples:")
    for i, e in enumerate(result.examples, 1):
        text = " ".join(e.text.split())
        lines.append(f"  {i}. [rank {e.rank}, score {e.score:.2f}, count {e.count}] {text[:100]}")
    if len(result.candidates) > 1:
        lines.append("candidates:")
        lines += [f"  {i}. {c.prompt}" for i, c in enumerate(result.candidates, 1)]
    lines += [f"warning:   {p}" for p in result.problems]
    return "\n".join(lines)


def refine(
    result_file: Path = typer.Argument(..., help="A saved result or session (JSON)."),
    feedback: str = typer.Argument("", help="What to change: 'moodier', 'no text', 'closer to example 3'..."),
    json_output: bool = JsonOption,
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the updated session (JSON) here."),
    step_back: bool = typer.Option(False, "--step-back", help="Drop the latest round instead of refining."),
) -> None:
    """Revise a saved prompt with FEEDBACK and keep the round history."""
    from rag.refinement import Session  # lazy: start-up: numpy + retrieval; keeps --help fast

    session = Session.from_json(_read(result_file))
    if step_back:
        session.step_back()
    else:
        session.refine(feedback)
    if output is not None:
        atomic_write(output, session.to_json())
    if json_output:
        print_json(session.to_dict())
        return
    typer.echo(f"round {len(session.rounds)}")
    typer.echo(format_assistant_result(session.current))


def register(app: typer.Typer) -> None:
    app.command("refine")(refine)
