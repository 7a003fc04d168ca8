"""The thumbnail cache on disk: size cap, least-recently-used eviction, sessions sharing a folder."""

from __future__ import annotations

import os
import threading
import time

from index.images import ThumbnailCache
from tests.index.images.conftest import locator


def _thumb_size(tmp_path, hub) -> int:
    probe = ThumbnailCache(tmp_path / "probe", 10 << 20, endpoint=hub.url)
    return probe.thumbnail(locator(0)).path.stat().st_size


def test_the_cache_stays_under_its_cap_and_drops_the_least_recently_used(tmp_path, hub):
    probe = ThumbnailCache(tmp_path / "probe", 10 << 20, endpoint=hub.url)
    sizes = {i: probe.thumbnail(locator(i)).path.stat().st_size for i in (1, 2, 3, 4)}
    directory = (tmp_path / "probe" / "parts" / "2m-000001.zipdir").stat().st_size  # counted too
    # One byte short of holding everything: the fourth thumbnail forces an eviction.
    cache = ThumbnailCache(tmp_path / "c", cap_bytes=directory + sum(sizes.values()) - 1, endpoint=hub.url)
    first = cache.thumbnail(locator(1)).path
    time.sleep(0.02)
    second = cache.thumbnail(locator(2)).path
    time.sleep(0.02)
    assert cache.thumbnail(locator(1)).path == first  # used again: now more recent than img-2
    time.sleep(0.02)
    for i in (3, 4):
        assert cache.thumbnail(locator(i)).path is not None
        time.sleep(0.02)

    assert cache.size_bytes() <= cache.cap_bytes
    assert not second.exists()  # least recently used went first ...
    assert first.exists()  # ... not the first written: img-1 was used again after img-2
    assert cache.cached(locator(4)) is not None and cache.cached(locator(3)) is not None
    assert cache.cached(locator(2)) is None


def test_two_sessions_on_one_folder_evict_safely(tmp_path, hub):
    one = _thumb_size(tmp_path, hub)
    caches = [ThumbnailCache(tmp_path / "shared", cap_bytes=5 * one + 4096, endpoint=hub.url) for _ in range(2)]
    answers: list = []

    def worker(cache: ThumbnailCache, offset: int) -> None:
        for round_ in range(3):
            answers.extend(cache.thumbnails([locator((i + offset + round_) % 12) for i in range(12)],
                                            max_workers=4))

    threads = [threading.Thread(target=worker, args=(c, n * 5)) for n, c in enumerate(caches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(answers) == 72 and all(a.reason is None for a in answers)
    assert caches[0].size_bytes() <= caches[0].cap_bytes * 1.0 + 4 * one  # at most a batch in flight over
    leftovers = [name for _d, _s, names in os.walk(tmp_path / "shared") for name in names
                 if name.endswith(".part")]
    assert leftovers == []  # every write was whole (temp file + rename)


def test_a_cached_thumbnail_is_served_without_the_network(tmp_path, hub):
    cache = ThumbnailCache(tmp_path, 10 << 20, endpoint=hub.url)
    assert cache.cached(locator(6)) is None
    made = cache.thumbnail(locator(6)).path
    asked = len(hub.requests)
    assert cache.cached(locator(6)) == made
    assert cache.thumbnails([locator(6)] * 20) == [cache.thumbnail(locator(6))] * 20
    assert len(hub.requests) == asked
