"""The data that goes into and comes out of a prompt index.

`PromptRecord` is one de-duplicated prompt as ingest hands it over; `SearchHit` is a stored
record plus its id (== FAISS id == SQLite row id) and a score; `SearchFilters` are the
user-facing filters shared by dense and keyword search. A record's `variants` are the other
wordings ingest folded into it (same words in another order or punctuation), each with how often
it occurred: `count` is the total over the stored prompt and all its variants.

Deliberately not here: SQL (see `rows.py`), FAISS (see `ann.py`) and any I/O.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from core.errors import InputError

# Column order shared by the SQLite table, PromptRecord and SearchHit (after id, score).
RECORD_COLUMNS: tuple[str, ...] = (
    "prompt",
    "count",
    "seed",
    "steps",
    "cfg",
    "sampler",
    "width",
    "height",
    "prompt_nsfw",
    "image_nsfw",
    "source",
    "variants",
    "image",
)
MAX_VARIANTS = 20  # most frequent other wordings kept per row; the rest still add to its count


class Variant(NamedTuple):
    """Another wording folded into a stored prompt, and how often it occurred."""

    text: str
    count: int


def variants_to_json(variants: tuple[Variant, ...]) -> str | None:
    """The SQLite form of `variants` (NULL when there are none)."""
    return json.dumps([list(v) for v in variants], ensure_ascii=False) if variants else None


def variants_from_json(value: str | None) -> tuple[Variant, ...]:
    return tuple(Variant(str(t), int(c)) for t, c in json.loads(value)) if value else ()


@dataclass(frozen=True)
class PromptRecord:
    """One de-duplicated prompt and the generation settings it was seen with."""

    prompt: str
    count: int = 1  # how often it occurred in the sources
    seed: int | None = None
    steps: int | None = None
    cfg: float | None = None
    sampler: str | None = None  # name, e.g. "k_euler_ancestral"
    width: int | None = None
    height: int | None = None
    prompt_nsfw: float | None = None
    image_nsfw: float | None = None
    source: str = ""  # where it came from (file name / URL)
    variants: tuple[Variant, ...] = ()  # other wordings folded into this row (see module docstring)
    image: str | None = None  # where its example image is (an index.images locator; None: none known)

    def check(self) -> None:
        """Raise InputError when the record cannot be stored (called by the writer)."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise InputError(f"PromptRecord.prompt must be non-empty text, got {self.prompt!r}")
        if "\x00" in self.prompt:
            raise InputError("PromptRecord.prompt must not contain NUL characters; clean the source text")
        if self.image is not None and (not isinstance(self.image, str) or not self.image.strip()):
            raise InputError(f"PromptRecord.image must be an image locator (text) or None, got {self.image!r}")
        if not isinstance(self.count, int) or self.count < 1:
            raise InputError(f"PromptRecord.count must be an integer >= 1, got {self.count!r}")
        for name in ("cfg", "prompt_nsfw", "image_nsfw"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(float(value)):
                raise InputError(f"PromptRecord.{name} must be a finite number or None, got {value!r}")
        folded = sum(int(v[1]) for v in self.variants)
        if folded >= self.count:
            raise InputError(
                f"PromptRecord.count ({self.count}) must exceed the sum of its variants' counts ({folded}): "
                "count is the total over the prompt and its variants"
            )

    def as_row(self) -> tuple[Any, ...]:
        """The values of RECORD_COLUMNS as stored (variants as JSON text)."""
        return tuple(variants_to_json(self.variants) if name == "variants" else getattr(self, name)
                     for name in RECORD_COLUMNS)


@dataclass(frozen=True)
class SearchHit:
    """A stored prompt found by a search. `score`: cosine similarity (dense) or BM25 (keyword)."""

    id: int
    score: float
    prompt: str
    count: int
    seed: int | None
    steps: int | None
    cfg: float | None
    sampler: str | None
    width: int | None
    height: int | None
    prompt_nsfw: float | None
    image_nsfw: float | None
    source: str
    variants: tuple[Variant, ...] = ()  # other wordings folded into this prompt, most frequent first
    image: str | None = None  # its example image: an index.images locator (None: none known)

    @classmethod
    def from_row(cls, row: tuple[Any, ...], score: float = 0.0) -> SearchHit:
        """`row` is (id, *RECORD_COLUMNS) as selected by rows.py (variants as their JSON text)."""
        values = list(row[1:])
        values[_VARIANTS_AT] = variants_from_json(values[_VARIANTS_AT])
        return cls(int(row[0]), float(score), *values)

    @property
    def record(self) -> PromptRecord:
        return PromptRecord(**{name: getattr(self, name) for name in RECORD_COLUMNS})

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: variants become [{"text", "count"}, ...]."""
        data = asdict(self)
        data["variants"] = [dict(v._asdict()) for v in self.variants]
        return data


assert [f.name for f in fields(SearchHit)][2:] == list(RECORD_COLUMNS)
_VARIANTS_AT = RECORD_COLUMNS.index("variants")


class SearchFilters(BaseModel):
    """Filters applied to both dense and keyword search. Unset fields do not filter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_count: int = Field(default=1, ge=1, description="Only prompts that occurred at least this many times.")
    width: int | None = Field(default=None, ge=1, description="Only prompts generated at this image width (pixels).")
    height: int | None = Field(
        default=None, ge=1, description="Only prompts generated at this image height (pixels)."
    )
    sampler: str | None = Field(
        default=None, min_length=1, description="Only prompts generated with this sampler, e.g. 'k_euler_ancestral'."
    )
    max_prompt_nsfw: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Drop prompts whose prompt NSFW score is above this (rows without a score are kept).",
    )
    max_image_nsfw: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Drop prompts whose image NSFW score is above this (rows without a score are kept).",
    )

    @property
    def active(self) -> bool:
        return self != SearchFilters()

    def to_sql(self, alias: str = "p") -> tuple[str, list[Any]]:
        """A SQL condition (never empty, so it can follow WHERE) and its parameters."""
        clauses: list[str] = [f"{alias}.count >= ?"]
        params: list[Any] = [self.min_count]
        for column in ("width", "height", "sampler"):
            value = getattr(self, column)
            if value is not None:
                clauses.append(f"{alias}.{column} = ?")
                params.append(value)
        # Rows without an NSFW score (e.g. prompt-only sources) are kept: dropping them would
        # silently empty every search on such an index. The Field descriptions say so.
        for column, value in (("prompt_nsfw", self.max_prompt_nsfw), ("image_nsfw", self.max_image_nsfw)):
            if value is not None:
                clauses.append(f"({alias}.{column} IS NULL OR {alias}.{column} <= ?)")
                params.append(value)
        return " AND ".join(clauses), params
