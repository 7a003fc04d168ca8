"""Styles users already have: A1111 ``styles.csv`` and SDXL Prompt Styler / Fooocus style JSON.

A user style is a template pair, ``prompt`` and ``negative_prompt``. Applying one follows
A1111: a ``{prompt}`` placeholder is replaced by the prompt; a template without one is appended
after ", " (empty parts dropped); the negative prompt likewise. The Styler / Fooocus templates
always carry ``{prompt}``, so the same rule serves both formats.

User styles live in ``$PROMPTRAG_HOME/styles/``: every ``*.csv`` (A1111 columns
``name,prompt,negative_prompt``) and ``*.json`` (a list of ``{name, prompt, negative_prompt}``)
there is read, in file-name order, a later file's style replacing an earlier one of the same
name. ``import_styles(file)`` checks the whole file first (one InputError naming the file, row
and fix; nothing written), then merges its styles into ``styles/imported.json``, atomically.

The six built-in styles stay with the enhancers (their style tables in styles.py are richer
than one template); `split_user_style(name)` is the one place that tells a caller which is which,
and `apply_style` / `styled` the one place a user style touches a prompt and negative prompt
(`rag.assistant.PromptAssistant.fuse` applies it for every page, the CLI and campaigns).
Deliberately not here: which style an idea gets (rules.py), prompt assembly.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from core.errors import InputError
from core.files import atomic_write
from core.settings import get_settings
from enhancers.base import STYLES, Style
from enhancers.styles import STYLE_SPECS
from enhancers.tokens import count_clip_tokens

PLACEHOLDER = "{prompt}"
IMPORT_FILE = "imported.json"
FORMATS = ("a1111", "styler")
MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_STYLES = 5000
MAX_NAME_CHARS = 120
MAX_TEXT_CHARS = 8000


@dataclass(frozen=True)
class UserStyle:
    """One template style: `prompt` may hold {prompt}; so may `negative_prompt`."""

    name: str
    prompt: str = ""
    negative_prompt: str = ""


def styles_dir() -> Path:
    return get_settings().home / "styles"


# ---- applying --------------------------------------------------------------------------------
def _merge(template: str, text: str) -> str:
    if PLACEHOLDER in template:
        return template.replace(PLACEHOLDER, text)
    return ", ".join(part for part in (text.strip(), template.strip()) if part)


def apply_style(style: UserStyle, prompt: str, negative_prompt: str = "") -> tuple[str, str]:
    """(prompt, negative prompt) with `style` applied, the A1111 way (see the module docstring)."""
    return _merge(style.prompt, prompt), _merge(style.negative_prompt, negative_prompt)


def split_user_style(name: str) -> tuple[Style, UserStyle | None]:
    """Split a style name into what the enhancer writes in and the user style that wraps it:
    a built-in (or "auto") -> (name, None); a user style -> ("auto", its template).
    An unknown name is one InputError listing both kinds."""
    if name in STYLES:
        return cast(Style, name), None
    users = load_user_styles()
    if name in users:
        return "auto", users[name]
    listed = ", ".join(STYLES) + ("; your styles: " + ", ".join(users) if users else "")
    raise InputError(f"unknown style {name!r}; choose one of: {listed} "
                     "(import more with `promptrag styles import FILE`)")


def styled(result: Any, style: UserStyle | None) -> Any:
    """An enhancer's or the assistant's result with `style` applied to its prompt and negative
    prompt (the result itself when `style` is None); the token count follows the new prompt."""
    if style is None:
        return result

    prompt, negative = apply_style(style, result.prompt, result.negative_prompt)
    changes: dict[str, Any] = {"prompt": prompt, "negative_prompt": negative, "style": style.name}
    if hasattr(result, "token_count"):
        changes["token_count"] = count_clip_tokens(prompt)
    if hasattr(result, "quality"):
        changes["quality"] = replace(result.quality, token_count=count_clip_tokens(prompt))
    return replace(result, **changes)


def builtin_template(name: str) -> UserStyle:
    """A built-in style as one template (its first anchor and top descriptors; its negative
    prompt): what `promptrag generate --style` applies to a prompt no enhancer wrote."""
    spec = STYLE_SPECS[name]
    return UserStyle(name, ", ".join([PLACEHOLDER, spec.anchors[0], *spec.descriptors[:3]]),
                     ", ".join(spec.negative[:6]))


def template_for(name: str) -> UserStyle:
    """The template of any concrete style, built-in or the user's (InputError for an unknown one)."""
    if name in STYLE_SPECS:
        return builtin_template(name)
    _, user = split_user_style(name)
    if user is None:  # "auto" names no style a template could hold
        raise InputError("--style auto needs an enhancer to choose the style; name a style here")
    return user


def style_names() -> list[str]:
    """Every style a user can pick: the built-ins (with "auto") first, then their own."""
    return [*STYLES, *load_user_styles()]


# ---- reading ---------------------------------------------------------------------------------
def load_user_styles(folder: Path | None = None) -> dict[str, UserStyle]:
    """The styles in `folder` (default: $PROMPTRAG_HOME/styles), by name."""
    folder = styles_dir() if folder is None else folder
    if not folder.is_dir():
        return {}
    styles: dict[str, UserStyle] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in (".csv", ".json") and not path.name.startswith("."):
            for style in read_styles(path):
                styles[style.name] = style
    return styles


def read_styles(path: Path | str) -> list[UserStyle]:
    """The styles of one A1111 CSV or Styler / Fooocus JSON file, checked; InputError on the first problem."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no styles file at {path}")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise InputError(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; not a styles file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    if path.suffix.lower() == ".json":
        return _check(path, _parse_json(path, text))
    if path.suffix.lower() == ".csv":
        return _check(path, _parse_csv(path, text))
    raise InputError(f"{path}: styles files end in .csv (A1111) or .json (SDXL Prompt Styler / Fooocus)")


def _parse_json(path: Path, text: str) -> list[tuple[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InputError(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise InputError(f"{path} must hold a JSON list of {{name, prompt, negative_prompt}} objects, "
                         f"got a {type(data).__name__}")
    return [(f"item {number}", item) for number, item in enumerate(data, 1)]


def _parse_csv(path: Path, text: str) -> list[tuple[str, Any]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "name" not in fields or not {"prompt", "negative_prompt"} & set(fields):
            raise InputError(f"{path} must have the A1111 header name,prompt,negative_prompt; got {fields}")
        rows = []
        for row in reader:
            if None in row:
                raise InputError(f"{path} line {reader.line_num}: more cells than the header has columns")
            rows.append((f"line {reader.line_num}", {k.strip(): v for k, v in row.items() if k is not None}))
    except csv.Error as exc:
        raise InputError(f"{path} is not a valid CSV file ({exc})") from None
    return rows


def _check(path: Path, items: list[tuple[str, Any]]) -> list[UserStyle]:
    if len(items) > MAX_STYLES:
        raise InputError(f"{path} holds {len(items)} styles; at most {MAX_STYLES} are read")
    built_in = {s.lower() for s in STYLES}
    seen: set[str] = set()
    styles = []
    for where, item in items:
        if not isinstance(item, dict):
            raise InputError(f"{path} {where}: a style must be an object with name, prompt, negative_prompt")
        values = {key: item.get(key) if item.get(key) is not None else "" for key in ("name", "prompt",
                                                                                      "negative_prompt")}
        for key, value in values.items():
            if not isinstance(value, str):
                raise InputError(f"{path} {where}: {key} must be text, got {type(value).__name__}")
            if len(value) > MAX_TEXT_CHARS:
                raise InputError(f"{path} {where}: {key} is longer than {MAX_TEXT_CHARS} characters")
        name = values["name"].strip()
        if not name:
            raise InputError(f"{path} {where}: the style has no name")
        if len(name) > MAX_NAME_CHARS or any(unicodedata.category(c).startswith("C") for c in name):
            raise InputError(f"{path} {where}: style name {name[:40]!r} must be one line of at most "
                             f"{MAX_NAME_CHARS} printable characters")
        if name.lower() in built_in:
            raise InputError(f"{path} {where}: {name!r} is a built-in style name; rename the style")
        if name in seen:
            raise InputError(f"{path} {where}: style {name!r} appears twice; keep one")
        seen.add(name)
        styles.append(UserStyle(name, values["prompt"], values["negative_prompt"]))
    return styles


# ---- writing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ImportReport:
    path: Path  # where the styles now live
    added: list[str]
    replaced: list[str]


def import_styles(source: Path | str, folder: Path | None = None) -> ImportReport:
    """Check `source` whole, then merge its styles into `folder/imported.json` (atomically)."""
    new = read_styles(source)
    folder = styles_dir() if folder is None else folder
    target = folder / IMPORT_FILE
    current = {s.name: s for s in read_styles(target)} if target.is_file() else {}
    replaced = [s.name for s in new if s.name in current]
    added = [s.name for s in new if s.name not in current]
    current.update({s.name: s for s in new})
    if len(current) > MAX_STYLES:
        raise InputError(f"{target} would hold {len(current)} styles; at most {MAX_STYLES}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {folder}: {exc.strerror}") from None
    atomic_write(target, format_styles(list(current.values()), "styler"))
    return ImportReport(target, added, replaced)


def format_styles(styles: list[UserStyle], fmt: Literal["a1111", "styler"]) -> str:
    """`styles` as an A1111 styles.csv or a Styler / Fooocus JSON list."""
    if fmt == "styler":
        items = [{"name": s.name, "prompt": s.prompt, "negative_prompt": s.negative_prompt} for s in styles]
        return json.dumps(items, ensure_ascii=False, indent=2) + "\n"
    if fmt == "a1111":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["name", "prompt", "negative_prompt"])
        writer.writerows([s.name, s.prompt, s.negative_prompt] for s in styles)
        return buffer.getvalue()
    raise InputError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")


def export_styles(target: Path | str, fmt: Literal["a1111", "styler"], folder: Path | None = None) -> int:
    """Write the user's styles to `target` in `fmt` (atomically); how many were written."""
    styles = list(load_user_styles(folder).values())
    text = format_styles(styles, fmt)
    target = Path(target)
    if not target.parent.is_dir():
        raise InputError(f"cannot write {target}: folder {target.parent} does not exist")
    atomic_write(target, text)
    return len(styles)
