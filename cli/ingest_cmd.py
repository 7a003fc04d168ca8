"""`promptrag ingest [SOURCE]`: build or extend a prompt index (thin shell over ingest.run_ingest).

Help texts come from IngestOptions' Field descriptions, so the CLI, the app and the library
describe each option the same way. Errors a user may see (core.errors) become one line on
stderr in cli.main; nothing is caught here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from cli.common import STORE_HELP, JsonOption, print_json, store_location
from core.executors import parse_executor
from core.progress import TqdmProgress
from core.validation import validated
from ingest.options import IngestOptions


def _help(name: str) -> str:
    return IngestOptions.model_fields[name].description or ""


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest(
        source: Optional[str] = typer.Argument(None, help=_help("source"), show_default=False),
        index: Optional[Path] = typer.Option(None, "--index", help=_help("index")),  # noqa: B008 (help text)
        store: Optional[str] = typer.Option(None, "--store", help=STORE_HELP),
        embedding_model: Optional[str] = typer.Option(None, "--embedding-model", help=_help("embedding_model")),
        batch_size: int = typer.Option(64, "--batch-size", help=_help("batch_size")),
        quantize: Optional[str] = typer.Option(None, "--quantize", help=_help("quantize")),
        portable: bool = typer.Option(False, "--portable", help=_help("portable")),
        index_type: str = typer.Option("auto", "--index-type", help=_help("index_type")),
        limit: Optional[int] = typer.Option(None, "--limit", help=_help("limit")),
        sample: Optional[int] = typer.Option(None, "--sample", help=_help("sample")),
        seed: int = typer.Option(0, "--seed", help=_help("seed")),
        max_prompt_nsfw: float = typer.Option(0.5, "--max-prompt-nsfw", help=_help("max_prompt_nsfw")),
        max_image_nsfw: float = typer.Option(0.5, "--max-image-nsfw", help=_help("max_image_nsfw")),
        max_prompt_chars: int = typer.Option(2000, "--max-prompt-chars", help=_help("max_prompt_chars")),
        hub_endpoint: Optional[str] = typer.Option(None, "--hub-endpoint", help=_help("hub_endpoint")),
        large: bool = typer.Option(False, "--large",
                                   help="Download DiffusionDB Large (metadata-large.parquet, 14M rows)."),
        read_batch_rows: int = typer.Option(50_000, "--read-batch-rows", help=_help("read_batch_rows")),
        restart: bool = typer.Option(False, "--restart", help=_help("restart")),
        fold: bool = typer.Option(True, "--fold/--no-fold", help=_help("fold")),
        fold_cosine: Optional[float] = typer.Option(None, "--fold-cosine", help=_help("fold_cosine")),
        executor: str = typer.Option("thread", "--executor", help=_help("executor")),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
        json_output: bool = JsonOption,
    ) -> None:
        """Read prompts, clean and de-duplicate them, embed them and publish the index (resumable)."""
        from ingest import run_ingest  # lazy: start-up: ingest.pipeline loads httpx, pyarrow

        target = store_location(index, store)  # a directory, or a Milvus URI (ingest/milvus_ingest.py)
        values = dict(
            source=source, index=target if isinstance(target, Path) else None,
            store=None if isinstance(target, Path) else target, embedding_model=embedding_model, batch_size=batch_size,
            index_type=index_type, limit=limit, sample=sample, seed=seed, max_prompt_nsfw=max_prompt_nsfw,
            max_image_nsfw=max_image_nsfw, max_prompt_chars=max_prompt_chars, read_batch_rows=read_batch_rows,
            restart=restart, fold=fold, fold_cosine=fold_cosine, quantize=quantize, portable=portable,
            executor=str(parse_executor(executor)),  # a bad value fails with batch's message, before any work
        )
        if hub_endpoint is not None:
            values["hub_endpoint"] = hub_endpoint
        if large:
            values["diffusiondb_file"] = "metadata-large.parquet"
        with TqdmProgress(enabled=not quiet) as bars:  # tqdm bars drawn from run_ingest's progress events
            report = run_ingest(validated(IngestOptions, "ingest options", **values), on_progress=bars)
        if json_output:
            print_json(report.to_dict())
        else:
            sys.stdout.write("\n".join(report.summary_lines()) + "\n")
