"""`promptrag eval`: is an optimized prompt better than the raw idea? Measure it.

- `promptrag eval PROMPTSET -o DIR [--enhancers rules,grounded,local] [--rag/--no-rag] [--images]
  [--judge anthropic|bedrock] [--limit N] [--seed S] [--workers N] [--executor ray[://HOST:PORT]]`:
  every idea × configuration
  into DIR (run.json, results.jsonl, summary.json, images/, pairs.jsonl); the same command
  resumes a run that was stopped. A thin shell over `evaluation.runner.run_eval`.
- `promptrag eval --retrieval [--index PATH] [--n N] [--seed S]`: recall@1/@10 and MRR of each
  retrieval mode on ideas cut from the index's own prompts (`evaluation.retrieval`).
- `promptrag eval --compare A B [--metric M]` (two runs, each DIR or DIR:CONFIG) or
  `promptrag eval RUN_DIR --compare CONFIG_A CONFIG_B`: the winner, per-category deltas and a
  sign test (`evaluation.compare`). `promptrag eval RUN_DIR --report` writes RUN_DIR/report.html
  (`evaluation.report`); a run with `-o DIR` writes DIR/report.html at its end (`--no-report`: not).

A run with `-o DIR` also keeps DIR/status.json (running, rows done, finished / cancelled / failed:
`evaluation.jobs.StatusFile`), which the Evaluate page reads for a run it started in the background.

Ctrl-C (or SIGTERM) once stops after the rows in flight (they are kept; run again to resume),
twice stops at once. Deliberately not here: metrics, the judge, the report (evaluation/).
"""

from __future__ import annotations

from pathlib import Path

import typer

from cli.common import IndexOption, JsonOption, StoreOption, parse_size, print_json, store_location
from core.errors import ConfigError, InputError
from core.executors import EXECUTOR_HELP, parse_executor
from core.progress import CancelToken, TqdmProgress
from core.signals import cancel_on_signals
from enhancers.registry import parse_enhancer_spec

COLUMNS = (("n", "n", "{:.0f}"), ("tokens", "mean_tokens", "{:.1f}"), ("over", "over_budget_rate", "{:.0%}"),
           ("consist", "mean_consistency", "{:.3f}"), ("ex.sim", "mean_example_similarity", "{:.3f}"),
           ("divers", "mean_diversity", "{:.3f}"), ("p50 s", "p50_latency_s", "{:.3f}"),
           ("fallbk", "fallback_rate", "{:.0%}"), ("score", "mean_score", "{:.2f}"),
           ("correct", "correct_rate", "{:.0%}"), ("errors", "errors", "{:.0f}"))


def format_summary(summary: dict) -> str:
    """One line per configuration: the text figures (and the judge's, with a judge)."""
    configs = summary["configs"]
    width = max([len("config"), *(len(name) for name in configs)])
    lines = [f"{'config':<{width}} " + " ".join(f"{title:>8}" for title, _, _ in COLUMNS)]
    for name, figures in configs.items():
        cells = [("-" if figures.get(key) is None else fmt.format(figures[key])) for _, key, fmt in COLUMNS]
        lines.append(f"{name:<{width}} " + " ".join(f"{cell:>8}" for cell in cells))
    reasons = {name: f["fallback_reasons"] for name, f in configs.items() if f.get("fallback_reasons")}
    for name, counted in reasons.items():
        top = "; ".join(f"{reason} ({n})" for reason, n in list(counted.items())[:3])
        lines.append(f"  {name} fell back: {top}")
    return "\n".join(lines)


def _run(promptset: Path | None, output: Path | None, write_report: bool, **values) -> None:
    from evaluation.jobs import StatusFile  # lazy: start-up: ~2 ms
    from evaluation.report import write_report as write_html  # lazy: start-up: ~2 ms
    from evaluation.runner import options_from, run_eval  # lazy: start-up: numpy + retrieval; keeps --help fast

    if promptset is None:
        raise InputError("name a PROMPTSET (a .txt / .tsv / .csv / .jsonl file of ideas), "
                         "or use --retrieval to measure retrieval on an index")
    if output is None:
        raise InputError("-o DIR is required: the folder the run's results go to (re-use it to resume)")
    json_output = values.pop("json_output")
    spec = parse_executor(values.pop("executor"))
    options = options_from(**values)
    if output.exists() and not output.is_dir():
        raise InputError(f"-o {output} is a file; name a folder for the run")
    html = None
    with (cancel_on_signals(CancelToken(), "stopping after the rows in flight") as cancel,
          StatusFile(output) as status, TqdmProgress(enabled=not json_output) as bars):
        def on_progress(event) -> None:
            bars(event)
            status(event)

        report = run_eval(promptset, output, options, on_progress=on_progress, cancel=cancel, executor=spec)
        if write_report:
            status.stage("report")
            html = write_html(output)
            status.data["report"] = str(html)
    if json_output:
        print_json({"out_dir": str(report.out_dir), "written": report.written, "skipped": report.skipped,
                    "errors": report.errors, "seconds": round(report.seconds, 3), "summary": report.summary,
                    **({"report": str(html)} if html else {})})
        return
    typer.echo(f"{report.written} rows written, {report.skipped} already done, {report.errors} errors "
               f"in {report.seconds:.1f}s → {report.out_dir}")
    typer.echo(format_summary(report.summary))
    for name in ("results.jsonl", "summary.json"):
        typer.echo(f"  {report.out_dir / name}")
    if html is not None:
        typer.echo(f"report: {html}")


def _retrieval(location: Path | str, n: int, seed: int, json_output: bool) -> None:
    from evaluation.retrieval import evaluate_index  # lazy: start-up: numpy; keeps --help fast
    from index.prompt_store import open_store  # lazy: start-up: numpy; keeps --help fast

    with open_store(location) as prompt_index, TqdmProgress(enabled=not json_output) as bars:
        report = evaluate_index(prompt_index, n=n, seed=seed, on_progress=bars)
    if json_output:
        print_json(report.to_dict())
        return
    typer.echo(f"index {report.index}: {report.prompts} prompts; {report.queries} subject ideas and as many "
               f"typed ones (seed {report.seed})")
    typer.echo(report.table())


def _compare(run_dir: Path | None, sides: tuple[str, str], metric: str, json_output: bool) -> None:
    from evaluation.compare import compare, resolve_sides  # lazy: start-up: ~3 ms

    values = [str(run_dir), *sides] if run_dir is not None else list(sides)
    result = compare(*resolve_sides(values), metric=metric)
    if json_output:
        print_json(result.to_dict())
        return
    typer.echo("\n".join(result.lines()))


def _report(run_dir: Path | None, json_output: bool) -> None:
    if run_dir is None:
        raise InputError("--report needs a run folder: `promptrag eval RUN_DIR --report`, or -o DIR with a run")
    from evaluation.report import write_report as write_html  # lazy: start-up: ~2 ms

    path = write_html(run_dir)
    if json_output:
        print_json({"report": str(path)})
    else:
        typer.echo(f"report: {path}")


def eval_command(
    promptset: Path | None = typer.Argument(
        None, metavar="PROMPTSET", help="Ideas: .txt (one per line), .tsv/.csv with a Prompt column "
        "(optional Category), or .jsonl with a \"prompt\" key."),
    output: Path | None = typer.Option(None, "-o", "--output", help="Run folder (results.jsonl, summary.json, "
                                       "images/); the same folder resumes."),
    enhancers: str = typer.Option("rules,grounded", "--enhancers", "-e",
                                  help="Enhancers to compare with the raw idea, comma-separated, e.g. "
                                  "rules,grounded,local,anthropic."),
    rag: bool | None = typer.Option(None, "--rag/--no-rag", help="Only with retrieval (--rag), only without "
                                    "(--no-rag); default both."),
    images: bool = typer.Option(False, "--images",
                                help="One image per idea and configuration, same seed and settings."),
    image_backend: str = typer.Option("diffusers", "--image-backend", help="With --images: diffusers or bedrock."),
    image_model: str | None = typer.Option(None, "--image-model", help="With --images: model id or local path."),
    steps: int | None = typer.Option(None, "--steps", help="With --images: denoising steps."),
    size: str | None = typer.Option(None, "--size", help="With --images: WIDTHxHEIGHT, e.g. 512x512."),
    judge: str | None = typer.Option(None, "--judge",
                                     help="With --images: anthropic or bedrock (a multimodal Claude)."),
    limit: int | None = typer.Option(None, "--limit", help="Evaluate N ideas spread over the set (seeded)."),
    seed: int = typer.Option(1, "--seed", help="Seed of the idea sample, the images and the local model."),
    workers: int = typer.Option(4, "--workers", "-w", help="Ideas worked on at once (a local model takes turns)."),
    executor: str = typer.Option("thread", "--executor", help=EXECUTOR_HELP),
    candidates: int = typer.Option(3, "--candidates", "-n",
                                   help="Candidate prompts per idea (diversity is measured across them)."),
    k: int = typer.Option(8, "-k", help="With retrieval: prompts retrieved per idea."),
    mode: str = typer.Option("hybrid", "--mode", help="With retrieval: dense, keyword or hybrid."),
    style: str = typer.Option("auto", "--style", help="Visual style asked of every enhancer."),
    creativity: float = typer.Option(0.7, "--creativity", "-c", help="Creativity asked of every enhancer (0-1)."),
    family: str = typer.Option("sdxl", "--family", help="Target model family: sd1, sdxl, sd3, flux, turbo or other "
                                                        "(prompt form and token budget)."),
    index: Path | None = IndexOption,
    store: str | None = StoreOption,
    retrieval: bool = typer.Option(False, "--retrieval", help="Measure retrieval (recall@k, MRR) on the index "
                                   "instead: ideas cut from its own prompts."),
    n: int = typer.Option(200, "--n", help="With --retrieval: how many ideas to cut from the index."),
    compare: tuple[str, str] | None = typer.Option(
        None, "--compare", metavar="A B", help="Compare two runs (each DIR or DIR:CONFIG), or two configurations "
        "of the run given as PROMPTSET: winner, per-category deltas, sign test."),
    metric: str = typer.Option("auto", "--metric", help="With --compare: score, correct, consistency, "
                               "example_similarity, or auto (the judge's score when both were judged)."),
    report: bool | None = typer.Option(None, "--report/--no-report",
                                       help="report.html (images, verdicts, tables, plot): --report writes it "
                                       "into the run folder given as PROMPTSET; a run with -o DIR writes it "
                                       "at its end unless --no-report."),
    json_output: bool = JsonOption,
) -> None:
    """Evaluate prompts: the raw idea vs each enhancer (with / without retrieval), or retrieval itself."""
    if compare is not None:
        _compare(promptset, compare, metric, json_output)
        return
    if report and output is None:
        _report(promptset, json_output)
        return
    if retrieval:
        if promptset is not None:
            raise InputError("--retrieval measures the index and takes no PROMPTSET; drop one or the other")
        _retrieval(store_location(index, store), n, seed, json_output)
        return

    try:
        names = parse_enhancer_spec(enhancers)
    except ConfigError as exc:  # a bad --enhancers value is a usage error here (exit 2)
        raise InputError(str(exc)) from None
    width, height = parse_size(size)
    _run(promptset, output, report is not False, enhancers=names, rag=rag, images=images, image_backend=image_backend,
         image_model=image_model, steps=steps, width=width, height=height, judge=judge, limit=limit, seed=seed,
         workers=workers, candidates=candidates, k=k, mode=mode, style=style, creativity=creativity,
         model_family=family, index=str(store_location(index, store)) if index or store else None,
         json_output=json_output, executor=executor)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
