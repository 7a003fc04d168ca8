"""Learn from an index's prompts which medium each credited artist goes with, and which phrases are scene.

Computed at ingest over every row of the index being published (old rows and new: an
incremental ingest recounts, so the statistics always match the rows), stored by
`index/phrase_stats.py` in `rows.sqlite`. It lives here, not in index/, because it reads the
enhancers' lexicons (`enhancers.media.media_of`, `enhancers.grounded.split_phrases`), and index/
sits on the same floor as enhancers/.

Artist → medium. For each prompt: the artists it credits (`credited_names`) and the medium
families it names (`media_of`). Each distinct prompt counts once, whatever its `count`: a
DiffusionDB prompt re-run a hundred times is one user's habit, not a hundred pieces of evidence.
Over the prompts that name a medium, for artist a and family f:
    PMI(a, f) = log( P(f | a) / P(f) )
    share(a, f) = the part of a's medium mentions whose family does not clash with f
                  (`enhancers.media.clash`, the same test the writers apply)
An artist's family is the one named in most of the prompts that credit them, among those with
at least `MIN_PAIR` such prompts and PMI > 0; it is kept only when its share is at least
`MIN_SHARE` (more than half: an artist split evenly between two clashing media gets none). Painters
whose prompts say "digital painting" and "painting" alike land on one painted family; an
artist credited as often in photographs as in paintings gets none (neutral).

Scene vs modifier. Each prompt is split into comma phrases (`split_phrases`); its subject
(`subject_of`: the first clause, less a trailing "by ..." credit) counts as a subject, every later
phrase as a modifier, each once per prompt; the same for each phrase's head noun
(`index.phrase_stats.head_of`). Only phrases (and heads) seen in at least `MIN_PHRASE_COUNT`
prompts are kept, which bounds the table. While counting, a very large corpus is kept in
memory-bounded form by dropping phrases seen once whenever the counter passes `MAX_KEYS` (their
later sightings then count from zero: a rare phrase may be under-counted, a common one is not).

Artist names: "by X", "by X and Y", "art by X", "in the style of X", "<painting|photo|...> by X",
and a bare name ("..., greg rutkowski, ...") or a subject's own credit ("a frog by roger dean")
when some prompt of the corpus credits that name with "by" ("in the style of cyberpunk" does not
make every ", cyberpunk," an artist). This is the rule of
`rag.guidance.credited_artists`, written for one pass over millions of rows (rag/ is a peer floor,
so not importable here); tests/ingest/test_phrase_stats.py checks the two agree.

Deliberately not here: storage and loading (index/phrase_stats.py) and any use of the answers.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from enhancers.grounded import split_phrases, subject_of
from enhancers.media import clash, media_of
from index.phrase_stats import ArtistMedium, PhraseStats, head_of

MIN_PAIR = 3  # prompts that credit the artist and name the family
MIN_SHARE = 0.5  # the family must fit more than this part of the artist's medium mentions
MIN_PHRASE_COUNT = 5  # prompts a phrase (or head noun) must occur in to be stored
MAX_PHRASE_WORDS = 8  # longer phrases are one-off scene descriptions (their heads still count)
MAX_KEYS = 2_000_000  # distinct phrases held while counting before the once-seen ones are dropped

# Same patterns as rag.guidance (_CREDIT_RE, _AND_RE, _ART_NOUN_CREDIT_RE, _CREDIT_TAIL_RE, _NAME_RE).
_CREDIT_RE = re.compile(r"^(?:art by|by|in the style of|style of)\s+(.+)$")
_AND_RE = re.compile(r"\s+(?:and|&)\s+")
_ART_NOUN_CREDIT_RE = re.compile(
    r"\b(?:art|painting|illustration|render|photo|photograph|drawing|artwork|sketch|poster|portrait)\s+by\s+(.+)$"
)
_CREDIT_TAIL_RE = re.compile(
    r"\s+(?:(?:on|from|via|at|trending|featured|in|of|with|for|as)\s.*|style|art|artwork|and others)$"
)
_NAME_RE = re.compile(r"^[^\W\d_]+(?:[ '.-][^\W\d_]+){0,3}$")


def _names(credit: str) -> list[str]:
    """'makoto shinkai and kan liu' -> ['makoto shinkai', 'kan liu'] (a leading 'and' dropped)."""
    names = [_CREDIT_TAIL_RE.sub("", n.strip()) for n in _AND_RE.split(credit.strip().removeprefix("and "))]
    return [n for n in names if _NAME_RE.match(n)]


def credited_names(phrases: list[str]) -> tuple[set[str], set[str]]:
    """(names credited outright, names that count only if credited with "by" elsewhere) of one prompt."""
    credited, maybe, _ = _credits(phrases)
    return credited, maybe


def _credits(phrases: list[str]) -> tuple[set[str], set[str], set[str]]:
    """`credited_names` plus the names credited with "by" (which alone confirm a bare name elsewhere:
    "in the style of cyberpunk" must not make every ", cyberpunk," an artist)."""
    credited: set[str] = set()
    by: set[str] = set()
    maybe: set[str] = set()
    for i, phrase in enumerate(phrases):
        match = _CREDIT_RE.match(phrase) or _ART_NOUN_CREDIT_RE.search(phrase)
        if match:
            names = _names(match.group(1))
            credited.update(names)
            if not phrase.startswith(("in the style of ", "style of ")):
                by.update(names)
        elif i == 0 and " by " in phrase:
            maybe.update(_names(phrase.rsplit(" by ", 1)[1]))
        elif i > 0 and len(phrase.split()) <= 4:
            maybe.update(n for n in _names(phrase) if len(n.split()) <= 3)
    return credited, maybe - credited, by


class PhraseStatsCounter:
    """Counts prompts one at a time (`add`), then `result()` gives the tables to store."""

    def __init__(self, *, min_pair: int = MIN_PAIR, min_share: float = MIN_SHARE,
                 min_phrase_count: int = MIN_PHRASE_COUNT, max_keys: int = MAX_KEYS) -> None:
        self.min_pair, self.min_share = min_pair, min_share
        self.min_phrase_count, self.max_keys = min_phrase_count, max_keys
        self.prompts = 0
        self.medium_prompts = 0  # prompts naming at least one family
        self.family_prompts: Counter[str] = Counter()
        self.credited: set[str] = set()  # every name some prompt credits outright
        self.by_credited: set[str] = set()  # ... with "by" (only these confirm bare names)
        self.pairs: Counter[tuple[str, str, bool]] = Counter()  # (name, family, credited outright) → prompts
        self.named: Counter[tuple[str, bool]] = Counter()  # (name, credited outright) → prompts naming a medium
        self.subject: Counter[str] = Counter()
        self.modifier: Counter[str] = Counter()
        self.head_subject: Counter[str] = Counter()
        self.head_modifier: Counter[str] = Counter()

    def add(self, text: str) -> None:
        phrases = split_phrases(text)
        if not phrases:
            return
        self.prompts += 1
        self._add_media(text, phrases)
        self._add_positions(text, phrases)

    def add_many(self, texts: Iterable[str]) -> None:
        for text in texts:
            self.add(text)

    def _add_media(self, text: str, phrases: list[str]) -> None:
        credited, maybe, by = _credits(phrases)
        self.credited |= credited
        self.by_credited |= by
        families = media_of(text)
        if not families:
            return
        self.medium_prompts += 1
        self.family_prompts.update(families)
        for name in credited | maybe:
            self.named[name, name in credited] += 1
            for family in families:
                self.pairs[name, family, name in credited] += 1
        if len(self.pairs) > self.max_keys:  # bound memory: drop once-seen bare names not credited yet
            for key in [k for k, n in self.pairs.items() if n == 1 and not k[2] and k[0] not in self.by_credited]:
                del self.pairs[key]

    def _add_positions(self, text: str, phrases: list[str]) -> None:
        subject = subject_of(text)
        later = set(phrases[1:]) - {subject}
        if len(subject.split()) <= MAX_PHRASE_WORDS:
            self.subject[subject] += 1
        self.modifier.update(p for p in later if len(p.split()) <= MAX_PHRASE_WORDS)
        head = head_of(subject)
        if head:
            self.head_subject[head] += 1
        self.head_modifier.update({h for h in map(head_of, later) if h} - {head})
        if len(self.subject) + len(self.modifier) > self.max_keys:
            for counter in (self.subject, self.modifier):
                for phrase in [p for p, n in counter.items() if n == 1]:
                    del counter[phrase]

    # -- results ----------------------------------------------------------------------------------
    def artist_media(self) -> dict[str, ArtistMedium]:
        """Artist → its dominant family (the rule in the module docstring); others left out."""
        by_name: dict[str, dict[str, int]] = {}
        named: Counter[str] = Counter()
        for (name, outright), n in self.named.items():
            if outright or name in self.by_credited:
                named[name] += n
        for (name, family, outright), n in self.pairs.items():
            if outright or name in self.by_credited:
                by_name.setdefault(name, {})
                by_name[name][family] = by_name[name].get(family, 0) + n
        out: dict[str, ArtistMedium] = {}
        for name, families in by_name.items():
            best = self._dominant(named[name], families)
            if best is not None:
                out[name] = best
        return out

    def _dominant(self, named: int, families: dict[str, int]) -> ArtistMedium | None:
        mentions = sum(families.values())
        best: tuple[int, float, str] | None = None
        for family, n in families.items():
            if n < self.min_pair:
                continue
            pmi = math.log((n / named) / (self.family_prompts[family] / self.medium_prompts))
            if pmi <= 0:
                continue
            if best is None or (n, pmi) > best[:2]:
                best = (n, pmi, family)
        if best is None:
            return None
        n, pmi, family = best
        share = sum(m for other, m in families.items() if not clash(family, other)) / mentions
        if share <= self.min_share:
            return None
        return ArtistMedium(family, round(share, 4), round(pmi, 4), n)

    def positions(self) -> dict[str, tuple[int, int]]:
        return _kept(self.subject, self.modifier, self.min_phrase_count)

    def heads(self) -> dict[str, tuple[int, int]]:
        return _kept(self.head_subject, self.head_modifier, self.min_phrase_count)

    def result(self) -> PhraseStats:
        return PhraseStats(self.artist_media(), self.positions(), self.heads())


def _kept(subject: Counter[str], modifier: Counter[str], floor: int) -> dict[str, tuple[int, int]]:
    keys = set(subject) | set(modifier)
    return {k: (subject[k], modifier[k]) for k in keys if subject[k] + modifier[k] >= floor}


def phrase_stats_from_prompts(texts: Iterable[str], **options) -> PhraseStats:
    """All the tables for `texts` (each a distinct prompt), as the ingest stores them."""
    counter = PhraseStatsCounter(**options)
    counter.add_many(texts)
    return counter.result()


def artist_media_from_prompts(texts: Iterable[str], **options) -> dict[str, str]:
    """Artist name → dominant medium family over `texts` (artists without a clear one left out)."""
    counter = PhraseStatsCounter(**options)
    counter.add_many(texts)
    return {name: m.family for name, m in counter.artist_media().items()}


def phrase_positions(texts: Iterable[str], **options) -> dict[str, tuple[int, int]]:
    """Normalised phrase → (prompts it is the subject of, prompts it follows a comma in)."""
    counter = PhraseStatsCounter(**options)
    counter.add_many(texts)
    return counter.positions()
