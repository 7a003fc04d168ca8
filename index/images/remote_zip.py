"""One image out of a DiffusionDB part zip on the Hub, by HTTP Range: directory once, then the member.

A part (`images/part-000123.zip`, ~600 MB, 1,000 images) is never downloaded. The first image of a
part costs three small range requests: the last 98 bytes (end-of-central-directory record and,
if present, the zip64 locator; the reply's Content-Range gives the part's size), the central
directory (~100 KB for 1,000 names), and the member itself. Later images of the same part cost one
request: the member. The tail from the central directory to the end of the file is kept in memory
(the last `MEMORY_PARTS` parts) and on disk (`<root>/parts/<subset>-<part>.zipdir`, written
atomically) so other sessions and processes reuse it. A member's byte span runs from its local
header to the next member's (or the directory's) offset, so one request gets header, data and any
data descriptor. The stdlib `zipfile` then reads the member from a sparse file of exactly those
fetched byte ranges: it parses the directory and local header, inflates, and checks the CRC, so a
corrupt part is reported as such, not shown as a broken image.

Why not `remotezip`: it sends its requests through `requests`, so HF_ENDPOINT mirrors, the Hub
token and a user's `huggingface_hub.set_client_factory` (proxies, certificates) would have to be
re-plumbed; it opens each archive with a 64 KB tail read; and it keeps the central directory only
inside one object, so it cannot be shared between sessions. Here every request goes through
huggingface_hub's own session (`get_session()`, URL from `hf_hub_url`, headers with the token from
`build_hf_headers`), as the metadata download does.

Deliberately not here: thumbnails, the disk cache's cap, back-off and offline mode (cache.py);
zips over 4 GB work (zip64) but encrypted members and compressions other than stored/deflate are
reported as unsupported. The revision is pinned ("main"); DiffusionDB's parts do not change.
"""

from __future__ import annotations

import io
import struct
import threading
import zipfile
import zlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from core.files import atomic_write
from index.images.fetchers import ImageUnavailable, transport_problem
from index.images.locators import DiffusionDBImage

REPO_ID = "poloclub/diffusiondb"  # ingest/diffusiondb.py names the same repo (floor 3: not importable here)
REPO_TYPE = "dataset"
REVISION = "main"
DEFAULT_ENDPOINT = "https://huggingface.co"
EOCD_SIZE, ZIP64_LOCATOR_SIZE, ZIP64_EOCD_SIZE = 22, 20, 56
TAIL_GUESS = EOCD_SIZE + ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE  # no archive comment: one tiny request
COMMENT_TAIL = EOCD_SIZE + 0xFFFF + ZIP64_LOCATOR_SIZE + ZIP64_EOCD_SIZE  # the most a comment can add
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MEMORY_PARTS = 64
_MAGIC = b"PRZIPDIR"


@dataclass(frozen=True)
class PartDirectory:
    """The tail of one part zip (central directory to end of file) and each member's byte span."""

    total_size: int
    tail: bytes
    spans: dict[str, tuple[int, int]]  # member name -> [start, end) of local header + data

    @property
    def tail_start(self) -> int:
        return self.total_size - len(self.tail)

    @classmethod
    def parse(cls, total_size: int, tail: bytes) -> PartDirectory:
        """Raises zipfile.BadZipFile (or ValueError / OSError) when the bytes are not a zip directory."""
        start = total_size - len(tail)
        with zipfile.ZipFile(SparseFile(total_size, [(start, tail)])) as archive:
            infos = sorted(archive.infolist(), key=lambda info: info.header_offset)
            directory_at = archive.start_dir
        spans = {}
        for info, after in zip(infos, [*infos[1:], None]):
            end = after.header_offset if after is not None else directory_at
            if not 0 <= info.header_offset < end <= start + len(tail):
                raise zipfile.BadZipFile(f"member {info.filename!r} has an impossible offset")
            spans[info.filename] = (info.header_offset, end)
        return cls(total_size, tail, spans)

    def to_bytes(self) -> bytes:
        return _MAGIC + struct.pack("<Q", self.total_size) + self.tail

    @classmethod
    def from_bytes(cls, data: bytes) -> PartDirectory:
        if data[:8] != _MAGIC or len(data) < 16 + EOCD_SIZE:
            raise zipfile.BadZipFile("not a cached zip directory")
        return cls.parse(struct.unpack("<Q", data[8:16])[0], data[16:])


class SparseFile(io.RawIOBase):
    """A read-only, seekable file of `size` bytes of which only some ranges are known.

    `zipfile` reads through it as through the whole archive; reading a byte that was never
    fetched raises OSError (then the ranges we fetched were not what the directory promised).
    """

    def __init__(self, size: int, chunks: list[tuple[int, bytes]]) -> None:
        super().__init__()
        self.size, self.chunks, self.position = size, chunks, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def read(self, n: int = -1) -> bytes:
        if self.position >= self.size:
            return b""
        n = self.size - self.position if n is None or n < 0 else min(n, self.size - self.position)
        for start, data in self.chunks:
            if start <= self.position < start + len(data):
                piece = data[self.position - start : self.position - start + n]
                self.position += len(piece)
                return piece
        raise OSError(f"byte {self.position} of the zip was not fetched")

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class RemoteZipReader:
    """Reads single images out of DiffusionDB part zips (see the module docstring). Thread-safe."""

    def __init__(self, parts_dir: Path, *, endpoint: str | None = None, token: str | None = None,
                 timeout_s: float = 20.0) -> None:
        self.parts_dir = Path(parts_dir)
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self._directories: OrderedDict[str, PartDirectory] = OrderedDict()
        self._lock = threading.Lock()
        self._part_locks: dict[str, threading.Lock] = {}
        self._failed: dict[str, ImageUnavailable] = {}  # the last failure of a part's directory fetch

    def part_url(self, image: DiffusionDBImage) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(REPO_ID, image.part_file, repo_type=REPO_TYPE, revision=REVISION,
                          endpoint=self.endpoint)

    def read(self, image: DiffusionDBImage) -> bytes:
        """The image's file bytes; ImageUnavailable with a reason when it cannot be had."""
        directory = self.directory(image)
        span = directory.spans.get(image.image_name)
        if span is None:
            raise ImageUnavailable(f"part {image.part_id} has no image {image.image_name}", retry_later=False)
        start, end = span
        if end - start > MAX_MEMBER_BYTES:
            raise ImageUnavailable(f"{image.image_name} in part {image.part_id} is over "
                                   f"{MAX_MEMBER_BYTES >> 20} MB; not fetched", retry_later=False)
        body, _total = self._get(image, f"{start}-{end - 1}", end - start)
        chunks = [(directory.tail_start, directory.tail), (start, body)]
        try:
            with zipfile.ZipFile(SparseFile(directory.total_size, chunks)) as archive:
                return archive.read(image.image_name)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise ImageUnavailable(f"part {image.part_id} is corrupt at {image.image_name} ({exc})") from None
        except NotImplementedError as exc:  # compression zipfile cannot read, encryption
            raise ImageUnavailable(f"{image.image_name} in part {image.part_id} is stored in a way "
                                   f"that cannot be read ({exc})", retry_later=False) from None

    # -- the central directory, once per part --------------------------------------------------
    def directory(self, image: DiffusionDBImage) -> PartDirectory:
        """The part's directory: from memory, the disk cache, or the Hub (one thread per part asks;
        the others wait and reuse its answer, a failure included, so a page makes one request)."""
        key = image.part_key
        with self._lock:
            if key in self._directories:
                self._directories.move_to_end(key)
                return self._directories[key]
            part_lock = self._part_locks.setdefault(key, threading.Lock())
            failed_before = self._failed.get(key)
        with part_lock:
            with self._lock:
                if key in self._directories:
                    return self._directories[key]
                failed = self._failed.get(key)
            if failed is not None and failed is not failed_before:  # failed while this thread waited
                raise ImageUnavailable(failed.reason, retry_later=failed.retry_later)
            try:
                directory = self._load(key) or self._fetch_directory(image)
            except ImageUnavailable as exc:
                with self._lock:
                    self._failed[key] = exc
                raise
            with self._lock:
                self._failed.pop(key, None)
                self._directories[key] = directory
                while len(self._directories) > MEMORY_PARTS:
                    self._directories.popitem(last=False)
            return directory

    def cached_path(self, key: str) -> Path:
        return self.parts_dir / f"{key}.zipdir"

    def _load(self, key: str) -> PartDirectory | None:
        path = self.cached_path(key)
        try:
            return PartDirectory.from_bytes(path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError, zipfile.BadZipFile, struct.error):
            path.unlink(missing_ok=True)  # damaged or from an older layout: fetch it again
            return None

    def _fetch_directory(self, image: DiffusionDBImage) -> PartDirectory:
        tail, total = self._get(image, f"-{TAIL_GUESS}", TAIL_GUESS)
        if _eocd_at(tail) is None and total > len(tail):  # an archive comment: read the longest one
            tail, total = self._get(image, f"-{COMMENT_TAIL}", COMMENT_TAIL)
        at = _eocd_at(tail)
        if at is None:
            raise ImageUnavailable(f"part {image.part_id} is not a zip file (no end-of-directory record)")
        directory_start, directory_size = _directory_extent(tail, at)
        tail_start = total - len(tail)
        if not 0 <= directory_start <= tail_start + at or directory_size > MAX_DIRECTORY_BYTES:
            raise ImageUnavailable(f"part {image.part_id} is corrupt (its directory offsets are impossible)")
        if directory_start < tail_start:
            head, _ = self._get(image, f"{directory_start}-{tail_start - 1}", tail_start - directory_start)
            tail = head + tail
        else:
            tail = tail[directory_start - tail_start:]
        try:
            directory = PartDirectory.parse(total, tail)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ImageUnavailable(f"part {image.part_id} is corrupt ({exc})") from None
        self.parts_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(self.cached_path(image.part_key), directory.to_bytes(), tmp_suffix=".part")
        return directory

    # -- one range request through huggingface_hub's session -------------------------------------
    def _get(self, image: DiffusionDBImage, byte_range: str, expected: int) -> tuple[bytes, int]:
        """(body, the part's total size) of `Range: bytes=<byte_range>`; ImageUnavailable otherwise."""
        from huggingface_hub.utils import build_hf_headers, get_session

        headers = {**build_hf_headers(token=self.token), "Range": f"bytes={byte_range}"}
        try:
            with get_session().stream("GET", self.part_url(image), headers=headers, follow_redirects=True,
                                      timeout=self.timeout_s) as response:
                total = _check_reply(response.status_code, response.headers, image.part_id)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > expected:  # never more than asked, whatever the server does
                        raise ImageUnavailable(f"the image server sent more than the range asked for part "
                                               f"{image.part_id}")
        except ImageUnavailable:
            raise
        except Exception as exc:
            problem = transport_problem(exc)
            if problem is None:
                raise  # not a network problem: a bug, keep its traceback
            raise ImageUnavailable(f"part {image.part_id} could not be fetched: {problem}") from None
        return bytes(body), total


def _check_reply(status: int, headers, part_id: int) -> int:
    """The total size from a 206 reply's Content-Range; ImageUnavailable for anything else."""
    if status in (401, 403):
        raise ImageUnavailable(f"the image server refused part {part_id} (HTTP {status}); check HF_TOKEN")
    if status == 416:
        raise ImageUnavailable(f"part {part_id} is shorter than its directory says (HTTP 416): corrupt")
    if status != 206:
        if status == 200:
            raise ImageUnavailable(f"the image server ignored the byte range for part {part_id} (HTTP 200): "
                                   "it cannot serve single images")
        raise ImageUnavailable(f"the image server answered {status} for part {part_id}")
    total = (headers.get("Content-Range") or "").rpartition("/")[2].strip()
    if not total.isdigit():
        raise ImageUnavailable(f"the image server sent no part size (Content-Range) for part {part_id}")
    return int(total)


def _eocd_at(tail: bytes) -> int | None:
    """Offset in `tail` of the end-of-central-directory record whose comment runs to the end."""
    at = tail.rfind(b"PK\x05\x06")
    while at >= 0:
        if len(tail) - at >= EOCD_SIZE:
            comment = struct.unpack("<H", tail[at + 20 : at + 22])[0]
            if at + EOCD_SIZE + comment == len(tail):
                return at
        at = tail.rfind(b"PK\x05\x06", 0, at)
    return None


def _directory_extent(tail: bytes, at: int) -> tuple[int, int]:
    """(offset, size) of the central directory, from the EOCD at `at` (or its zip64 record)."""
    size, offset = struct.unpack("<II", tail[at + 12 : at + 20])
    locator = at - ZIP64_LOCATOR_SIZE
    if locator >= 0 and tail[locator : locator + 4] == b"PK\x06\x07":
        record = tail.rfind(b"PK\x06\x06", 0, locator)
        if record >= 0 and locator - record >= ZIP64_EOCD_SIZE:
            size, offset = struct.unpack("<QQ", tail[record + 40 : record + 56])
            return offset, size + (at - record)  # the zip64 record and locator follow the directory
    return offset, size
