"""The machine's shared ONNX exports: one copy of each model (and quantization) for every index.

An export is ~90 MB for MiniLM against a few MB of vectors and rows for a small index, so
indexes no longer carry their own: `$PROMPTRAG_HOME/onnx/<key>/` holds it once, with
`export.json` (the export's entry: model, tokenizer settings, the cosine measured against torch,
quantization, each file's size and sha256) and the files under `onnx/`. <key> is the first 16 hex
digits of sha256(canonical model id), plus `-int8` for the quantized variant.

- `ensure_export(model_id, quantization)` → (directory, info): the cached export, written and
  checked now when missing. "none": the torch export of onnx_export.write_export, checked at
  cosine ≥ MIN_COSINE. "int8": `onnxruntime.quantization.quantize_dynamic` of that export
  (per-channel int8 weights: per-tensor scales cost ~4 points of cosine on MiniLM), its worst
  cosine with torch measured, recorded and required ≥ INT8_MIN_COSINE. A whole export or none:
  written to a temporary directory, renamed into place.
- `index_entry(...)`: what an index's manifest records (`extra["onnx_embedder"]`): location
  "cache" with the key and every file's checksum, or — `bundle`, for `promptrag ingest
  --portable` — location "index" with the files copied into the index's `onnx/` folder.
- `load_for_index(index_dir, manifest)`: the query embedder the index records, from the index or
  the cache, checked against the checksums *the index* recorded. A missing cached export is
  exported again (deterministic: same torch, same bytes) when sentence-transformers is
  installed, else an IndexLoadError says what to do. Indexes from before the cache (their own
  copy, no location) load as before.

Deliberately not here: exporting and checking against torch (onnx_export.py), static
(calibrated) quantization, deleting exports no index uses any more.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from pathlib import Path
from typing import Any

from core.errors import IndexLoadError, InputError
from core.settings import get_settings
from index import onnx_export
from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder, canonical_model_id, load_embedder
from index.manifest import fsync_path

log = logging.getLogger(__name__)

QUANTIZATIONS = ("none", "int8")
# int8 because it keeps recall@10 within 0.5 points of fp32 on ideas nothing was tuned on (dense
# +0.3 / -0.1, hybrid equal) and ingests ~1.7x faster (issue 22 §1; benchmarks/README.md, "Ingest speed").
DEFAULT_QUANTIZATION = "int8"
INT8_MIN_COSINE = 0.95  # a broken quantization, not the ~0.97-0.99 that per-channel int8 gives
CACHE_INFO = "export.json"
_KEY = re.compile(r"[0-9a-f]{16}(-int8)?")


def check_quantization(quantization: str) -> str:
    if quantization not in QUANTIZATIONS:
        raise InputError(f"quantize must be one of {', '.join(QUANTIZATIONS)}, got {quantization!r}")
    return quantization


def cache_key(model_id: str, quantization: str = "none") -> str:
    digest = hashlib.sha256(canonical_model_id(model_id).encode("utf-8")).hexdigest()[:16]
    return digest if check_quantization(quantization) == "none" else f"{digest}-{quantization}"


def cache_root() -> Path:
    return get_settings().home / "onnx"


def cache_dir(model_id: str, quantization: str = "none") -> Path:
    """Where this machine keeps the export of `model_id` ($PROMPTRAG_HOME/onnx/<key>)."""
    return cache_root() / cache_key(model_id, quantization)


def _read_info(target: Path) -> dict[str, Any] | None:
    path = target / CACHE_INFO
    if not path.is_file():
        return None
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise IndexLoadError(f"{path} is corrupted ({exc}); delete {target} so it is exported again") from None
    if not isinstance(info, dict) or not isinstance(info.get("files"), dict):
        raise IndexLoadError(f"{path} is corrupted (no file list); delete {target} so it is exported again")
    return info


def ensure_export(model_id: str, quantization: str = "none") -> tuple[Path, dict[str, Any]]:
    """(directory, info) of the cached export, written and checked first when missing.

    Raises onnx_export.UnsupportedModel, ImportError (no torch / onnx to export with) or
    RuntimeError (the check against torch failed) when it cannot be written.
    """
    target = cache_dir(model_id, quantization)
    info = _read_info(target)
    if info is not None:
        return target, info
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if quantization == "none":
            info = onnx_export.write_export(staging, model_id)
        else:
            info = _write_quantized(staging, model_id, quantization)
        (staging / CACHE_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        if target.is_dir() and _read_info(target) is None:  # a folder left without its export.json
            shutil.rmtree(target)
        try:
            os.replace(staging, target)  # a whole export or none
        except OSError:
            if _read_info(target) is None:  # else another process won the race: same export
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target, _read_info(target) or {}


def _write_quantized(staging: Path, model_id: str, quantization: str) -> dict[str, Any]:
    """Dynamic int8 of the cached fp32 export into `staging`, checked against the torch model."""
    import onnxruntime
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, base = ensure_export(model_id, "none")
    (staging / onnx_export.EXPORT_DIR).mkdir(parents=True)
    model_path, tokenizer_path = staging / onnx_export.MODEL_FILE, staging / onnx_export.TOKENIZER_FILE
    quiet = _DropRootAdvice()  # onnxruntime logs "consider pre-processing" on the root logger: no use here
    logging.getLogger().addFilter(quiet)
    try:
        quantize_dynamic(source / onnx_export.MODEL_FILE, model_path, weight_type=QuantType.QInt8, per_channel=True)
    finally:
        logging.getLogger().removeFilter(quiet)
    shutil.copyfile(source / onnx_export.TOKENIZER_FILE, tokenizer_path)
    info = {k: v for k, v in base.items() if k not in ("files", "min_cosine")}
    info |= {"quantization": quantization, "quantized_with": f"onnxruntime {onnxruntime.__version__}"}
    reference = load_embedder(model_id)
    if not isinstance(reference, SentenceTransformerEmbedder):  # the check compares against torch
        raise onnx_export.UnsupportedModel(f"{type(reference).__name__} is not a sentence-transformers model")
    candidate = OnnxEmbedder(model_path, tokenizer_path.read_text(encoding="utf-8"), **onnx_export.embedder_args(info))
    info["min_cosine"] = onnx_export.check_export(candidate, reference, reference._model.tokenizer,
                                                  info["max_seq_length"], min_cosine=INT8_MIN_COSINE)
    info["files"] = onnx_export.file_entries(staging, [onnx_export.MODEL_FILE, onnx_export.TOKENIZER_FILE])
    return info


class _DropRootAdvice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def quantization_of(info: dict[str, Any] | None) -> str:
    """The quantization an export entry records (entries from before int8 are fp32: "none")."""
    return (info or {}).get("quantization", "none")


def index_entry(model_id: str, quantization: str) -> dict[str, Any]:
    """The manifest entry of an index that uses the shared export (written now if missing)."""
    target, info = ensure_export(model_id, quantization)
    return {**info, "quantization": quantization, "location": "cache", "cache_key": target.name}


def bundle(entry: dict[str, Any], index_dir: Path) -> dict[str, Any]:
    """Copy the shared export `entry` names into `index_dir` (a portable index); the new entry."""
    source = cache_root() / entry["cache_key"]
    onnx_export.check_files(source, entry, fix=f"delete {source} so it is exported again")
    (index_dir / onnx_export.EXPORT_DIR).mkdir(exist_ok=True)
    for name in entry["files"]:
        shutil.copyfile(source / name, index_dir / name)
        fsync_path(index_dir / name)
    fsync_path(index_dir / onnx_export.EXPORT_DIR)
    return {k: v for k, v in entry.items() if k not in ("location", "cache_key")} | {"location": "index"}


# ---- query side ------------------------------------------------------------------------------
def load_for_index(index_dir: Path, manifest: Any, *, for_batches: bool = False) -> Any | None:
    """The OnnxEmbedder an index records (None: it records none, or onnxruntime is missing)."""
    info = manifest.extra.get(onnx_export.MANIFEST_KEY) if isinstance(manifest.extra, dict) else None
    if not info or info.get("location", "index") == "index":
        return onnx_export.load_export(index_dir, manifest, for_batches=for_batches)
    if not onnx_export.runtime_available():
        return onnx_export.load_export(index_dir, manifest)  # warns and falls back
    key = info.get("cache_key")
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise IndexLoadError(f"the manifest's {onnx_export.MANIFEST_KEY} entry of {index_dir} is corrupted "
                             f"(cache key {key!r}); {onnx_export.REBUILD_HINT}")
    target = cache_root() / key
    if _read_info(target) is None:
        _rebuild(index_dir, manifest.embedding_model, quantization_of(info), target)
    fix = (f"the shared export was modified or written by another torch / onnxruntime version: delete {target} "
           f"and open the index again to export it anew; if it still differs, rebuild the index "
           f"(`promptrag ingest --restart`) or use a copy made with `promptrag ingest --portable`")
    try:
        return onnx_export.checked_embedder(target, info, manifest.embedding_model, manifest.dimension, fix,
                                            for_batches=for_batches)
    except (KeyError, TypeError) as exc:
        raise IndexLoadError(f"the manifest's {onnx_export.MANIFEST_KEY} entry of {index_dir} is corrupted "
                             f"({exc}); {onnx_export.REBUILD_HINT}") from None


def _rebuild(index_dir: Path, model_id: str, quantization: str, target: Path) -> None:
    """Export a missing shared export again, or say what to do when this machine cannot."""
    log.warning("the shared ONNX export %s that index %s uses is missing: exporting %s again (once per machine)",
                target, index_dir, model_id)
    quantize = "" if quantization == "none" else f" --quantize {quantization}"
    try:
        ensure_export(model_id, quantization)
    except (ImportError, onnx_export.UnsupportedModel, RuntimeError, OSError) as exc:
        raise IndexLoadError(
            f"index {index_dir} needs the shared ONNX export of {model_id!r} ({quantization}) at {target}, which is "
            f"missing and cannot be exported on this machine ({type(exc).__name__}: {exc}): install the ingest "
            f"dependencies (sentence-transformers, torch, onnx) and run `python -m index.onnx_export --cache "
            f"{model_id}{quantize}`, or copy the index together with its export "
            f"(`promptrag ingest --portable`, or `python -m index.onnx_export {index_dir}` where the export exists)"
        ) from None


def ingest_embedder(model_id: str, quantization: str) -> Any:
    """The OnnxEmbedder ingest embeds with: the shared export (written first if missing), tuned for
    batches. Raises what ensure_export raises."""
    target, info = ensure_export(model_id, quantization)
    fix = f"delete {target} so it is exported again"
    return onnx_export.checked_embedder(target, info, model_id, None, fix, for_batches=True)


# ---- Milvus stores: the machine's export is the only one ----------------------------------------
def write_cached_export(model_id: str) -> Path | None:
    """The cached fp32 export of `model_id`, written now if missing; None (with a warning) when the
    model cannot be exported (queries then load sentence-transformers)."""
    try:
        return ensure_export(model_id, "none")[0]
    except (onnx_export.UnsupportedModel, ImportError, RuntimeError, OSError) as exc:
        log.warning("no ONNX query embedder for %s (%s): queries will load sentence-transformers", model_id, exc)
        return None


def load_cached_export(model_id: str) -> OnnxEmbedder | None:
    """The machine's checked fp32 OnnxEmbedder of `model_id`, or None when it has none (or no runtime)."""
    target = cache_dir(model_id)
    fix = f"delete {target} and run `python -m index.onnx_export --cache {model_id}` to write it again"
    if not (target / CACHE_INFO).is_file() or not onnx_export.runtime_available():
        return None
    try:
        info = json.loads((target / CACHE_INFO).read_text(encoding="utf-8"))
        return onnx_export.checked_embedder(target, info, model_id, None, fix)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexLoadError(f"{target / CACHE_INFO} is corrupted ({exc}); {fix}") from None
