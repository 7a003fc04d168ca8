"""The campaign folder: one run at a time, one brief per folder, no leftovers of a killed run.

- `folder_lock(out_dir)`: an exclusive `flock` on `OUT/.lock` for the whole run; the kernel
  drops it when the process dies (even on SIGKILL), so a crashed run never blocks the next.
- `check_brief(out_dir, brief)`: OUT holds this brief (resume) or none yet (written now);
  another brief is refused, naming the fields that differ.
- `sweep(out_dir)`: creates the sub-folders and removes what a killed run left half-made (hidden
  `.*.tmp` files of atomic writes, `images/.tmp-*` folders of an image being saved). Call it
  only while holding the lock.
- `read_drafts(out_dir)`: prompts already accepted, waiting for their image.
- `remove_orphans(out_dir, image_paths)`: images no variant refers to (after a complete run).

Deliberately not here: the files' content (runner.py, outputs.py).
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path

from campaign.brief import Brief, brief_from_dict
from campaign.plan import Draft
from core.errors import InputError
from core.files import atomic_write, run_lock

FOLDERS = ("variants", "drafts", "plans", "images")
_VARIANT_FILE = re.compile(r"^v\d+(-\d+)?\.(png|json)$")  # what the runner names its images


def folder_lock(out_dir: Path) -> contextlib.AbstractContextManager[None]:
    """One run per campaign folder (InputError naming the pid of the run holding it)."""
    return run_lock(out_dir, "campaign run")


def check_brief(out_dir: Path, brief: Brief) -> None:
    """OUT holds this brief (resume) or none yet (new run); another brief is a mistake to refuse."""
    import yaml

    path = out_dir / "brief.yaml"
    if not path.exists():
        atomic_write(path, brief.to_yaml())
        return
    saved = brief_from_dict(yaml.safe_load(path.read_text(encoding="utf-8")), source=f"brief {path}")
    if saved != brief:
        old, new = saved.model_dump(), brief.model_dump()
        differ = [name for name in new if old.get(name) != new.get(name)]
        raise InputError(f"{out_dir} holds a campaign made from another brief (different: {', '.join(differ)}); "
                         "resume with the same brief, or choose a new output folder")


def sweep(out_dir: Path) -> None:
    """Sub-folders made; temporary files of a killed run removed (no live writer owns them)."""
    for name in FOLDERS:
        (out_dir / name).mkdir(exist_ok=True)
    for folder in (out_dir, *(out_dir / name for name in FOLDERS)):
        for tmp in folder.glob(".*.tmp"):
            tmp.unlink(missing_ok=True)
    for tmp in (out_dir / "images").glob(".tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)
    (out_dir / ".paused").unlink(missing_ok=True)


def read_drafts(out_dir: Path) -> dict[str, tuple[Draft, str | None, float | None]]:
    """Accepted drafts waiting for their image: id → (draft, closest variant, similarity)."""
    drafts = {}
    for path in sorted((out_dir / "drafts").glob("v*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        drafts[path.stem] = (Draft.from_dict(data), data.get("closest"), data.get("similarity"))
    return drafts


def remove_orphans(out_dir: Path, image_paths: list[str]) -> None:
    """Images a killed run saved but never recorded, and images of re-rolled variants (after a
    complete run only: `image_paths` are every image a variant refers to)."""
    used = {Path(p).stem for p in image_paths}
    for path in (out_dir / "images").iterdir():
        if _VARIANT_FILE.match(path.name) and path.stem not in used:
            path.unlink(missing_ok=True)
