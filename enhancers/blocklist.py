"""The user's blocklist: words, phrases and artist names that must not appear in a prompt.

The file (`$PROMPTRAG_HOME/blocklist.txt`, or the path in PROMPTRAG_BLOCKLIST) has one entry a line:

    # a comment (a line that starts with #); blank lines are skipped
    greg rutkowski          a word or phrase: case-insensitive, whole words, any spacing
    re:^artgerm$            a regular expression (Python syntax), also case-insensitive

Both kinds are searched in each comma-separated phrase of a prompt, and match whole words only
("art" does not match "artstation"); in a regular expression `^` and `$` are the start and end of
one phrase, so `re:^greg\\s+rutkowski$` blocks the phrase "greg rutkowski" but not
"by greg rutkowski" (the literal line blocks both). A line the file cannot use (an invalid
regular expression, a huge line, a file that is not UTF-8) is a ConfigError naming the file,
the line number and the fix — never silently skipped.

Time limit: a user's pattern can backtrack for ever (`re:(a|aa)+$` against a long run of "a").
Every entry is matched with the `regex` module under `MATCH_TIMEOUT_S` per search. `save_blocklist`
(and so add / remove) first tries each `re:` entry on long runs of its own characters and refuses
one that runs out of time, naming it; a slow entry that reaches the file anyway (written by hand)
is skipped when it runs out of time on a prompt, and `apply_blocklist` says so in a notice.

`Blocklist.redact(text, keep=idea)` removes each blocked term from a prompt together with its
credit ("by X", "in the style of X", "X and" in "by X and Y") and leaves clean commas. The user's
own words win: a term the idea itself names is kept (the user typed it) and the caller is told,
so `Redaction.kept` can say so. `apply_blocklist(candidates, idea)` is what every enhancer's
result goes through (`Enhancer.make_result`), so no enhancer can bypass it.

Deliberately not here: reading the index (the Settings page's top artists are counted by
rag/artists.py) and streaming previews (a TextDelta shown while an LLM writes is a preview; the
finished result is the redacted one).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import regex

from core.errors import ConfigError
from core.files import atomic_write
from core.settings import get_settings

logger = logging.getLogger(__name__)

MAX_LINE_CHARS = 300
MAX_ENTRIES = 5_000
REGEX_PREFIX = "re:"
MATCH_TIMEOUT_S = 0.1  # one search of one entry in one phrase; longer and the entry is skipped
PROBE_CHARS = 2000  # the length of the texts a re: entry is tried on before it is saved
HEADER = "# promptrag blocklist: one word, phrase or artist name a line; re:PATTERN for a regex\n"

# What credits a blocked name in a prompt; removed with it so no "by ," is left dangling.
# ("art by X" loses "by" here and the bare "art" left over is dropped as an empty phrase.)
_CREDIT_BEFORE = re.compile(r"\b(?:by|in the style of|style of|inspired by|in the manner of)\s+$", re.I)
_AND_BEFORE = re.compile(r"\s*(?:\band|&)\s*$", re.I)
_AND_AFTER = re.compile(r"^\s*(?:and\b|&)\s*", re.I)
_EMPTY_PHRASE = re.compile(
    r"^(?:\s|\b(?:by|and|art|artwork|of|in|the|style|inspired|manner|a|an|with)\b|&)*$", re.I
)


@dataclass(frozen=True)
class BlockEntry:
    """One line of the blocklist: what the user wrote and the pattern it became."""

    text: str
    line: int
    pattern: regex.Pattern[str] = field(compare=False, repr=False)

    @property
    def is_regex(self) -> bool:
        return self.text.startswith(REGEX_PREFIX)

    def search(self, phrase: str, slow: set[str] | None = None) -> regex.Match[str] | None:
        """The first match in `phrase`; None when there is none or the search ran out of time (then
        the entry's text goes into `slow`, and the caller skips the entry from then on)."""
        if slow is not None and self.text in slow:
            return None
        try:
            return self.pattern.search(phrase, timeout=MATCH_TIMEOUT_S)
        except TimeoutError:
            if slow is None:
                logger.warning("blocklist entry %r took over %.2f s on one phrase and was skipped; simplify it",
                               self.text, MATCH_TIMEOUT_S)
            else:
                slow.add(self.text)
            return None


@dataclass(frozen=True)
class Redaction:
    """A text after the blocklist: the entries removed from it and those kept (the idea names them)."""

    text: str
    removed: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # entries that ran out of time on this text (not applied)


def _compile(text: str, line: int, source: str) -> regex.Pattern[str]:
    if text.startswith(REGEX_PREFIX):
        body = text[len(REGEX_PREFIX):].strip()
        if not body:
            raise ConfigError(f"{source} line {line}: 're:' needs a regular expression after it; "
                              "write e.g. re:rutkowsk\\w* or delete the line")
    else:
        body = r"\s+".join(re.escape(word) for word in text.split())
    try:
        re.compile(body, re.I)  # Python's syntax, and its own errors first (a position is the user's)
        own = regex.compile(body, regex.I | regex.V0)
        # Whole words: the match may not start or end inside a word.
        pattern = regex.compile(rf"(?<!\w)(?:{body})(?!\w)", regex.I | regex.V0)
    except (re.error, regex.error) as exc:
        raise ConfigError(f"{source} line {line}: invalid regular expression {text!r} ({exc}); "
                          "fix it, or write the words without 're:' to match them literally") from None
    if own.fullmatch("", timeout=MATCH_TIMEOUT_S) is not None:
        raise ConfigError(f"{source} line {line}: {text!r} matches empty text, so it would block every "
                          "prompt; make it match at least one character (e.g. + instead of *)")
    return pattern


def parse_blocklist(text: str, source: str = "blocklist") -> Blocklist:
    """The entries of a blocklist file's `text` (`source` names it in errors)."""
    entries: list[BlockEntry] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE_CHARS:
            raise ConfigError(f"{source} line {number}: an entry may be at most {MAX_LINE_CHARS} characters, "
                              f"got {len(line)}; split it into several lines")
        if "\x00" in line or not line.isprintable():
            raise ConfigError(f"{source} line {number}: contains control characters; "
                              "write plain words or a re: pattern")
        if len(entries) >= MAX_ENTRIES:
            raise ConfigError(f"{source}: more than {MAX_ENTRIES} entries (line {number}); "
                              "use regular expressions to cover many names in one line")
        entries.append(BlockEntry(line, number, _compile(line, number, source)))
    return Blocklist(tuple(entries), source)


@dataclass(frozen=True)
class Blocklist:
    """The parsed entries; an empty blocklist blocks nothing."""

    entries: tuple[BlockEntry, ...] = ()
    source: str = "blocklist"

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def lines(self) -> list[str]:
        return [entry.text for entry in self.entries]

    def matching(self, text: str, slow: set[str] | None = None) -> list[BlockEntry]:
        """The entries that occur in `text` (searched phrase by phrase; see BlockEntry.search for `slow`)."""
        phrases = [p.strip() for p in re.split(r"[,;\n]", text)]
        return [e for e in self.entries if any(e.search(p, slow) for p in phrases)]

    def blocks(self, text: str) -> bool:
        return bool(self.matching(text))

    def without(self, idea: str) -> Blocklist:
        """This blocklist less the entries `idea` names (the user's own words are kept)."""
        named = {e.text for e in self.matching(idea)} if idea and self.entries else set()
        if not named:
            return self
        return Blocklist(tuple(e for e in self.entries if e.text not in named), self.source)

    def redact(self, text: str, *, keep: str = "") -> Redaction:
        """`text` without the blocked terms (and their credits), unless `keep` (the idea) names them.
        An entry that runs out of time is skipped and listed in `Redaction.skipped`."""
        if not self.entries:
            return Redaction(text)
        slow: set[str] = set()
        kept = {e.text for e in self.matching(keep, slow)} if keep else set()
        active = [e for e in self.entries if e.text not in kept]
        removed: list[str] = []
        phrases: list[str] = []
        for phrase in text.split(","):
            new = phrase.strip()  # `^` / `$` of a regex entry are the phrase's own ends
            changed = False
            for entry in active:
                new, hits = _remove(entry, new, slow)
                changed = changed or bool(hits)
                if hits and entry.text not in removed:
                    removed.append(entry.text)
            if not changed:
                phrases.append(phrase)
            elif not _EMPTY_PHRASE.match(new):
                phrases.append(" " + " ".join(new.split()) if phrase[:1].isspace() else " ".join(new.split()))
        named = tuple(sorted(kept & {e.text for e in self.matching(text, slow)}))
        skipped = tuple(e.text for e in self.entries if e.text in slow)
        if not removed:
            return Redaction(text, kept=named, skipped=skipped)
        cleaned = ",".join(phrases).strip(" ,")
        cleaned = re.sub(r"\s+([,.;:!?])", r"\1", cleaned)
        cleaned = re.sub(r"(?:,\s*){2,}", ", ", cleaned)
        return Redaction(cleaned, tuple(removed), named, skipped)

    def check_speed(self) -> None:
        """ConfigError naming the first `re:` entry that runs out of time on a long run of its own
        characters (what a prompt can hold), so a slow pattern is never saved."""
        for entry in self.entries:
            if not entry.is_regex:
                continue
            chars = [c for c in dict.fromkeys(entry.text[len(REGEX_PREFIX):].lower()) if c.isalnum()][:8]
            for char in dict.fromkeys([*chars, "a", " "]):
                for probe in (char * PROBE_CHARS, char * PROBE_CHARS + "!", (char + " ") * (PROBE_CHARS // 2)):
                    try:
                        entry.pattern.search(probe, timeout=MATCH_TIMEOUT_S)
                    except TimeoutError:
                        raise ConfigError(
                            f"{self.source} line {entry.line}: the pattern {entry.text!r} takes over "
                            f"{MATCH_TIMEOUT_S} s on a run of {len(probe)} characters ({char!r}...), so it could "
                            "hold up every prompt; simplify it (no repeat of a repeat that can match the same "
                            "text, such as (a|aa)+) or write the words without 're:'") from None


def _remove(entry: BlockEntry, phrase: str, slow: set[str]) -> tuple[str, int]:
    """`phrase` without each match of `entry`, taking a credit or an "and" with it."""
    hits = 0
    while (found := entry.search(phrase, slow)) is not None and found.end() > found.start():
        before, after = phrase[:found.start()], phrase[found.end():]
        if _AND_AFTER.match(after):  # "by X and Y": keep the credit for Y
            after = _AND_AFTER.sub(" ", after, count=1)
        elif (joined := _AND_BEFORE.search(before)) is not None and before[:joined.start()].strip():
            before = before[:joined.start()]  # "by Y and X": drop " and X"
        elif (credit := _CREDIT_BEFORE.search(before)) is not None:
            before = before[:credit.start()]  # "art by X": the credit goes too
        phrase = f"{before.rstrip()} {after.lstrip()}".strip() if before.strip() else after.lstrip()
        hits += 1
        if hits > 50:  # a pattern that keeps matching what is left (e.g. re:\b): stop
            break
    return phrase, hits


# -- loading, with a cache keyed by the file's identity ------------------------------------------
_cache: dict[Path, tuple[tuple[int, int], Blocklist]] = {}


def blocklist_path() -> Path:
    """PROMPTRAG_BLOCKLIST when set, else `$PROMPTRAG_HOME/blocklist.txt`."""
    return get_settings().blocklist_file


def load_blocklist(path: Path | str | None = None) -> Blocklist:
    """The blocklist in `path` (default `blocklist_path()`); a missing file is an empty blocklist.

    Re-read only when the file changed (size or modification time), so calling this for every
    result costs a stat.
    """
    path = Path(path).expanduser() if path is not None else blocklist_path()
    try:
        stat = path.stat()
    except FileNotFoundError:
        return Blocklist(source=str(path))
    except OSError as exc:
        raise ConfigError(f"cannot read the blocklist {path} ({exc.strerror}); fix its permissions "
                          "or set PROMPTRAG_BLOCKLIST to another file") from None
    if path.is_dir():
        raise ConfigError(f"the blocklist {path} is a directory; set PROMPTRAG_BLOCKLIST to a text file")
    key = (stat.st_mtime_ns, stat.st_size)
    cached = _cache.get(path)
    if cached and cached[0] == key:
        return cached[1]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the blocklist {path} is not UTF-8 text (byte {exc.start}); "
                          "save it as UTF-8") from None
    blocklist = parse_blocklist(text, str(path))
    _cache[path] = (key, blocklist)
    return blocklist


def save_blocklist(lines: Iterable[str], path: Path | str | None = None) -> Blocklist:
    """Write `lines` (entries; comments kept as written) atomically after checking them all."""
    path = Path(path).expanduser() if path is not None else blocklist_path()
    body = "".join(f"{line.rstrip()}\n" for line in lines)
    # Checked as the user wrote it (line numbers are theirs); a file that would not load is refused,
    # and so is a pattern that could hold up a prompt.
    blocklist = parse_blocklist(body, str(path))
    blocklist.check_speed()
    text = body if body.lstrip().startswith("#") or not body.strip() else HEADER + body
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text)
    return blocklist


def file_lines(path: Path | str | None = None) -> list[str]:
    """The blocklist file's lines as written (comments included), [] when there is none."""
    path = Path(path).expanduser() if path is not None else blocklist_path()
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else []


def add_entries(names: Sequence[str], path: Path | str | None = None) -> Blocklist:
    """Append `names` not yet in the file (compared case-insensitively); atomic."""
    lines = file_lines(path)
    have = {line.strip().lower() for line in lines}
    new = [n.strip() for n in names if n.strip() and n.strip().lower() not in have]
    return save_blocklist([*lines, *new], path)


def remove_entries(names: Sequence[str], path: Path | str | None = None) -> Blocklist:
    """Drop the lines equal (case-insensitively) to one of `names`; atomic."""
    drop = {n.strip().lower() for n in names}
    return save_blocklist([line for line in file_lines(path) if line.strip().lower() not in drop], path)


def apply_blocklist(
    candidates: Sequence, idea: str, blocklist: Blocklist | None = None
) -> tuple[list, list[str]]:
    """(the candidates with blocked terms removed from their prompts, notices saying what changed).

    A candidate whose whole prompt was blocked keeps the idea as its prompt (the idea is the
    user's own words). `candidates` are `enhancers.base.Candidate`s (frozen dataclasses).
    """
    blocklist = load_blocklist() if blocklist is None else blocklist
    if not blocklist:
        return list(candidates), []
    out, removed, kept, skipped = [], [], [], []
    for candidate in candidates:
        redaction = blocklist.redact(candidate.prompt, keep=idea)
        prompt = redaction.text or idea
        out.append(replace(candidate, prompt=prompt) if prompt != candidate.prompt else candidate)
        removed += [r for r in redaction.removed if r not in removed]
        kept += [k for k in redaction.kept if k not in kept]
        skipped += [s for s in redaction.skipped if s not in skipped]
    notices = []
    if skipped:
        notices.append(f"blocklist: skipped {', '.join(map(repr, skipped))}: it took over {MATCH_TIMEOUT_S} s on "
                       f"this prompt; simplify the pattern in {blocklist.source}")
    if removed:
        notices.append(f"blocklist removed {', '.join(map(repr, removed))} from the prompt")
    if kept:
        notices.append(f"blocklist: kept {', '.join(map(repr, kept))} because your idea names it")
    return out, notices


def _reset_cache() -> None:  # for tests that rewrite a file within one mtime tick
    _cache.clear()


__all__ = [
    "Blocklist", "BlockEntry", "Redaction", "parse_blocklist", "load_blocklist", "save_blocklist",
    "add_entries", "remove_entries", "file_lines", "apply_blocklist", "blocklist_path",
]
