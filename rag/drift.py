"""Drift guard: a prompt must keep the idea's subject words, or a close synonym of each.

`subject_words("a red fox sleeping in a snowy forest")` are the idea's content words (red, fox,
sleeping, snowy, forest). A word counts as kept when the prompt contains it (as a word start, so
"fox" is kept by "foxes"), or — with an embedder — when some word of the prompt has a cosine of at
least `SYNONYM_THRESHOLD` with it ("automobile" keeps "car", "woods" keeps "forest"). Only the
missing words and the prompt's own words are embedded, and only when something is missing, so a
prompt that keeps every word costs no embedding at all.

`check_drift(idea, prompts, embedder)` answers per candidate; the assistant drops the candidates
that drifted, says so in the result (`AssistantResult.dropped`, the rationale), and when every
candidate drifted replaces the answer with the fallback enhancer's, naming the lost words.

The threshold was set on all-MiniLM-L6-v2 single-word cosines: car/automobile 0.87, forest/woods
0.82, dog/puppy 0.80, city/town 0.77 pass; fox/wolf 0.52, forest/jungle 0.63, knight/warrior 0.50,
lighthouse/beacon 0.64 do not (a different animal or place is drift, not a synonym).

Deliberately not here: judging whether the added words are good, and any LLM call.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SYNONYM_THRESHOLD = 0.75
MAX_PROMPT_WORDS = 96  # words of one prompt compared with the missing ones (prompts are short)
STOPWORDS = frozenset(
    "a an the of and or with in on at to for by from into over under is are as its it this that".split()
)


def subject_words(idea: str) -> list[str]:
    """The idea's content words (what a prompt must keep), in order, without repeats."""
    words = re.findall(r"[^\W_]+", idea.lower())
    return list(dict.fromkeys(w for w in words if len(w) > 2 and w not in STOPWORDS))


def _has_word(prompt: str, word: str) -> bool:
    return re.search(rf"(?<![^\W_]){re.escape(word)}", prompt) is not None


@dataclass(frozen=True)
class Drift:
    """One prompt against the idea: the subject words it lost, and the synonyms that kept others."""

    missing: tuple[str, ...] = ()
    synonyms: dict[str, str] = field(default_factory=dict)  # idea word → the prompt's word that kept it

    @property
    def drifted(self) -> bool:
        return bool(self.missing)


def check_drift(idea: str, prompts: Sequence[str], embedder: Any | None = None,
                threshold: float = SYNONYM_THRESHOLD) -> list[Drift]:
    """A `Drift` per prompt. Without an embedder only the words themselves count."""
    words = subject_words(idea)
    lowered = [p.lower() for p in prompts]
    missing = [[w for w in words if not _has_word(p, w)] for p in lowered]
    if embedder is None or not any(missing):
        return [Drift(tuple(m)) for m in missing]
    candidates = [subject_words(p)[:MAX_PROMPT_WORDS] if m else [] for p, m in zip(lowered, missing)]
    vocab = list(dict.fromkeys([w for m in missing for w in m] + [w for c in candidates for w in c]))
    vectors = np.asarray(embedder.embed(vocab), dtype=np.float32)
    row = {w: i for i, w in enumerate(vocab)}
    out = []
    for lost, own in zip(missing, candidates):
        synonyms: dict[str, str] = {}
        if lost and own:
            sims = vectors[[row[w] for w in lost]] @ vectors[[row[w] for w in own]].T
            for i, word in enumerate(lost):
                best = int(np.argmax(sims[i]))
                if sims[i, best] >= threshold:
                    synonyms[word] = own[best]
        out.append(Drift(tuple(w for w in lost if w not in synonyms), synonyms))
    return out


def drift_note(dropped: Sequence[tuple[str, Drift]]) -> str:
    """The sentence the rationale gets for dropped candidates."""
    parts = [f"{prompt[:60]!r} lost {', '.join(drift.missing)}" for prompt, drift in dropped]
    n = len(dropped)
    return f"dropped {n} candidate{'s' if n > 1 else ''} that drifted from the idea ({'; '.join(parts)})"
