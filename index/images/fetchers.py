"""The bytes of an image from an http(s) URL or a local file, with limits; and the one failure type.

`fetch_url(url)` is a plain httpx GET (redirects followed, a timeout, the body streamed and cut off
past `max_bytes`, so a wrong link to a video or a 2 GB file costs at most `max_bytes`).
`read_local(path)` reads a file only when it exists, is a regular file and is not larger than
`max_bytes`. Whether the bytes are an image is the caller's question (PIL decodes them in
cache.py); both raise `ImageUnavailable` with a one-line reason instead of returning None.

Deliberately not here: the Hugging Face Hub and its part zips (remote_zip.py), caching and
back-off (cache.py). No cookies, no credentials: a URL in a user's CSV gets an anonymous GET.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

MAX_IMAGE_BYTES = 32 * 1024 * 1024  # the largest image file fetched or read (a 4K PNG is ~25 MB)


class ImageUnavailable(Exception):
    """No image this time: `reason` is one line for the user; `retry_later` says whether the same
    source (part zip, URL) should be left alone for a while (network trouble, 404, corrupt zip)."""

    def __init__(self, reason: str, *, retry_later: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_later = retry_later


def transport_problem(exc: BaseException) -> str | None:
    """One line for an httpx / httpx2 / huggingface_hub transport error, None for anything else.

    Told apart by class name: huggingface_hub's session raises httpx2's errors, plain URLs httpx's.
    """
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "OfflineModeIsEnabled" in names:
        return "offline: huggingface_hub's offline mode is on (HF_HUB_OFFLINE was set when it was imported)"
    if "TimeoutException" in names:
        return "no answer in time (timeout)"
    if "ConnectError" in names:
        return f"cannot connect ({_first_line(exc)})"
    if names & {"TransportError", "HTTPError", "StreamError", "InvalidURL"}:
        return f"connection broke ({_first_line(exc)})"
    return None


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def fetch_url(url: str, *, timeout_s: float = 20.0, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The body of a GET of `url` (at most `max_bytes`), or ImageUnavailable saying why not."""
    import httpx  # ~90 ms: loaded when an image is fetched, not by `promptrag search` without --images

    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    try:
        with httpx.Client(follow_redirects=True, timeout=timeout) as client:
            with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise ImageUnavailable(f"the image server answered {response.status_code} for {url}")
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ImageUnavailable(f"the image at {url} is {_mb(int(declared))}, over the "
                                           f"{_mb(max_bytes)} limit", retry_later=False)
                return _read_capped(response, url, max_bytes)
    except ImageUnavailable:
        raise
    except Exception as exc:
        problem = transport_problem(exc)
        if problem is None:
            raise  # not a network problem: a bug, keep its traceback
        raise ImageUnavailable(f"the image at {url} could not be fetched: {problem}") from None


def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise ImageUnavailable(f"the image at {url} is over the {_mb(max_bytes)} limit",
                                   retry_later=False)
    return bytes(body)


def read_local(path: Path, *, max_bytes: int = MAX_IMAGE_BYTES) -> bytes:
    """The bytes of the local file `path`, or ImageUnavailable when it is missing, not a file or too big."""
    try:
        if not path.exists():
            raise ImageUnavailable(f"no image file at {path}", retry_later=False)
        if not path.is_file():
            raise ImageUnavailable(f"{path} is not a file", retry_later=False)
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageUnavailable(f"{path} is {_mb(size)}, over the {_mb(max_bytes)} image limit", retry_later=False)
        return path.read_bytes()
    except OSError as exc:
        raise ImageUnavailable(f"cannot read {path}: {exc.strerror or exc}", retry_later=False) from None
