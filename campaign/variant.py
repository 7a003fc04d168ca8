"""A campaign's finished variants: the `Variant` record, the run's `CampaignReport`, reading them back.

Each finished variant is one file, `OUT/variants/<id>.json` (`Variant.to_dict`), written by the
runner after its image; a manifest row holds the same fields. `read_variants(out_dir)` reads them
in id order and is safe to call while a run writes (the review, the app and `promptrag batch`
all read a run this way).

This module is light on purpose (no index, no models): pages and the review import it without
loading the runner. Deliberately not here: making variants (runner.py, work.py), the manifest
and gallery formats (outputs.py), verdicts (review.py).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InputError

STATUSES = ("ok", "brand_violation", "error")


@dataclass
class Variant:
    """One finished variant, as in variants/<id>.json and one manifest row."""

    id: str
    angle: dict[str, str]  # style, scene, mood, composition, lighting, size
    prompt: str
    negative_prompt: str
    seed: int | None
    backend: str  # "none" when no image was asked for
    model: str | None
    image_path: str | None  # relative to the campaign folder, e.g. "images/v001.png"
    status: str  # "ok" | "brand_violation" | "error"
    problems: list[str] = field(default_factory=list)
    error: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    attempt: int = 0  # angle draw: 0 = the plan's; re-plans and re-rolls count up
    enhancer: str = ""
    fallback_reasons: dict[str, str] = field(default_factory=dict)
    closest: str | None = None  # the most similar other variant when this one was accepted
    similarity: float | None = None
    idea: str = ""
    notes: list[str] = field(default_factory=list)  # changes made (brand), the assistant's checks
    examples: list[dict[str, Any]] = field(default_factory=list)
    # how the brief steered it: subject kind, the audience / message words that chose its scene and
    # mood, the context / look / artist_credits passed to the writer (steer.steering)
    steering: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Variant:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})


@dataclass
class CampaignReport:
    """What run_campaign leaves: every finished variant (id order) and the diversity figure."""

    out_dir: Path
    variants: list[Variant]
    max_pairwise_similarity: float
    seconds: float

    @property
    def counts(self) -> dict[str, int]:
        return count_statuses(self.variants)


def count_statuses(variants: list[Variant]) -> dict[str, int]:
    """How many variants have each status (every status named, zeros included)."""
    return {status: sum(v.status == status for v in variants) for status in STATUSES}


def read_variants(out_dir: Path) -> list[Variant]:
    """The variants finished in `out_dir` now, in id order (safe to call while a run writes)."""
    folder = Path(out_dir) / "variants"
    if not folder.is_dir():
        return []
    variants = []
    for path in sorted(folder.glob("v*.json")):
        try:
            variants.append(Variant.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except FileNotFoundError:
            continue  # replaced by a re-roll between listing and reading
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path} is not a campaign variant ({exc}); remove it and run again") from None
    return variants
