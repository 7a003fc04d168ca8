"""One way pydantic options become user-facing errors: `validated(model, what, **values)`.

Options are pydantic models at every boundary (CLI flags, the app's forms, library calls). When
values do not fit, the user sees one `InputError` line naming each bad field, what is wrong and
the value given: "invalid image options: width: width must be a multiple of 8, got 500 (got 500)".

Deliberately not here: messages tailored to one form (campaign briefs list the allowed fields,
the Evaluate page uses its widgets' labels); those format `ValidationError.errors()` themselves.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import InputError

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], what: str, /, **values: Any) -> M:
    """`model(**values)`, or one InputError "invalid {what}: field: problem (got value); ...".

    Positional-only, so an options model may have fields named `model` or `what`."""
    try:
        return model(**values)
    except ValidationError as exc:
        raise InputError(f"invalid {what}: {describe(exc)}") from None


def describe(exc: ValidationError) -> str:
    """Each problem of `exc` as "field: what is wrong (got value)", joined by "; "."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "value"
        message = err["msg"].removeprefix("Value error, ")
        got = "" if err["type"] == "missing" else f" (got {err.get('input')!r:.80})"
        parts.append(f"{where}: {message}{got}")
    return "; ".join(parts)
