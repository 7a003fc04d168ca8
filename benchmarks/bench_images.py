"""Example images: bytes fetched per image against the part size, a page of 20 thumbnails cold
and warm, and what the thumbnail cache holds.

A DiffusionDB-sized part zip is built in memory: `--members` (default 1,000) stored 512x512 PNGs
of ~`--png-kb` each (16 distinct generated images, repeated under distinct names, so building
stays fast) plus the part's JSON, i.e. ~600 MB like the real `images/part-XXXXXX.zip`. The local
Hub stand-in (tests/servers/hub_server.py) serves it under many part names (the same bytes), with
`--latency` seconds (default 0.05) added to every answer, as from a far-away server.

Rows:
- first image of a part: bytes served (the end record + central directory + the member) and
  their share of the part (target <= 2 %); the second image of the same part: its member only;
- baseline: what a whole-part download (hf_hub_download of the zip) would cost per image: the part;
- a page of 20 thumbnails, cold: 20 images from 20 different parts (search results scatter over
  parts), fetched with `ThumbnailCache.thumbnails` (8 at once) into an empty cache: wall time
  (target <= 2 s over 50 ms latency), requests, bytes; then the same page sequentially (1 worker)
  for comparison;
- the same page warm (all cached; target <= 100 ms): best and median of 20 renders;
- the cache: bytes on disk per thumbnail and per part directory, and the Python memory the cache
  object holds after the cold page (tracemalloc).

    .venv/bin/python benchmarks/bench_images.py [--members 1000] [--png-kb 600] [--latency 0.05] [--json]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import sys
import tempfile
import time
import tracemalloc
import zipfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
PAGE = 20


def png_bytes(seed: int, target_kb: int) -> bytes:
    """A 512x512 PNG of roughly `target_kb` (a gradient plus seeded noise, tuned by its amplitude)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:512, 0:512]
    base = np.stack([(x * 255 // 511), (y * 255 // 511), ((x + y) * 255 // 1022)], axis=-1)
    amplitude = max(1, min(127, target_kb // 5))
    pixels = np.clip(base + rng.integers(-amplitude, amplitude + 1, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def build_part(members: int, png_kb: int) -> tuple[bytes, list[str]]:
    images = [png_bytes(seed, png_kb) for seed in range(16)]
    names = [f"{i:08x}-1b8f-4c2e-9d1a-5e6f7a8b9c0d.png" for i in range(members)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for i, name in enumerate(names):
            archive.writestr(name, images[i % len(images)])
        archive.writestr("part-000001.json", json.dumps({n: {"p": "a prompt", "se": i} for i, n in enumerate(names)}))
    return buffer.getvalue(), names


def measure(members: int, png_kb: int, latency: float) -> dict:
    from huggingface_hub import constants

    from index.images import ThumbnailCache
    from tests.servers.hub_server import HubServer

    constants.HF_HUB_OFFLINE = False  # a benchmark of fetching: this process is online
    started = time.perf_counter()
    part, names = build_part(members, png_kb)
    build_s = time.perf_counter() - started
    files = {f"images/part-{p:06d}.zip": part for p in range(1, PAGE + 3)}
    results: dict = {"part_bytes": len(part), "members": members, "latency_s": latency,
                     "build_s": round(build_s, 1)}
    with HubServer(files) as hub, tempfile.TemporaryDirectory() as root:
        hub.latency_s = latency
        cache = ThumbnailCache(Path(root) / "single", 1 << 30, endpoint=hub.url)
        # 1. bytes per image
        hub.etag("warm-up", part)  # the stand-in hashes a body once for its ETag: not part of any timing
        cache.thumbnail(f"diffusiondb:2m:{PAGE + 1}:{names[members // 2]}")
        first, first_requests = hub.bytes_served(), len(hub.requests)
        cache.thumbnail(f"diffusiondb:2m:{PAGE + 1}:{names[members // 2 + 1]}")
        results["first_image_bytes"] = first
        results["first_image_share_of_part"] = first / len(part)
        results["first_image_requests"] = first_requests
        results["second_image_bytes"] = hub.bytes_served() - first
        results["second_image_requests"] = len(hub.requests) - first_requests
        # 2. a cold page: 20 images in 20 parts, 8 at once, then one at a time
        page = [f"diffusiondb:2m:{p}:{names[(p * 37) % members]}" for p in range(1, PAGE + 1)]
        cold = ThumbnailCache(Path(root) / "cold", 1 << 30, endpoint=hub.url)
        asked, served = len(hub.requests), hub.bytes_served()
        started = time.perf_counter()
        answers = cold.thumbnails(page, max_workers=8)
        results["cold_page_s"] = time.perf_counter() - started
        results["cold_page_ok"] = sum(a.path is not None for a in answers)
        results["cold_page_requests"] = len(hub.requests) - asked
        results["cold_page_bytes"] = hub.bytes_served() - served
        sequential = ThumbnailCache(Path(root) / "sequential", 1 << 30, endpoint=hub.url)
        started = time.perf_counter()
        sequential.thumbnails(page, max_workers=1)
        results["cold_page_sequential_s"] = time.perf_counter() - started
        # 3. the same page warm
        times = []
        for _ in range(20):
            started = time.perf_counter()
            warm = cold.thumbnails(page)
            times.append(time.perf_counter() - started)
        assert all(a.path is not None for a in warm)
        results["warm_page_best_s"], results["warm_page_median_s"] = min(times), statistics.median(times)
        # 4. the cache's contents, and the memory a cache object keeps after a cold page (tracemalloc
        # slows allocation down, so it runs on a page of its own, not on the timed one)
        tracemalloc.start()
        held = ThumbnailCache(Path(root) / "memory", 1 << 30, endpoint=hub.url)
        held.thumbnails(page, max_workers=8)
        gc.collect()
        results["cold_page_memory_bytes"] = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        thumbs = list((Path(root) / "cold" / "thumbs").rglob("*.webp"))
        parts = list((Path(root) / "cold" / "parts").glob("*.zipdir"))
        results["thumbnail_bytes_mean"] = sum(p.stat().st_size for p in thumbs) / len(thumbs)
        results["directory_bytes_per_part"] = sum(p.stat().st_size for p in parts) / len(parts)
        results["cache_bytes_after_page"] = cold.size_bytes()
        results["baseline_whole_part_bytes_per_image"] = len(part)
    return results


def report(r: dict) -> str:
    mb = 1e6
    return "\n".join([
        f"part: {r['members']} PNGs, {r['part_bytes'] / mb:.1f} MB (built in {r['build_s']} s); "
        f"server latency {r['latency_s'] * 1000:.0f} ms per request",
        f"first image of a part: {r['first_image_bytes'] / 1000:.1f} kB = "
        f"{100 * r['first_image_share_of_part']:.3f} % of the part (target <= 2 %) in "
        f"{r['first_image_requests']} requests; "
        f"baseline (whole part): {r['baseline_whole_part_bytes_per_image'] / mb:.1f} MB",
        f"second image of the part: {r['second_image_bytes'] / 1000:.1f} kB in {r['second_image_requests']} "
        "request (its member only)",
        f"cold page of {PAGE} (20 parts, 8 at once): {r['cold_page_s']:.2f} s (target <= 2 s), "
        f"{r['cold_page_ok']}/{PAGE} ok, {r['cold_page_requests']} requests, "
        f"{r['cold_page_bytes'] / mb:.1f} MB; one at a time: {r['cold_page_sequential_s']:.2f} s",
        f"warm page of {PAGE}: best {r['warm_page_best_s'] * 1000:.1f} ms, median "
        f"{r['warm_page_median_s'] * 1000:.1f} ms (target <= 100 ms)",
        f"cache: {r['thumbnail_bytes_mean'] / 1000:.1f} kB per thumbnail, "
        f"{r['directory_bytes_per_part'] / 1000:.1f} kB "
        f"per part directory, {r['cache_bytes_after_page'] / 1000:.0f} kB on disk after the page; "
        f"Python memory held after the cold page {r['cold_page_memory_bytes'] / mb:.1f} MB",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--png-kb", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = measure(args.members, args.png_kb, args.latency)
    print(json.dumps(results, indent=2) if args.json else report(results))


if __name__ == "__main__":
    main()
