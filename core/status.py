"""Is a backend usable here, and if not, which setting makes it so? (`BackendStatus` + probes).

The registries (`enhancers.registry.enhancer_status`, `generate.registry.image_backend_status`)
build one `BackendStatus` per registered backend from the small probes below:

* `importable(module)`            — the package is installed (found, not imported);
* `secret_is_set(name)`           — `core.settings.resolve_secret` finds it (env, .env, Streamlit
                                    secrets); only a yes/no ever leaves this module;
* `model_location(model, file)`   — a local file/directory, or already in the Hugging Face cache;
* `aws_status()`                  — AWS keys from the settings (environment, .env, secrets.toml),
                                    else the profile / role variables and the AWS config / credentials
                                    files; and a region.

Deliberately not here: loading a model, importing an SDK, calling any network endpoint (boto3's
credential chain would ask the EC2 metadata endpoint and can hang for seconds, so AWS files are
read directly), and any secret value: a `detail` names settings, never their values.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ConfigError, MissingCredentialError, one_line
from core.registry import Registry
from core.settings import get_settings, resolve_secret


@dataclass(frozen=True)
class BackendStatus:
    """One backend's readiness. `detail`: what it will use when ready, the fix when not."""

    kind: str  # "enhancer" | "image"
    name: str  # registry name
    ready: bool
    detail: str


def importable(module: str) -> bool:
    """True if `module` is installed (its spec is found; nothing is imported)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def secret_is_set(name: str) -> bool:
    """True if the secret `name` is set in the environment, `.env` or Streamlit secrets."""
    try:
        resolve_secret(name)
    except MissingCredentialError:
        return False
    return True


def model_location(model: str, filename: str) -> str | None:
    """Where `model` is on this machine: "local file", "local directory", "Hugging Face cache", or None.

    `model` is a path, a hub id ("owner/name", checked by its `filename`, e.g. config.json) or
    an "owner/name:file.gguf" hub file. Only the disk is looked at.
    """
    text = model.strip()
    if not text:
        return None
    path = Path(text).expanduser()
    if path.is_file():
        return "local file"
    if path.is_dir():
        return "local directory"
    repo, sep, hub_file = text.partition(":")
    if sep and not hub_file.lower().endswith(".gguf"):
        return None  # "C:\..." and other paths that do not exist
    if repo.count("/") != 1 or repo.startswith(("/", ".", "~")):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    try:
        found = try_to_load_from_cache(repo, hub_file or filename)
    except ValueError:  # not a valid repo id
        return None
    return "Hugging Face cache" if isinstance(found, str) else None


# --- AWS ---------------------------------------------------------------------------------------

_CONFIG_CREDENTIAL_KEYS = ("aws_access_key_id", "role_arn", "credential_process", "sso_session",
                           "sso_start_url", "web_identity_token_file")


def _read_ini(env_var: str, default: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    path = Path(os.environ.get(env_var) or default).expanduser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        pass  # an unreadable file gives no credentials; boto3 will name the problem when used
    return parser


def _section(parser: configparser.ConfigParser, *names: str) -> dict[str, str]:
    for name in names:
        if parser.has_section(name):
            return dict(parser.items(name))
    return {}


def aws_status() -> tuple[bool, str]:
    """(ready, detail) for AWS: credentials and a region, found without touching the network.

    detail, when ready: where the credentials and region come from (never their values); when
    not: the exact settings to add.
    """
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE")
    name = profile or "default"
    credentials = _section(_read_ini("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"), name)
    config = _section(_read_ini("AWS_CONFIG_FILE", "~/.aws/config"), f"profile {name}", name)

    settings = get_settings()  # keys may sit in .env or secrets.toml, which boto3 never reads
    source = None
    if settings.aws_access_key_id is not None and settings.aws_secret_access_key is not None:
        source = "AWS_ACCESS_KEY_ID (environment, .env or secrets.toml)"
    elif os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and os.environ.get("AWS_ROLE_ARN"):
        source = "web identity (AWS_WEB_IDENTITY_TOKEN_FILE)"
    elif os.environ.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or os.environ.get(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        source = "container credentials"
    elif credentials.get("aws_access_key_id") or any(config.get(key) for key in _CONFIG_CREDENTIAL_KEYS):
        source = f"AWS profile {name!r}"
    region = (os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or config.get("region"))

    if source is None:
        if profile:
            return False, (f"AWS_PROFILE={profile} names no profile with credentials in ~/.aws/credentials "
                           "or ~/.aws/config; run `aws configure --profile "
                           f"{profile}` or `aws sso login --profile {profile}`")
        return False, ("no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                       "AWS_PROFILE, or run `aws configure`")
    if not region:
        return False, (f"AWS credentials found ({source}) but no region: set AWS_REGION (e.g. us-west-2) "
                       "or region in ~/.aws/config")
    return True, f"{source}, region {region}"


def collect_status(kind: str, registry: Registry[Any], settings: Any) -> list[BackendStatus]:
    """One BackendStatus per registered name, from its class's `status(settings)`.

    A factory without one counts as ready ("add-on (no readiness check)"); an add-on that fails
    to import, or whose name is taken, is listed as not ready with the reason.
    """
    statuses = []
    for name in registry.names():
        try:
            backend = registry.factory(name)
        except ConfigError as exc:
            statuses.append(BackendStatus(kind=kind, name=name, ready=False, detail=one_line(exc)))
            continue
        check: Callable[[Any], tuple[bool, str]] | None = getattr(backend, "status", None)
        ready, detail = check(settings) if callable(check) else (True, "add-on (no readiness check)")
        statuses.append(BackendStatus(kind=kind, name=name, ready=ready, detail=detail))
    for name, why in registry.problems.items():
        if name not in registry.names():
            statuses.append(BackendStatus(kind=kind, name=name, ready=False, detail=why))
    return statuses
