"""`promptrag app`: start the Streamlit app (`python -m streamlit run streamlit_app.py`).

Finds `streamlit_app.py` (next to the packages in a source checkout or an editable install,
else as the installed `streamlit_app` module), checks that Streamlit is installed, and replaces
this process with the Streamlit server (so Ctrl+C and a terminating signal reach the server
itself). The working directory is kept, so `.env` and `.streamlit/secrets.toml` there are read.
Because Streamlit reads `.streamlit/config.toml` only from the working directory, the app's own
config file (next to `streamlit_app.py`) is passed as command-line flags; the port, address and
headless mode given here win over it.

`--index PATH` reaches the app as the environment variable PROMPTRAG_INDEX, `--store URI` (a
Milvus collection) as PROMPTRAG_STORE.

`--host 0.0.0.0` (any address but a loopback one) without sign-in configured (no `[auth]` in
`.streamlit/secrets.toml`) prints a warning: the app is then open to the network with admin
actions turned off (app/auth.py; docs/auth.md says how to turn sign-in on).
Deliberately not here: anything the app draws (streamlit_app.py, pages/, app/).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import typer

from cli.common import store_location
from core.errors import ConfigError
from core.settings import streamlit_secrets_files
from core.status import importable

APP_FILE = "streamlit_app.py"
INSTALL_HINT = "pip install 'promptrag[app]'"
_OURS = ("server.port", "server.address", "server.headless")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def find_app_file() -> Path:
    """The app's `streamlit_app.py`; ConfigError naming the fix when it is not installed."""
    beside_packages = Path(__file__).resolve().parents[1] / APP_FILE
    if beside_packages.is_file():
        return beside_packages
    spec = importlib.util.find_spec("streamlit_app")
    if spec is not None and spec.origin and Path(spec.origin).is_file():
        return Path(spec.origin)
    raise ConfigError(f"the app ({APP_FILE}) is not part of this installation; reinstall with "
                      f"{INSTALL_HINT}, or run `streamlit run {APP_FILE}` in a promptrag checkout")


def config_flags(app_file: Path) -> list[str]:
    """The app's `.streamlit/config.toml` (next to the app file) as `--section.key value` flags."""
    path = app_file.parent / ".streamlit" / "config.toml"
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the app's Streamlit config {path}: {exc}; "
                          "fix or delete that file") from None
    flags = []
    for section, values in data.items():
        for key, value in (values.items() if isinstance(values, dict) else ()):
            name = f"{section}.{key}"
            if name in _OURS or isinstance(value, (dict, list)):
                continue
            flags += [f"--{name}", str(value).lower() if isinstance(value, bool) else str(value)]
    return flags


def sign_in_configured() -> bool:
    """Whether Streamlit's secrets (the user's, then the working directory's) have an [auth] section."""
    for path in streamlit_secrets_files():
        try:
            if path.is_file() and isinstance(tomllib.loads(path.read_text(encoding="utf-8")).get("auth"), dict):
                return True
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}; fix or remove the file") from None
    return False


def exposure_warning(host: str) -> str | None:
    """The warning for serving on `host` beyond this machine without sign-in (None: nothing to say)."""
    if host.strip("[]") in LOOPBACK or sign_in_configured():
        return None
    return (f"promptrag: warning: --host {host} serves the app to your network WITHOUT sign-in: anyone who "
            "reaches it can read the history and start paid calls, and admin actions (ingest, index, templates, "
            "blocklist, keys) are turned off. Configure sign-in ([auth] in .streamlit/secrets.toml, see "
            "docs/auth.md) or keep the default --host 127.0.0.1.")


def streamlit_command(app_file: Path, *, port: int, host: str) -> list[str]:
    """The full command line that runs the app (pure: nothing is started)."""
    return [sys.executable, "-m", "streamlit", "run", str(app_file), *config_flags(app_file),
            "--server.port", str(port), "--server.address", host, "--server.headless", "true"]


def app(
    port: int = typer.Option(8501, "--port", min=1, max=65535, help="Port the app listens on."),
    index: Path | None = typer.Option(
        None, "--index", help="Index directory the app opens (default: the home's default index; "
        "built from the starter set on first run)."),
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Address to listen on; 0.0.0.0 exposes the app to your network."),
    store: str | None = typer.Option(
        None, "--store", help="Instead of --index: an index directory, milvus://HOST:PORT/COLLECTION "
        "or milvus-lite://PATH/FILE.db/COLLECTION."),
) -> None:
    """Open the promptrag app in your browser (explore prompts, refine ideas, make images)."""
    if not importable("streamlit"):
        raise ConfigError(f"the app needs Streamlit, which is not installed: {INSTALL_HINT}")
    app_file = find_app_file()
    command = streamlit_command(app_file, port=port, host=host)
    env = dict(os.environ)

    target = store_location(index, store)
    if isinstance(target, str):  # a Milvus URI: the app opens it through index.prompt_store.open_store
        env["PROMPTRAG_STORE"] = target
    elif index is not None or store is not None:
        env["PROMPTRAG_INDEX"] = str(target.expanduser().resolve())
    warning = exposure_warning(host)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    shown = "localhost" if host == "0.0.0.0" else host
    print(f"promptrag: starting the app at http://{shown}:{port} (Ctrl+C stops it)",
          file=sys.stderr, flush=True)
    if os.name == "posix":
        os.execve(sys.executable, command, env)  # the server takes this process's place (and its signals)
    raise typer.Exit(subprocess.run(command, env=env).returncode)


def register(cli: typer.Typer) -> None:
    cli.command("app")(app)
