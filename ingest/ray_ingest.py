"""`promptrag ingest --executor ray`: read, clean and embed the source block by block on Ray.

The driver (ingest/ray_steps.py, step 3 of ingest/pipeline.py's recipe) cuts the source into a
block plan (ingest/shards.py: every `read_batch_rows` source rows) and hands the blocks not yet
complete to `ShardEmbedding.run`, one Ray Data pipeline:

    ray.data.from_items(blocks)          one item per block: its number and source rows [start, stop)
      .map_batches(read_blocks)          Ray tasks: each reads its block with the project's own source
                                         reader (sources.Source.batches: a Parquet block reads only its
                                         row groups and mapped columns) and cleans it with
                                         normalize.clean_rows, the thread executor's own function
      .map_batches(EmbedActor, pool)     the actor pool: each actor loads its embedder once (an
                                         EmbedderRecipe) and embeds each block's distinct prompts

and hands each block's result (rows as JSON Lines, vectors as .npy bytes, the tally) back by value;
the driver writes it as a shard and reports progress (the pipeline's `on_progress`, stage
"blocks": blocks done / total). The pool:

- CPU (no GPU in the cluster, or an int8 export, which only ONNX computes): one actor per CPU of
  the cluster (`num_cpus=1`), each loading the machine's shared ONNX export from the directory
  the driver resolved and checked (index/onnx_cache.py);
- GPU (fp32 / `--quantize none`, or sentence-transformers): one actor per GPU (`num_gpus=1`)
  running sentence-transformers on CUDA (not yet run on a GPU by the tests).
Reading tasks ask for no CPU of their own (at most one per actor at a time): the actors hold the
CPUs, and reading and cleaning a block costs a fraction of embedding it.

Why not `ray.data.read_parquet` / `read_csv` / `read_json`: their blocks carry no source row
numbers, so neither a block's place in the source (which decides which wording and settings of a
repeated prompt are kept first, as the thread executor keeps them) nor a fixed shard to skip on a
resume could be known; and their CSV / JSON parsers type and reject values differently from the
project's reader (numbers in a prompt column, invalid UTF-8, non-object JSON lines), so the rows
kept would differ. A text source (CSV/TSV/JSONL/JSON/.txt) has no row index: each block's task
skips the rows before it, so such a source is parsed about blocks/2 times; convert millions of
rows to Parquet first.

Errors: a block whose rows cannot be read (a malformed line: the reader's SourceError) comes back
as data, `error` = the error's class in core.errors and its message, and the driver raises that
error itself (Ray Data keeps only the text of a task's exception, so it could not be told from a
crash); an actor that dies is restarted by Ray Data and its block embedded again; the driver
writing every shard means a crash loses at most the blocks in flight.

Deliberately not here: the block plan, shard files and their merge (shards.py), the recipe,
checkpoints and resume (pipeline.py, ray_steps.py), Ray start-up itself (core/ray_executor.py). Not built: a
cluster without a shared source path (every node reads the source file at the driver's path),
workers writing shards themselves (results come back through the driver), de-duplicating across
blocks before embedding, writing a Milvus collection from workers (the target writes once, on the
driver).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import errors
from core.errors import PromptragError
from core.executors import parse_executor, worker_env
from core.ray_executor import _connect, _import_ray
from index import onnx_cache, onnx_export
from index.embedder import Embedder, OnnxEmbedder, SentenceTransformerEmbedder
from ingest.normalize import clean_rows
from ingest.shards import Block, distinct_texts, npy_bytes, rows_text
from ingest.sources import Source

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
        fix = f"delete {self.onnx_dir} and run the ingest again so it is exported again"
        return onnx_export.checked_embedder(Path(self.onnx_dir), self.onnx_info or {}, self.model_id, None, fix,
                                            for_batches=True)


def recipe_for(local: Embedder, quantization: str, gpus: int) -> EmbedderRecipe:
    """How actors load `local`: the same ONNX export on CPU, or sentence-transformers on GPUs when the
    cluster has them and the export is fp32 (int8 vectors only ONNX computes)."""
    if isinstance(local, OnnxEmbedder) and (not gpus or quantization != "none"):
        if gpus:
            log.info("int8 export: embedding on CPU actors (the GPUs cannot compute its vectors)")
        directory, info = onnx_cache.ensure_export(local.model_id, quantization)  # cached: the driver's own
        return EmbedderRecipe(local.model_id, str(directory), info)
    return EmbedderRecipe(local.model_id, device="cuda" if gpus else None)


def read_blocks(batch: dict[str, np.ndarray], source: Source, max_prompt_chars: int) -> dict[str, np.ndarray]:
    """A Ray Data task: read and clean each block of `batch` (source rows [start, stop))."""
    out: dict[str, list] = {"block": [], "rows": [], "texts": [], "tally": [], "error": []}
    for number, start, stop in zip(batch["block"], batch["start"], batch["stop"]):
        kept, tally, error = [], {}, ""
        try:
            rows = [row for part in source.batches(skip=int(start), limit=int(stop), batch_rows=int(stop - start))
                    for row in part]
            kept, tally = clean_rows(rows, max_prompt_chars)
        except PromptragError as exc:  # the user's to fix: back as data, raised by the driver
            error = json.dumps({"kind": type(exc).__name__, "message": str(exc)})
        out["block"].append(int(number))
        out["rows"].append(rows_text(kept))
        out["texts"].append(json.dumps(distinct_texts(kept)))
        out["tally"].append(json.dumps(tally))
        out["error"].append(error)
    return {"block": np.array(out["block"], dtype=np.int64),
            **{key: np.array(out[key], dtype=object) for key in ("rows", "texts", "tally", "error")}}


class EmbedActor:
    """One actor of the pool: loads its embedder once, then embeds each block Ray Data hands it
    (the block's distinct prompts, shortest first in batches of `batch_size`, as a local embed)."""

    def __init__(self, recipe: EmbedderRecipe, batch_size: int) -> None:
        self.embedder = recipe.build()
        self.batch_size = batch_size

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = []
        for texts in batch["texts"]:  # a block that failed to read has none
            texts = json.loads(texts)
            array = (self.embedder.embed(texts, batch_size=self.batch_size) if texts
                     else np.empty((0, self.embedder.dimension), dtype=np.float32))
            vectors.append(npy_bytes(array))
        return {"block": batch["block"], "rows": batch["rows"], "tally": batch["tally"], "error": batch["error"],
                "vectors": np.array(vectors, dtype=object)}


@dataclass(frozen=True)
class BlockResult:
    """One block back at the driver: what ShardStore.write keeps."""

    block: int
    rows: str  # JSON Lines
    vectors: bytes  # a .npy file
    tally: dict[str, int]


class ShardEmbedding:
    """The Ray Data pipeline of the module docstring, on the Ray that `executor` names.

    `actor_class` is the pool's actor (a subclass may add behaviour, as the tests' dying actor does)."""

    actor_class: type[EmbedActor] = EmbedActor

    def __init__(self, executor: str, local: Embedder, quantization: str, *, actors: int | None = None) -> None:
        ray = self.ray = _import_ray()
        _connect(ray, parse_executor(executor).address)  # a Ray this starts stops with the process
        gpus = int(ray.cluster_resources().get("GPU", 0))
        self.recipe = recipe_for(local, quantization, gpus)
        gpus = gpus if self.recipe.onnx_dir is None else 0
        self.resources = {"num_gpus": 1} if gpus else {"num_cpus": 1}
        self.actors = actors or gpus or max(1, int(ray.cluster_resources().get("CPU", 1)))
        env = worker_env()
        self.runtime_env = {"env_vars": env} if env else None
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False  # the pipeline draws its own
        logging.getLogger("ray.data").setLevel(logging.WARNING)  # no lines of plan on stderr

    def run(self, source: Source, blocks: list[Block], *, max_prompt_chars: int,
            batch_size: int) -> Iterator[BlockResult]:
        """Each of `blocks` read, cleaned and embedded, in the order they finish."""
        if not blocks:
            return
        items = [{"block": b.number, "start": b.start, "stop": b.stop} for b in blocks]
        dataset = (
            self.ray.data.from_items(items, override_num_blocks=len(items))
            .map_batches(read_blocks, batch_size=1, batch_format="numpy",
                         fn_kwargs={"source": source, "max_prompt_chars": max_prompt_chars}, num_cpus=0,
                         compute=self.ray.data.TaskPoolStrategy(size=self.actors),
                         runtime_env=self.runtime_env)
            .map_batches(self.actor_class, fn_constructor_args=(self.recipe, batch_size), batch_size=1,
                         batch_format="numpy",
                         compute=self.ray.data.ActorPoolStrategy(size=self.actors), runtime_env=self.runtime_env,
                         **self.resources)
        )
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for block, rows, vectors, tally, error in zip(batch["block"], batch["rows"], batch["vectors"],
                                                          batch["tally"], batch["error"]):
                if error:
                    raise reader_error(str(error))
                yield BlockResult(int(block), str(rows), bytes(vectors), json.loads(str(tally)))

    def __repr__(self) -> str:
        return f"ShardEmbedding({self.recipe.model_id}, actors={self.actors}, {self.resources})"


def reader_error(error: str) -> PromptragError:
    """A block's error (read_blocks' `error`) as the core.errors exception it was on the worker."""
    data = json.loads(error)
    kind = getattr(errors, data["kind"], None)
    if not (isinstance(kind, type) and issubclass(kind, PromptragError)):
        kind = PromptragError  # an error class of its own: its message still says what to do
    return kind(data["message"])


__all__ = ["BlockResult", "EmbedActor", "EmbedderRecipe", "ShardEmbedding", "read_blocks", "reader_error",
           "recipe_for"]
