"""`promptrag refine RESULT.json "feedback"`: one more refinement round of a saved result.

RESULT.json is what `promptrag enhance --rag --json` (one result) or an earlier `refine`
(a session with its rounds) wrote. The new round is printed; `-o NEW.json` saves the whole
session (all rounds and feedback) so the next `refine` continues from it, and `--step-back`
drops the latest round instead of adding one.
Deliberately not here: the refinement logic (rag/refinement.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from cli.common import JsonOption, print_json
from core.errors import InputError

MAX_RESULT_BYTES = 20 * 1024 * 1024


def _read(path: Path) -> str:
    if not path.is_file():
        raise InputError(f"result file {path} does not exist; pass a file written by "
                         "`promptrag enhance --rag --json -o FILE` or `promptrag refine -o FILE`")
    if path.stat().st_size > MAX_RESULT_BYTES:
        raise InputError(f"result file {path} is larger than {MAX_RESULT_BYTES // 2**20} MiB; is it a result file?")
    return path.read_text(encoding="utf-8")


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def refine(
    result_file: Path = typer.Argument(..., help="A saved result or session (JSON)."),
    feedback: str = typer.Argument("", help="What to change: 'moodier', 'no text', 'closer to example 3'..."),
    json_output: bool = JsonOption,
    output: Path | None = typer.Option(None, "-o", "--output", help="Write the updated session (JSON) here."),
    step_back: bool = typer.Option(False, "--step-back", help="Drop the latest round instead of refining."),
) -> None:
    """Revise a saved prompt with FEEDBACK and keep the round history."""
    from rag.refinement import Session

    session = Session.from_json(_read(result_file))
    if step_back:
        session.step_back()
    else:
        session.refine(feedback)
    if output is not None:
        _write_atomically(output, session.to_json())
    if json_output:
        print_json(session.to_dict())
        return
    current = session.current
    typer.echo(current.prompt)
    typer.echo(f"negative: {current.negative_prompt}")
    q = current.quality
    typer.echo(f"round {len(session.rounds)} · {current.enhancer} · {q.token_count}/{q.token_budget} tokens"
               + (f" · consistency {q.consistency:.2f}" if q.consistency is not None else ""))
    for problem in current.problems:
        typer.echo(f"warning: {problem}", err=True)


def register(app: typer.Typer) -> None:
    app.command("refine")(refine)
