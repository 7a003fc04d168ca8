"""What a campaign leaves on disk besides its variants: manifest, contact sheet, HTML gallery.

Every file here is written whole to a temporary name in the same directory, fsync'ed, and
renamed over the old one (`core.files.atomic_write`), so a reader (or a SIGKILL) never sees half a file.

- `manifest.json`: the campaign's figures plus every variant's record, in variant-id order;
  `manifest.csv`: one row per variant with the columns a spreadsheet needs. Cells that a
  spreadsheet would run as a formula (starting with = + - @) get a leading apostrophe in the
  CSV only; manifest.json keeps the exact text.
- `contact_sheet.png`: a grid of thumbnails labelled with id and status (a text card with the
  prompt for a variant without an image), for a first look at the whole set.
- `steered_by` (CSV column, gallery line): which audience / message words chose a variant's scene
  and mood, and whether the context reached the writer (the full record: the variant's `steering`).
- `gallery.html`: one self-contained page (inline CSS, no script, images by relative path) that
  opens from disk. Prompts are untrusted (they come from an LLM fed with public prompts): every
  piece of text is HTML-escaped, and a Content-Security-Policy forbids scripts anyway.

Deliberately not here: choosing or reviewing variants (runner.py, review.py), zips.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from core.files import atomic_write

CSV_COLUMNS = ("id", "status", "style", "scene", "mood", "composition", "lighting", "size", "prompt", "negative_prompt",
               "seed", "backend", "model", "image_path", "enhancer", "attempt", "closest", "similarity",
               "problems", "error", "draft_s", "image_s", "total_s", "steered_by")
THUMB = 256
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def write_json(path: Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def manifest_rows(variants: Sequence[Any]) -> list[dict[str, Any]]:
    rows = []
    for v in variants:
        angle = v.angle or {}
        rows.append({
            "id": v.id, "status": v.status, "style": angle.get("style"), "scene": angle.get("scene"),
            "mood": angle.get("mood"), "composition": angle.get("composition"), "lighting": angle.get("lighting"),
            "size": angle.get("size"),
            "prompt": v.prompt, "negative_prompt": v.negative_prompt, "seed": v.seed, "backend": v.backend,
            "model": v.model, "image_path": v.image_path, "enhancer": v.enhancer, "attempt": v.attempt,
            "closest": v.closest, "similarity": v.similarity, "problems": "; ".join(v.problems),
            "error": v.error, "draft_s": v.timings.get("draft_s"), "image_s": v.timings.get("image_s"),
            "total_s": v.timings.get("total_s"), "steered_by": steered_by(getattr(v, "steering", None) or {}),
        })
    return rows


def steered_by(steering: dict[str, Any]) -> str:
    """One cell: which audience / message words chose the scene and the mood, and what the writer was told."""
    parts = [f"{dim}: {', '.join(steering[dim]['chosen_by'])}" for dim in ("scene", "mood")
             if (steering.get(dim) or {}).get("chosen_by")]
    if steering.get("context"):
        told = "passed" if "context" in steering.get("passed_to_writer", ()) else "not passed"
        parts.append(f"context {told}")
    return "; ".join(parts)


def write_manifest(out_dir: Path, summary: dict[str, Any], variants: Sequence[Any]) -> None:
    """manifest.json (summary + every variant record) and manifest.csv, both in variant-id order."""
    ordered = sorted(variants, key=lambda v: v.id)
    write_json(out_dir / "manifest.json", {**summary, "variants": [v.to_dict() for v in ordered]})
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in manifest_rows(ordered):
        writer.writerow({key: _csv_cell(value) for key, value in row.items()})
    atomic_write(out_dir / "manifest.csv", buffer.getvalue())


# -- contact sheet ------------------------------------------------------------------------------

def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _wrap(text: str, width: int, lines: int) -> list[str]:
    import textwrap

    wrapped = textwrap.wrap(text, width=width) or [""]
    return wrapped[:lines - 1] + [wrapped[lines - 1] + " …"] if len(wrapped) > lines else wrapped


def _tile(out_dir: Path, variant: Any):
    from PIL import Image, ImageDraw

    tile = Image.new("RGB", (THUMB, THUMB + 28), "white")
    draw = ImageDraw.Draw(tile)
    picture = out_dir / variant.image_path if variant.image_path else None
    if picture is not None and picture.is_file():
        with Image.open(picture) as image:
            image = image.convert("RGB")
            image.thumbnail((THUMB, THUMB))
            tile.paste(image, ((THUMB - image.width) // 2, (THUMB - image.height) // 2))
    else:
        draw.rectangle([0, 0, THUMB - 1, THUMB - 1], fill=(242, 242, 242))
        for row, line in enumerate(_wrap(variant.prompt or variant.error or "", 34, 14)):
            draw.text((8, 8 + row * 17), line, fill=(40, 40, 40), font=_font(13))
    colour = {"ok": (20, 120, 60), "brand_violation": (190, 110, 0)}.get(variant.status, (180, 30, 30))
    draw.text((6, THUMB + 6), f"{variant.id}  {variant.status}", fill=colour, font=_font(15))
    return tile


def write_contact_sheet(out_dir: Path, variants: Sequence[Any]) -> Path:
    """A grid of every variant (thumbnail or prompt card) labelled with id and status."""
    from PIL import Image

    ordered = sorted(variants, key=lambda v: v.id)
    columns = max(1, min(10, math.ceil(math.sqrt(len(ordered) or 1))))
    rows = max(1, math.ceil(len(ordered) / columns))
    gap = 6
    sheet = Image.new("RGB", (columns * (THUMB + gap) + gap, rows * (THUMB + 28 + gap) + gap), (200, 200, 200))
    for i, variant in enumerate(ordered):
        row, col = divmod(i, columns)
        sheet.paste(_tile(out_dir, variant), (gap + col * (THUMB + gap), gap + row * (THUMB + 28 + gap)))
    path = out_dir / "contact_sheet.png"
    atomic_write(path, lambda handle: sheet.save(handle, format="PNG"))
    return path


# -- HTML gallery -------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#fafafa;color:#222}
h1{margin:0 0 .3rem}.meta{color:#555;margin:.2rem 0}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(280px,1fr));gap:1rem;margin-top:1rem}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.6rem;margin:0}
.card img{width:100%;height:auto;border-radius:4px;display:block}
.noimg{background:#eee;color:#777;padding:2rem;text-align:center;border-radius:4px}
.badge{font-size:.8rem;padding:.1rem .4rem;border-radius:4px;color:#fff;background:#147a3c}
.brand_violation .badge{background:#be6e00}.error .badge{background:#b41e1e}
.angle{color:#555;font-size:.85rem}.prompt{white-space:pre-wrap;word-break:break-word}
.neg{color:#777;font-size:.85rem;white-space:pre-wrap;word-break:break-word}
.problems{color:#9a4a00;font-size:.85rem;padding-left:1.1rem}
"""
_CSP = "default-src 'none'; img-src 'self' file: data:; style-src 'unsafe-inline'"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _card(variant: Any) -> str:
    angle = variant.angle or {}
    described = " · ".join(str(angle[k]) for k in ("style", "scene", "mood", "composition", "lighting", "size")
                          if angle.get(k))
    if variant.image_path:
        src = quote(str(variant.image_path).replace(os.sep, "/"))
        picture = f'<img src="{_e(src)}" alt="{_e(variant.id)}: {_e(variant.prompt)}" loading="lazy">'
    else:
        picture = '<div class="noimg">no image</div>'
    problems = [*variant.problems, *([variant.error] if variant.error else [])]
    listed = "".join(f"<li>{_e(p)}</li>" for p in problems)
    status = variant.status if variant.status in ("ok", "brand_violation", "error") else "error"
    similarity = f" · closest {_e(variant.closest)} at {variant.similarity:.3f}" if variant.closest else ""
    steer = steered_by(getattr(variant, "steering", None) or {})
    return (f'<figure class="card {status}" id="{_e(variant.id)}">{picture}<figcaption>'
            f'<p><b>{_e(variant.id)}</b> <span class="badge">{_e(variant.status)}</span> '
            f'<span class="angle">seed {_e(variant.seed)}{similarity}</span></p>'
            f'<p class="angle">{_e(described)}</p>'
            + (f'<p class="angle">steered by {_e(steer)}</p>' if steer else "")
            + f'<p class="prompt">{_e(variant.prompt)}</p>'
            f'<p class="neg">Negative: {_e(variant.negative_prompt)}</p>'
            + (f'<ul class="problems">{listed}</ul>' if listed else "") + "</figcaption></figure>")


def write_gallery(out_dir: Path, summary: dict[str, Any], variants: Sequence[Any]) -> Path:
    """gallery.html: every variant as a card (image, angle, prompt, negative, problems)."""
    ordered = sorted(variants, key=lambda v: v.id)
    brief = summary.get("brief", {})
    counts = {s: sum(v.status == s for v in ordered) for s in ("ok", "brand_violation", "error")}
    meta = [f"Subject: {brief.get('subject', '')}"]
    meta += [f"{label}: {brief[key]}" for key, label in (("audience", "Audience"), ("message", "Message"))
             if brief.get(key)]
    meta.append(f"{len(ordered)} variants: {counts['ok']} ok, {counts['brand_violation']} brand violations, "
                f"{counts['error']} errors · max pairwise similarity {summary.get('max_pairwise_similarity', 0):.3f} "
                f"(threshold {summary.get('similarity_threshold', 0):.2f})")
    page = ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            '<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{_e(brief.get('name', 'campaign'))} — promptrag campaign</title><style>{_CSS}</style></head>"
            f"<body><h1>{_e(brief.get('name', 'campaign'))}</h1>"
            + "".join(f'<p class="meta">{_e(line)}</p>' for line in meta)
            + '<div class="grid">' + "".join(_card(v) for v in ordered) + "</div></body></html>\n")
    path = out_dir / "gallery.html"
    atomic_write(path, page)
    return path
