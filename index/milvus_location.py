"""Where a Milvus store lives and how to reach it: URIs, collection names, connections, properties.

Locations (see index/prompt_store.py): `milvus://[USER:PASSWORD@]HOST:PORT/COLLECTION` for a
server, `milvus-lite://PATH/FILE.db[/COLLECTION]` for a local Milvus Lite file (a directory
that one process at a time may open). `connect` returns a client whose failures surface as one
BackendError line naming the store; `disconnect` releases a Milvus Lite file with its last client.

What a FAISS index keeps in manifest.json lives in collection properties (`promptrag.*`):
format version, embedding model, dimension, index type and parameters, and, written only when
an ingest completes, the row count and a generation id (`collection_state`, `manifest_from_properties`).

Deliberately not here: searching (milvus_store.py), creating and writing (milvus_writer.py).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import BackendError, IndexLoadError, InputError
from core.settings import get_settings
from index.manifest import Manifest
from index.records import RECORD_COLUMNS

DEFAULT_COLLECTION = "prompts"
PROPERTY = "promptrag."
CONNECT_TIMEOUT_S = 10.0
SERVER_HINT = (
    "start it (docker compose up -d, see docs/milvus.md) "
    "or fix HOST:PORT in --store"
)


@dataclass(frozen=True)
class MilvusLocation:
    """A parsed Milvus store URI."""

    uri: str  # as the user wrote it (shown in messages; the password is masked)
    client_uri: str  # what MilvusClient gets: a .db path (Lite) or http://HOST:PORT
    collection: str
    lite: bool
    token: str = ""  # USER:PASSWORD for a server with authentication

    @property
    def shown(self) -> str:
        return self.uri if not self.token else self.uri.replace(self.token.split(":", 1)[-1] + "@", "***@")

    def work_dir(self) -> Path:
        """Where a local ingest keeps its work directory (staging, vector chunks, checkpoint)."""
        if self.lite:
            return Path(f"{self.client_uri}.{self.collection}.ingest-work")

        host = self.client_uri.split("://", 1)[1].replace(":", "-").replace("/", "-")
        return get_settings().indexes_dir / f".milvus-{host}-{self.collection}.ingest-work"


def parse_uri(text: str) -> MilvusLocation:
    """`milvus://HOST:PORT/COLLECTION` or `milvus-lite://PATH/FILE.db[/COLLECTION]` -> a location."""
    raw = text.strip()
    scheme, _, rest = raw.partition("://")
    scheme = scheme.lower()
    if scheme == "milvus-lite":
        if not rest:
            raise InputError(f"--store {raw!r} names no file: use milvus-lite://PATH/FILE.db/COLLECTION")
        path, collection = rest, DEFAULT_COLLECTION
        if not rest.endswith(".db"):
            path, _, collection = rest.rpartition("/")
        if not path.endswith(".db"):
            raise InputError(
                f"--store {raw!r}: a Milvus Lite file name must end in .db, "
                "e.g. milvus-lite://gallery.db/prompts or milvus-lite:///abs/path/gallery.db"
            )
        file = Path(path).expanduser().resolve()
        return MilvusLocation(raw, str(file), _check_collection(collection, raw), lite=True)
    if scheme == "milvus":
        from urllib.parse import unquote, urlsplit

        parts = urlsplit(f"http://{rest}")
        try:
            port = parts.port
        except ValueError:
            port = None
        collection = parts.path.strip("/")
        if not parts.hostname or port is None or not collection:
            raise InputError(
                f"--store {raw!r} must look like milvus://HOST:PORT/COLLECTION, e.g. "
                "milvus://127.0.0.1:19530/prompts"
            )
        token = ""
        if parts.username:
            token = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        return MilvusLocation(
            raw, f"http://{parts.hostname}:{port}", _check_collection(collection, raw), lite=False,
            token=token,
        )
    raise InputError(
        f"--store {raw!r} is not a Milvus URI (milvus://HOST:PORT/COLLECTION or milvus-lite://FILE.db)"
    )


def _check_collection(name: str, raw: str) -> str:
    ok = name and len(name) <= 255 and (name[0].isalpha() or name[0] == "_")
    if not ok or not all(c.isascii() and (c.isalnum() or c == "_") for c in name):
        raise InputError(
            f"--store {raw!r}: collection name {name!r} must start with a letter or _ and hold only "
            "letters, digits and _"
        )
    return name


# Milvus Lite runs in this process, one server per file, and holds the file's lock until that
# server stops; pymilvus' client.close() leaves it running. Count our clients per file and stop
# the server when the last one closes, so another process (an ingest, the app) can open it.
_lite_clients: dict[str, int] = {}
_lite_lock = threading.Lock()


def disconnect(location: MilvusLocation, client: Any) -> None:
    """Close a client from `connect`; the last client of a Milvus Lite file releases the file."""
    client.close()
    if not location.lite:
        return
    with _lite_lock:
        left = _lite_clients.get(location.client_uri, 1) - 1
        if left > 0:
            _lite_clients[location.client_uri] = left
            return
        _lite_clients.pop(location.client_uri, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(location.client_uri)


class _Guarded:
    """A MilvusClient whose failures (server gone, timeout, rejected request) surface as one
    BackendError line naming the store, instead of a pymilvus traceback."""

    def __init__(self, client: Any, location: MilvusLocation) -> None:
        self._client, self._location = client, location

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            from pymilvus.exceptions import MilvusException

            try:
                return method(*args, **kwargs)
            except MilvusException as exc:
                where = self._location.shown
                hint = "check the collection" if self._location.lite else SERVER_HINT
                message = exc.message or exc
                raise BackendError(f"Milvus at {where} failed in {name}: {message}; {hint}") from None

        return call


def connect(location: MilvusLocation) -> Any:
    """A `pymilvus.MilvusClient` for `location`; IndexLoadError naming the fix when it cannot be had."""
    if location.lite and "grpc" not in sys.modules:
        # pymilvus talks gRPC to the in-process Lite server; gRPC's C core would print its
        # keepalive chatter ("GOAWAY too_many_pings") on stderr during long ingests. Read at import.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
    try:
        from pymilvus import MilvusClient
    except ImportError:
        raise IndexLoadError(
            "Milvus stores need pymilvus and milvus-lite: pip install 'promptrag[milvus]'"
        ) from None
    # pymilvus logs every failed RPC at ERROR level; we raise one clear error instead.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        if location.lite:
            # Milvus Lite serves pymilvus in-process; it lacks AllocTimestamp, which pymilvus calls
            # (and falls back from) after creating an index, and grpc logs that as an ERROR.
            logging.getLogger("grpc._server").setLevel(logging.CRITICAL)
            logging.getLogger("milvus_lite").setLevel(logging.CRITICAL)  # a locked file: we say it once
            Path(location.client_uri).parent.mkdir(parents=True, exist_ok=True)
            with _lite_lock:
                client = MilvusClient(location.client_uri)
                _lite_clients[location.client_uri] = _lite_clients.get(location.client_uri, 0) + 1
            return _Guarded(client, location)
        client = MilvusClient(uri=location.client_uri, token=location.token, timeout=CONNECT_TIMEOUT_S)
        return _Guarded(client, location)
    except Exception as exc:  # pymilvus raises MilvusException, grpc errors, or RuntimeError for Lite
        text = str(getattr(exc, "message", "") or exc).strip()
        reason = (text.splitlines() or [""])[0] or type(exc).__name__
        if location.lite:
            raise IndexLoadError(
                f"cannot open Milvus Lite file {location.client_uri} ({reason}); another process may have "
                "it open (one at a time): stop it, or serve the file with `milvus-lite server --data-dir "
                f"{location.client_uri}` and use --store milvus://127.0.0.1:19530/{location.collection}"
            ) from None
        raise IndexLoadError(
            f"cannot reach the Milvus server at {location.client_uri} ({reason}): {SERVER_HINT}"
        ) from None


def collection_properties(client: Any, collection: str) -> dict[str, str]:
    info = client.describe_collection(collection)
    props = info.get("properties") or {}
    return {k[len(PROPERTY):]: str(v) for k, v in props.items() if k.startswith(PROPERTY)}


def stored_columns(client: Any, collection: str) -> list[str]:
    """The record columns the collection has: one created before a column existed (e.g. `image`)
    lacks it; reads then see None there and writes leave it out."""
    fields = {field.get("name") for field in client.describe_collection(collection).get("fields") or []}
    return [name for name in RECORD_COLUMNS if name in fields]


def manifest_from_properties(props: dict[str, str], location: MilvusLocation) -> Manifest:
    return Manifest(
        format_version=int(props["format_version"]),
        embedding_model=props["embedding_model"],
        dimension=int(props["dimension"]),
        row_count=int(props.get("row_count", 0)),
        index_type=props.get("index_type", "flat"),
        index_params=json.loads(props.get("index_params", "{}")),
        files={},
        created_at=props.get("published_at", ""),
        promptrag_version=props.get("promptrag_version", ""),
        extra={"store": "milvus", "uri": location.shown, "generation": props.get("generation", "")},
    )


def collection_state(uri: str) -> tuple[Manifest | None, str | None]:
    """(manifest, digest) of a published collection at `uri`, or (None, None) when there is none.

    The digest changes whenever an ingest publishes (row count + generation id), as the sha256
    of manifest.json does for a FAISS index.
    """
    location = parse_uri(uri)
    client = connect(location)
    try:
        if not client.has_collection(location.collection):
            return None, None
        props = collection_properties(client, location.collection)
        if "embedding_model" not in props:
            raise InputError(
                f"collection {location.collection!r} at {location.shown} exists and was not written by "
                "promptrag; choose another collection name in --store"
            )
        if "row_count" not in props:
            return None, None
        digest = f"{props['row_count']}:{props.get('generation', '')}"
        return manifest_from_properties(props, location), digest
    finally:
        disconnect(location, client)


__all__ = [
    "DEFAULT_COLLECTION", "PROPERTY", "MilvusLocation", "collection_properties", "collection_state", "connect",
    "disconnect", "manifest_from_properties", "parse_uri", "stored_columns",
]
