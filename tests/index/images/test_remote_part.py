"""Images out of DiffusionDB part zips over HTTP Range, against the local Hub stand-in."""

from __future__ import annotations

import threading
import time
import zipfile

from PIL import Image

from index.images import ThumbnailCache
from tests.index.images.conftest import PART_FILE, close_to, color, locator, make_part, mean_color
from tests.servers.hub_server import HubServer


def test_first_image_costs_the_directory_and_its_member_not_the_part(cache, hub, part):
    fetch = cache.thumbnail(locator(3))

    assert fetch.reason is None and fetch.path.suffix == ".webp"
    with Image.open(fetch.path) as thumb:
        assert thumb.format == "WEBP" and max(thumb.size) == 256
    assert close_to(mean_color(fetch.path), color(3))  # the right image, not a neighbour
    assert all(r.status == 206 for r in hub.requests)
    assert hub.bytes_served() == part.directory_bytes() + part.member_span("img-3.png")
    assert hub.bytes_served() < len(part.data) / 5


def test_a_second_image_of_the_part_fetches_only_its_member(cache, hub, part, tmp_path):
    cache.thumbnail(locator(1))
    before = len(hub.requests)
    served = hub.bytes_served()

    assert cache.thumbnail(locator(2)).path is not None
    assert len(hub.requests) == before + 1
    assert hub.bytes_served() - served == part.member_span("img-2.png")
    # Another session (a new cache on the same folder) reuses the directory kept on disk.
    other = ThumbnailCache(cache.root, cache.cap_bytes, endpoint=hub.url)
    served = hub.bytes_served()
    assert other.thumbnail(locator(5)).path is not None
    assert hub.bytes_served() - served == part.member_span("img-5.png")


def test_full_image_is_the_original_file(cache, part):
    fetch = cache.full(locator(4))
    with zipfile.ZipFile(__import__("io").BytesIO(part.data)) as archive:
        assert fetch.path.read_bytes() == archive.read("img-4.png")
    assert fetch.path.suffix == ".png"


def test_deflated_parts_are_read_too(tmp_path):
    deflated = make_part(count=4, compression=zipfile.ZIP_DEFLATED)
    with HubServer({PART_FILE: deflated.data}) as hub:
        cache = ThumbnailCache(tmp_path, 10 << 20, endpoint=hub.url)
        fetch = cache.thumbnail(locator(2))
    assert fetch.path is not None and close_to(mean_color(fetch.path), color(2))


def test_concurrent_fetches_share_one_directory_read(cache, hub, part):
    wanted = [locator(i % 10) for i in range(40)]
    answers: list = [None] * len(wanted)

    def worker(start: int) -> None:
        for i in range(start, len(wanted), 8):
            answers[i] = cache.thumbnail(wanted[i])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(a.path is not None for a in answers)
    assert all(close_to(mean_color(a.path), color(i % 10)) for i, a in enumerate(answers))
    tails = [r for r in hub.requests if r.range and r.range.startswith("bytes=-")]
    assert len(tails) == 1  # the directory was read once
    assert len(hub.requests) == 2 + 10  # directory (2 reads) + each image once


def test_thumbnails_keeps_order_and_reports_each(cache, hub):
    answers = cache.thumbnails([locator(0), None, "diffusiondb:2m:1:missing.png", locator(7), "s3://b/x.png"])
    assert close_to(mean_color(answers[0].path), color(0)) and close_to(mean_color(answers[3].path), color(7))
    assert answers[1].path is None and answers[1].reason == "no image for this prompt"
    assert answers[2].path is None and "no image missing.png" in answers[2].reason
    assert answers[4].path is None and answers[4].reason.startswith("not an image locator: unsupported")
    assert cache.cached("s3://b/x.png") is None


def test_a_missing_member_is_named_and_the_part_still_serves(cache, hub):
    missing = cache.thumbnail("diffusiondb:2m:1:not-there.png")
    assert missing.path is None and missing.reason == "part 1 has no image not-there.png"
    assert cache.thumbnail(locator(1)).path is not None  # no back-off: the part is fine


def test_a_missing_part_gives_the_404_once_then_backs_off(cache, hub):
    first = cache.thumbnail(locator(1, part=77))
    assert first.path is None and first.reason == "the image server answered 404 for part 77"
    asked = len(hub.requests)
    for i in range(20):  # a page of images from that part, rendered again and again
        again = cache.thumbnail(locator(i, part=77))
        assert again.path is None and "404 for part 77" in again.reason and "not retried" in again.reason
    assert len(hub.requests) == asked  # no retry storm
    assert cache.thumbnail(locator(1)).path is not None  # other parts are not held back


def test_a_page_from_a_missing_part_makes_one_request(cache, hub):
    hub.latency_s = 0.1  # the whole page is in flight before the first answer comes
    answers = cache.thumbnails([locator(i, part=55) for i in range(20)], max_workers=8)
    assert all(a.path is None and "404 for part 55" in a.reason for a in answers)
    assert len(hub.requests) == 1


def test_back_off_ends_after_its_time(tmp_path, hub):
    cache = ThumbnailCache(tmp_path, 10 << 20, endpoint=hub.url, backoff_s=0.3)
    cache.thumbnail(locator(1, part=9))
    asked = len(hub.requests)
    cache.thumbnail(locator(1, part=9))
    assert len(hub.requests) == asked
    time.sleep(0.35)
    assert "404" in cache.thumbnail(locator(1, part=9)).reason
    assert len(hub.requests) == asked + 1


def test_a_file_that_is_not_a_zip_is_reported(tmp_path):
    with HubServer({PART_FILE: b"this is not a zip file at all " * 50}) as hub:
        fetch = ThumbnailCache(tmp_path, 10 << 20, endpoint=hub.url).thumbnail(locator(1))
    assert fetch.path is None and fetch.reason == "part 1 is not a zip file (no end-of-directory record)"


def test_a_corrupt_member_is_reported_not_shown(tmp_path, part):
    data = bytearray(part.data)
    with zipfile.ZipFile(__import__("io").BytesIO(part.data)) as archive:
        info = archive.getinfo("img-2.png")
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)  # damage the stored PNG: the CRC no longer matches
    with HubServer({PART_FILE: bytes(data)}) as hub:
        cache = ThumbnailCache(tmp_path, 10 << 20, endpoint=hub.url)
        broken = cache.thumbnail(locator(2))
        assert cache.thumbnail(locator(3)).path is None  # the part is left alone for a while
    assert broken.path is None and broken.reason.startswith("part 1 is corrupt at img-2.png")
    assert not list((tmp_path / "thumbs").rglob("*.webp"))


def test_offline_makes_no_request_but_serves_what_is_cached(tmp_path, hub, monkeypatch):
    from core.settings import get_settings

    monkeypatch.setenv("PROMPTRAG_HOME", str(tmp_path))
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    online = ThumbnailCache.from_settings(get_settings())
    assert online.thumbnail(locator(1)).path is not None
    asked = len(hub.requests)

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = ThumbnailCache.from_settings(get_settings())
    assert offline.thumbnail(locator(1)).path is not None  # cached: still shown
    fetch = offline.thumbnail(locator(2))
    assert fetch.path is None and fetch.reason == "offline: HF_HUB_OFFLINE is set"
    assert offline.cached(locator(2)) is None
    assert len(hub.requests) == asked
