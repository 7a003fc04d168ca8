"""`promptrag styles list|import|export`: the styles users already have (A1111 styles.csv,
SDXL Prompt Styler / Fooocus JSON) beside the built-in ones.

A thin shell over `enhancers.user_styles`; user styles then work wherever `--style` is taken
(enhance, generate) and in the app. Deliberately not here: parsing, checking, applying.
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import JsonOption, print_json
from core.errors import InputError
from enhancers.base import CONCRETE_STYLES
from enhancers.user_styles import FORMATS, export_styles, import_styles, load_user_styles, styles_dir

styles_app = typer.Typer(help="List, import and export styles (A1111 styles.csv, SDXL Prompt Styler / Fooocus JSON).",
                         no_args_is_help=True)


@styles_app.command("list")
def list_styles(json_output: bool = JsonOption) -> None:
    """The built-in styles and yours (from $PROMPTRAG_HOME/styles/)."""
    users = load_user_styles()
    if json_output:
        print_json({"built_in": list(CONCRETE_STYLES), "folder": str(styles_dir()),
                    "user": [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt}
                             for s in users.values()]})
        return
    typer.echo("built-in:  " + ", ".join(CONCRETE_STYLES))
    typer.echo(f"yours ({len(users)}, in {styles_dir()}):")
    for style in users.values():
        typer.echo(f"  {style.name}: {style.prompt}" + (f"  | negative: {style.negative_prompt}"
                                                       if style.negative_prompt else ""))


@styles_app.command("import")
def import_cmd(source: Path = typer.Argument(..., metavar="FILE",
                                             help="An A1111 styles.csv or a Styler / Fooocus .json list.")) -> None:
    """Check FILE whole, then add its styles to yours (same names are replaced)."""
    report = import_styles(source)
    typer.echo(f"imported {len(report.added) + len(report.replaced)} styles from {source} into {report.path} "
               f"({len(report.added)} new, {len(report.replaced)} replaced)")


@styles_app.command("export")
def export_cmd(
    target: Path = typer.Argument(..., metavar="FILE", help="Where to write the styles."),
    fmt: str = typer.Option(..., "--format", "-f",
                            help="a1111 (styles.csv) or styler (SDXL Prompt Styler / Fooocus JSON)."),
) -> None:
    """Write your styles to FILE for A1111 / Forge or the SDXL Prompt Styler / Fooocus."""
    if fmt not in FORMATS:
        raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    count = export_styles(target, fmt)  # type: ignore[arg-type]
    typer.echo(f"wrote {count} styles to {target} ({fmt})")


def register(app: typer.Typer) -> None:
    app.add_typer(styles_app, name="styles")
