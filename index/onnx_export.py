"""An ONNX export of an index's embedding model, so a query is embedded without torch.

Importing sentence-transformers (torch, transformers, scikit-learn) costs 6–8 s on a small CPU
machine, for a query that needs a few milliseconds of compute. At ingest, torch is loaded
anyway: `write_export(directory, model_id)` exports the model's transformer with mean pooling
and L2 normalisation folded into the graph (what sentence-transformers computes for
all-MiniLM-L6-v2 and the other mean-pooling models) to `onnx/model.onnx`, copies the model's
fast tokenizer to `onnx/tokenizer.json`, and *checks* the export before trusting it: on
PROBE_TEXTS (real DiffusionDB-style prompts of very different lengths, batched so padding and
truncation are exercised) every ONNX vector must have cosine ≥ MIN_COSINE with the torch one
and the token ids must be identical. The returned dict (sizes, sha256, tokenizer settings, the
measured cosine) goes into the index manifest under `extra["onnx_embedder"]`.

`load_export(index_dir, manifest)` is the query side: None when the manifest records no export
or onnxruntime / tokenizers are not installed (the caller falls back to sentence-transformers,
and says so), an `OnnxEmbedder` when the files match their recorded size and sha256, and an
IndexLoadError naming the fix when a recorded file is missing or modified.

`python -m index.onnx_export INDEX_DIR` adds an export to an index built without one.

A Milvus collection has no directory to hold an export, so the machine keeps one per model under
`$PROMPTRAG_HOME/onnx/` (`write_cached_export`, called by `promptrag ingest --store`;
`load_cached_export` on the query side, with the same checks). A machine that only queries
a Milvus store embeds with sentence-transformers until it writes one (`python -m
index.onnx_export --cache MODEL_ID`).

Deliberately not here: quantisation (it changes results), exporting at query time (that would
need torch, the cost this module exists to avoid), models whose pooling is not mean (CLS /
last-token models are refused with UnsupportedModel; their indexes keep the torch path).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import IndexLoadError
from index.manifest import FULL_CHECK_BYTES, REBUILD_HINT, FileInfo, file_info, quick_sha256

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

    from index.embedder import OnnxEmbedder, SentenceTransformerEmbedder, load_embedder

    reference = load_embedder(model_id)
    if not isinstance(reference, SentenceTransformerEmbedder):
        raise UnsupportedModel(f"{type(reference).__name__} is not a sentence-transformers model")
    st_model = reference._model
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
        tokenizer_path.write_text(hf_tokenizer.backend_tokenizer.to_str(), encoding="utf-8")
        mode = stat.S_IMODE(tokenizer_path.stat().st_mode)  # the umask's mode, as the index's other files
        for path in paths:
            os.chmod(path, mode)  # onnx writes its external data file owner-only
        info: dict[str, Any] = {
            "version": EXPORT_VERSION,
            "model_id": reference.model_id,
            "dimension": reference.dimension,
            "max_seq_length": int(st_model.max_seq_length),
            "pad_token": str(hf_tokenizer.pad_token),
            "input_names": input_names,
            "opset": OPSET,
            "exported_with": f"torch {torch.__version__}",
        }
        # 3. check it against the torch model before anything trusts it.
        tokenizer_json = tokenizer_path.read_text(encoding="utf-8")
        candidate = OnnxEmbedder(model_path, tokenizer_json, **_embedder_args(info))
        info["min_cosine"] = check_export(candidate, reference, hf_tokenizer, info["max_seq_length"])
        info["files"] = {name: asdict(file_info(p)) for name, p in zip(EXPORT_FILES, paths, strict=True)}
    except BaseException:
        for path in paths:
            path.unlink(missing_ok=True)
        raise
    return info


def check_export(candidate: Any, reference: Any, hf_tokenizer: Any, max_seq_length: int) -> float:
    """Min cosine of `candidate` and `reference` vectors on PROBE_TEXTS (RuntimeError below MIN_COSINE)."""
    ours = candidate._tokenizer.encode_batch(PROBE_TEXTS)
    theirs = hf_tokenizer(PROBE_TEXTS, truncation=True, max_length=max_seq_length)["input_ids"]
    for text, mine, expected in zip(PROBE_TEXTS, ours, theirs, strict=True):
        if [i for i, m in zip(mine.ids, mine.attention_mask, strict=True) if m] != list(expected):
            raise RuntimeError(f"ONNX export check failed: tokenizer.json splits {text[:40]!r} differently")
    # batches of mixed length (padding) and one text at a time (no padding) must both agree.
    a = np.vstack([candidate.embed_batch(PROBE_TEXTS), candidate.embed_batch(PROBE_TEXTS[:1])])
    b = np.vstack([reference.embed_batch(PROBE_TEXTS), reference.embed_batch(PROBE_TEXTS[:1])])
    worst = float(np.min(np.sum(a * b, axis=1)))
    if not worst >= MIN_COSINE:
        raise RuntimeError(f"ONNX export check failed: cosine {worst:.5f} with torch is below {MIN_COSINE}")
    return round(worst, 6)


# ---- loading (query side: no torch) ----------------------------------------------------------
def _embedder_args(info: dict[str, Any]) -> dict[str, Any]:
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


def _checked_embedder(directory: Path, info: dict[str, Any], model_id: str, dimension: int | None,
                      fix: str) -> Any:
    """The OnnxEmbedder of the export in `directory` once its files, model and dimension check out."""
    from index.embedder import OnnxEmbedder, canonical_model_id

    check_files(directory, info, fix=fix)
    same_model = canonical_model_id(info["model_id"]) == canonical_model_id(model_id)
    if not same_model or (dimension is not None and info["dimension"] != dimension):
        raise IndexLoadError(f"the ONNX export in {directory} is of another model; {fix}")
    tokenizer = (directory / TOKENIZER_FILE).read_text(encoding="utf-8")
    return OnnxEmbedder(directory / MODEL_FILE, tokenizer, **_embedder_args(info))


def load_export(index_dir: Path, manifest: Any) -> Any | None:
    """The index's OnnxEmbedder, or None when it records no export or the runtime is missing."""
    info = manifest.extra.get(MANIFEST_KEY) if isinstance(manifest.extra, dict) else None
    if not info:
        return None
    if not runtime_available():
        log.warning("onnxruntime or tokenizers is not installed: queries are embedded with torch, which "
                    "starts slower (pip install onnxruntime tokenizers)")
        return None
    fix = _fix_hint(index_dir)
    try:
        return _checked_embedder(Path(index_dir), info, manifest.embedding_model, manifest.dimension, fix)
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
    for name in EXPORT_FILES:
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


def add_to_index(index_dir: Path) -> dict[str, Any]:
    """Write an export into an existing index and record it in its manifest (atomically replaced)."""
    from dataclasses import replace

    from core.files import atomic_write
    from index.manifest import MANIFEST_NAME, read_manifest

    index_dir = Path(index_dir)
    manifest = read_manifest(index_dir)
    info = write_export(index_dir, manifest.embedding_model)
    updated = replace(manifest, extra={**manifest.extra, MANIFEST_KEY: info})
    mode = stat.S_IMODE((index_dir / MANIFEST_NAME).stat().st_mode)
    atomic_write(index_dir / MANIFEST_NAME, updated.to_json())
    os.chmod(index_dir / MANIFEST_NAME, mode)  # atomic_write's temporary file is owner-only
    return info


# ---- the machine's cache (Milvus stores) -----------------------------------------------------
CACHE_INFO = "export.json"


def cache_dir(model_id: str) -> Path:
    """Where this machine keeps the export of `model_id` ($PROMPTRAG_HOME/onnx/<hash of the id>)."""
    from core.settings import get_settings
    from index.embedder import canonical_model_id

    digest = hashlib.sha256(canonical_model_id(model_id).encode("utf-8")).hexdigest()[:16]
    return get_settings().home / "onnx" / digest


def write_cached_export(model_id: str) -> Path | None:
    """The cached export of `model_id`, written and checked now if missing; None (with a warning)
    when the model cannot be exported (queries then load sentence-transformers)."""
    target = cache_dir(model_id)
    if (target / CACHE_INFO).is_file():
        return target
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        info = write_export(staging, model_id)
        (staging / CACHE_INFO).write_text(json.dumps(info, indent=2), encoding="utf-8")
        os.replace(staging, target)  # a whole export or none; another process may have won the race
    except (UnsupportedModel, ImportError, RuntimeError, OSError) as exc:
        if not (target / CACHE_INFO).is_file():  # else another process wrote it first: nothing lost
            log.warning("no ONNX query embedder for %s (%s): queries will load sentence-transformers", model_id, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target if (target / CACHE_INFO).is_file() else None


def load_cached_export(model_id: str) -> Any | None:
    """The machine's checked OnnxEmbedder of `model_id`, or None when it has none (or no runtime)."""
    target = cache_dir(model_id)
    fix = f"delete {target} and run `python -m index.onnx_export --cache {model_id}` to write it again"
    if not (target / CACHE_INFO).is_file() or not runtime_available():
        return None
    try:
        info = json.loads((target / CACHE_INFO).read_text(encoding="utf-8"))
        return _checked_embedder(target, info, model_id, None, fix)
    except (KeyError, TypeError, ValueError) as exc:
        raise IndexLoadError(f"{target / CACHE_INFO} is corrupted ({exc}); {fix}") from None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 2 and args[0] == "--cache":
        target = write_cached_export(args[1])
        print(target if target is not None else "no export written (see the warning above)")
        return 0 if target is not None else 1
    if len(args) != 1 or args[0].startswith("-"):
        print("usage: python -m index.onnx_export INDEX_DIR | --cache MODEL_ID", file=sys.stderr)
        return 2
    info = add_to_index(Path(args[0]))
    print(json.dumps({k: v for k, v in info.items() if k != "files"}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
