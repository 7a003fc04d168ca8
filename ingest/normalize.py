"""Prompt clean-up and the de-duplication key.

`clean_prompt(raw)` returns the text we store (unicode NFKC, control / zero-width characters
removed, whitespace collapsed, ends trimmed) or the reason it is dropped:

- ``empty``         nothing left after cleaning
- ``no_letters``    no letter in any script (e.g. "!!!", "1234", emoji only)
- ``too_long``      longer than MAX_PROMPT_CHARS after cleaning (pasted documents, spam)
- ``bad_encoding``  contains U+FFFD, i.e. the source had bytes that are not valid UTF-8

`clean_rows(rows, max_chars)` applies `clean_prompt` to a batch of source rows and tallies what
it kept and dropped: a pure function, so the thread executor's staging and a Ray worker's block
(ingest/ray_ingest.py) clean rows with the same code and count them the same way.

`dedupe_key(text)` folds case and spacing ("A  Cat , red" == "a cat, red") so that copies of
one prompt merge. `fold_key(text)` goes further for ingest's folding: the prompt's words as a
sorted multiset, so the same words in another order or with other punctuation ("red, a cat" ==
"a cat red") fold into one row that keeps each wording as a variant. Neither stems, drops stop
words or matches synonyms: two prompts that differ in words stay two prompts.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

MAX_PROMPT_CHARS = 2000

DROP_REASONS = ("empty", "no_letters", "too_long", "bad_encoding")
TALLY_KEYS = ("rows_read", "kept", *(f"dropped_{r}" for r in DROP_REASONS))  # what clean_rows counts

_CLOSERS = ",.;:!?)]}"
_OPENERS = "([{"
# Invisible format characters that survive NFKC and split otherwise-identical prompts.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)


def _strip_controls(text: str) -> str:
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cc":
            # Tabs / newlines become spaces (collapsed later); other controls vanish.
            if ch in "\t\n\r\x0b\x0c":
                out.append(" ")
        elif cat in ("Cf", "Cs", "Co"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def clean_prompt(raw: object, max_chars: int = MAX_PROMPT_CHARS) -> tuple[str | None, str | None]:
    """(cleaned text, None) or (None, drop reason). Never raises on odd input."""
    if raw is None:
        return None, "empty"
    text = raw if isinstance(raw, str) else str(raw)
    # Cheap guard before the per-character work: a 100 KB blob is dropped without NFKC on it.
    if len(text) > max_chars * 4:
        return None, "too_long"
    if text.isascii():  # NFKC is the identity on ASCII: skip it for the common case
        text = text.replace("\t", " ").replace("\n", " ").replace("\r", " ")
        if not text.isprintable():
            text = _strip_controls(text)
    else:
        text = _strip_controls(unicodedata.normalize("NFKC", text).translate(_INVISIBLE))
    text = " ".join(text.split())
    if not text:
        return None, "empty"
    if "\ufffd" in text:
        return None, "bad_encoding"
    if len(text) > max_chars:
        return None, "too_long"
    if not any(ch.isalpha() for ch in text):
        return None, "no_letters"
    return text, None


def clean_rows(rows: list[dict], max_chars: int = MAX_PROMPT_CHARS) -> tuple[list[dict], dict[str, int]]:
    """(the rows whose prompt survives clean_prompt, with the cleaned text as prompt; their tally:
    rows_read, kept and dropped_<reason> per DROP_REASONS). The input rows are left as they are."""
    kept: list[dict] = []
    tally = dict.fromkeys(TALLY_KEYS, 0)
    for row in rows:
        text, reason = clean_prompt(row["prompt"], max_chars)
        if reason is not None:
            tally[f"dropped_{reason}"] += 1
            continue
        kept.append({**row, "prompt": text})
    tally["rows_read"], tally["kept"] = len(rows), len(kept)
    return kept, tally


def dedupe_key(text: str) -> str:
    """Case- and space-insensitive identity of a cleaned prompt."""
    # str methods, not regexes: this runs once per source row (14M for DiffusionDB Large).
    key = " ".join(text.casefold().split())
    if " " in key:
        for mark in _CLOSERS:
            key = key.replace(" " + mark, mark)
        for mark in _OPENERS:
            key = key.replace(mark + " ", mark)
    return key.rstrip(" ,.;:")


_WORD = re.compile(r"[^\W_]+", re.UNICODE)  # the words FTS5's unicode61 tokenizer sees


def fold_key(text: str) -> str:
    """The words of a cleaned prompt, case-folded and sorted (repeats kept): order and punctuation vanish."""
    words = _WORD.findall(text.casefold())
    # A prompt of letters always has a word; the fallback keeps odd text from folding into "".
    return " ".join(sorted(words)) if words else dedupe_key(text)


def key_hash(key: str) -> bytes:
    """16-byte digest of a dedupe key: the staging table's primary key (compact, fixed size)."""
    return hashlib.blake2b(key.encode("utf-8"), digest_size=16).digest()


def sample_rank(khash: bytes, seed: int) -> int:
    """Seeded pseudo-random rank of a prompt (63-bit int): the N smallest form a --sample."""
    digest = hashlib.blake2b(khash, digest_size=8, key=seed.to_bytes(8, "little", signed=True)).digest()
    return int.from_bytes(digest, "little") >> 1
