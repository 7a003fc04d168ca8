"""ThumbnailCache: image locators -> ~256 px WebP thumbnails (or the full image) in a capped disk cache.

Layout of the cache root (`<home>/thumbnails/`):

- `thumbs/ab/<sha256>.webp`   thumbnails, named by the hash of the locator (local files: of the
                               resolved path, size and mtime, so an edited file gets a new one);
- `full/ab/<sha256>.<ext>`    full images as fetched (PNG / WebP / JPEG ...), on request only;
- `parts/<subset>-<part>.zipdir`  central directories of DiffusionDB part zips (remote_zip.py);
- `.lock`                      held while evicting, so two processes never evict at once.

Every file is written whole (temp file + rename), so a reader, another session or a crash never
sees half of one. A cache hit sets the file's mtime to now; when the files pass `cap_bytes` the
least recently used (oldest mtime) are deleted down to 90 % of the cap. Each process keeps a
running total (one directory scan at first use, then its own writes) and rescans under the lock
when it evicts, so writes of other processes are counted at the next eviction at the latest.

Threads asking for the same image wait for one fetch (a lock per image being made, dropped when
done); different images are fetched in parallel (`thumbnails` uses a thread pool, 8 by default).

Failures never raise: the answer is `ImageFetch(None, reason)`. After a failure that may pass
(network, 404, corrupt part), the same part zip / URL is not asked again for `backoff_s` seconds:
the answer repeats the reason without a request, so a page of 20 thumbnails from one unreachable
part makes one request, not 20, and a re-rendering page makes none. With `offline=True` no
network request is made at all (local files still work; cached images are still served).

Deliberately not here: where images live and how they are fetched (locators.py, remote_zip.py,
fetchers.py), showing them (pages/, cli/).
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.files import atomic_write, exclusive_lock
from index.images.fetchers import MAX_IMAGE_BYTES, ImageUnavailable, fetch_url, read_local
from index.images.locators import DiffusionDBImage, LocalImage, Locator, UrlImage, parse_locator
from index.images.remote_zip import RemoteZipReader

THUMBNAIL_PX = 256
WEBP_QUALITY = 80
WEBP_METHOD = 1  # libwebp effort 0-6: 1 encodes a 256 px thumbnail in a few ms, as small as 4 (bench_images.py)
DEFAULT_CAP_MB = 500
DEFAULT_BACKOFF_S = 60.0
LOW_WATER = 0.9  # eviction deletes down to this fraction of the cap
_FORMATS = {"PNG": "png", "WEBP": "webp", "JPEG": "jpg", "GIF": "gif", "BMP": "bmp", "TIFF": "tiff"}


@dataclass(frozen=True)
class ImageFetch:
    """The answer for one locator: a file on disk, or None and one human line saying why."""

    path: Path | None  # WebP for thumbnails; the original format (PNG/WebP/JPEG) for full images
    reason: str | None = None  # set exactly when path is None, e.g. "offline: HF_HUB_OFFLINE is set"

    @property
    def ok(self) -> bool:
        return self.path is not None


NO_IMAGE = ImageFetch(None, "no image for this prompt")
OFFLINE_REASON = "offline: HF_HUB_OFFLINE is set"
OFFLINE = ImageFetch(None, OFFLINE_REASON)


class ThumbnailCache:
    """Thumbnails and full images of prompt rows, fetched on demand and kept under `root`.

    `cap_bytes` bounds the files kept (least recently used go first). `endpoint` is the Hugging
    Face Hub (or mirror) serving DiffusionDB (None: huggingface.co); `token` a Hub token (None:
    huggingface_hub's own, e.g. HF_TOKEN); `offline=True` makes no network request at all.
    Safe to share between threads and sessions; several processes may share one root.
    """

    def __init__(self, root: Path, cap_bytes: int, endpoint: str | None = None, token: str | None = None,
                 offline: bool = False, *, backoff_s: float = DEFAULT_BACKOFF_S, timeout_s: float = 20.0,
                 max_image_bytes: int = MAX_IMAGE_BYTES) -> None:
        if int(cap_bytes) <= 0:
            raise ValueError(f"cap_bytes must be positive, got {cap_bytes!r}")
        self.root = Path(root).expanduser()
        self.cap_bytes = int(cap_bytes)
        self.endpoint = endpoint
        self.offline = bool(offline)
        self.backoff_s = float(backoff_s)
        self.timeout_s = float(timeout_s)
        self.max_image_bytes = int(max_image_bytes)
        self.zips = RemoteZipReader(self.root / "parts", endpoint=endpoint, token=token, timeout_s=timeout_s)
        self._failures: dict[str, tuple[float, str]] = {}  # source key -> (retry after, reason)
        self._state_lock = threading.Lock()
        self._in_flight: dict[Path, list] = {}  # target -> [lock, waiters]: only images being made
        self._size: int | None = None

    def __repr__(self) -> str:  # no token in it
        return f"ThumbnailCache({str(self.root)!r}, cap_bytes={self.cap_bytes}, offline={self.offline})"

    @classmethod
    def from_settings(cls, settings: Any) -> ThumbnailCache:
        """<home>/thumbnails, capped at settings.thumbnail_cache_mb, with the Hub endpoint / offline
        mode the DiffusionDB download uses (HF_ENDPOINT, HF_HUB_OFFLINE)."""
        cap = int(float(settings.thumbnail_cache_mb) * 1024 * 1024)
        return cls(settings.home / "thumbnails", cap, endpoint=settings.hub_endpoint,
                   offline=settings.hub_offline, timeout_s=min(float(settings.request_timeout_s), 20.0))

    # -- the public answers --------------------------------------------------------------------
    def thumbnail(self, locator: str | None) -> ImageFetch:
        """A ~256 px WebP thumbnail of the image at `locator` (cached; fetched on a miss)."""
        return self._answer(locator, thumbnail=True)

    def full(self, locator: str | None) -> ImageFetch:
        """The full image at `locator`, in its own format (cached; fetched on a miss)."""
        return self._answer(locator, thumbnail=False)

    def thumbnails(self, locators: list[str | None], max_workers: int = 8) -> list[ImageFetch]:
        """`thumbnail` of each locator, fetched concurrently; answers in the same order."""
        if max_workers < 1:
            raise ValueError(f"max_workers must be >= 1, got {max_workers}")
        locators = list(locators)
        hits = [self._hit(locator) for locator in locators]  # warm pages need no threads
        missing = [i for i, hit in enumerate(hits) if hit is None]
        if missing:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(missing))) as pool:
                for i, answer in zip(missing, pool.map(self.thumbnail, [locators[i] for i in missing])):
                    hits[i] = answer
        return [hit for hit in hits if hit is not None]  # every miss was answered above: all of them

    def cached(self, locator: str | None) -> Path | None:
        """The cached thumbnail of `locator`, or None; never touches the network."""
        hit = self._hit(locator)
        return hit.path if hit is not None and hit.path is not None else None

    def size_bytes(self) -> int:
        """Bytes the cache holds on disk now (a directory scan)."""
        return sum(size for _path, size, _mtime in self._scan())

    # -- one locator ---------------------------------------------------------------------------
    def _hit(self, locator: str | None) -> ImageFetch | None:
        """The cached thumbnail (touched), NO_IMAGE / a parse reason, or None when it must be made."""
        if not locator:
            return NO_IMAGE
        try:
            target = self._target(parse_locator(locator), thumbnail=True)
        except ImageUnavailable as exc:
            return ImageFetch(None, exc.reason)
        except ValueError as exc:  # parse_locator
            return ImageFetch(None, f"not an image locator: {exc}")
        return ImageFetch(target) if _touch(target) else None

    def _answer(self, locator: str | None, thumbnail: bool) -> ImageFetch:
        if not locator:
            return NO_IMAGE
        try:
            where = parse_locator(locator)
            target = self._target(where, thumbnail)
            if _touch(target):
                return ImageFetch(target)
            with self._one_at_a_time(target):  # one fetch per image across threads
                if _touch(target):
                    return ImageFetch(target)
                return ImageFetch(self._make(where, target, thumbnail))
        except ImageUnavailable as exc:
            return ImageFetch(None, exc.reason)
        except ValueError as exc:  # parse_locator
            return ImageFetch(None, f"not an image locator: {exc}")

    def _target(self, where: Locator, thumbnail: bool) -> Path:
        if isinstance(where, LocalImage):
            try:
                path = where.path.resolve()
                stat = path.stat()
            except OSError:
                raise ImageUnavailable(f"no image file at {where.path}", retry_later=False) from None
            identity = f"file:{path}|{stat.st_size}|{stat.st_mtime_ns}"
        elif isinstance(where, UrlImage):
            identity = where.url
        else:
            identity = f"diffusiondb:{where.subset}:{where.part_id}:{where.image_name}"
        digest = hashlib.sha256(identity.encode("utf-8")).hexdigest()
        if thumbnail:
            return self.root / "thumbs" / digest[:2] / f"{digest}.webp"
        folder = self.root / "full" / digest[:2]
        found = sorted(folder.glob(f"{digest}.*")) if folder.is_dir() else []
        return found[0] if found else folder / f"{digest}.img"  # the extension is fixed once fetched

    def _make(self, where: Locator, target: Path, thumbnail: bool) -> Path:
        """Fetch, check and store the image at `where`; the path it was stored at."""
        data = self._image_bytes(where)
        image_format, thumb = _decode(data, where, thumbnail)
        if not thumbnail:  # full images keep their own format, named by it
            target = target.with_suffix("." + _FORMATS.get(image_format, "img"))
        self._store(target, thumb if thumbnail else data)
        return target

    def _image_bytes(self, where: Locator) -> bytes:
        if isinstance(where, LocalImage):
            return read_local(where.path, max_bytes=self.max_image_bytes)
        full = self._target(where, thumbnail=False)
        if full.suffix != ".img":  # a full image already here: no network
            try:
                data = full.read_bytes()
                _touch(full)
                return data
            except OSError:  # evicted meanwhile: fetch it
                pass
        if self.offline:
            raise ImageUnavailable(OFFLINE_REASON, retry_later=False)
        key = where.part_key if isinstance(where, DiffusionDBImage) else where.url
        self._check_backoff(key)
        try:
            if isinstance(where, DiffusionDBImage):
                return self.zips.read(where)
            return fetch_url(where.url, timeout_s=self.timeout_s, max_bytes=self.max_image_bytes)
        except ImageUnavailable as exc:
            if exc.retry_later:
                with self._state_lock:
                    self._failures[key] = (time.monotonic() + self.backoff_s, exc.reason)
            raise

    def _check_backoff(self, key: str) -> None:
        with self._state_lock:
            until, reason = self._failures.get(key, (0.0, ""))
            if until and time.monotonic() >= until:
                del self._failures[key]
        left = until - time.monotonic()
        if left > 0:
            raise ImageUnavailable(f"{reason} (not retried within {self.backoff_s:g} s of that)",
                                   retry_later=False)

    @contextmanager
    def _one_at_a_time(self, target: Path) -> Iterator[None]:
        """Hold the lock of `target` (threads making other images are not held up); a lock lives
        only while someone holds or waits for it, so a long-running app keeps no pile of them."""
        with self._state_lock:
            entry = self._in_flight.setdefault(target, [threading.Lock(), 0])
            entry[1] += 1
        try:
            with entry[0]:
                yield
        finally:
            with self._state_lock:
                entry[1] -= 1
                if entry[1] == 0:
                    del self._in_flight[target]

    # -- disk: write, count, evict -------------------------------------------------------------
    def _store(self, target: Path, data: bytes) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, data, tmp_suffix=".part")
        with self._state_lock:
            if self._size is None:
                self._size = sum(size for _p, size, _m in self._scan())
            else:
                self._size += len(data)
            over = self._size > self.cap_bytes
        if over:
            self._evict()

    def _scan(self) -> list[tuple[Path, int, float]]:
        found = []
        for folder, _dirs, names in os.walk(self.root):
            for name in names:
                if name.startswith("."):  # the lock, temp files of writers in flight
                    continue
                path = Path(folder) / name
                try:
                    stat = path.stat()
                except FileNotFoundError:  # evicted by another process meanwhile
                    continue
                found.append((path, stat.st_size, stat.st_mtime))
        return found

    def _evict(self) -> None:
        """Delete the least recently used files until the cache holds LOW_WATER of its cap."""
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.root / ".lock"):
            files = sorted(self._scan(), key=lambda item: item[2])
            total = sum(size for _p, size, _m in files)
            for path, size, _mtime in files:
                if total <= self.cap_bytes * LOW_WATER:
                    break
                path.unlink(missing_ok=True)
                total -= size
        with self._state_lock:
            self._size = total


def _touch(path: Path) -> bool:
    """True when `path` exists; marks it as just used (its mtime drives LRU eviction)."""
    try:
        os.utime(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return path.is_file()  # read-only cache: still usable, just not reordered
    return True


def _decode(data: bytes, where: Locator, thumbnail: bool) -> tuple[str, bytes]:
    """(PIL's format name, the WebP thumbnail bytes or b"") of an image file's bytes."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image_format = image.format or ""
            if not thumbnail:
                image.verify()
                return image_format, b""
            image.draft("RGB", (THUMBNAIL_PX, THUMBNAIL_PX))  # JPEG: decode at a smaller scale
            image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX), Image.Resampling.LANCZOS)
            if image.mode not in ("RGB", "RGBA"):
                image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info
                                      else "RGB")
            out = io.BytesIO()
            image.save(out, format="WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
            return image_format, out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError, SyntaxError) as exc:
        what = _shown(where)
        raise ImageUnavailable(f"{what} is not a readable image ({type(exc).__name__}: "
                               f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})",
                               retry_later=False) from None


def _shown(where: Locator) -> str:
    if isinstance(where, DiffusionDBImage):
        return f"{where.image_name} (part {where.part_id})"
    return where.url if isinstance(where, UrlImage) else str(where.path)
