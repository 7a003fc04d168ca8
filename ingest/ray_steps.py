"""The steps of the ingest recipe (ingest/pipeline.py) that differ with `--executor ray`.

`IngestPipeline` calls these where its recipe takes another path on Ray:

- step 2, `check_executor`: which executor may resume an interrupted run. A run started on Ray
  resumes on either executor (the thread executor stages and embeds what is left itself); a run
  started on the thread executor resumes on it only, as its staged rows have no shards to take
  vectors from;
- step 3, `stage_on_ray`: the blocks not yet in a complete shard are read, cleaned and embedded by
  Ray workers (ray_ingest.py), the driver keeps each block's rows and vectors as a shard (a resumed
  run skips complete shards), then every shard is staged, in block order (shards.py);
- step 5, `fill_chunks_from_shards`: each chunk of the plan is filled with its prompts' vectors
  from the shards instead of being embedded.

Progress goes to the pipeline's `on_progress` (stage "blocks": blocks done / total, then "stage":
source rows); the test hook and cancellation stay the pipeline's, called back after each shard
(`after_shard`) or chunk (`after_chunk`) is committed.

Deliberately not here: the Ray Data pipeline (ray_ingest.py), shard files and their merge
(shards.py), the recipe and its checkpoint (pipeline.py), which embedder it loads (run_embedder.py).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing

from core.errors import InputError
from core.executors import RAY, THREAD
from core.progress import ProgressCallback, Stopwatch
from index.embedder import Embedder
from ingest.options import IngestOptions
from ingest.ray_ingest import ShardEmbedding
from ingest.shards import ShardStore, block_plan, gather_chunks, stage_shards, stored_blocks
from ingest.sources import Source
from ingest.staging import WorkDir


def shard_store(work: WorkDir) -> ShardStore:
    """The shards of the run whose work directory is `work`."""
    return ShardStore(work.path / "shards")


def check_executor(work: WorkDir, checkpoint: dict, phase: str, *, on_ray: bool, location: str) -> None:
    """A run staged on the thread executor has no shards: Ray cannot finish it (see the module docstring)."""
    started = checkpoint.get("executor", THREAD)
    if phase not in ("stage", "embed") or started == (RAY if on_ray else THREAD):
        return
    if on_ray:
        raise InputError(
            f"the interrupted ingest into {location} was started without --executor ray, so its "
            f"staged rows have no shards to take vectors from: run it again without --executor to resume "
            f"it, or add --restart to start over on Ray ({work.path})"
        )
    work.write_checkpoint({**checkpoint, "executor": THREAD})  # from here on, rows without shards


def stage_on_ray(work: WorkDir, source: Source, options: IngestOptions, *,
                 local_embedder: Callable[[], tuple[Embedder, str]], on_progress: ProgressCallback | None,
                 after_shard: Callable[[int], None]) -> int:
    """Step 3 on Ray: blocks not yet in a complete shard read, cleaned and embedded by workers
    (ray_ingest.py), each kept as a shard; then every shard staged, in block order (shards.py).

    `local_embedder()` gives the driver's embedder and its quantization, asked for only when a
    block is left to embed (the actors load the same one); `after_shard(n)` follows the n-th shard
    written. Returns the prompts embedded."""
    blocks = block_plan(work, lambda: source.count_rows(options.limit), options.read_batch_rows)
    store = shard_store(work)
    todo = [block for block in blocks if not store.complete(block)]
    watch = Stopwatch("blocks", on_progress)
    done = len(blocks) - len(todo)
    watch.report(done, len(blocks))
    embedded = 0
    if todo:
        embedder, quantization = local_embedder()
        embedding = ShardEmbedding(options.executor, embedder, quantization)
        results = embedding.run(source, todo, max_prompt_chars=options.max_prompt_chars,
                                batch_size=options.batch_size)
        with closing(results):  # a cancel stops Ray Data's pipeline at once
            for written, result in enumerate(results, 1):
                embedded += store.write(blocks[result.block], result.rows, result.vectors, result.tally)
                watch.report(done + written, len(blocks))
                after_shard(written)
    rows = blocks[-1].stop if blocks else 0
    staging = Stopwatch("stage", on_progress)
    stage_shards(work, store, blocks, lambda consumed: staging.report(consumed, rows))
    return embedded


def fill_chunks_from_shards(work: WorkDir, total: int, dimension: int,
                            after_chunk: Callable[[int, int], None]) -> None:
    """Step 5 on Ray: the shards hold every vector, so each chunk of the plan of `total` prompts is
    filled from them (shards.gather_chunks); `after_chunk(number, prompts done)` follows each chunk."""
    gather_chunks(work, shard_store(work), stored_blocks(work), total, dimension, after_chunk)


__all__ = ["check_executor", "fill_chunks_from_shards", "shard_store", "stage_on_ray"]
