"""`promptrag serve`: the app as a server (the container's entry point; see docs/deploy.md).

`promptrag app` with a server's defaults and a short pre-flight, then the very same start-up
(`cli.app_cmd.app`: Streamlit replaces this process, so `docker stop`'s SIGTERM reaches it):

1. listen on 0.0.0.0 (inside a container the published port is the operator's choice);
2. check that PROMPTRAG_HOME can be written (a volume mounted with another owner is the usual
   first-start failure; the error names the fix);
3. with `--starter`, build the shipped starter set (3,000 CC0 prompts, offline) into where the
   app reads its prompts — the Milvus collection of PROMPTRAG_STORE, else the home's default
   index — when nothing is published there yet. A second start finds it and builds nothing; an
   interrupted build resumes. Without `--starter` an index directory is built from the app's
   "Get started" page, and a Milvus collection with `promptrag ingest SOURCE --store URI`;
4. print where the prompts come from and which Ray cluster the Campaign page offers (a Milvus
   password is masked).

Deliberately not here: waiting for Milvus to come up (compose orders that; an unreachable one
stops serve with one line, and the container's restart policy tries again), TLS (a proxy in
front) and sign-in (Streamlit's own, docs/auth.md).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from cli.app_cmd import app as start_app
from core.errors import ConfigError
from core.settings import get_settings

DEFAULT_PORT = 8501


def check_home(home: Path) -> None:
    """Create PROMPTRAG_HOME if needed and prove it is writable (ConfigError naming the fix)."""
    probe = home / ".promptrag-write-check"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        uid = os.getuid() if hasattr(os, "getuid") else "this user"
        raise ConfigError(
            f"PROMPTRAG_HOME {home} is not writable here ({exc.strerror or exc}): give user {uid} a directory "
            f"it can write (`chown -R {uid} DIR` on the volume) or point PROMPTRAG_HOME at one"
        ) from None


def shown_target(target: str | Path) -> str:
    """Where the prompts come from, for the log (a Milvus URI's password masked)."""
    if isinstance(target, str):
        from index.milvus_location import parse_uri  # lazy: start-up: ~2 ms, only for Milvus

        return f"the Milvus collection {parse_uri(target).shown}"
    return f"the index directory {target}"


def has_prompts(target: str | Path) -> bool:
    """Whether an index is published at `target` (a collection state read over the wire for Milvus)."""
    if isinstance(target, str):
        from index.milvus_location import collection_state  # lazy: start-up: ~2 ms, only for Milvus

        return collection_state(target)[0] is not None
    return (target / "manifest.json").is_file()


def build_starter(target: str | Path, *, limit: int | None = None) -> bool:
    """The starter set into `target` unless it already has an index; whether a build ran."""
    if has_prompts(target):
        return False
    from ingest import run_ingest  # lazy: start-up: ingest.pipeline loads httpx, pyarrow
    from ingest.starter import STARTER_FILE  # lazy: start-up: ingest.pipeline loads httpx, pyarrow

    with STARTER_FILE.open("rb") as lines:
        count = sum(1 for _ in lines)
    say(f"building the starter index ({min(limit or count, count):,} prompts) into {shown_target(target)}; "
        "the app starts when it is done (a minute or two on a few CPU cores)")
    where = {"store": target} if isinstance(target, str) else {"index": target}
    report = run_ingest(source=str(STARTER_FILE), limit=limit, progress=False, **where)
    say(f"starter index ready: {report.final_rows:,} prompts")
    return True


def say(line: str) -> None:
    print(f"promptrag: {line}", file=sys.stderr, flush=True)


def serve(
    port: int = typer.Option(DEFAULT_PORT, "--port", min=1, max=65535, help="Port the app listens on."),
    host: str = typer.Option("0.0.0.0", "--host", help="Address to listen on (0.0.0.0: every interface)."),
    starter: bool = typer.Option(
        False, "--starter/--no-starter", help="Build the shipped starter set (offline) into PROMPTRAG_STORE's "
        "collection, else the home's default index, when none is there yet, before the app starts."),
    starter_limit: int | None = typer.Option(None, "--starter-limit", min=1, hidden=True,
                                             help="Only the first N starter prompts (tests, demos)."),
) -> None:
    """Run the app as a server: listen on every interface, check the home, optionally build the starter set."""
    settings = get_settings()
    check_home(settings.home.expanduser())
    target: str | Path = settings.store or settings.default_index
    if starter:
        build_starter(target, limit=starter_limit)
    say(f"home {settings.home}; prompts from {shown_target(target)}")
    if settings.ray_address:
        say(f"the Campaign page offers runs on the Ray cluster at {settings.ray_address}")
    start_app(port=port, index=None, host=host, store=None)  # the app reads PROMPTRAG_STORE / _INDEX itself


def register(cli: typer.Typer) -> None:
    cli.command("serve")(serve)
