"""Resuming a campaign: what a run finds in its folder, and what it has left to do.

`read_leftover(out, ids, angles, ...)` reads the three kinds of progress a run leaves (all written
by runner.py, each by atomic rename):

- `variants/<id>.json`: finished variants (an `error` one is tried again, an `ok` one whose image
  is missing gets its image);
- `drafts/<id>.json`: prompts accepted, waiting for their image (not drafted again);
- `plans/<id>.json`: re-plans decided, not drafted yet (drafted from the recorded angle, so a
  resumed run decides the near-duplicate the same way); a plan no longer wanted is removed.

With `reroll=True` the variants in `only` are re-made from a new angle draw whatever they hold.
The answer is a `Leftover`: which ids to draft from which (attempt, angle), which accepted
prompts only need their image, and what was finished before.

Deliberately not here: the folder's lock and the sweep of a killed run's temporary files
(folder.py), drafting and deciding (runner.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from campaign.folder import read_drafts
from campaign.plan import Draft
from campaign.variant import Variant, read_variants

Accepted = tuple[Draft, str | None, float | None]  # a draft, the variant closest to it, their similarity


@dataclass
class Leftover:
    """What is finished in a campaign folder and what a run still has to do."""

    done: dict[str, Variant]  # id → finished variant (any status)
    drafts: dict[str, Accepted]  # id → accepted draft waiting for its image (ids not drafted again)
    base: dict[str, int] = field(default_factory=dict)  # id to draft → its first attempt in this run
    first: dict[str, tuple[int, dict[str, str]] | None] = field(default_factory=dict)  # (attempt, angle); None: re-plan
    replans: dict[str, list[str]] = field(default_factory=dict)  # id → notes of re-plans made before
    ready: list[Accepted] = field(default_factory=list)  # accepted prompts still needing an image

    @property
    def work(self) -> int:
        """Variants this run will finish: those to draft and those that need only their image."""
        return len(self.base) + len(self.ready)


def read_leftover(out: Path, ids: list[str], angles: list[dict[str, str]], *, only: list[str] | None,
                  reroll: bool, want_images: bool) -> Leftover:
    """What `out` holds of the campaign whose variants are `ids` (planned `angles`), and what is left
    of the work on `only` (None: every variant); see the module docstring."""
    done = {v.id: v for v in read_variants(out) if v.id in ids}
    drafts = {i: d for i, d in read_drafts(out).items() if i in ids and i not in done}
    plans = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in (out / "plans").glob("v*.json")}
    left = Leftover(done, drafts)
    for variant_id in (list(only) if only is not None else list(ids)):
        variant = done.get(variant_id)
        planned = angles[ids.index(variant_id)]
        if reroll:
            old = variant or (drafts[variant_id][0] if variant_id in drafts else None)
            left.base[variant_id] = old.attempt + 1 if old is not None else 0
            left.first[variant_id] = None if old is not None else (0, planned)
            drafts.pop(variant_id, None)
        elif variant is not None and variant.status == "ok" and want_images and not variant.image_path:
            draft = Draft.from_dict({**variant.to_dict(), "index": ids.index(variant_id),
                                     "style": variant.angle.get("style", "")})
            left.ready.append((draft, variant.closest, variant.similarity))
        elif variant is None or variant.status == "error":
            if variant_id in drafts:
                left.ready.append(drafts[variant_id])
            elif variant_id in plans and variant is None:
                left.base[variant_id] = 0
                left.replans[variant_id] = list(plans[variant_id].get("replans", []))
                left.first[variant_id] = (plans[variant_id]["attempt"], plans[variant_id]["angle"])
            else:
                left.base[variant_id] = 0
                left.first[variant_id] = (0, planned)
    for stale in set(plans) - {i for i, start in left.first.items() if start and start[0] > 0}:
        (out / "plans" / f"{stale}.json").unlink(missing_ok=True)
    return left
