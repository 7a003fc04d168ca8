"""Folding by meaning (`--fold-cosine`): prompts one word or modifier apart become one row that
keeps the total count, the shown wording's settings and the other wordings as variants.

The grouping itself is tested on built vectors; the ingest tests use the CC0 starter prompts
that ship with the package and the packaged embedding model, so they run on a fresh clone.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from core.errors import Cancelled
from core.progress import CancelToken
from index import PromptIndex
from ingest import near_duplicates, run_ingest
from ingest.near_duplicates import find_near_duplicates
from ingest.starter import STARTER_FILE

THRESHOLD = 0.95


def _unit(*rows) -> np.ndarray:
    vectors = np.array(rows, dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _folds(chunks, threshold=THRESHOLD, **kwargs) -> dict[int, int]:
    """{folded position: position it folds into} among new prompts only (no stored rows)."""
    found = find_near_duplicates(chunks, threshold, **kwargs)
    assert found.into_stored == {}
    return found.into_new


# ---- the grouping ------------------------------------------------------------------------------
def test_the_shown_row_is_the_most_frequent_then_the_most_typical_and_folds_never_chain():
    # a~b (0.970) and b~c (0.976), but a and c are 0.894 apart: a chain must not join a and c.
    a, b, c = [1, 0, 0, 0], [1, 0.25, 0, 0], [1, 0.5, 0, 0]
    far = [0, 0, 1, 0]
    vectors = _unit(a, b, c, far)
    assert _folds([vectors]) == {0: 1, 2: 1}  # equal counts: b, near both others, is shown
    assert _folds([vectors[:1], vectors[1:]]) == {0: 1, 2: 1}  # chunks: positions in order
    assert _folds([vectors], counts=[3, 1, 1, 1]) == {1: 0}  # a is more frequent; c stays apart
    assert _folds([vectors], counts=[1, 1, 1, 1], threshold=0.99) == {}
    # equally frequent and typical: the first seen is shown, wherever it sits in the plan
    pair = _unit(a, b)
    assert _folds([pair]) == {1: 0}
    assert _folds([pair], first_seen=[7, 3]) == {0: 1}


def test_new_prompts_near_a_stored_row_fold_into_it_and_stored_rows_never_fold():
    stored = _unit([1, 0, 0, 0], [1, 0.01, 0, 0], [0, 1, 0, 0])  # rows 0 and 1 are near each other
    new = _unit([1, 0.25, 0, 0], [1, 0.5, 0, 0], [0, 0, 0, 1], [0, 0, 0.999, 0.03])
    folds = find_near_duplicates([new], THRESHOLD, counts=[1, 2, 1, 1], stored=stored)
    # new 0 is near stored row 1 (the closest stored row): it goes there even though new 1 comes
    # first (more frequent) and is near it too; new 1 is not near any stored row (0.894): its own row.
    assert folds.into_stored == {0: 1} and folds.into_new == {} and len(folds) == 1
    folds = find_near_duplicates([new], THRESHOLD, stored=stored[2:])
    assert folds.into_stored == {} and folds.into_new == {1: 0}


def test_a_prompt_missed_by_its_representatives_list_still_folds_into_it():
    # a's two nearest are b1 and b2, so its list (2 neighbours) misses c (0.960); c's list holds a.
    vectors = _unit([1, 0, 0, 0], [1, 0.03, 0, 0], [1, 0, 0.03, 0], [1, 0, 0, 0.29])
    assert _folds([vectors], neighbours=2) == {1: 0, 2: 0, 3: 0}


def test_the_inverted_file_path_finds_the_planted_copies(monkeypatch):
    rng = np.random.default_rng(5)
    originals = _unit(*rng.normal(size=(3000, 64)))
    copies = _unit(*(originals[:300] + 0.01 * rng.normal(size=(300, 64))))  # cosine ~0.997
    vectors = np.concatenate([originals, copies])
    exact = _folds([vectors])
    assert exact == {3000 + i: i for i in range(300)}
    monkeypatch.setattr(near_duplicates, "EXACT_LIMIT", 500)  # force the IVF path
    assert _folds([vectors[:1700], vectors[1700:]]) == exact


def test_bad_arguments_are_refused():
    vectors = _unit([1, 0], [0, 1])
    with pytest.raises(ValueError, match="threshold"):
        find_near_duplicates([vectors], 1.5)
    with pytest.raises(ValueError, match="one value for each of the 2 prompts"):
        find_near_duplicates([vectors], THRESHOLD, counts=[1])


# ---- ingest ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted(tmp_path_factory, embedder) -> tuple[Path, list[dict], dict[str, str]]:
    """A JSONL source: 40 starter prompts no two of which are within THRESHOLD, and for 5 of them
    a one-word variant (checked to be within THRESHOLD) that occurs twice, so it is the shown row."""
    starter = [json.loads(line)["prompt"] for line in STARTER_FILE.read_text(encoding="utf-8").splitlines()]
    long_ones = [p for p in starter if 12 <= len(p.split()) <= 40 and p.isascii()][:80]
    vectors = embedder.embed_batch(long_ones)
    base: list[int] = []
    for i in range(len(long_ones)):
        if all(float(vectors[i] @ vectors[j]) < 0.9 for j in base):
            base.append(i)
    base = base[:40]
    assert len(base) == 40
    variants = {}
    for i in base[:5]:
        words = long_ones[i].split()
        words[len(words) // 2] = "glowing"  # one word swapped in the middle
        variants[long_ones[i]] = " ".join(words)
    near = embedder.embed_batch(list(variants.values()))
    assert all(float(v @ vectors[i]) >= THRESHOLD for v, i in zip(near, base[:5], strict=True))
    rows = [{"prompt": long_ones[i], "seed": 100 + n, "steps": 20} for n, i in enumerate(base)]
    for n, variant in enumerate(variants.values()):
        rows += [{"prompt": variant, "seed": 500 + n, "steps": 30}, {"prompt": variant, "seed": 600 + n}]
    path = tmp_path_factory.mktemp("near") / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows, variants


def _records(path: Path):
    with PromptIndex.load(path) as idx:
        return [rec for batch in idx.iter_records(100) for _, rec in batch]


def test_one_word_variants_fold_keeping_counts_settings_and_wordings(tmp_path, planted):
    source, rows, variants = planted
    report = run_ingest(source=str(source), index=tmp_path / "idx", fold_cosine=THRESHOLD, progress=False)

    records = _records(tmp_path / "idx")
    assert report.final_rows == len(records) == 40
    assert report.new_prompts_embedded == 45 and report.near_duplicates_folded == 5
    assert sum(r.count for r in records) == len(rows)  # every source row counted exactly once
    by_prompt = {r.prompt: r for r in records}
    for original, variant in variants.items():
        row = by_prompt[variant]  # the more frequent wording is the one shown
        assert original not in by_prompt
        assert row.count == 3 and [tuple(v) for v in row.variants] == [(original, 1)]
        assert (row.seed, row.steps) == (500 + list(variants).index(original), 30)  # its own settings
    assert all(r.variants == () for r in records if r.prompt not in variants.values())
    assert "5 folded into a near-identical one" in "\n".join(report.summary_lines())

    plain = run_ingest(source=str(source), index=tmp_path / "plain", progress=False)
    assert plain.final_rows == 45 and plain.near_duplicates_folded == 0  # off by default


def test_a_later_ingest_folds_near_copies_into_the_rows_already_indexed(tmp_path, planted, embedder):
    source, rows, _ = planted
    run_ingest(source=str(source), index=tmp_path / "idx", fold_cosine=THRESHOLD, progress=False)
    indexed = rows[5]["prompt"]  # one of the 40, without a variant so far
    words = indexed.split()
    words[len(words) // 2] = "glowing"
    variant = " ".join(words)
    assert float(embedder.embed_batch([variant])[0] @ embedder.embed_batch([indexed])[0]) >= THRESHOLD
    fresh = "a lighthouse on a cliff at night, storm, oil painting"
    more = tmp_path / "more.txt"
    more.write_text(f"{variant}\n{fresh}\n{variant}\n", encoding="utf-8")

    report = run_ingest(source=str(more), index=tmp_path / "idx", fold_cosine=THRESHOLD, progress=False)

    assert report.new_prompts_embedded == 2 and report.near_duplicates_folded == 1
    assert report.final_rows == 41 and report.existing_rows == 40
    records = _records(tmp_path / "idx")
    assert sum(r.count for r in records) == len(rows) + 3
    row = next(r for r in records if r.prompt == indexed)  # the stored row keeps its wording and id
    assert row.count == 3 and [tuple(v) for v in row.variants] == [(variant, 2)]
    assert [r.prompt for r in records].count(fresh) == 1 and variant not in [r.prompt for r in records]


def test_the_original_wording_finds_its_folded_row(tmp_path, planted):
    from rag.retriever import Retriever

    source, _, variants = planted
    run_ingest(source=str(source), index=tmp_path / "idx", fold_cosine=THRESHOLD, progress=False)
    original, variant = next(iter(variants.items()))
    with PromptIndex.load(tmp_path / "idx") as idx:
        for mode in ("dense", "hybrid"):
            top = Retriever(idx).search(original, k=3, mode=mode)[0]
            assert top.prompt == variant and [v.text for v in top.variants] == [original]


def test_a_run_cancelled_after_folding_resumes_to_the_same_rows(tmp_path, planted):
    source, _, _ = planted
    token = CancelToken()

    def cancel_when_folded(event):
        if event.stage == "fold" and event.done == event.total:
            token.cancel()

    args = {"source": str(source), "fold_cosine": THRESHOLD, "batch_size": 8}
    with pytest.raises(Cancelled):
        run_ingest(index=tmp_path / "killed", on_progress=cancel_when_folded, cancel=token, **args)
    assert not (tmp_path / "killed" / "manifest.json").exists()
    resumed = run_ingest(index=tmp_path / "killed", progress=False, **args)
    reference = run_ingest(index=tmp_path / "reference", progress=False, **args)

    assert resumed.resumed and resumed.near_duplicates_folded == 5
    assert _records(tmp_path / "killed") == _records(tmp_path / "reference")
    with PromptIndex.load(tmp_path / "killed") as a, PromptIndex.load(tmp_path / "reference") as b:
        np.testing.assert_allclose(np.array(a.stored_vectors()), np.array(b.stored_vectors()), atol=1e-5)
    assert reference.final_rows == 40


def test_a_milvus_collection_folds_the_same_rows_with_dense_ids(tmp_path, planted):
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    from index.prompt_store import open_store

    source, rows, _ = planted
    uri = f"milvus-lite://{tmp_path / 'g.db'}/prompts"
    report = run_ingest(source=str(source), store=uri, fold_cosine=THRESHOLD, batch_size=8, progress=False)
    run_ingest(source=str(source), index=tmp_path / "idx", fold_cosine=THRESHOLD, batch_size=8, progress=False)

    assert report.final_rows == 40 and report.near_duplicates_folded == 5
    with open_store(uri) as store:
        stored = [pair for batch in store.iter_records(100) for pair in batch]
    assert [i for i, _ in stored] == list(range(40))  # ids stay dense although 5 prompts folded away
    assert [r for _, r in stored] == _records(tmp_path / "idx")
    assert sum(r.count for _, r in stored) == len(rows)
