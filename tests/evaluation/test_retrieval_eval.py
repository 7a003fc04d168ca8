"""Retrieval figures (recall@k, MRR) on the user's own index: the library code the benchmark uses."""

from __future__ import annotations

import importlib.util
import json
import random

import pytest

from core.errors import InputError
from evaluation import retrieval
from evaluation.retrieval import evaluate_index, make_queries, typed
from tests.evaluation.eval_fixtures import eval_index  # noqa: F401 (fixture)

PROMPTS = [
    "a majestic red fox in a snowy forest, golden hour, highly detailed, 8k",
    "portrait of an old fisherman with a white beard, oil painting by rembrandt",
    "cyberpunk city street at night, neon signs, rain, blade runner style",
    "fox",  # a one-word subject names nothing: never a query
    "a majestic red fox in a snowy forest, watercolor",  # the same subject as the first: ambiguous, left out
]


def test_queries_are_cut_from_prompts_whose_subject_names_them_alone():
    subject_q, typed_q = make_queries(PROMPTS, n=10, seed=1, ids=[10, 11, 12, 13, 14])
    assert sorted(subject_q) == [("cyberpunk city street at night", 12),
                                 ("portrait of an old fisherman with a white beard", 11)]
    assert [t for _, t in typed_q] == [t for _, t in subject_q]  # same targets, typed differently
    assert all(text != s for (text, _), (s, _) in zip(typed_q, subject_q))
    assert make_queries(PROMPTS, 10, seed=1, ids=[10, 11, 12, 13, 14]) == (subject_q, typed_q)
    assert typed("A Beautiful Woman", random.Random(0)).split()[1:] != ["beautiful", "woman"]


@pytest.fixture(scope="module")
def loaded_index(eval_index):
    from index.store import PromptIndex

    with PromptIndex.load(eval_index) as index:
        yield index


def test_every_mode_finds_most_prompts_from_their_subject(loaded_index):
    events = []
    report = evaluate_index(loaded_index, n=40, seed=3, on_progress=events.append)
    assert report.prompts == len(loaded_index) and 20 <= report.queries <= 40
    assert [m.mode for m in report.modes] == ["dense", "keyword", "hybrid"]
    for m in report.modes:
        for figures in (m.subject, m.typed):
            assert 0.0 <= figures["recall@1"] <= figures["mrr"] <= figures["recall@10"] <= 1.0
    hybrid = report.modes[-1]
    assert hybrid.subject["recall@10"] >= 0.8  # 200 real prompts: the subject finds its prompt
    assert events[-1].done == events[-1].total == 3
    table = report.table()
    assert table.splitlines()[0].startswith("| mode | subject R@1") and "| hybrid |" in table
    json.dumps(report.to_dict())
    with pytest.raises(InputError, match="unknown retrieval mode"):
        evaluate_index(loaded_index, modes=["sparse"])


def test_the_benchmark_uses_the_library_figures():
    spec = importlib.util.spec_from_file_location(
        "bench_retrieval", retrieval.__file__.replace("evaluation/retrieval.py", "benchmarks/bench_retrieval.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.evaluate is retrieval.evaluate and bench.make_queries is retrieval.make_queries
    assert bench.CachedIndex is retrieval.CachedIndex


def test_cli_measures_the_users_index(eval_index, tmp_path, monkeypatch, capsys):
    from cli.main import main

    monkeypatch.setattr("sys.argv", ["promptrag", "eval", "--retrieval", "--index", str(eval_index), "--n", "20",
                                     "--json"])
    with pytest.raises(SystemExit) as done:
        main()
    assert done.value.code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["prompts"] == 200 and [m["mode"] for m in data["modes"]] == ["dense", "keyword", "hybrid"]

    monkeypatch.setattr("sys.argv", ["promptrag", "eval", "--retrieval", "--index", str(tmp_path / "missing")])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 1 and len(err) == 1 and str(tmp_path / "missing") in err[0]
