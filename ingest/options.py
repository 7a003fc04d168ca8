"""What a user can ask of an ingest run (`IngestOptions`) and what it tells them (`IngestReport`).

The Field descriptions double as `promptrag ingest --help`. NSFW defaults are safe for work:
DiffusionDB's scores are likelihoods in 0..1 (prompt: Detoxify max of toxicity and
sexual_explicit; image: LAION's NSFW detector) and an image score of 2.0 means Stable Diffusion
already blurred the image, so the default 0.5 image threshold drops every blurred image.

Deliberately not here: running anything (see pipeline.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.executors import EXECUTOR_HELP, THREAD, parse_executor
from ingest.diffusiondb import DEFAULT_FILE
from ingest.normalize import MAX_PROMPT_CHARS


class IngestOptions(BaseModel):
    """Options of one ingest run (also `promptrag ingest`'s options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str | None = Field(
        None,
        description="Prompt source: a local Parquet (DiffusionDB metadata), CSV/TSV, JSONL, JSON or .txt "
        "file, or an http(s) URL. Default: DiffusionDB 2M's metadata.parquet, downloaded once into "
        "the Hugging Face cache.",
    )
    index: Path | None = Field(None,
                               description="Index directory to create or extend (default: the home's default index).")
    store: str | None = Field(
        None,
        pattern=r"^milvus(-lite)?://",
        description="A Milvus collection to create or extend instead of an index directory: "
        "milvus://HOST:PORT/COLLECTION (a Milvus server) or milvus-lite://PATH/FILE.db/COLLECTION "
        "(a local Milvus Lite file). Needs pip install 'promptrag[milvus]'.",
    )
    hub_endpoint: str | None = Field(
        None,
        pattern=r"^https?://",
        description="Hugging Face Hub endpoint (a mirror, or a test server) the default DiffusionDB table "
        "is downloaded from. Default: HF_ENDPOINT, else https://huggingface.co.",
    )
    diffusiondb_file: Literal["metadata.parquet", "metadata-large.parquet"] = Field(
        DEFAULT_FILE,
        description="Which DiffusionDB table to download when no SOURCE is given (2M or 14M images).",
    )
    embedding_model: str | None = Field(
        None,
        min_length=1,
        description="sentence-transformers model id or path (default: the existing index's model, else "
        "the configured PROMPTRAG_EMBEDDING_MODEL).",
    )
    batch_size: int = Field(64, ge=1, le=8192, description="Prompts embedded per batch (one checkpoint per batch).")
    quantize: Literal["none", "int8"] | None = Field(
        None,
        description="Embed through the model's ONNX export in float32 (none) or with dynamic int8 weights "
        "(int8: ~1.7x faster on CPU, vectors within ~0.01 cosine, the same recall@10 within 0.5 points; "
        "benchmarks/README.md). Default: the existing index's, else int8 (none with PROMPTRAG_ONNX_EXPORT=0). "
        "Queries of the index use the same export.",
    )
    portable: bool = Field(
        False,
        description="Copy the model's ONNX export into the index (~90 MB for MiniLM fp32, ~23 MB int8) so it "
        "travels to machines without it; by default the index refers to this machine's one shared copy "
        "under $PROMPTRAG_HOME/onnx/.",
    )
    index_type: Literal["auto", "flat", "hnsw", "ivf_sq8"] = Field(
        "auto", description="FAISS index type; auto = exact for small indexes, approximate for large ones."
    )
    limit: int | None = Field(None, ge=1, description="Read only the first N rows of the source (quick start).")
    sample: int | None = Field(
        None, ge=1, description="Keep a seeded pseudo-random sample of N distinct prompts (after filtering)."
    )
    seed: int = Field(0, description="Seed of --sample (same seed, same sample).")
    max_prompt_nsfw: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Drop prompts whose prompt NSFW score (0..1) is above this; 1.0 keeps all. "
        "Rows without a score are kept.",
    )
    max_image_nsfw: float = Field(
        0.5, ge=0.0, le=2.0,
        description="Drop prompts whose highest image NSFW score is above this (2.0 = image blurred by SD); "
        "2.0 keeps all. Rows without a score are kept.",
    )
    max_prompt_chars: int = Field(
        MAX_PROMPT_CHARS, ge=10, le=100_000, description="Drop prompts longer than this after clean-up."
    )
    read_batch_rows: int = Field(
        50_000, ge=1, le=1_000_000, description="Source rows staged per commit (checkpoint granularity of reading; "
        "with --executor ray, the rows of one block)."
    )
    fold: bool = Field(
        True,
        description="Fold near-identical prompts (the same words in another order or with other punctuation) "
        "into one row that keeps the total count and the other wordings as variants.",
    )
    fold_cosine: float | None = Field(
        None, ge=0.8, le=1.0,
        description="Also fold prompts whose embeddings have at least this cosine similarity (0.94, the measured "
        "setting, folds prompts one word or modifier apart) into the row of the more frequent one, or of the "
        "row already indexed, keeping the total count and "
        "the other wordings as variants. Off by default.",
    )
    executor: str = Field(
        THREAD,
        description=EXECUTOR_HELP.replace("Where the work runs", "Where prompts are embedded")
        + " With Ray, tasks read and clean each block of --read-batch-rows rows and an actor pool embeds "
        "it; the shards are merged and written here, into the same index (docs/ray.md).",
    )
    restart: bool = Field(False, description="Discard an interrupted run's checkpoint and start over.")
    progress: bool = Field(
        True, description="Draw progress bars on stderr when no on_progress callback is given to run_ingest."
    )

    @field_validator("executor")
    @classmethod
    def _known_executor(cls, value: str) -> str:
        return str(parse_executor(value))  # thread, ray or ray://HOST:PORT (not part of the fingerprint)

    def fingerprint_fields(self) -> dict[str, Any]:
        """The options that change the result: resuming with different ones is refused."""
        fields = self.model_dump(
            mode="json",
            include={
                "limit", "sample", "seed", "max_prompt_nsfw", "max_image_nsfw", "max_prompt_chars",
                "index_type", "fold", "fold_cosine", "quantize",
            },
        )
        if fields["quantize"] is None:  # as runs checkpointed before --quantize existed, which still resume
            del fields["quantize"]
        return fields


@dataclass
class IngestReport:
    """What one ingest run did. Counts are of source rows unless they say prompts."""

    index_path: str
    source: str
    embedding_model: str = ""
    rows_read: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    duplicates_merged: int = 0  # rows folded into an earlier copy of the same prompt (or a reordering of it)
    nsfw_filtered_prompts: int = 0
    nsfw_filtered_rows: int = 0
    sampled_out_prompts: int = 0
    existing_rows: int = 0  # rows already in the index before this run
    seen_again_prompts: int = 0  # prompts already in the index whose counts grew
    new_prompts_embedded: int = 0
    near_duplicates_folded: int = 0  # new prompts folded by meaning into another row (--fold-cosine)
    final_rows: int = 0
    index_type: str = ""
    resumed: bool = False
    seconds: float = 0.0
    prompts_per_s: float = 0.0
    embedded_with: str = ""  # "onnx none" / "onnx int8" (the export and its quantization), "sentence-transformers"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary_lines(self) -> list[str]:
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items()) if v) or "none"
        return [
            f"index:            {self.index_path} ({self.final_rows} prompts, {self.index_type}, "
            f"{self.embedding_model})",
            f"source:           {self.source}" + (" (resumed)" if self.resumed else ""),
            f"rows read:        {self.rows_read}",
            f"dropped:          {dropped}",
            f"duplicates merged:{self.duplicates_merged:>8}",
            f"NSFW filtered:    {self.nsfw_filtered_prompts} prompts ({self.nsfw_filtered_rows} rows)",
            f"sampled out:      {self.sampled_out_prompts} prompts",
            f"already indexed:  {self.seen_again_prompts} prompts seen again (counts added)",
            f"new embedded:     {self.new_prompts_embedded} prompts"
            + (f" ({self.near_duplicates_folded} folded into a near-identical one)"
               if self.near_duplicates_folded else ""),
            f"time:             {self.seconds:.1f} s ({self.prompts_per_s:.1f} prompts/s"
            + (f", embedded with {self.embedded_with})" if self.embedded_with else ")"),
        ]
