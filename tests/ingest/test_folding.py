"""Folding at ingest: the same words in another order or punctuation become one row that keeps the
total count, the first-seen settings and every other wording as a variant."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np

from index import PromptIndex
from ingest import run_ingest
from ingest.normalize import clean_prompt, fold_key
from tests.ingest.test_resume import _kill_when, _phase


def _reordered(prompt: str, rng: random.Random) -> str:
    """The prompt's comma-separated phrases in another order (a DiffusionDB-style near-duplicate)."""
    parts = [p.strip() for p in prompt.split(",") if p.strip()]
    shuffled = parts[:]
    while shuffled == parts:
        rng.shuffle(shuffled)
    return ", ".join(shuffled)


def _source(tmp_path: Path, dev_prompts: list[str]) -> tuple[Path, list[dict], dict[str, list[str]]]:
    """JSONL of real prompts; six of them also appear reordered (x2) and re-punctuated (x1)."""
    rng = random.Random(7)
    distinct = {fold_key(p): p.strip() for p in reversed(dev_prompts)}  # real prompts that do not fold together
    clean = [p for p in dict.fromkeys(p.strip() for p in dev_prompts) if clean_prompt(p)[0] == p]  # stored as is
    base = [p for p in clean if distinct[fold_key(p)] == p][:40]
    folded = [p for p in base if p.count(",") >= 3][:6]
    rows, groups = [], {}
    for i, prompt in enumerate(base):
        rows.append({"prompt": prompt, "seed": 100 + i, "steps": 20 + i % 7, "cfg": 7.5, "sampler": "k_lms",
                     "width": 512, "height": 768})
    for j, prompt in enumerate(folded):
        again = _reordered(prompt, rng)
        punct = prompt.replace(",", " ;").replace(" ;", ";", 1) + "."
        groups[prompt] = [again, punct]
        # The original occurs three times, so it stays the stored wording.
        rows += [{"prompt": prompt, "seed": 900 + j}, {"prompt": prompt, "seed": 950 + j}]
        rows += [{"prompt": again, "seed": 1000 + j}, {"prompt": again, "seed": 1100 + j},
                 {"prompt": punct, "seed": 1200 + j}]
    rng.shuffle(rows[40:])  # settings of the first-seen copy (the plain row) are the ones kept
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path, rows, groups


def _records(path: Path):
    with PromptIndex.load(path) as idx:
        return [rec for batch in idx.iter_records(100) for _, rec in batch]


def test_reordered_prompts_fold_into_one_row_with_counts_settings_and_variants(tmp_path, shared_data, dev_prompts):
    source, rows, groups = _source(tmp_path, dev_prompts)
    report = run_ingest(source=str(source), index=tmp_path / "idx", progress=False)

    records = _records(tmp_path / "idx")
    assert report.final_rows == len(records) == 40
    assert sum(r.count for r in records) == len(rows)  # every source row is counted exactly once
    by_prompt = {r.prompt: r for r in records}
    for original, (again, punct) in groups.items():
        row = by_prompt[original]
        assert row.count == 6
        assert [tuple(v) for v in row.variants] == [(again, 2), (punct, 1)]
        assert again not in by_prompt and punct not in by_prompt
        first = next(r for r in rows if r["prompt"] == original)
        assert (row.seed, row.steps, row.sampler, row.height) == (first["seed"], first["steps"], "k_lms", 768)
    assert all(r.variants == () for r in records if r.prompt not in groups)


def test_search_hits_and_retrieved_prompts_show_the_variants(tmp_path, shared_data, dev_prompts):
    from rag.retriever import Retriever

    source, _, groups = _source(tmp_path, dev_prompts)
    run_ingest(source=str(source), index=tmp_path / "idx", progress=False)
    original, (again, punct) = next(iter(groups.items()))
    with PromptIndex.load(tmp_path / "idx") as idx:
        top = Retriever(idx).search(again, k=3, mode="hybrid")[0]
        assert top.prompt == original  # the folded wording finds its row
        assert [v.text for v in top.variants] == [again, punct]
        assert top.to_dict()["hit"]["variants"] == [{"text": again, "count": 2}, {"text": punct, "count": 1}]

    from typer.testing import CliRunner

    from cli.main import app

    args = ["search", again, "-k", "1", "--index", str(tmp_path / "idx")]
    shown = CliRunner().invoke(app, [*args, "--variants"])
    assert shown.exit_code == 0, shown.output
    assert f"    2  also as: {again}" in shown.stdout and f"    1  also as: {punct}" in shown.stdout
    plain = CliRunner().invoke(app, args)
    assert plain.exit_code == 0 and "also as:" not in plain.stdout  # shown on demand only


def test_no_fold_keeps_each_wording_apart(tmp_path, shared_data, dev_prompts):
    source, rows, groups = _source(tmp_path, dev_prompts)
    report = run_ingest(source=str(source), index=tmp_path / "idx", fold=False, progress=False)

    records = _records(tmp_path / "idx")
    assert report.final_rows == len(records) == 40 + 2 * len(groups)
    assert sum(r.count for r in records) == len(rows)
    assert all(r.variants == () for r in records)


def test_a_new_wording_of_an_indexed_prompt_grows_its_row(tmp_path, shared_data, dev_prompts):
    source, rows, groups = _source(tmp_path, dev_prompts)
    run_ingest(source=str(source), index=tmp_path / "idx", progress=False)
    original, (again, punct) = next(iter(groups.items()))
    more = tmp_path / "more.txt"
    rng = random.Random(3)
    newer = _reordered(again, rng)
    while newer == original:
        newer = _reordered(again, rng)
    more.write_text(f"{newer}\n{again}\n{original.upper()}\n", encoding="utf-8")

    report = run_ingest(source=str(more), index=tmp_path / "idx", progress=False)

    assert report.seen_again_prompts == 1 and report.new_prompts_embedded == 0
    records = _records(tmp_path / "idx")
    assert sum(r.count for r in records) == len(rows) + 3
    row = next(r for r in records if r.prompt == original)
    assert row.count == 9
    assert [tuple(v) for v in row.variants] == [(again, 3), (punct, 1), (newer, 1)]


def test_killed_folding_ingest_resumes_to_the_same_rows(tmp_path, shared_data, dev_prompts):
    source, rows, _ = _source(tmp_path, dev_prompts)
    rows = rows * 10  # long enough to be killed mid-way through staging
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    killed, reference = tmp_path / "killed", tmp_path / "reference"
    work = killed.with_name("killed.ingest-work")
    cmd = [sys.executable, "-m", "cli.main", "ingest", str(source), "--index", str(killed), "--batch-size", "4",
           "--read-batch-rows", "1", "--quiet"]
    _kill_when(cmd, lambda: (lambda phase: phase[0] == "stage" and phase[1] >= 45)(_phase(work)))
    assert 45 <= _phase(work)[1] < len(rows)  # killed among the folded copies

    resumed = run_ingest(source=str(source), index=killed, batch_size=4, read_batch_rows=1, progress=False)
    run_ingest(source=str(source), index=reference, batch_size=4, read_batch_rows=1, progress=False)

    assert resumed.resumed and resumed.rows_read == len(rows)
    assert _records(killed) == _records(reference)
    assert sum(r.count for r in _records(killed)) == len(rows)
    with PromptIndex.load(killed) as a, PromptIndex.load(reference) as b:
        np.testing.assert_allclose(np.array(a.stored_vectors()), np.array(b.stored_vectors()), atol=1e-5)
