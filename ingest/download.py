"""Download a source table over HTTP(S) into the cache, resumably.

`fetch(url, cache_dir)` returns the local path of the file named by the URL:

- a finished file already in the cache is returned at once (no request at all);
- otherwise the body streams into `<name>.part`; if a `.part` is left from an interrupted run,
  the request carries `Range: bytes=<size>-` and a 206 reply is appended (a 200 reply means the
  server ignored the range, so we start over); the `.part` is renamed into place only when the
  byte count matches Content-Length, so the cache never holds a truncated table;
- `on_progress` gets Progress("download", bytes, total bytes) per chunk, and a set `cancel`
  token stops between chunks (Cancelled; the `.part` file keeps what arrived, so the next call
  resumes);
- 404, refused connections and timeouts become SourceError naming the URL and what to do.

`reachable(url)` is the quick check before offering a download: does the host answer at all
within a couple of seconds (no network, a firewall)?

Deliberately not here: checksums of the remote file (Hugging Face's resolve URLs give no
stable digest for plain HTTP clients) and `datasets.load_dataset` (it would pull all 2M images'
metadata into a cache of its own format).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from core.errors import SourceError
from core.progress import CancelToken, ProgressCallback, Stopwatch

CHUNK_BYTES = 1 << 20


def cache_path(url: str, cache_dir: Path) -> Path:
    """Where `url` is cached: <cache_dir>/downloads/<host>/<file name>."""
    parsed = urlparse(url)
    name = Path(unquote(parsed.path)).name
    if not name or name in (".", ".."):
        raise SourceError(f"cannot tell a file name from the URL {url!r}; use a URL ending in the file name.")
    host = (parsed.hostname or "local").replace(":", "_")
    return Path(cache_dir) / "downloads" / host / name


def reachable(url: str, timeout_s: float = 2.0) -> bool:
    """True when `url`'s host answers a HEAD request within `timeout_s` (any HTTP status counts
    as an answer: the question is whether the network gets there, not whether the file exists)."""
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=False) as client:
            client.head(url)
    except httpx.HTTPError:
        return False
    return True


def _fail(url: str, what: str) -> SourceError:
    return SourceError(
        f"download of {url} failed: {what}. Check the URL and your connection, or download the file "
        f"yourself and pass its local path as SOURCE."
    )


def fetch(url: str, cache_dir: Path, *, timeout_s: float = 60.0, on_progress: ProgressCallback | None = None,
          cancel: CancelToken | None = None) -> Path:
    """Return a local copy of `url`, downloading (or resuming) it into the cache if needed."""
    target = cache_path(url, cache_dir)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 30.0))
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            with client.stream("GET", url, headers=headers) as response:
                _write_body(url, response, part, have, Stopwatch("download", on_progress), cancel)
    except httpx.ConnectError as exc:
        raise _fail(url, f"cannot connect ({exc})") from None
    except httpx.TimeoutException:
        raise _fail(url, f"no answer within {timeout_s:g} s (timeout); a .part file keeps what arrived") from None
    except httpx.TransportError as exc:
        raise _fail(url, f"connection broke ({exc}); run again to resume from the .part file") from None
    os.replace(part, target)
    return target


def _write_body(url: str, response: httpx.Response, part: Path, have: int, watch: Stopwatch,
                cancel: CancelToken | None) -> None:
    if response.status_code == 416 and have:
        # Our .part already holds everything the server has: check the size it reports.
        total = _total_from_content_range(response.headers.get("Content-Range"))
        if total is not None and total == have:
            return
        part.unlink()
        raise _fail(url, "the server rejected the resume range; the partial file was removed, run again")
    if response.status_code == 404:
        raise _fail(url, "HTTP 404 not found (wrong URL, file name or --base-url?)")
    if response.status_code >= 400:
        raise _fail(url, f"HTTP {response.status_code}")
    if response.status_code == 206 and have:
        mode, start = "ab", have
        total = _total_from_content_range(response.headers.get("Content-Range"))
    else:
        mode, start = "wb", 0  # 200: the server sent the whole body, start over
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None

    written = start
    watch.report(written, total, part.name[:-5])
    with open(part, mode) as handle:
        for chunk in response.iter_bytes(CHUNK_BYTES):
            handle.write(chunk)
            written += len(chunk)
            watch.report(written, total, part.name[:-5])
            if cancel is not None and cancel.cancelled:
                handle.flush()
                cancel.raise_if_cancelled(f"the download of {url}",
                                          f"{part} keeps the {written} bytes that arrived; run again to resume")
        handle.flush()
        os.fsync(handle.fileno())
    if total is not None and written != total:
        raise _fail(url, f"got {written} of {total} bytes; run again to resume from the .part file")


def _total_from_content_range(value: str | None) -> int | None:
    # "bytes 100-199/200" or "bytes */200"
    if not value or "/" not in value:
        return None
    total = value.rsplit("/", 1)[1].strip()
    return int(total) if total.isdigit() else None
