"""Example images of indexed prompts: locate, fetch on demand, thumbnail, cache on disk.

Public API (the Explore page, `promptrag search --images` and `promptrag thumbnails` use only this):

    from index.images import ThumbnailCache, ImageFetch

    cache = ThumbnailCache.from_settings(get_settings())      # <home>/thumbnails, cap from settings
    fetch = cache.thumbnail(hit.image)                          # ImageFetch(path=…webp | None, reason=…)
    fetches = cache.thumbnails([h.image for h in hits])         # concurrent, same order
    cache.full(hit.image); cache.cached(hit.image); cache.size_bytes()

A locator (`SearchHit.image`) is `diffusiondb:<subset>:<part_id>:<image_name>`, an http(s) URL or a
local path (locators.py). Nothing here raises for network, decoding or missing-image problems:
the answer is an `ImageFetch` with `path=None` and a one-line `reason`.

Modules: locators.py (parse/build locators), remote_zip.py (one member of a part zip by HTTP
Range, central directory cached per part), fetchers.py (URLs and local files), cache.py (the
thumbnail cache: WebP thumbnails, size cap, LRU eviction, per-part back-off).
"""

from index.images.cache import ImageFetch, ThumbnailCache
from index.images.locators import diffusiondb_locator, diffusiondb_subset, parse_locator

__all__ = ["ImageFetch", "ThumbnailCache", "diffusiondb_locator", "diffusiondb_subset", "parse_locator"]
