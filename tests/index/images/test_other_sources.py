"""Images that are not in DiffusionDB: local files and http(s) URLs, through the same cache."""

from __future__ import annotations

from index.images import ThumbnailCache
from tests.index.images.conftest import close_to, color, mean_color, png
from tests.servers.base import Reply, ScriptedServer


def test_a_local_image_is_thumbnailed_and_refreshed_when_edited(tmp_path):
    image = tmp_path / "pics" / "fox.png"
    image.parent.mkdir()
    image.write_bytes(png(3))
    cache = ThumbnailCache(tmp_path / "cache", 10 << 20)

    first = cache.thumbnail(str(image))
    assert first.path is not None and close_to(mean_color(first.path), color(3))
    image.write_bytes(png(8, size=300))  # edited in place: a new thumbnail, not the stale one
    second = cache.thumbnail(str(image))
    assert second.path != first.path and close_to(mean_color(second.path), color(8))
    assert cache.full(str(image)).path.read_bytes() == image.read_bytes()


def test_local_files_that_cannot_be_shown_say_why(tmp_path):
    cache = ThumbnailCache(tmp_path / "cache", 10 << 20, offline=True)  # local files work offline
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    folder = tmp_path / "folder.png"
    folder.mkdir()

    missing = cache.thumbnail(str(tmp_path / "gone.png"))
    assert missing.path is None and missing.reason == f"no image file at {tmp_path / 'gone.png'}"
    broken = cache.thumbnail(str(text))
    assert broken.path is None and broken.reason.startswith(f"{text} is not a readable image")
    assert "is not a file" in cache.thumbnail(str(folder)).reason
    assert cache.thumbnail("ftp://example.org/x.png").reason.startswith("not an image locator")
    assert cache.thumbnail("diffusiondb:2m:0:x.png").reason.startswith("not an image locator")


def test_an_image_url_is_fetched_once(tmp_path):
    def answer(request):
        if request.path == "/a.png":
            return Reply(200, png(5), {"Content-Type": "image/png"})
        if request.path == "/big.png":
            return Reply(200, png(6, size=600), {"Content-Type": "image/png"})
        return Reply(404, b"nope")

    with ScriptedServer(answer) as server:
        cache = ThumbnailCache(tmp_path, 10 << 20, max_image_bytes=500_000)
        first = cache.thumbnail(f"{server.url}/a.png")
        again = cache.thumbnail(f"{server.url}/a.png")
        missing = cache.thumbnail(f"{server.url}/gone.png")
        big = cache.thumbnail(f"{server.url}/big.png")
        paths = [r.path for r in server.requests]
        offline = ThumbnailCache(tmp_path / "off", 10 << 20, offline=True).thumbnail(f"{server.url}/a.png")
        assert len(server.requests) == len(paths)  # offline: no request

    assert first == again and close_to(mean_color(first.path), color(5))
    assert paths.count("/a.png") == 1
    assert missing.reason == f"the image server answered 404 for {server.url}/gone.png"
    assert big.path is None and big.reason.endswith("over the 0.5 MB limit")
    assert offline.reason == "offline: HF_HUB_OFFLINE is set"


def test_an_unreachable_url_gives_a_reason_and_backs_off(tmp_path):
    cache = ThumbnailCache(tmp_path, 10 << 20, timeout_s=2)
    first = cache.thumbnail("http://127.0.0.1:9/x.png")  # nothing listens on port 9
    second = cache.thumbnail("http://127.0.0.1:9/x.png")
    assert first.path is None and "could not be fetched: cannot connect" in first.reason
    assert "not retried" in second.reason
