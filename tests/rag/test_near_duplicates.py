"""Ranking among near-duplicates: the source prompt of an idea must come first even when the index
holds many copies of it with the modifiers reordered and one subject word swapped (DiffusionDB is
full of them), and a diversified hybrid page must show distinct prompts, not copies of one."""

from __future__ import annotations

import random

import numpy as np
import pytest

from enhancers.grounded import subject_of
from ingest.normalize import fold_key
from rag.retriever import Retriever
from tests.rag.conftest import real_prompts

TARGETS = 12
COPIES = 8  # near-duplicates per target (the 108k benchmark corpus has ~11 per real prompt)


def near_duplicate(prompt: str, words: list[str], rng: random.Random) -> str:
    """The benchmark's distractor: modifiers shuffled, one word of the subject (the idea a person
    would type) replaced by another real word, so the idea tells the source from its copies."""
    parts = [p.strip() for p in prompt.split(",") if p.strip()]
    head, tail = parts[0].split(), parts[1:]
    head[rng.randrange(len(subject_of(prompt).split()))] = rng.choice(words)
    rng.shuffle(tail)
    return ", ".join([" ".join(head), *tail])


def reordered(prompt: str, rng: random.Random) -> str:
    parts = [p.strip() for p in prompt.split(",") if p.strip()]
    rng.shuffle(parts)
    return ", ".join(parts)


@pytest.fixture(scope="module")
def crowded(tmp_path_factory, shared_data, embedder):
    """(index, [(idea, source id)], idea of the reordered prompt): 300 real prompts, COPIES
    near-duplicates of each of TARGETS of them, and six reorderings of one more."""
    from index import IndexWriter, PromptIndex, PromptRecord

    rng = random.Random(11)
    prompts = real_prompts(shared_data, 300)
    subjects = [subject_of(p) for p in prompts]
    eligible = [i for i, p in enumerate(prompts)
                if p.count(",") >= 3 and len(subjects[i].split()) >= 3 and subjects.count(subjects[i]) == 1]
    targets = rng.sample(eligible, TARGETS + 1)
    targets, repeated = targets[:-1], targets[-1]
    words = sorted({w for p in prompts for w in p.split() if w.isalpha() and len(w) > 3})
    texts = list(prompts)
    for t in targets:
        texts += [near_duplicate(prompts[t], words, rng) for _ in range(COPIES)]
    texts += [reordered(prompts[repeated], rng) for _ in range(6)]  # same words: only MMR keeps them apart
    path = tmp_path_factory.mktemp("crowded") / "index"
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    writer.add([PromptRecord(prompt=t, source="test") for t in texts], embedder.embed(texts))
    writer.publish()
    return PromptIndex.load(path), [(subjects[t], t) for t in targets], subjects[repeated]


def _rank(retriever: Retriever, text: str, target: int, mode: str) -> int | None:
    ids = [r.id for r in retriever.search(text, k=10, mode=mode)]
    return ids.index(target) + 1 if target in ids else None


def test_the_source_prompt_ranks_first_among_its_near_duplicates(crowded):
    index, queries, _ = crowded
    retriever = Retriever(index)
    ranks = {mode: [_rank(retriever, q, t, mode) for q, t in queries] for mode in ("dense", "keyword", "hybrid")}
    assert ranks["hybrid"] == [1] * len(queries), ranks
    # The regression this guards: the dense half used to pull a reordered copy above the source.
    assert sum(r == 1 for r in ranks["hybrid"]) >= sum(r == 1 for r in ranks["keyword"])
    assert sum(r == 1 for r in ranks["hybrid"]) >= sum(r == 1 for r in ranks["dense"])


def test_a_diversified_hybrid_page_shows_distinct_prompts(crowded):
    index, _, query = crowded
    retriever = Retriever(index)
    plain = retriever.search(query, k=6, mode="hybrid")
    varied = retriever.search(query, k=6, mode="hybrid", diversity=0.7)

    def copies(results) -> int:
        keys = [fold_key(r.prompt) for r in results]
        return len(keys) - len(set(keys))

    assert copies(plain) >= 3  # without MMR the page is mostly the same words reordered
    assert varied[0].id == plain[0].id  # the best match still leads
    assert copies(varied) == 0
    vectors = index.vectors([r.id for r in varied])
    sims = (vectors @ vectors.T)[np.triu_indices(len(varied), 1)]
    assert sims.max() < 0.98  # no two results on the page are near-copies
