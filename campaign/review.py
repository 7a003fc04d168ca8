"""Reviewing a campaign run: approve / reject each variant, and the approved set as one ZIP.

Verdicts live in `OUT/review.json` next to the run's other files, so they survive the page,
the server and a re-run, and any session that opens the run sees the same ones:

    {"version": 1, "reviews": {"<variant_id>": "approved" | "rejected", ...}, "updated_at": "..."}

Two sessions may click at the same moment: every change is a read-modify-write of the whole
file under an exclusive `fcntl.flock` on `OUT/review.lock`, and the new file is written to a
temporary name and published with `os.replace`, so a reader never sees half a file and no
click is lost.

`approved_zip(out_dir)` packs the approved variants' PNGs (`images/<id>.png`) and a
`manifest.csv` + `manifest.json` of just those variants. Variant ids come from a page (and
thus from a user); they are checked against a strict pattern and must name a variant of the
run, so no id can reach outside the run directory.

Deliberately not here: who reviewed (there are no users), re-rolling (jobs.py clears the
verdict of a re-rolled variant through `set_review(..., None)`).
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from campaign.outputs import CSV_COLUMNS, manifest_rows
from campaign.variant import read_variants
from core.errors import InputError
from core.files import atomic_write, exclusive_lock

REVIEW_FILE = "review.json"
LOCK_FILE = "review.lock"
VERDICTS = ("approved", "rejected")
Verdict = Literal["approved", "rejected"]

# Ids the runner makes look like "v007" or "v007-2"; anything with a slash, a backslash, a
# leading dot or other oddities is refused before it is joined to a path.
_VARIANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def check_variant_id(variant_id: str) -> str:
    """`variant_id` if it is a plain id (letters, digits, '-', '_'), else InputError."""
    if not isinstance(variant_id, str) or not _VARIANT_ID.fullmatch(variant_id):
        raise InputError(f"variant id must be letters, digits, '-' or '_' (like v007), got {variant_id!r}")
    return variant_id


def _known_variant(out_dir: Path, variant_id: str) -> bool:
    return (out_dir / "variants" / f"{check_variant_id(variant_id)}.json").is_file()


def _locked(out_dir: Path):
    """An exclusive lock on the run's review file (between threads and processes alike)."""
    return exclusive_lock(out_dir / LOCK_FILE)


def _read(out_dir: Path) -> dict[str, str]:
    path = out_dir / REVIEW_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable review file ({exc}); "
                         "delete it to start the review over") from exc
    found = data.get("reviews", {}) if isinstance(data, dict) else {}
    return {str(k): v for k, v in found.items() if v in VERDICTS and _VARIANT_ID.fullmatch(str(k))}


def _write(out_dir: Path, verdicts: dict[str, str]) -> None:
    payload = {"version": 1, "reviews": dict(sorted(verdicts.items())),
               "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    # ".part", not ".tmp": a starting runner sweeps OUT/.*.tmp (left by a killed run) and
    # must not take a file this process is still writing.
    atomic_write(out_dir / REVIEW_FILE, json.dumps(payload, indent=2), tmp_suffix=".part")


def _run_dir(out_dir: Path | str) -> Path:
    path = Path(out_dir)
    if not path.is_dir():
        raise InputError(f"campaign run directory {path} does not exist")
    return path


def set_review(out_dir: Path | str, variant_id: str, verdict: Verdict | None) -> None:
    """Record `verdict` for one variant of the run in `out_dir` (None clears it)."""
    out = _run_dir(out_dir)
    if verdict is not None and verdict not in VERDICTS:
        raise InputError(f"verdict must be one of {', '.join(VERDICTS)} or None, got {verdict!r}")
    if not _known_variant(out, variant_id):
        raise InputError(f"variant {variant_id!r} is not part of the run in {out}")
    with _locked(out):
        verdicts = _read(out)
        if verdict is None:
            if variant_id not in verdicts:
                return
            verdicts.pop(variant_id)
        else:
            verdicts[variant_id] = verdict
        _write(out, verdicts)


def reviews(out_dir: Path | str) -> dict[str, str]:
    """variant id -> "approved" | "rejected" for every variant reviewed so far."""
    out = _run_dir(out_dir)
    return _read(out)  # published by os.replace: a plain read always sees one whole file


# ---- the approved set as a ZIP -----------------------------------------------------------
def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_CSV_FORMULA) else text  # shown as text, never run as a formula


def _image_of(out: Path, variant: Any) -> Path | None:
    """The variant's PNG, if it is a file inside the run's images/ folder (never elsewhere)."""
    if not variant.image_path:
        return None
    images_dir = (out / "images").resolve()
    source = (out / variant.image_path).resolve()
    if source.parent != images_dir or source.suffix.lower() != ".png" or not source.is_file():
        return None
    return source


def approved_zip(out_dir: Path | str) -> bytes:
    """A ZIP of the approved variants: `images/<id>.png` for each one that has an image, and
    `manifest.csv` + `manifest.json` of just them (the run's manifest format, in variant order,
    image paths relative to the ZIP). InputError when nothing is approved yet."""

    out = _run_dir(out_dir)
    verdicts = reviews(out)
    approved = sorted((v for v in read_variants(out) if verdicts.get(v.id) == "approved"), key=lambda v: v.id)
    if not approved:
        raise InputError("no variant of this run is approved yet; approve some before downloading")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for variant in approved:
            source = _image_of(out, variant)
            variant.image_path = f"images/{check_variant_id(variant.id)}.png" if source else None
            if source is not None:
                archive.write(source, variant.image_path)
        summary = {"run": out.name, "approved": len(approved), "variants": [v.to_dict() for v in approved]}
        archive.writestr("manifest.json", json.dumps(summary, ensure_ascii=False, indent=2, default=str))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in manifest_rows(approved):
            writer.writerow({key: _csv_cell(value) for key, value in row.items()})
        archive.writestr("manifest.csv", text.getvalue())
    return buffer.getvalue()
