"""The shards of an `--executor ray` ingest, and how they merge back into the work directory.

With `--executor ray`, step 3 of the recipe (ingest/pipeline.py) runs in two halves:

a. Ray workers read and clean each block of source rows and embed the block's distinct prompts
   (ingest/ray_ingest.py); the driver writes each block's result here, as a shard;
b. `stage_shards` stages the shards' rows into the work directory in block order, through the
   very `WorkDir.stage` call the thread executor makes for its source batches (same blocks: the
   plan cuts the source every `read_batch_rows` rows, as the thread executor's batches do), so the
   same prompts are kept with the same counts, settings, NSFW scores, wordings and first-seen
   order: the de-duplication across shards IS the thread executor's.

Step 4 (filter, sample, match, plan) then runs unchanged, and step 5 becomes `gather_chunks`:
each chunk of the plan is filled with the vectors the shards hold for its prompts (the first
shard holding a text wins; a text's vector is the same in every shard, up to the batch effects
below), so steps 6-7 (fold, write through the target) see exactly what they see after a local
embed.

Layout under `<work dir>/shards/`, per block number N of the run's block plan:
- `block-NNNNNNN.jsonl`  the block's kept rows (sources.ROW_KEYS, prompts cleaned), in source order;
- `block-NNNNNNN.npy`    float32 (texts, dimension): one vector per distinct prompt text of the
                         block, in order of first appearance (`distinct_texts`);
- `block-NNNNNNN.json`   the completion marker, written last: the block's source rows [start,
                         stop), its tally (rows read, kept, dropped per reason), texts, dimension.
Each file is written to a temporary file and renamed, the marker last: a block is complete
exactly when its marker names the block's rows and its files have the shapes the marker records;
anything less is embedded again by the next run. No pickle: JSON and .npy (allow_pickle=False).

Vectors: a block embeds its own texts, so its batches are not the thread executor's (which
embeds the whole plan shortest-first). With the float32 export or sentence-transformers that
changes vectors by rounding only (the tests allow 1e-5); with `--quantize int8`, whose
activations are quantized per batch, by int8's own spread (cosine 0.993 on average, 0.954 at
worst over 8,757 real prompts, benchmarks/README.md), as a resumed local run re-batches too.
Rows and manifests do not change.
A prompt repeated across blocks is embedded once per block that holds it: blocks are embedded
before anything is de-duplicated across them, which is what lets them run anywhere at once.

Deliberately not here: Ray (ray_ingest.py), SQL (staging.py), cleaning rules (normalize.py), the
recipe and its checkpoints (pipeline.py).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.files import atomic_write
from ingest.normalize import TALLY_KEYS
from ingest.staging import WorkDir


@dataclass(frozen=True)
class Block:
    """Source rows [start, stop) of the run's block plan, number `number`."""

    number: int
    start: int
    stop: int


def plan_blocks(total_rows: int, block_rows: int) -> list[Block]:
    """The source cut every `block_rows` rows: the thread executor's staging batches."""
    return [Block(n, start, min(total_rows, start + block_rows))
            for n, start in enumerate(range(0, total_rows, block_rows))]


def block_plan(work: WorkDir, count_rows: Callable[[], int], block_rows: int) -> list[Block]:
    """The run's blocks, fixed in its work directory when it starts (a resumed run keeps them,
    whatever --read-batch-rows says); `count_rows()` gives the source's rows, once."""
    if work.get("ray_blocks") is None:
        work.set(ray_blocks=[[block.start, block.stop] for block in plan_blocks(count_rows(), block_rows)])
    return stored_blocks(work)


def stored_blocks(work: WorkDir) -> list[Block]:
    return [Block(number, start, stop) for number, (start, stop) in enumerate(work.get("ray_blocks", []))]


def distinct_texts(rows: Iterable[dict]) -> list[str]:
    """The rows' prompt texts, each once, in order of first appearance: what a shard embeds."""
    return list(dict.fromkeys(row["prompt"] for row in rows))


def rows_text(rows: Iterable[dict]) -> str:
    """Rows as JSON Lines (ASCII-escaped: any text survives the file)."""
    return "".join(json.dumps(row) + "\n" for row in rows)


def npy_bytes(vectors: np.ndarray) -> bytes:
    """A float32 array as the bytes of a .npy file."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(vectors, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


class ShardStore:
    """The shard files of one run (see the module docstring); written by the driver only."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def _file(self, block: Block, suffix: str) -> Path:
        return self.path / f"block-{block.number:07d}{suffix}"

    def marker(self, block: Block) -> dict | None:
        """The block's completion marker, or None when it is missing or names other rows."""
        try:
            marker = json.loads(self._file(block, ".json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return marker if (marker.get("start"), marker.get("stop")) == (block.start, block.stop) else None

    def complete(self, block: Block) -> bool:
        """True when the block's marker, rows and vectors are all there and agree."""
        marker = self.marker(block)
        if marker is None or not self._file(block, ".jsonl").is_file():
            return False
        try:
            vectors = np.load(self._file(block, ".npy"), mmap_mode="r", allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return False
        return vectors.shape == (marker["texts"], marker["dimension"]) and vectors.dtype == np.float32

    def write(self, block: Block, rows: str, vectors: bytes, tally: dict[str, int]) -> int:
        """Keep one block's result (JSON Lines rows, .npy vectors); the marker last. Returns its texts."""
        array = np.load(io.BytesIO(vectors), allow_pickle=False)
        texts = len(distinct_texts(json.loads(line) for line in rows.splitlines()))
        if array.ndim != 2 or array.shape[0] != texts or array.dtype != np.float32:
            raise RuntimeError(f"block {block.number} came back with vectors of shape {array.shape} "
                               f"({array.dtype}) for {texts} prompts; it is embedded again on the next run")
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write(self._file(block, ".jsonl"), rows)
        atomic_write(self._file(block, ".npy"), vectors)
        marker = {"block": block.number, "start": block.start, "stop": block.stop, "tally": tally,
                  "texts": texts, "dimension": int(array.shape[1])}
        atomic_write(self._file(block, ".json"), json.dumps(marker, sort_keys=True))
        return texts

    def rows(self, block: Block) -> list[dict]:
        with open(self._file(block, ".jsonl"), encoding="utf-8") as handle:
            return [json.loads(line) for line in handle]

    def vectors(self, block: Block) -> np.ndarray:
        return np.load(self._file(block, ".npy"), mmap_mode="r", allow_pickle=False)


def stage_shards(work: WorkDir, store: ShardStore, blocks: list[Block],
                 report: Callable[[int], None]) -> None:
    """Half b of step 3: stage every complete shard after the rows already staged, in block order,
    each in one commit with the source rows consumed through its end (a crash resumes after it)."""
    consumed = work.get("rows_consumed", 0)
    counters = dict.fromkeys(TALLY_KEYS, 0) | work.get("counters", {})
    for block in blocks:
        if block.stop <= consumed:
            continue
        marker = store.marker(block)
        if marker is None or not store.complete(block):
            raise RuntimeError(f"shard {block.number} of {store.path} is missing or incomplete; "
                               "run the ingest again to embed it")
        rows = store.rows(block)
        for key in TALLY_KEYS:
            counters[key] += marker["tally"][key]
        texts = distinct_texts(rows)
        work.stage(rows, block.stop, counters, ((text, block.number, i) for i, text in enumerate(texts)))
        report(block.stop)


def gather_chunks(work: WorkDir, store: ShardStore, blocks: list[Block], total: int, dimension: int,
                  after_chunk: Callable[[int, int], None]) -> None:
    """Step 5 with shards: save each plan chunk not saved yet from the shards' vectors of its
    prompts; `after_chunk(number, prompts done)` follows each chunk (progress, cancel)."""
    size = work.get("embed_batch")
    by_number = {block.number: block for block in blocks}
    for number in range(-(-total // size)):
        start, stop = number * size, min(total, (number + 1) * size)
        if work.load_chunk(number, stop - start, dimension) is None:
            places = work.shard_positions(work.plan_texts(start, stop))
            vectors = np.empty((len(places), dimension), dtype=np.float32)
            for block_number in sorted({block for block, _ in places}):
                shard = store.vectors(by_number[block_number])
                if shard.shape[1] != dimension:
                    raise RuntimeError(f"shard {block_number} of {store.path} holds {shard.shape[1]}-d vectors, "
                                       f"not {dimension}-d; run the ingest again with --restart")
                rows = [i for i, (block, _) in enumerate(places) if block == block_number]
                vectors[rows] = shard[[places[i][1] for i in rows]]
            work.save_chunk(number, vectors)
        after_chunk(number, stop)


__all__ = ["Block", "ShardStore", "block_plan", "distinct_texts", "gather_chunks", "npy_bytes", "plan_blocks",
           "rows_text", "stage_shards", "stored_blocks"]
