"""A Hugging Face Hub stand-in on 127.0.0.1: enough of the file-resolve protocol for `hf_hub_download`.

`HEAD|GET /datasets/<repo>/resolve/<revision>/<file>` answer like huggingface.co does for a plain
(non-LFS, non-Xet) file: `ETag`, `X-Repo-Commit`, `Content-Length`, `Accept-Ranges`, and a 206 for
`Range: bytes=N-`, `bytes=A-B` and suffix ranges `bytes=-N` (a range past the end: 416 with
`Content-Range: bytes */SIZE`). An unknown file gets 404 with `X-Error-Code: EntryNotFound`, an unknown repo
404 with `X-Error-Code: RepoNotFound` (the headers huggingface_hub maps to its error types).
`cut_next_get_at=N` makes the next full GET (of a path ending in `cut_path`, when set) send N bytes
of the promised body and drop the connection (a network outage mid-transfer). `latency_s` delays
every answer (a far-away server). Every request is recorded, with its status and the body bytes
sent once answered (`bytes_served()` sums them).

Point a client at it with `HF_ENDPOINT=server.url` (or `endpoint=server.url`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass(frozen=True)
class HubRequest:
    method: str
    path: str
    range: str | None
    status: int = 0  # filled in once answered
    bytes_sent: int = 0  # body bytes written


def parse_range(header: str | None, size: int) -> tuple[int, int] | None | str:
    """[start, end] of a single `bytes=` range; None without one; "unsatisfiable" past the end."""
    match = re.fullmatch(r"bytes=(\d*)-(\d*)", (header or "").strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # suffix: the last N bytes
        if int(last) == 0:
            return "unsatisfiable"
        return max(0, size - int(last)), size - 1
    start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        return "unsatisfiable"
    return start, end


class HubServer:
    """`with HubServer({"metadata.parquet": data}) as hub:`; `hub.url` is the endpoint."""

    def __init__(self, files: dict[str, bytes], repo_id: str = "poloclub/diffusiondb",
                 repo_type: str = "datasets") -> None:
        self.files = dict(files)
        self.prefix = f"/{repo_type}/{repo_id}/resolve/"
        self.requests: list[HubRequest] = []
        self.cut_next_get_at: int | None = None
        self.cut_path: str | None = None  # with cut_next_get_at: cut only the GET of a path ending so
        self.latency_s = 0.0  # added before every answer
        self._record_lock = threading.Lock()
        self._etags: dict[int, tuple[bytes, str]] = {}
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

    def etag(self, filename: str, data: bytes) -> str:
        """The body's sha256, computed once per body (a 600 MB part zip takes a second to hash)."""
        known = self._etags.get(id(data))
        if known is None or known[0] is not data:  # keeping `data` keeps its id from being reused
            known = self._etags[id(data)] = (data, hashlib.sha256(data).hexdigest())
        return known[1]

    def bytes_served(self) -> int:
        """Body bytes sent so far, over every request."""
        return sum(r.bytes_sent for r in self.requests)

    def _record(self, request: HubRequest) -> int:
        with self._record_lock:
            self.requests.append(request)
            return len(self.requests) - 1

    def _answered(self, number: int, status: int, sent: int) -> None:
        with self._record_lock:
            self.requests[number] = replace(self.requests[number], status=status, bytes_sent=sent)

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
            disable_nagle_algorithm = True  # as real servers: no 40 ms delayed-ACK stall between header and body

            def log_message(self, *args) -> None:
                pass

            def _error(self, code: str) -> None:
                body = f'{{"error": "{code}"}}'.encode()
                hub._answered(self.number, 404, len(body) if self.command == "GET" else 0)
                self.send_response(404)
                self.send_header("X-Error-Code", code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "GET":
                    self.wfile.write(body)

            def _handle(self) -> None:
                self.number = hub._record(HubRequest(self.command, self.path, self.headers.get("Range")))
                if hub.latency_s:
                    time.sleep(hub.latency_s)
                if not self.path.startswith(hub.prefix):
                    return self._error("RepoNotFound")
                _revision, _, filename = self.path[len(hub.prefix):].partition("/")
                if filename not in hub.files:
                    return self._error("EntryNotFound")
                data = hub.files[filename]
                start, end, status = 0, len(data) - 1, 200
                wanted = parse_range(self.headers.get("Range"), len(data)) if self.command == "GET" else None
                if wanted == "unsatisfiable":
                    return self._unsatisfiable(len(data))
                if wanted is not None:
                    (start, end), status = wanted, 206
                self.send_response(status)
                self.send_header("ETag", f'"{hub.etag(filename, data)}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(end + 1 - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
                self.end_headers()
                if self.command != "GET":
                    hub._answered(self.number, status, 0)
                    return None
                body = data[start:end + 1]
                if hub.cut_next_get_at is not None and status == 200 and (
                        hub.cut_path is None or self.path.split("?")[0].endswith(hub.cut_path)):
                    body, hub.cut_next_get_at = body[:hub.cut_next_get_at], None
                    hub._answered(self.number, status, len(body))
                    self.wfile.write(body)
                    self.wfile.flush()
                    self.close_connection = True  # the promised rest never comes
                    return None
                hub._answered(self.number, status, len(body))
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                return None

            def _unsatisfiable(self, size: int) -> None:
                hub._answered(self.number, 416, 0)
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_HEAD = _handle

        return Handler
