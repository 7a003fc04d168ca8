"""The `promptrag` entry point: builds the Typer app from the command modules and turns the
errors a user may see (core.errors.PromptragError) into one line on stderr and a non-zero exit.

Each command module exposes `register(app)`; heavy libraries are imported inside commands so
`promptrag --help` stays fast.
"""

from __future__ import annotations

import importlib
import sys

import typer

from core.errors import PromptragError

COMMAND_MODULES = [
    "cli.ingest_cmd",
    "cli.search_cmd",
    "cli.enhance_cmd",
    "cli.refine_cmd",
    "cli.generate_cmd",
    "cli.app_cmd",
    "cli.serve_cmd",
    "cli.batch_cmd",
    "cli.eval_cmd",
    "cli.inspect_cmd",
    "cli.styles_cmd",
    "cli.models_cmd",
    "cli.thumbnails_cmd",
]

app = typer.Typer(
    name="promptrag",
    help="Turn a short idea into a strong text-to-image prompt, grounded in real prompts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register_commands() -> None:
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not built yet in this checkout
                continue
            raise
        module.register(app)


_register_commands()


def main() -> None:
    try:
        app()
    except PromptragError as exc:
        print(f"promptrag: error: {exc}", file=sys.stderr)
        raise SystemExit(exc.exit_code) from None
    except KeyboardInterrupt:
        print("promptrag: interrupted", file=sys.stderr)
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
