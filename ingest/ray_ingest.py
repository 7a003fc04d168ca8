"""`promptrag ingest --executor ray`: the embedding of each window of chunks spread over Ray.

The ingest pipeline (pipeline.py) still reads, cleans, de-duplicates, stages, checkpoints and
writes in its own process; only `embedder.embed(texts)` of step 5 changes. `ray_embedder(local,
executor, quantization)` wraps the embedder the pipeline loaded into a `RayEmbedder`, whose
`embed` is one Ray Data `map_batches` over the window's texts (ordered by tokens, as the local
embedder orders them) on an actor pool of `EmbedActor`s:

- CPU (no GPU in the cluster, or an int8 export, which only ONNX computes): one actor per CPU of
  the cluster (`num_cpus=1`), each loading the machine's shared ONNX export once, from the
  directory the driver resolved and checked (index/onnx_cache.py), so every actor embeds with
  exactly the export the index records;
- GPU (fp32 / `--quantize none`, or sentence-transformers): one actor per GPU (`num_gpus=1`)
  running sentence-transformers on CUDA (the vectors the fp32 export reproduces within its
  checked cosine).

Vectors come back by value with their row numbers, so their order never depends on Ray's; the
driver saves each chunk and checkpoints as a local run does, so resuming (on either executor:
the executor is not part of the run's fingerprint) is the pipeline's own. An actor that dies is
restarted by Ray Data and its batch embedded again.

Deliberately not here: reading the source with Ray (staging is SQLite on the driver), writing
index shards from workers (the writer runs once, on the driver), choosing between executors
(IngestOptions.executor), Ray start-up itself (core/ray_executor.py).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import InputError
from core.executors import RAY, parse_executor, worker_env
from core.ray_executor import _connect, _import_ray
from index.embedder import Embedder, OnnxEmbedder, SentenceTransformerEmbedder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbedderRecipe:
    """What an actor needs to load the driver's embedder (plain data: Ray pickles it)."""

    model_id: str
    onnx_dir: str | None = None  # the shared export the driver checked; None: sentence-transformers
    onnx_info: dict[str, Any] | None = None
    device: str | None = None  # sentence-transformers' device ("cuda" on a GPU actor)

    def build(self) -> Embedder:
        if self.onnx_dir is None:
            return SentenceTransformerEmbedder(self.model_id, device=self.device)
        from index import onnx_export

        fix = f"delete {self.onnx_dir} and run the ingest again so it is exported again"
        return onnx_export.checked_embedder(Path(self.onnx_dir), self.onnx_info or {}, self.model_id, None, fix,
                                            for_batches=True)


class EmbedActor:
    """One actor of the pool: loads its embedder once, then embeds each batch Ray Data hands it."""

    def __init__(self, recipe: EmbedderRecipe) -> None:
        self.embedder = recipe.build()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        # One embed_batch per batch number the driver gave: int8 exports quantize activations per
        # batch (and padding follows the batch's longest text), so a vector depends on its batch.
        vectors = np.empty((len(batch["row"]), self.embedder.dimension), dtype=np.float32)
        for number in np.unique(batch["batch"]):
            members = np.flatnonzero(batch["batch"] == number)
            vectors[members] = self.embedder.embed_batch([str(batch["text"][i]) for i in members])
        return {"row": batch["row"], "vector": vectors}


class RayEmbedder(Embedder):
    """The driver's embedder with `embed` run on a Ray Data actor pool (see the module docstring).

    `actor_class` is the pool's actor (a subclass may add behaviour, as the tests' dying actor does)."""

    actor_class: type[EmbedActor] = EmbedActor

    def __init__(self, local: Embedder, recipe: EmbedderRecipe, *, actors: int | None = None) -> None:
        """Needs a connected Ray (`ray_embedder` connects; a Ray it starts stops with the process)."""
        self.local, self.recipe = local, recipe
        self.model_id, self.dimension = local.model_id, local.dimension
        ray = self.ray = _import_ray()
        gpus = int(ray.cluster_resources().get("GPU", 0)) if recipe.onnx_dir is None else 0
        self.resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.actors = actors or gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
        env = worker_env()
        self.runtime_env = {"env_vars": env} if env else None
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False  # the pipeline draws its own
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # not two lines of plan per window on stderr

    def lengths(self, texts: Sequence[str]) -> list[int]:
        return self.local.lengths(texts)  # tokens with the ONNX export

    def embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts, batch_size=max(1, len(texts)))

    def embed(self, texts: Sequence[str], batch_size: int = 64,
              progress: Callable[[int], None] | None = None) -> np.ndarray:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        texts = list(texts)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        import pyarrow as pa

        lengths = self.lengths(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i])  # each batch pads little
        # The batches local embed() makes (same order, same size), whole, a few to a block (two blocks
        # per actor: each block costs Ray a task), so the vectors match the local ones.
        numbers = [start // batch_size for start in range(len(order))]
        per_block = batch_size * -(-math.ceil(len(order) / batch_size) // (2 * self.actors))
        blocks = [pa.table({"batch": numbers[start : start + per_block], "row": order[start : start + per_block],
                            "text": [texts[i] for i in order[start : start + per_block]]})
                  for start in range(0, len(order), per_block)]
        dataset = self.ray.data.from_arrow(blocks).map_batches(
            self.actor_class, fn_constructor_args=(self.recipe,), batch_size=None,  # a block is a batch
            batch_format="numpy", compute=self.ray.data.ActorPoolStrategy(size=self.actors),
            runtime_env=self.runtime_env, **self.resources,
        )
        seen = np.zeros(len(texts), dtype=bool)
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            rows = np.asarray(batch["row"], dtype=np.int64)
            out[rows] = np.asarray(batch["vector"], dtype=np.float32)
            seen[rows] = True
            if progress is not None:
                progress(len(rows))
        if not seen.all():  # never save a chunk with rows nobody embedded
            raise RuntimeError(f"Ray returned vectors for {int(seen.sum())} of {len(texts)} prompts")
        return out

    def __repr__(self) -> str:
        return f"RayEmbedder({self.local!r}, actors={self.actors}, {self.resources})"


def recipe_for(local: Embedder, quantization: str, gpus: int) -> EmbedderRecipe:
    """How actors load `local`: the same ONNX export on CPU, or sentence-transformers on GPUs when the
    cluster has them and the export is fp32 (int8 vectors only ONNX computes)."""
    if isinstance(local, OnnxEmbedder) and (not gpus or quantization != "none"):
        from index import onnx_cache

        if gpus:
            log.info("int8 export: embedding on CPU actors (the GPUs cannot compute its vectors)")
        directory, info = onnx_cache.ensure_export(local.model_id, quantization)  # cached: the driver's own
        return EmbedderRecipe(local.model_id, str(directory), info)
    return EmbedderRecipe(local.model_id, device="cuda" if gpus else None)


def ray_embedder(local: Embedder, executor: str, quantization: str) -> Embedder:
    """`local` itself for the thread executor, else a RayEmbedder on the Ray `executor` names."""
    spec = parse_executor(executor)
    if spec.kind != RAY:
        return local
    ray = _import_ray()
    _connect(ray, spec.address)
    recipe = recipe_for(local, quantization, int(ray.cluster_resources().get("GPU", 0)))
    return RayEmbedder(local, recipe)


__all__ = ["EmbedActor", "EmbedderRecipe", "RayEmbedder", "ray_embedder", "recipe_for"]
