"""Downloads: the DiffusionDB table through huggingface_hub, any other URL over httpx.

`fetch_diffusiondb(filename)` is the default source's download: `hf_hub_download` of
`poloclub/diffusiondb` (`repo_type="dataset"`), so the Hub's own machinery applies: its cache
(`~/.cache/huggingface/hub`, shared with every other HF tool; a file already there is revalidated
with one HEAD request and never downloaded twice), resuming a body cut off mid-transfer (it
retries with a Range request), `HF_ENDPOINT` mirrors and `HF_HUB_OFFLINE` (then only the cache is
used). huggingface_hub reads HF_ENDPOINT / HF_HUB_OFFLINE once, when first imported; we take them
from `core.settings` at each call and pass them explicitly, so a process that sets them later (the
app, a test) is obeyed. An interrupted *run* starts the file over: huggingface_hub >= 2 downloads
into a per-process temporary file and removes it on failure.

`fetch(url, cache_dir)` is for arbitrary http(s) URLs and returns the local path of the file named
by the URL:

- a finished file already in the cache is returned at once (no request at all);
- otherwise the body streams into `<name>.part`; if a `.part` is left from an interrupted run,
  the request carries `Range: bytes=<size>-` and a 206 reply is appended (a 200 reply means the
  server ignored the range, so we start over); the `.part` is renamed into place only when the
  byte count matches Content-Length, so the cache never holds a truncated table;
- 404, refused connections and timeouts become SourceError naming the URL and what to do.

Both report Progress("download", bytes, total bytes) through `on_progress`, and a set `cancel`
token stops between chunks (Cancelled).

`reachable(url)` is the quick check before offering a download: does the host answer at all
within a couple of seconds (no network, a firewall)?

Deliberately not here: checksums of arbitrary remote files (plain HTTP servers give no stable
digest; the Hub path checks size and ETag itself) and `datasets.load_dataset` (it would pull all
2M images' metadata into a cache of its own format).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx

from core.errors import Cancelled, SourceError
from core.progress import CancelToken, ProgressCallback, Stopwatch
from core.settings import get_settings
from ingest.diffusiondb import DEFAULT_FILE, DEFAULT_HUB_ENDPOINT, REPO_ID, REPO_TYPE, REVISION, file_url

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


# --- the DiffusionDB table through huggingface_hub ---------------------------------------------

def fetch_diffusiondb(filename: str = DEFAULT_FILE, *, endpoint: str | None = None, revision: str = REVISION,
                      cache_dir: Path | None = None, offline: bool | None = None,
                      on_progress: ProgressCallback | None = None, cancel: CancelToken | None = None) -> Path:
    """Local path of DiffusionDB's `filename`, from the Hugging Face cache or downloaded into it.

    endpoint / cache_dir / offline default to the settings (HF_ENDPOINT, PROMPTRAG_HUB_CACHE,
    HF_HUB_OFFLINE). Raises SourceError (one line naming the fix) or Cancelled.
    """
    from huggingface_hub import hf_hub_download

    settings = get_settings()
    endpoint = (endpoint or settings.hub_endpoint or DEFAULT_HUB_ENDPOINT).rstrip("/")
    cache_dir = cache_dir if cache_dir is not None else settings.hub_cache
    offline = settings.hub_offline if offline is None else offline
    url = file_url(filename, endpoint, revision)
    try:
        path = hf_hub_download(
            repo_id=REPO_ID, repo_type=REPO_TYPE, filename=filename, revision=revision, endpoint=endpoint,
            cache_dir=str(cache_dir) if cache_dir is not None else None, local_files_only=offline,
            tqdm_class=_progress_bar_class(filename, url, on_progress, cancel),
        )
    except (Cancelled, SourceError):
        raise
    except Exception as exc:  # huggingface_hub / httpx2 errors: mapped to one line, others re-raised
        raise _hub_error(exc, url, filename, offline, cache_dir) from None
    return Path(path)


def _progress_bar_class(filename: str, url: str, on_progress: ProgressCallback | None,
                        cancel: CancelToken | None):
    """A tqdm class for hf_hub_download that draws nothing itself: it forwards each update as a
    Progress event and is where a set cancel token stops the transfer."""
    from tqdm.std import tqdm

    watch = Stopwatch("download", on_progress)

    class ProgressEvents(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.bytes_done = int(kwargs.get("initial") or 0)
            watch.report(self.bytes_done, self.total, filename)

        def update(self, n=1):
            self.bytes_done += int(n or 0)
            watch.report(self.bytes_done, self.total, filename)
            if cancel is not None:
                cancel.raise_if_cancelled(f"the download of {url}",
                                          "nothing was kept; run again to download it")

    return ProgressEvents


def _is(error: BaseException | None, *names: str) -> bool:
    # Transport errors are told apart by class name: huggingface_hub 1.x raises httpx's, 2.x httpx2's.
    return error is not None and any(cls.__name__ in names for cls in type(error).__mro__)


def _hub_error(exc: Exception, url: str, filename: str, offline: bool, cache_dir: Path | None) -> Exception:
    from huggingface_hub.errors import (
        FileMetadataError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    cause = exc.__cause__ if isinstance(exc, LocalEntryNotFoundError) else exc
    if isinstance(exc, LocalEntryNotFoundError) and offline:
        where = cache_dir or "the Hugging Face cache"
        return SourceError(
            f"HF_HUB_OFFLINE is set and DiffusionDB's {filename} is not in {where}: unset HF_HUB_OFFLINE "
            f"(or set it to 0) to download it once, or pass a local file as SOURCE."
        )
    if isinstance(cause, OfflineModeIsEnabled):
        what = ("downloads are off in this process (HF_HUB_OFFLINE was set when huggingface_hub was "
                "imported); start it again without HF_HUB_OFFLINE")
    elif isinstance(cause, RemoteEntryNotFoundError):
        what = f"HTTP 404 not found: no {filename} in {REPO_ID} (wrong file name, or a mirror without it?)"
    elif isinstance(cause, RevisionNotFoundError):
        what = f"HTTP 404 not found: {REPO_ID} has no such revision"
    elif isinstance(cause, RepositoryNotFoundError):
        what = f"HTTP {_status(cause)}: no dataset {REPO_ID} there (wrong HF_ENDPOINT / --hub-endpoint?)"
    elif isinstance(cause, FileMetadataError):
        what = "the server does not answer like a Hugging Face Hub (no ETag, commit, size): check HF_ENDPOINT"
    elif isinstance(cause, HfHubHTTPError):
        what = f"HTTP {_status(cause)}"
    elif _is(cause, "ConnectError"):
        what = f"cannot connect ({cause})"
    elif _is(cause, "TimeoutException"):
        what = "no answer in time (timeout)"
    elif _is(cause, "TransportError", "HTTPError"):
        what = f"connection broke ({cause}); run again"
    elif isinstance(exc, OSError):  # size check after the transfer, disk full
        what = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    else:
        return exc  # not a download problem: a bug, keep its traceback
    return _fail(url, what)


def _status(error) -> str:
    response = getattr(error, "response", None)
    return str(getattr(response, "status_code", "error"))
