"""Which generation settings an index holds at all (seed, steps, CFG, sampler, size).

A DiffusionDB download carries each prompt's seed, steps, CFG, sampler and image size; the
packaged starter set, a CSV or a text file carries prompt text only. A page that offers a
"Sampler" filter over an index without samplers can only ever answer "no prompts match", so it
asks `settings_held(store)` first and shows the settings it can filter on.

Works on any `PromptStore` through `iter_records`, and stops at the first batch in which every
setting has been seen (a DiffusionDB index answers from its first rows). An index without some
setting is read to the end once: about a second per 100,000 rows, so callers cache the answer
per published index (app: st.cache_resource keyed by the manifest stamp).

Deliberately not here: filtering (records.SearchFilters) and how settings are shown (app/).
"""

from __future__ import annotations

from typing import Any

SETTINGS: tuple[str, ...] = ("seed", "steps", "cfg", "sampler", "width", "height")


def settings_held(store: Any, batch_size: int = 10_000) -> frozenset[str]:
    """The SETTINGS that at least one stored prompt has (an empty set for text-only sources)."""
    held: set[str] = set()
    for batch in store.iter_records(batch_size=batch_size):
        for _, record in batch:
            held.update(name for name in SETTINGS if getattr(record, name) not in (None, ""))
        if len(held) == len(SETTINGS):
            break
    return frozenset(held)
