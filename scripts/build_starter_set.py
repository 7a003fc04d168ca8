"""Build the starter prompt set shipped inside the package (maintainer script, run by hand).

    python scripts/build_starter_set.py [--source PATH] [--size 3000] [--seed 20251130]

Reads the DiffusionDB prompts of ImageReward's ReFL data (../shared/data/diffusiondb_imagereward/
refl_prompts_dev.json: a JSON array of {"text": ..., "image": ...}; DiffusionDB prompts are
CC0-1.0), then:
  1. strips each prompt and collapses its whitespace;
  2. drops prompts longer than MAX_CHARS, shorter than MIN_CHARS, or containing a word of the
     small NSFW list below (a coarse, deliberately over-eager filter: the starter set is what a
     new user sees first, so false positives cost nothing);
  3. de-duplicates (lower-case, whitespace-collapsed form; the first copy wins);
  4. draws a seeded random sample of --size prompts and writes them in source order to
     ingest/starter_data/diffusiondb_starter.jsonl, one {"prompt": ...} object per line.
Same source + same seed -> the same bytes. The output is committed; this script is not run by the
package or the tests.

Deliberately not here: embedding (the app builds the index from this file on first run, see
ingest/starter.py) and any network access.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "diffusiondb_imagereward" / "refl_prompts_dev.json"
OUTPUT = REPO_ROOT / "ingest" / "starter_data" / "diffusiondb_starter.jsonl"
DEFAULT_SIZE = 3000
DEFAULT_SEED = 20251130
MAX_CHARS = 400
MIN_CHARS = 12

# Stems match at the start of a word ("nud" catches nude, nudity); words match whole (with an
# optional plural s), so "butt" does not catch "button". Over-eager on purpose.
NSFW_STEMS = (
    "nud", "naked", "nsfw", "porn", "sexy", "sexual", "erotic", "topless", "bottomless", "breast",
    "boob", "nipple", "cleavage", "lingerie", "underwear", "bikini", "hentai", "genital", "fetish",
    "seductive", "sensual", "provocative", "stripper", "playboy", "onlyfans", "decapitat", "dismember",
    "mutilat", "tortur", "suicid", "undress", "orgasm", "swimsuit", "latex", "gravure", "entrail",
)
NSFW_WORDS = (
    "sex", "tits", "busty", "thong", "ecchi", "penis", "vagina", "pussy", "butt", "ass", "booty",
    "bdsm", "bondage", "xxx", "gore", "gory", "corpse", "blood", "bloody", "rape", "nazi", "hitler",
    "loli", "shota", "lewd", "horny", "curvy", "guts", "hot pants",
)
_NSFW = re.compile(
    r"\b(?:" + "|".join(map(re.escape, NSFW_STEMS)) + r")"
    r"|\b(?:" + "|".join(map(re.escape, NSFW_WORDS)) + r")s?\b",
    re.IGNORECASE,
)


def clean(text: str) -> str:
    return " ".join(str(text).split())


def is_nsfw(text: str) -> bool:
    return _NSFW.search(text) is not None


def select(records: list[dict], size: int, seed: int) -> list[str]:
    """The seeded sample of unique, short, safe prompts, in source order."""
    seen: set[str] = set()
    kept: list[str] = []
    for record in records:
        text = clean(record.get("text") or record.get("prompt") or "")
        key = text.lower()
        if not (MIN_CHARS <= len(text) <= MAX_CHARS) or is_nsfw(text) or key in seen:
            continue
        seen.add(key)
        kept.append(text)
    if len(kept) < size:
        raise SystemExit(f"only {len(kept)} prompts pass the filters; ask for --size {len(kept)} or less")
    chosen = sorted(random.Random(seed).sample(range(len(kept)), size))
    return [kept[i] for i in chosen]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--size", type=int, default=DEFAULT_SIZE)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    records = json.loads(args.source.read_text(encoding="utf-8"))
    prompts = select(records, args.size, args.seed)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.output.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8", newline="\n") as out:
        for prompt in prompts:
            out.write(json.dumps({"prompt": prompt}, ensure_ascii=False) + "\n")
    tmp.replace(args.output)
    size_kb = args.output.stat().st_size / 1024
    print(f"wrote {len(prompts)} prompts ({size_kb:.0f} KiB) to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
