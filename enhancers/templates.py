"""The LLM templates as a user edits them: list, read, save an override, reset to the package's.

`enhancers/prompting.py` renders the templates and already prefers a user's override in
`Settings.templates_dir`; this module is the write side of that same lookup, for the Settings
page (and anyone scripting it):

    list_templates()          every template: name, whether overridden, the override's path
    read_template(name)       the text in effect (override, else the package's)
    placeholders(name)        the $placeholders the template may use
    save_template(name, text) check the text, then write the override atomically
    reset_template(name)      delete the override (back to the package's text)

A template is checked before it is saved, so a typo cannot break every later LLM call: it must
parse as a `string.Template`, use only the placeholders its renderer fills, and keep the ones
the answer depends on (`$output_format` in the system template, `$idea` in the user template).

Deliberately not here: rendering (prompting.py) and any model call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from core.errors import InputError
from core.files import atomic_write
from core.settings import get_settings
from enhancers.base import EnhanceRequest
from enhancers.prompting import (
    SYSTEM_TEMPLATE,
    TEMPLATE_NAMES,
    USER_TEMPLATE,
    default_template,
    load_template,
    system_values,
    template_path,
    user_values,
)

MAX_TEMPLATE_CHARS = 50_000
# Without these the answer cannot be parsed (output format) or has nothing to work on (idea).
REQUIRED: dict[str, tuple[str, ...]] = {SYSTEM_TEMPLATE: ("output_format",), USER_TEMPLATE: ("idea",)}


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    overridden: bool
    path: Path | None  # the user's override, when there is one


def _check_name(name: str) -> str:
    if name not in TEMPLATE_NAMES:
        raise InputError(f"unknown template {name!r}; known templates: {', '.join(TEMPLATE_NAMES)}")
    return name


def list_templates() -> list[TemplateInfo]:
    infos = []
    for name in TEMPLATE_NAMES:
        path = template_path(name)
        infos.append(TemplateInfo(name, path is not None, path))
    return infos


def read_template(name: str) -> str:
    """The text in effect for `name`: the user's override if present, else the package's."""
    return load_template(_check_name(name))


def placeholders(name: str) -> list[str]:
    """The placeholders the renderer fills for template `name` (without the `$`)."""
    request = EnhanceRequest(idea="x")
    values = system_values(request) if _check_name(name) == SYSTEM_TEMPLATE else user_values(request)
    return sorted(values)


def check_template(name: str, text: str) -> None:
    """Raise InputError saying what to fix when `text` cannot serve as template `name`."""
    _check_name(name)
    if not text.strip():
        raise InputError(f"template {name} is empty; write its text or reset it to the default")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise InputError(f"template {name} has {len(text):,} characters, over the limit of "
                         f"{MAX_TEMPLATE_CHARS:,}")
    template = Template(text)
    if not template.is_valid():
        raise InputError(f"template {name} has a malformed placeholder; write $$ for a literal $")
    used = set(template.get_identifiers())
    known = set(placeholders(name))
    unknown = sorted(used - known)
    if unknown:
        raise InputError(
            f"template {name} uses unknown placeholder ${unknown[0]}; known placeholders: "
            + ", ".join("$" + p for p in sorted(known))
        )
    missing = [p for p in REQUIRED[name] if p not in used]
    if missing:
        raise InputError(f"template {name} must keep ${missing[0]}: the enhancers depend on it")


def save_template(name: str, text: str) -> Path:
    """Check `text`, then write it as the user's override of `name` (atomic replace)."""
    check_template(name, text)
    directory = get_settings().templates_dir
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    atomic_write(target, text)
    return target


def reset_template(name: str) -> bool:
    """Delete the user's override of `name`; True if there was one."""
    path = template_path(_check_name(name))
    if path is None:
        return False
    path.unlink()
    return True


__all__ = ["TemplateInfo", "check_template", "default_template", "list_templates", "placeholders",
           "read_template", "reset_template", "save_template"]
