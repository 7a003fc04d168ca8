"""The staged rows as the targets read them back to write (step 7 of ingest/pipeline.py's recipe).

- `new_rows(work, batch)`: the planned prompts, one plan batch (= embedded chunk) at a time, each
  row with its summed count, max NSFW scores and its other wordings as variants; prompts folded by
  meaning (`--fold-cosine`, the `near_folds` table) are left out and added to the row they folded
  into;
- `existing_updates(work)`: what this run adds to each row already indexed (prompts seen again and
  new prompts folded into it by meaning), one tuple per indexed id;
- `merge_variants`: a stored row's wordings plus the ones this run saw, as ingest/targets.py and
  ingest/milvus_ingest.py fold them into a stored record.

Everything is read from the work directory's SQLite tables (ingest/staging.py) in bounded
batches, so memory stays bounded whatever the source size; nothing here writes to them.

Deliberately not here: the work directory, its tables and how rows are staged, planned and
folded (staging.py), writing the rows anywhere (targets.py, milvus_ingest.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from index.records import MAX_VARIANTS, Variant
from ingest.normalize import dedupe_key
from ingest.staging import WorkDir, nsfw_max


def merge_variants(prompt: str, variants: tuple[Variant, ...], added: Iterable[tuple[str, int]]) -> tuple[Variant, ...]:
    """`variants` of a stored `prompt` plus newly seen wordings (text, count), the prompt's own copies left out.

    Wordings are matched by dedupe key (case and spacing); the MAX_VARIANTS most frequent are kept.
    """
    own = dedupe_key(prompt)
    merged: dict[str, list] = {dedupe_key(v.text): [v.text, v.count] for v in variants}
    for text, count in added:
        key = dedupe_key(text)
        if key == own:
            continue
        if key in merged:
            merged[key][1] += count
        else:
            merged[key] = [text, count]
    ordered = sorted(merged.values(), key=lambda v: -v[1])  # stable: earlier wordings win ties
    return tuple(Variant(t, c) for t, c in ordered[:MAX_VARIANTS])


def new_rows(work: WorkDir, batch: int) -> Iterator[tuple[list[int], list[tuple]]]:
    """Per plan batch (= embedded chunk): (offsets in the chunk of the rows kept, those rows).

    A row is (prompt, count, *SETTINGS, prompt_nsfw, image_nsfw, variants, image), in plan order.
    Prompts folded by meaning (`near_folds`) are left out; their counts, NSFW scores and
    wordings are added to the planned row they folded into (or, by existing_updates, to the
    indexed one).
    """
    cursor = work.db.execute(
        "SELECT p.ord, s.prompt, s.count, s.seed, s.steps, s.cfg, s.sampler, s.width, s.height, "
        "s.prompt_nsfw, s.image_nsfw, s.image, s.kh FROM plan p JOIN staged s ON s.kh = p.kh ORDER BY p.ord"
    )
    while rows := cursor.fetchmany(batch):
        first, last = rows[0][0], rows[-1][0]
        gone = {row[0] for row in work.db.execute("SELECT ord FROM near_folds WHERE ord BETWEEN ? AND ?",
                                                  (first, last))}
        members: dict[int, list[tuple]] = {}
        for into, *member in work.db.execute(
            "SELECT n.into_ord, s.count, s.prompt_nsfw, s.image_nsfw, s.kh FROM near_folds n "
            "JOIN plan p ON p.ord = n.ord JOIN staged s ON s.kh = p.kh "
            "WHERE n.into_ord BETWEEN ? AND ? ORDER BY n.ord", (first, last),
        ):
            members.setdefault(into, []).append(member)
        wordings = _wordings(work, [row[-1] for row in rows if row[0] not in gone]
                                  + [m[-1] for group in members.values() for m in group])
        offsets, kept = [], []
        for offset, (ord_, prompt, count, *rest) in enumerate(rows):
            if ord_ in gone:
                continue
            *settings, prompt_nsfw, image_nsfw, image, kh = rest
            texts = list(wordings.get(kh, ()))
            for m_count, m_prompt_nsfw, m_image_nsfw, m_kh in members.get(ord_, ()):
                count += m_count
                prompt_nsfw = nsfw_max(prompt_nsfw, m_prompt_nsfw)
                image_nsfw = nsfw_max(image_nsfw, m_image_nsfw)
                texts += wordings.get(m_kh, ())
            offsets.append(offset)
            kept.append((prompt, count, *settings, prompt_nsfw, image_nsfw, merge_variants(prompt, (), texts),
                         image))
        yield offsets, kept

def existing_updates(work: WorkDir) -> Iterator[tuple[int, int, float | None, float | None, list[tuple[str, int]],
                                             str | None]]:
    """(existing id, added count, prompt_nsfw, image_nsfw, wordings seen, an image) of each indexed
    row this run adds to, by id: prompts seen again, and new prompts folded into it by meaning.
    The image fills in a row indexed without one (an index from before images were kept)."""
    cursor = work.db.execute(
        "SELECT existing_id, count, prompt_nsfw, image_nsfw, kh, 0, image FROM staged WHERE existing_id IS NOT "
        "NULL "
        "UNION ALL "
        "SELECT n.into_id, s.count, s.prompt_nsfw, s.image_nsfw, s.kh, n.ord, s.image FROM near_folds n "
        "JOIN plan p ON p.ord = n.ord JOIN staged s ON s.kh = p.kh WHERE n.into_id IS NOT NULL "
        "ORDER BY 1, 6"
    )
    pending: list | None = None
    while rows := cursor.fetchmany(1000):
        wordings = _wordings(work, [row[4] for row in rows])
        for id_, count, prompt_nsfw, image_nsfw, kh, _, image in rows:
            if pending is not None and pending[0] == id_:
                pending[1] += count
                pending[2] = nsfw_max(pending[2], prompt_nsfw)
                pending[3] = nsfw_max(pending[3], image_nsfw)
                pending[4] += wordings.get(kh, [])
                pending[5] = pending[5] or image
                continue
            if pending is not None:
                yield tuple(pending)
            pending = [id_, count, prompt_nsfw, image_nsfw, list(wordings.get(kh, [])), image]
    if pending is not None:
        yield tuple(pending)

def _wordings(work: WorkDir, khs: list[bytes]) -> dict[bytes, list[tuple[str, int]]]:
    """Each folded key's wordings (text, count), most frequent first (earliest on ties)."""
    found: dict[bytes, list[tuple[str, int]]] = {}
    for start in range(0, len(khs), 500):
        chunk = khs[start : start + 500]
        rows = work.db.execute(
            f"SELECT kh, text, count FROM variants WHERE kh IN ({', '.join('?' * len(chunk))}) "
            "ORDER BY kh, count DESC, seq",
            chunk,
        )
        for kh, text, count in rows:
            found.setdefault(kh, []).append((text, count))
    return found


__all__ = ["existing_updates", "merge_variants", "new_rows"]
