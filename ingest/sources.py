"""Prompt sources: a local file -> batches of raw row dicts.

`open_source(path)` checks the file up front (exists, known format, not empty, has a prompt
column) and raises SourceError naming the file and the fix; `Source.batches(skip, limit)`
then streams lists of dicts with the keys in ROW_KEYS (missing settings are None).

`image` is where the row's example image is, as an index.images locator: DiffusionDB tables give
it through `part_id` + `image_name` (`diffusiondb:<2m|large>:<part>:<name>`; the Large set is
told by its table's file name or its WebP names); other tables through an `image`, `image_url`
or `image_path` column (http(s) URLs kept as they are; paths only with an image file extension,
relative ones made absolute against the source file's folder; anything else, e.g. another
system's image id, is no locator). Nothing is fetched or checked here (index/images/ does that on demand).

Formats: Parquet (DiffusionDB metadata or any table with a prompt column; only the needed
columns are read, one record batch at a time, so memory does not grow with the file), CSV/TSV,
JSON Lines, a JSON array (of objects or strings; loaded whole, so use JSON Lines for big files),
and plain text (one prompt per line).
Text is decoded as UTF-8 with invalid bytes replaced by U+FFFD, which the normaliser then drops
and counts, so one bad byte in a huge file costs one row, not the run.

Deliberately not here: cleaning, de-duplication, NSFW filtering (see normalize / pipeline),
downloading (see download).
"""

from __future__ import annotations

import csv
import itertools
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import SourceError
from index.images.locators import diffusiondb_locator, diffusiondb_subset
from ingest.diffusiondb import SAMPLER_NAMES, sampler_name
from ingest.image_folder import COLUMNS as FOLDER_COLUMNS
from ingest.image_folder import FolderScan

ROW_KEYS = ("prompt", "seed", "steps", "cfg", "sampler", "width", "height", "prompt_nsfw", "image_nsfw", "image")
DIFFUSIONDB_IMAGE_KEYS = ("part_id", "image_name")  # read together, turned into `image`
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp", ".tif", ".tiff"})

# Accepted column names (case-insensitive), best first.
ALIASES: dict[str, tuple[str, ...]] = {
    "prompt": ("prompt", "text", "caption", "prompt_text", "positive_prompt", "description", "content"),
    "seed": ("seed",),
    "steps": ("step", "steps", "num_step", "num_steps", "num_inference_steps"),
    "cfg": ("cfg", "cfg_scale", "guidance_scale", "guidance"),
    "sampler": ("sampler", "sampler_name", "scheduler"),
    "width": ("width",),
    "height": ("height",),
    "prompt_nsfw": ("prompt_nsfw",),
    "image_nsfw": ("image_nsfw",),
    "image": ("image", "image_url", "image_path"),
    "part_id": ("part_id",),
    "image_name": ("image_name",),
}
FORMATS = {
    ".parquet": "parquet",
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".txt": "text",
}
INT_KEYS = ("seed", "steps", "width", "height")
FLOAT_KEYS = ("cfg", "prompt_nsfw", "image_nsfw")

csv.field_size_limit(16 * 1024 * 1024)  # long prompts are dropped by the normaliser, not by csv


def _to_int(value: object) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) else None


def _to_float(value: object) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def map_columns(names: list[str], where: str) -> dict[str, str]:
    """Our key -> the source's column name, for the columns present. Needs a prompt column."""
    lower = {}
    for name in names:
        lower.setdefault(str(name).strip().lower(), name)
    mapping = {}
    for key, aliases in ALIASES.items():
        for alias in aliases:
            if alias in lower:
                mapping[key] = lower[alias]
                break
    if "image" in mapping or not all(key in mapping for key in DIFFUSIONDB_IMAGE_KEYS):
        for key in DIFFUSIONDB_IMAGE_KEYS:  # an explicit image column wins; one of the pair is no use
            mapping.pop(key, None)
    if "prompt" not in mapping:
        shown = ", ".join(map(str, names[:12])) or "(none)"
        raise SourceError(
            f"{where} has no prompt column (columns: {shown}); name the column holding the prompts "
            f"one of: {', '.join(ALIASES['prompt'])}."
        )
    return mapping


def image_locator(value: object, folder: Path | None) -> str | None:
    """An image column's value as a locator: URLs and diffusiondb: locators as they are, a relative
    path joined to the source file's `folder`; None for empty values."""
    if isinstance(value, dict):  # a Hugging Face `Image` feature: {"bytes": ..., "path": ...}
        value = value.get("path")
    if not isinstance(value, (str, Path)):  # numbers, embedded bytes, lists: no locator
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.lower().startswith(("http://", "https://", "diffusiondb:", "file://")):
        return text
    path = Path(text).expanduser()
    if path.suffix.lower() not in IMAGE_SUFFIXES:  # an id of some other system (ImageReward's "000044-0048")
        return None
    return str(path if path.is_absolute() or folder is None else (folder / path).resolve())


def diffusiondb_images(part_ids: list, image_names: list, source_name: str) -> list[str | None]:
    """The locators of DiffusionDB rows from their part_id and image_name (None where unusable)."""
    images: list[str | None] = []
    for part, name in zip(part_ids, image_names):
        try:
            images.append(diffusiondb_locator(diffusiondb_subset(str(name or ""), source_name), part, name))
        except ValueError:
            images.append(None)
    return images


def to_row(record: dict, mapping: dict[str, str], folder: Path | None = None, source_name: str = "") -> dict:
    """One source record -> a row dict with typed settings (unparseable values become None)."""
    row = {key: None for key in ROW_KEYS}
    for key, column in mapping.items():
        if key in ROW_KEYS:
            row[key] = record.get(column)
    prompt = row["prompt"]
    row["prompt"] = prompt if isinstance(prompt, str) or prompt is None else str(prompt)
    for key in INT_KEYS:
        row[key] = _to_int(row[key])
    for key in FLOAT_KEYS:
        row[key] = _to_float(row[key])
    row["sampler"] = sampler_name(row["sampler"])
    row["image"] = image_locator(row["image"], folder)
    if row["image"] is None and "image" in mapping:  # records may name their image in another alias column
        row["image"] = next((loc for name, value in record.items() if str(name).strip().lower() in ALIASES["image"]
                             and (loc := image_locator(value, folder)) is not None), None)
    if "part_id" in mapping:
        row["image"] = diffusiondb_images([record.get(mapping["part_id"])], [record.get(mapping["image_name"])],
                                          source_name)[0]
    return row


def _convert(key: str, column) -> list:
    """One Arrow column -> Python values of our row type for `key`."""
    import pyarrow.types as pat

    kind = column.type
    values = column.to_pylist()
    if key == "sampler":
        if pat.is_integer(kind):
            return [SAMPLER_NAMES.get(v) if v is not None else None for v in values]
        return [sampler_name(v) for v in values]
    if key in INT_KEYS and not pat.is_integer(kind):
        return [_to_int(v) for v in values]
    if key in FLOAT_KEYS:
        if pat.is_floating(kind):
            return [v if v is None or math.isfinite(v) else None for v in values]
        return [_to_float(v) for v in values]
    if key == "prompt" and not pat.is_string(kind) and not pat.is_large_string(kind):
        return [v if v is None else str(v) for v in values]
    return values


@dataclass
class Source:
    """A checked, readable prompt source."""

    path: Path
    kind: str
    mapping: dict[str, str] = field(default_factory=dict)
    total_rows: int | None = None  # known up front for Parquet only

    def batches(self, skip: int = 0, limit: int | None = None, batch_rows: int = 50_000) -> Iterator[list[dict]]:
        """Rows skip .. limit-1 of the source, in order, as lists of at most batch_rows dicts."""
        stop = limit if limit is not None else None
        if stop is not None and skip >= stop:
            return
        reader = self._parquet_rows if self.kind == "parquet" else self._text_records
        position = skip
        for batch in reader(skip, batch_rows):
            if stop is not None and position + len(batch) > stop:
                batch = batch[: stop - position]
            position += len(batch)
            if batch:
                yield batch
            if stop is not None and position >= stop:
                return

    def count_rows(self, limit: int | None = None) -> int:
        """How many rows `batches(limit=limit)` yields: Parquet's metadata, else one pass over the file
        that parses no more than it must (lines for JSON Lines and text, so a malformed line is found
        by whoever reads it, as in `batches`)."""
        if self.total_rows is not None:
            return self.total_rows if limit is None else min(self.total_rows, limit)
        if self.kind in ("jsonl", "text"):
            with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as handle:
                rows = (line for line in handle if self.kind == "text" or line.strip())
                return sum(1 for _ in itertools.islice(rows, limit))
        return sum(1 for _ in itertools.islice(self._records(), limit))

    # -- parquet: only the mapped columns, one record batch at a time --------------------
    def _parquet_rows(self, skip: int, batch_rows: int) -> Iterator[list[dict]]:
        import pyarrow.parquet as pq

        pf = pq.ParquetFile(self.path)
        first_group, offset = 0, skip
        while first_group < pf.num_row_groups and offset >= pf.metadata.row_group(first_group).num_rows:
            offset -= pf.metadata.row_group(first_group).num_rows
            first_group += 1
        groups = list(range(first_group, pf.num_row_groups))
        if not groups:
            return
        columns = list(dict.fromkeys(self.mapping.values()))
        keys = [key for key in self.mapping if key in ROW_KEYS]
        base = dict.fromkeys(ROW_KEYS)
        for record_batch in pf.iter_batches(batch_size=batch_rows, row_groups=groups, columns=columns):
            if offset:
                cut = min(offset, record_batch.num_rows)
                record_batch, offset = record_batch.slice(cut), offset - cut
                if record_batch.num_rows == 0:
                    continue
            # Column-wise conversion: typed Arrow columns need no per-value parsing.
            values = [_convert(key, record_batch.column(self.mapping[key])) for key in keys]
            row_keys = keys
            if "image" in self.mapping:
                at = keys.index("image")
                values[at] = [image_locator(v, self.path.parent) for v in values[at]]
            elif "part_id" in self.mapping:
                column = record_batch.column
                values.append(diffusiondb_images(column(self.mapping["part_id"]).to_pylist(),
                                                 column(self.mapping["image_name"]).to_pylist(), self.path.name))
                row_keys = [*keys, "image"]
            yield [{**base, **dict(zip(row_keys, row))} for row in zip(*values)]

    # -- text formats ------------------------------------------------------------------------
    def _text_records(self, skip: int, batch_rows: int) -> Iterator[list[dict]]:
        batch: list[dict] = []
        for index, record in enumerate(self._records()):
            if index < skip:
                continue
            batch.append(to_row(record, self.mapping, self.path.parent, self.path.name))
            if len(batch) >= batch_rows:
                yield batch
                batch = []
        if batch:
            yield batch

    def _records(self) -> Iterator[dict]:
        if self.kind == "folder":
            yield from FolderScan(self.path).records()
            return
        with open(self.path, encoding="utf-8-sig", errors="replace", newline="") as handle:
            if self.kind in ("csv", "tsv"):
                reader = csv.DictReader(handle, delimiter="\t" if self.kind == "tsv" else ",")
                try:
                    yield from reader
                except csv.Error as exc:
                    raise SourceError(f"{self.path}: malformed CSV near line {reader.line_num}: {exc}") from None
            elif self.kind == "jsonl":
                for number, line in enumerate(handle, 1):
                    if line.strip():
                        yield _json_record(line, f"{self.path} line {number}")
            elif self.kind == "json":
                for item in _load_json_array(self.path, handle):
                    yield item if isinstance(item, dict) else {"prompt": item}
            else:
                for line in handle:
                    yield {"prompt": line}


def _json_record(line: str, where: str) -> dict:
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where} is not valid JSON ({exc.msg}); fix or remove that line.") from None
    return item if isinstance(item, dict) else {"prompt": item}


def _load_json_array(path: Path, handle) -> list:
    try:
        data = json.load(handle)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    if not isinstance(data, list):
        raise SourceError(f"{path} must hold a JSON array of prompts or objects, got {type(data).__name__}.")
    return data


PEEK_ROWS = 100  # records read for the column names of a JSON / JSON Lines source


def _peek_columns(path: Path, kind: str) -> list[str]:
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as handle:
        if kind in ("csv", "tsv"):
            header = next(csv.reader(handle, delimiter="\t" if kind == "tsv" else ","), None)
            return [h for h in header or [] if h]
        if kind == "jsonl":  # the keys of the first PEEK_ROWS records, as for a JSON array (optional keys
            found: dict[str, None] = {}  # such as image_path may be missing from the first line)
            records = 0
            for number, line in enumerate(handle, 1):
                if line.strip():
                    found.update(dict.fromkeys(_json_record(line, f"{path} line {number}")))
                    records += 1
                    if records == PEEK_ROWS:
                        break
            return list(found)
        data = _load_json_array(path, handle)
        names: dict[str, None] = {}
        for item in data[:PEEK_ROWS]:
            names.update(dict.fromkeys(item if isinstance(item, dict) else ["prompt"]))
        return list(names)


def open_source(path: Path) -> Source:
    """Check a local source file and work out its format and columns."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"source file not found: {path}; pass an existing file or a URL.")
    if path.is_dir():  # the user's own pictures: their recipes are the rows (ingest/image_folder.py)
        if not FolderScan(path).images():
            raise SourceError(f"folder {path} holds no .png / .jpg / .webp pictures; pass a folder of generated "
                              "images (A1111, ComfyUI or promptrag metadata) or a prompt file.")
        return Source(path, "folder", map_columns(list(FOLDER_COLUMNS), str(path)))
    if not path.is_file():
        raise SourceError(f"source {path} is not a file; pass a Parquet/CSV/JSONL/JSON/text file.")
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise SourceError(
            f"unsupported source format {path.suffix or '(no extension)'!r} for {path}; "
            f"use one of {', '.join(sorted(FORMATS))}."
        )
    if path.stat().st_size == 0:
        raise SourceError(f"source file {path} is empty; pass a file with prompts in it.")
    if kind == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            pf = pq.ParquetFile(path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise SourceError(f"{path} is not a readable Parquet file ({exc}).") from None
        mapping = map_columns(pf.schema_arrow.names, str(path))
        return Source(path, kind, mapping, total_rows=pf.metadata.num_rows)
    if kind == "text":
        return Source(path, kind, {"prompt": "prompt"})
    columns = _peek_columns(path, kind)
    if not columns:
        raise SourceError(f"source file {path} has no rows or header; pass a file with prompts in it.")
    return Source(path, kind, map_columns(columns, str(path)))
