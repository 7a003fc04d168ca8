"""Text metrics (real CLIP tokenizer, real MiniLM embedder) and their aggregation into summary.json."""

from __future__ import annotations

import json

import pytest

from evaluation.metrics import text_metrics, token_figures
from evaluation.summary import figures, read_jsonl, read_results, reason_key, summarize

IDEA = "a lighthouse in a storm"


@pytest.fixture(scope="module")
def embedder():
    from evaluation.metrics import RunEmbedder
    from index import load_embedder

    return RunEmbedder(load_embedder())


def test_token_budget_is_the_model_familys():
    long = ", ".join(["a very detailed lighthouse in a storm at night"] * 10)
    tokens, budget, over = token_figures(long, "sdxl")
    assert budget == 77 and tokens > 77 and over
    assert token_figures("a fox", "sd1") == (4, 77, False)  # a, fox + start and end tokens
    assert token_figures(long, "other")[1] == 256


def test_consistency_example_similarity_and_diversity(embedder):
    on_idea = text_metrics(IDEA, "a lighthouse in a storm, crashing waves, dramatic sky, oil painting",
                           embedder=embedder)
    off_idea = text_metrics(IDEA, "a bowl of ramen, food photography", embedder=embedder)
    assert on_idea.consistency > off_idea.consistency + 0.3
    assert text_metrics(IDEA, IDEA, embedder=embedder).consistency == pytest.approx(1.0, abs=1e-3)
    assert on_idea.example_similarity is None and on_idea.diversity is None  # no examples, one candidate

    examples = ["lighthouse on a cliff, storm, by ivan aivazovsky", "a cat on a sofa"]
    copied = text_metrics(IDEA, examples[0], examples=examples, embedder=embedder)
    assert copied.example_similarity == pytest.approx(1.0, abs=1e-3)  # a copy of an example reads as 1.0

    same = text_metrics(IDEA, "x", candidates=["a lighthouse", "a lighthouse"], embedder=embedder)
    varied = text_metrics(IDEA, "x", embedder=embedder,
                          candidates=["a lighthouse at dawn, watercolor", "a lighthouse, neon cyberpunk city"])
    assert same.diversity == 0.0 and varied.diversity > 0.1


def _row(config, *, category="color", tokens=10, latency=0.1, reasons=(), error=None, prompt="p", verdict=None):
    return {"idea_id": "0001", "config": config, "category": category, "tokens": tokens, "over_budget": tokens > 77,
            "consistency": 0.5, "example_similarity": None, "diversity": None, "latency_s": latency,
            "fallback": bool(reasons), "fallback_reasons": list(reasons), "prompt": prompt, "error": error,
            "verdict": verdict, "llm_calls": 1 if config.startswith("local") else 0}


def test_figures_leave_failed_prompts_out_of_means_and_count_reasons():
    rows = [_row("local", tokens=20, latency=1.0, reasons=["local: model.gguf wrote no valid prompt JSON; use a "
                                                           "bigger model"]),
            _row("local", tokens=100, latency=3.0,
                 reasons=["local: model.gguf wrote no valid prompt JSON; other advice"]),
            _row("local", tokens=30, latency=2.0, verdict={"score": 0.5, "correct": False},
                 error="image: backend failed"),
            _row("local", prompt="", tokens=0, latency=9.0, error="InputError: idea too long")]
    f = figures(rows)
    assert f["n"] == 3 and f["errors"] == 2  # the prompt-less row is out of the means, the image error is not
    assert f["mean_tokens"] == 50.0 and f["over_budget_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert f["p50_latency_s"] == 2.0 and f["p90_latency_s"] == 3.0
    assert f["fallback_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert f["fallback_reasons"] == {"local: model.gguf wrote no valid prompt JSON": 2}
    assert f["mean_score"] == 0.5 and f["correct_rate"] == 0.0
    assert f["mean_example_similarity"] is None  # no row has it: None, not 0
    assert reason_key("x" * 300) == "x" * 119 + "…"
    long_reason = "local: local model '/a/b/m.gguf' gave no usable prompt: output had no JSON: '[{1.2'; use Qwen"
    assert reason_key(long_reason) == "local: local model 'm.gguf' gave no usable prompt: output had no JSON"
    assert reason_key("local: returned a copy of example id 239 (similarity 1.000)") == (
        "local: returned a copy of example id # (similarity #)")


def test_summary_per_configuration_and_category_with_costs():
    rows = [_row("raw"), _row("local", category="shape"), _row("local", category="color"), _row("raw", category=None)]
    summary = summarize(rows, ["raw", "local", "rules"], wall_s=2.0, judge_calls=3)
    assert list(summary["configs"]) == ["raw", "local", "rules"]
    assert summary["configs"]["rules"]["n"] == 0 and summary["configs"]["rules"]["mean_tokens"] is None
    assert set(summary["per_category"]) == {"color", "shape"}
    assert summary["per_category"]["shape"]["local"]["n"] == 1 and summary["per_category"]["shape"]["raw"]["n"] == 0
    assert summary["cost"] == {"judge_calls": 3, "llm_calls": 2, "wall_s": 2.0, "rows": 4, "rows_per_s": 2.0}
    json.dumps(summary)  # JSON-safe


def test_reading_results_skips_a_torn_last_line_and_keeps_the_last_row_per_pair(tmp_path):
    path = tmp_path / "results.jsonl"
    first, again = _row("raw", tokens=1), _row("raw", tokens=2)
    path.write_bytes((json.dumps(first) + "\n" + json.dumps(again) + "\n").encode() + b'{"idea_id": "00')
    assert len(read_jsonl(path)) == 2
    assert [r["tokens"] for r in read_results(tmp_path)] == [2]
