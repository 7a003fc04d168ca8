"""Which embedder an ingest run embeds with (step 5 of ingest/pipeline.py's recipe).

The default is the model's ONNX export: one shared copy per machine, written on first use, fp32
or `--quantize int8` (index/onnx_cache.py), tuned for batches. Without it (PROMPTRAG_ONNX_EXPORT=0,
or a model the export cannot represent, which is logged as a warning) the run embeds with
sentence-transformers, unless it asked for a quantized export, which only ONNX computes: then it
stops with an InputError saying what to change.

- `run_quantization`: the export a run embeds through: --quantize, else the one its target was
  built with (the target decides: ingest/targets.py), else the default;
- `load_run_embedder`: the embedder itself, and how the report names it
  (`IngestReport.embedded_with`: "onnx none", "onnx int8" or "sentence-transformers").

Deliberately not here: loading it once per run and checking its dimension against the target
(pipeline.py), writing and checking the export (index/onnx_export.py, index/onnx_cache.py), how
Ray actors load the same embedder (ray_ingest.recipe_for).
"""

from __future__ import annotations

import logging

from core.errors import InputError
from core.settings import Settings
from index import load_embedder, onnx_cache, onnx_export
from index.embedder import Embedder
from index.manifest import Manifest
from ingest.targets import IngestTarget

log = logging.getLogger(__name__)


def run_quantization(target: IngestTarget, asked: str | None, base_manifest: Manifest | None,
                     settings: Settings) -> str:
    """The export this run embeds through: --quantize (`asked`), else the target's, else the default."""
    quantization = target.quantization(asked, base_manifest, settings.onnx_export)
    if quantization != "none" and not settings.onnx_export:
        raise InputError(f"--quantize {quantization} embeds through the model's ONNX export, which "
                         "PROMPTRAG_ONNX_EXPORT=0 turns off: unset it, or use --quantize none")
    return quantization


def onnx_embedder(model_id: str, quantization: str, settings: Settings) -> Embedder | None:
    """The machine's shared export of the model (written once), or None: sentence-transformers."""
    if not settings.onnx_export:
        return None
    try:
        return onnx_cache.ingest_embedder(model_id, quantization)
    except (onnx_export.UnsupportedModel, ImportError, RuntimeError) as exc:
        if quantization != "none":
            raise InputError(f"--quantize {quantization} needs an ONNX export of {model_id!r}, which cannot "
                             f"be made ({type(exc).__name__}: {exc}): use --quantize none") from exc
        log.warning("embedding with sentence-transformers: no ONNX export of %s (%s: %s)",
                    model_id, type(exc).__name__, exc)
        return None


def load_run_embedder(model_id: str, quantization: str, settings: Settings) -> tuple[Embedder, str]:
    """The run's embedder and how the report names it (`IngestReport.embedded_with`)."""
    embedder = onnx_embedder(model_id, quantization, settings)
    if embedder is None:  # PROMPTRAG_ONNX_EXPORT=0, or a model the export cannot represent
        return load_embedder(model_id), "sentence-transformers"
    return embedder, f"onnx {quantization}"


__all__ = ["load_run_embedder", "onnx_embedder", "run_quantization"]
