"""Dynamic prompts: ``{a|b}``, ``{2$$a|b|c}`` and ``__name__`` wildcards, through `dynamicprompts`.

`expand_prompt(template, seed=..., count=...)` draws `count` prompts at random (the same seed
gives the same prompts, always); `combinatorial=True` lists every combination instead (up to
`max_prompts`). Wildcards are read from ``$PROMPTRAG_HOME/wildcards/`` (or `wildcards_dir`):
``name.txt`` holds one value a line (``#`` starts a comment), a YAML file holds named lists
(``animals: [fox, owl]`` is ``__animals__``); sub-folders give ``__folder/name__``.

A template that does not parse, and a wildcard with no file, is one InputError naming the
fix; nothing is drawn from a half-expanded prompt. Each image records the expanded prompt and
its template (`generate.output.make_recipe(template=...)`; the callers pass it).
Deliberately not here: generating (generate/saving.py), A1111 weights (generate/prompt_syntax.py).
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from core.errors import InputError
from core.settings import get_settings

MAX_PROMPTS = 1000
# A {…|…} choice (closed or not) or a __wildcard__: the signs that a prompt is a template.
_DYNAMIC = re.compile(r"\{[^{}]*\||\{\d*-?\d*\$\$|__[\w./*-]+__")  # unclosed too: it then fails to parse
_WILDCARD = re.compile(r"__([\w./*-]+)__")


def is_dynamic(text: str) -> bool:
    """Whether `text` uses the dynamic-prompts syntax (a {a|b} choice or a __wildcard__)."""
    return bool(_DYNAMIC.search(text))


def wildcards_dir() -> Path:
    return get_settings().home / "wildcards"


def expand_prompt(template: str, *, seed: int | None = None, count: int = 1, combinatorial: bool = False,
                  max_prompts: int = MAX_PROMPTS, folder: Path | None = None) -> list[str]:
    """The prompts `template` stands for: `count` drawn with `seed`, or every combination."""
    try:
        from dynamicprompts.generators import CombinatorialPromptGenerator, RandomPromptGenerator
        from dynamicprompts.wildcards.wildcard_manager import WildcardManager
        from pyparsing import ParseBaseException
    except ImportError:
        raise InputError("dynamic prompts ({a|b}, __wildcards__) need the dynamicprompts package: "
                         "pip install 'promptrag[dynamic]'") from None

    if not 1 <= count <= MAX_PROMPTS:
        raise InputError(f"the number of prompts must be between 1 and {MAX_PROMPTS}, got {count}")
    folder = wildcards_dir() if folder is None else Path(folder)
    manager = WildcardManager(folder)
    _check_wildcards(template, manager, folder)
    try:
        if combinatorial:
            prompts = CombinatorialPromptGenerator(manager).generate(template, max_prompts=max_prompts)
        else:
            seed = secrets.randbelow(2**32) if seed is None else seed
            prompts = RandomPromptGenerator(manager, seed=seed).generate(template, num_images=count)
    except ParseBaseException as exc:
        raise InputError(f"prompt template does not parse at character {exc.loc + 1}: {exc.msg}; "
                         "write choices as {a|b} (or {2$$a|b|c}) and wildcards as __name__") from None
    prompts = [str(p) for p in prompts]
    for prompt in prompts:  # a wildcard file may name another wildcard that does not exist
        _check_wildcards(prompt, manager, folder)
    if not prompts:
        raise InputError(f"prompt template {template[:60]!r} expands to no prompt")
    return prompts


def _check_wildcards(text: str, manager, folder: Path) -> None:
    for name in _WILDCARD.findall(text):
        if ".." in name.split("/") or name.startswith("/"):
            raise InputError(f"wildcard __{name}__ must name a file inside {folder}, not outside it")
        if not manager.get_values(name):
            raise InputError(f"wildcard __{name}__ has no values: add {folder / name}.txt "
                             "(one value a line) or a YAML file listing it")
