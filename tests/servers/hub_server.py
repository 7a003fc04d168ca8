"""A Hugging Face Hub stand-in on 127.0.0.1: enough of the file-resolve protocol for `hf_hub_download`.

`HEAD|GET /datasets/<repo>/resolve/<revision>/<file>` answer like huggingface.co does for a plain
(non-LFS, non-Xet) file: `ETag`, `X-Repo-Commit`, `Content-Length`, `Accept-Ranges`, and a 206 for
`Range: bytes=N-`. An unknown file gets 404 with `X-Error-Code: EntryNotFound`, an unknown repo
404 with `X-Error-Code: RepoNotFound` (the headers huggingface_hub maps to its error types).
`cut_next_get_at=N` makes the next full GET (of a path ending in `cut_path`, when set) send N bytes
of the promised body and drop the connection (a network outage mid-transfer). Every request is recorded.

Point a client at it with `HF_ENDPOINT=server.url` (or `endpoint=server.url`).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str
    range: str | None


class HubServer:
    """`with HubServer({"metadata.parquet": data}) as hub:`; `hub.url` is the endpoint."""

    def __init__(self, files: dict[str, bytes], repo_id: str = "poloclub/diffusiondb",
                 repo_type: str = "datasets") -> None:
        self.files = dict(files)
        self.prefix = f"/{repo_type}/{repo_id}/resolve/"
        self.requests: list[HubRequest] = []
        self.cut_next_get_at: int | None = None
        self.cut_path: str | None = None  # with cut_next_get_at: cut only the GET of a path ending so
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self) -> list[HubRequest]:
        return [r for r in self.requests if r.method == "GET"]

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                pass

            def _error(self, code: str) -> None:
                body = f'{{"error": "{code}"}}'.encode()
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _handle(self) -> None:
                hub.requests.append(HubRequest(self.command, self.path, self.headers.get("Range")))
                if not self.path.startswith(hub.prefix):
                    return self._error("RepoNotFound")
                _revision, _, filename = self.path[len(hub.prefix):].partition("/")
                if filename not in hub.files:
                    return self._error("EntryNotFound")
                data = hub.files[filename]
                start, status = 0, 200
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match and self.command == "GET":
                    start, status = int(match.group(1)), 206
                self.send_response(status)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if self.command != "GET":
                    return None
                body = data[start:]
                if hub.cut_next_get_at is not None and status == 200 and (
                        hub.cut_path is None or self.path.split("?")[0].endswith(hub.cut_path)):
                    body, hub.cut_next_get_at = body[:hub.cut_next_get_at], None
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True  # the promised rest never comes
                    return None
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None

            do_GET = do_HEAD = _handle

        return Handler
