"""An ONNX export of an embedding model, so prompts and queries are embedded without torch.

Importing sentence-transformers (torch, transformers, scikit-learn) costs 6–8 s on a small CPU
machine, for a query that needs a few milliseconds of compute, and torch's encode is slower than
ONNX Runtime on CPU for a whole ingest too. Once per machine and model (index/onnx_cache.py keeps
the copy), `write_export(directory, model_id)` exports the model's transformer with mean pooling
and L2 normalisation folded into the graph (what sentence-transformers computes for
all-MiniLM-L6-v2 and the other mean-pooling models) to `onnx/model.onnx`, copies the model's
fast tokenizer to `onnx/tokenizer.json`, and *checks* the export before trusting it: on
PROBE_TEXTS (real DiffusionDB-style prompts of very different lengths, batched so padding and
truncation are exercised) every ONNX vector must have cosine ≥ MIN_COSINE with the torch one
and the token ids must be identical. The returned dict (sizes, sha256, tokenizer settings, the
measured cosine) goes into the index manifest under `extra["onnx_embedder"]`.

`load_export(index_dir, manifest)` loads an export *inside* an index directory (a portable index,
or one from before the shared cache): None when the manifest records no export or onnxruntime /
tokenizers are not installed (the caller falls back to sentence-transformers, and says so), an
`OnnxEmbedder` when the files match their recorded size and sha256, and an IndexLoadError naming
the fix when a recorded file is missing or modified. `checked_embedder` is that check for any
directory (the shared cache uses it too).

`python -m index.onnx_export INDEX_DIR` copies the shared export into an index (portable; also
adds one to an index built without), `--cache MODEL_ID [--quantize int8]` writes the shared one.

Deliberately not here: the shared cache and int8 quantization (onnx_cache.py), models whose
pooling is not mean (CLS / last-token models are refused with UnsupportedModel; their indexes
keep the torch path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import sys
from dataclasses import asdict, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from core.errors import IndexLoadError
from core.files import atomic_write
from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder, canonical_model_id, load_embedder
from index.manifest import (
    FULL_CHECK_BYTES,
    MANIFEST_NAME,
    REBUILD_HINT,
    FileInfo,
    file_info,
    quick_sha256,
    read_manifest,
)

log = logging.getLogger(__name__)

MANIFEST_KEY = "onnx_embedder"
EXPORT_DIR = "onnx"
MODEL_FILE = f"{EXPORT_DIR}/model.onnx"  # the graph, a few hundred KB
WEIGHTS_FILE = f"{EXPORT_DIR}/model.onnx.data"  # its weights as ONNX external data (memory-mapped)
TOKENIZER_FILE = f"{EXPORT_DIR}/tokenizer.json"
EXPORT_FILES = (MODEL_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
MIN_COSINE = 0.999
OPSET = 17
EXPORT_VERSION = 1

# Real prompt shapes: tiny ideas, comma-separated modifier lists, and one longer than the
# model's 256-token window (truncation must match too).
PROBE_TEXTS = [
    "a frog dressed as a knight",
    "cat",
    "portrait of an old fisherman with a white beard, oil painting by rembrandt",
    "cyberpunk city street at night, neon signs, rain, blade runner style, highly detailed, 8k",
    "a cute corgi puppy wearing a tiny astronaut helmet, studio photo",
    "medieval castle on a cliff above a stormy sea, matte painting, artstation, greg rutkowski",
    "Kermit the Frog as Superman",
    "bowl of ramen with steam, food photography, shallow depth of field, bokeh",
    "beautiful lush forest landscape with waterfall, trending on artstation, unreal engine 5, "
    "octane render, volumetric lighting, by makoto shinkai and studio ghibli, 4k wallpaper",
    "ÜBER-détaillé: château 🏰 sous la pluie — ノスタルジア",
    ", ".join(f"intricate detail {i}, sharp focus, concept art by artist number {i}" for i in range(60)),
]


class UnsupportedModel(Exception):
    """The model's pipeline is not transformer → mean pooling → normalise (or has no fast tokenizer)."""


# ---- export (ingest side: torch is loaded) ---------------------------------------------------
def _pipeline_parts(st_model: Any) -> tuple[Any, Any]:
    """(Hugging Face transformer module, HF fast tokenizer) of a mean-pooling sentence-transformer."""
    modules = list(st_model.children())
    names = [type(m).__name__ for m in modules]
    if names[:2] != ["Transformer", "Pooling"] or names[2:] not in ([], ["Normalize"]):
        raise UnsupportedModel(f"pipeline {names} is not Transformer → Pooling → Normalize")
    pooling = modules[1]
    config = pooling.get_config_dict() if hasattr(pooling, "get_config_dict") else {}
    mode = config.get("pooling_mode") or ("mean" if config.get("pooling_mode_mean_tokens") else None)
    if mode != "mean":
        raise UnsupportedModel(f"pooling mode {mode!r} is not mean")
    transformer = modules[0]
    hf_model = getattr(transformer, "auto_model", None) or getattr(transformer, "model", None)
    tokenizer = getattr(st_model, "tokenizer", None)
    if hf_model is None or tokenizer is None or not getattr(tokenizer, "is_fast", False):
        raise UnsupportedModel("no Hugging Face model or no fast tokenizer")
    return hf_model, tokenizer


def _export_graph(hf_model: Any, input_names: list[str], target: Path) -> None:
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            named = dict(zip(input_names, inputs, strict=True))
            hidden = self.model(**named).last_hidden_state
            mask = named["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    # Trace with a padded batch: transformers drops an all-ones attention mask as an
    # optimisation, and a graph traced that way would let padding leak into the mean.
    example = {
        "input_ids": torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]], dtype=torch.long),
        "attention_mask": torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=torch.long),
        "token_type_ids": torch.zeros((2, 4), dtype=torch.long),
    }
    axes = {name: {0: "batch", 1: "sequence"} for name in input_names}
    axes["sentence_embedding"] = {0: "batch"}
    module = MeanPooled(hf_model).eval()
    with torch.no_grad():
        # The TorchScript exporter (dynamo=False) needs only the `onnx` package, not onnxscript.
        torch.onnx.export(
            module,
            tuple(example[name] for name in input_names),
            str(target),
            input_names=input_names,
            output_names=["sentence_embedding"],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def _external_weights(model_path: Path) -> None:
    """Move the weights out of the graph file: onnxruntime memory-maps external data, which
    makes a session start in ~0.2 s instead of ~0.5 s for the same model in one protobuf."""
    import onnx

    graph = onnx.load(str(model_path))
    onnx.save_model(graph, str(model_path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=Path(WEIGHTS_FILE).name, size_threshold=1024)


def write_export(directory: Path, model_id: str) -> dict[str, Any]:
    """Export `model_id` (loaded through index.embedder) into `directory/onnx/` and check it.

    Returns the manifest entry. Raises UnsupportedModel for a model this export cannot
    represent, ImportError when torch's exporter needs the missing `onnx` package, and
    RuntimeError when the check fails (the files are removed then).
    """
    import warnings

    import torch

    reference = load_embedder(model_id)
    if not isinstance(reference, SentenceTransformerEmbedder):
        raise UnsupportedModel(f"{type(reference).__name__} is not a sentence-transformers model")
    st_model = reference._model
    max_seq_length = st_model.max_seq_length
    if max_seq_length is None:  # queries could not be truncated the way the model does
        raise UnsupportedModel("the model sets no max_seq_length")
    hf_model, hf_tokenizer = _pipeline_parts(st_model)
    input_names = [n for n in ("input_ids", "attention_mask", "token_type_ids")
                   if n in getattr(hf_tokenizer, "model_input_names", ["input_ids", "attention_mask"])]
    if "attention_mask" not in input_names:
        input_names.insert(1, "attention_mask")
    out = Path(directory) / EXPORT_DIR
    out.mkdir(parents=True, exist_ok=True)
    model_path, tokenizer_path = Path(directory) / MODEL_FILE, Path(directory) / TOKENIZER_FILE
    paths = [Path(directory) / name for name in EXPORT_FILES]
    for path in paths:
        path.unlink(missing_ok=True)  # onnx appends external data to an existing weights file
    try:
        # 1. the graph, traced on CPU in float32 (the device the ingest ran on does not matter).
        original_device = next(hf_model.parameters()).device
        hf_model.to("cpu")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tracer warnings about Python bools in transformers
                _export_graph(hf_model, input_names, model_path)
        finally:
            hf_model.to(original_device)
        _external_weights(model_path)
        # 2. the tokenizer, as the fast tokenizer holds it (normaliser, word pieces, specials).
        # Without the truncation / padding state transformers leaves on it after a call (OnnxEmbedder
        # sets its own): the file must be the same bytes whenever the model is exported again.
        tokenizer_data = json.loads(hf_tokenizer.backend_tokenizer.to_str())
        tokenizer_data["truncation"] = tokenizer_data["padding"] = None
        tokenizer_path.write_text(json.dumps(tokenizer_data, ensure_ascii=False), encoding="utf-8")
        mode = stat.S_IMODE(tokenizer_path.stat().st_mode)  # the umask's mode, as the index's other files
        for path in paths:
            os.chmod(path, mode)  # onnx writes its external data file owner-only
        info: dict[str, Any] = {
            "version": EXPORT_VERSION,
            "model_id": reference.model_id,
            "dimension": reference.dimension,
            "max_seq_length": int(max_seq_length),
            "pad_token": str(hf_tokenizer.pad_token),
            "input_names": input_names,
            "opset": OPSET,
            "exported_with": f"torch {torch.__version__}",
        }
        # 3. check it against the torch model before anything trusts it.
        tokenizer_json = tokenizer_path.read_text(encoding="utf-8")
        candidate = OnnxEmbedder(model_path, tokenizer_json, **embedder_args(info))
        info["min_cosine"] = check_export(candidate, reference, hf_tokenizer, info["max_seq_length"])
        info["quantization"] = "none"
        info["files"] = file_entries(Path(directory), EXPORT_FILES)
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return info


def file_entries(directory: Path, names: Any) -> dict[str, dict[str, Any]]:
    """{relative name: size and checksums} of an export's files, as the manifest records them."""
    return {name: asdict(file_info(directory / name)) for name in names}


def check_export(candidate: Any, reference: Any, hf_tokenizer: Any, max_seq_length: int,
                 min_cosine: float = MIN_COSINE) -> float:
    """Min cosine of `candidate` and `reference` vectors on PROBE_TEXTS (RuntimeError below `min_cosine`)."""
    ours = candidate._tokenizer.encode_batch(PROBE_TEXTS)
    theirs = hf_tokenizer(PROBE_TEXTS, truncation=True, max_length=max_seq_length)["input_ids"]
    for text, mine, expected in zip(PROBE_TEXTS, ours, theirs, strict=True):
        if [i for i, m in zip(mine.ids, mine.attention_mask, strict=True) if m] != list(expected):
            raise RuntimeError(f"ONNX export check failed: tokenizer.json splits {text[:40]!r} differently")
    # batches of mixed length (padding) and one text at a time (no padding) must both agree.
    a = np.vstack([candidate.embed_batch(PROBE_TEXTS), candidate.embed_batch(PROBE_TEXTS[:1])])
    b = np.vstack([reference.embed_batch(PROBE_TEXTS), reference.embed_batch(PROBE_TEXTS[:1])])
    worst = float(np.min(np.sum(a * b, axis=1)))
    if not worst >= min_cosine:
        raise RuntimeError(f"ONNX export check failed: cosine {worst:.5f} with torch is below {min_cosine}")
    return round(worst, 6)


# ---- loading (query side: no torch) ----------------------------------------------------------
def embedder_args(info: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_id": info["model_id"],
        "dimension": info["dimension"],
        "max_seq_length": info["max_seq_length"],
        "pad_token": info["pad_token"],
        "input_names": info["input_names"],
    }


def runtime_available() -> bool:
    """onnxruntime and tokenizers can be imported (the query side needs nothing else)."""
    try:
        import onnxruntime  # noqa: F401
        import tokenizers  # noqa: F401
    except ImportError:
        return False
    return True


def _fix_hint(index_dir: Path) -> str:
    return f"run `python -m index.onnx_export {index_dir}` to write it again, or {REBUILD_HINT}"


def checked_embedder(directory: Path, info: dict[str, Any], model_id: str, dimension: int | None,
                     fix: str, *, for_batches: bool = False) -> Any:
    """The OnnxEmbedder of the export in `directory` once its files (against `info`'s checksums),
    model and dimension check out; `for_batches` tunes it for ingest instead of single queries."""
    check_files(directory, info, fix=fix)
    same_model = canonical_model_id(info["model_id"]) == canonical_model_id(model_id)
    if not same_model or (dimension is not None and info["dimension"] != dimension):
        raise IndexLoadError(f"the ONNX export in {directory} is of another model; {fix}")
    tokenizer = (directory / TOKENIZER_FILE).read_text(encoding="utf-8")
    return OnnxEmbedder(directory / MODEL_FILE, tokenizer, **embedder_args(info), for_batches=for_batches)


def load_export(index_dir: Path, manifest: Any, *, for_batches: bool = False) -> Any | None:
    """The OnnxEmbedder of the export inside the index, or None when it records none or the runtime
    is missing (an export in the shared cache: onnx_cache.load_for_index)."""
    info = manifest.extra.get(MANIFEST_KEY) if isinstance(manifest.extra, dict) else None
    if not info:
        return None
    if not runtime_available():
        log.warning("onnxruntime or tokenizers is not installed: queries are embedded with torch, which "
                    "starts slower (pip install onnxruntime tokenizers)")
        return None
    fix = _fix_hint(index_dir)
    try:
        return checked_embedder(Path(index_dir), info, manifest.embedding_model, manifest.dimension, fix,
                                for_batches=for_batches)
    except (KeyError, TypeError) as exc:
        raise IndexLoadError(
            f"the manifest's {MANIFEST_KEY} entry of {index_dir} is corrupted ({exc}); {fix}"
        ) from None


def _full_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def check_files(index_dir: Path, info: dict[str, Any], *, full: bool = False, fix: str | None = None) -> None:
    """Size and checksums of the export's files against the manifest, with the policy of the
    index's own files (manifest.verify_files): quick digest always, full sha256 below
    FULL_CHECK_BYTES or when `full`."""
    fix = fix or _fix_hint(index_dir)
    if not {MODEL_FILE, TOKENIZER_FILE} <= set(info["files"]):
        raise KeyError(f"files {sorted(info['files'])} lack {MODEL_FILE} or {TOKENIZER_FILE}")
    for name in info["files"]:
        if Path(name).parts[:1] != (EXPORT_DIR,) or ".." in Path(name).parts:
            raise KeyError(f"file {name!r} is outside {EXPORT_DIR}/")
        expected = FileInfo(**info["files"][name])
        path = index_dir / name
        if not path.is_file():
            raise IndexLoadError(f"{index_dir} records an ONNX export but {name} is missing; {fix}")
        size = path.stat().st_size
        if (
            size != expected.size
            or quick_sha256(path) != expected.quick_sha256
            or ((full or size < FULL_CHECK_BYTES) and _full_sha256(path) != expected.sha256)
        ):
            raise IndexLoadError(f"index file {path} does not match its checksum (modified); {fix}")


def add_to_index(index_dir: Path, quantization: str | None = None) -> dict[str, Any]:
    """Copy the shared export into an existing index (portable; writing the export first if this
    machine has none) and record it in its manifest (atomically replaced). `quantization`:
    the one the index records, else "none" (an index built without an export has fp32 vectors)."""
    onnx_cache = _cache()
    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    recorded = manifest.extra.get(MANIFEST_KEY) if isinstance(manifest.extra, dict) else None
    quantization = quantization or onnx_cache.quantization_of(recorded)
    info = onnx_cache.bundle(onnx_cache.index_entry(manifest.embedding_model, quantization), index_dir)
    updated = replace(manifest, extra={**manifest.extra, MANIFEST_KEY: info})
    mode = stat.S_IMODE((index_dir / MANIFEST_NAME).stat().st_mode)
    atomic_write(index_dir / MANIFEST_NAME, updated.to_json())
    os.chmod(index_dir / MANIFEST_NAME, mode)  # atomic_write's temporary file is owner-only
    return info


# ---- the machine's cache (kept here for Milvus callers; index/onnx_cache.py holds it) ------------
def _cache() -> ModuleType:
    """index.onnx_cache, which builds on this module (its exports are this module's)."""
    from index import onnx_cache  # lazy: import cycle (onnx_cache imports this)

    return onnx_cache


def cache_dir(model_id: str) -> Path:
    """Where this machine keeps the fp32 export of `model_id` ($PROMPTRAG_HOME/onnx/<hash of the id>)."""
    return _cache().cache_dir(model_id)


def write_cached_export(model_id: str) -> Path | None:
    return _cache().write_cached_export(model_id)


def load_cached_export(model_id: str) -> OnnxEmbedder | None:
    return _cache().load_cached_export(model_id)


USAGE = "usage: python -m index.onnx_export INDEX_DIR | --cache MODEL_ID [--quantize none|int8]"


def main(argv: list[str] | None = None) -> int:
    onnx_cache = _cache()
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["--cache"] and len(args) in (2, 4) and (len(args) == 2 or args[2] == "--quantize"):
        quantization = onnx_cache.check_quantization(args[3] if len(args) == 4 else "none")
        target = write_cached_export(args[1]) if quantization == "none" else onnx_cache.ensure_export(
            args[1], quantization)[0]
        print(target if target is not None else "no export written (see the warning above)")
        return 0 if target is not None else 1
    if len(args) != 1 or args[0].startswith("-"):
        print(USAGE, file=sys.stderr)
        return 2
    info = add_to_index(Path(args[0]))
    print(json.dumps({k: v for k, v in info.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
