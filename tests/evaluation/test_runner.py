"""run_eval on real parts: a 20-idea T2I-CompBench set through rules, grounded and the SmolLM2 GGUF
model, a real index of DiffusionDB prompts, images from the tiny diffusers pipeline, the judge
through the real anthropic SDK against the local test server."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.errors import Cancelled, InputError
from core.progress import CancelToken
from evaluation.runner import options_from, run_eval
from evaluation.summary import read_jsonl, read_results
from tests.evaluation.eval_fixtures import COMPBENCH_FILES, IDEAS, compbench_set, eval_index, smollm_gguf  # noqa: F401
from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)


def rows_by_pair(out) -> dict[tuple[str, str], dict]:
    rows = read_jsonl(out / "results.jsonl")
    pairs = Counter((r["idea_id"], r["config"]) for r in rows)
    assert max(pairs.values()) == 1, "a pair was written twice"
    return {(r["idea_id"], r["config"]): r for r in rows}


def test_compbench_ideas_through_rules_grounded_and_the_local_model(compbench_set, eval_index, smollm_gguf,
                                                                    tmp_path, monkeypatch):
    out = tmp_path / "run"
    report = run_eval(compbench_set, out, options_from(enhancers=["rules", "grounded"], index=str(eval_index),
                                                       candidates=2, workers=2))
    configs = ["raw", "rules", "rules+rag", "grounded", "grounded+rag"]
    assert report.configs == configs and report.written == IDEAS * 5 and report.errors == 0
    rows = rows_by_pair(out)
    assert len(rows) == IDEAS * 5
    ideas = {r["idea_id"]: r["idea"] for r in rows.values()}
    for (idea_id, config), row in rows.items():
        assert row["category"] in COMPBENCH_FILES and row["token_budget"] == 77
        assert row["error"] is None and row["prompt"].strip()
        if config == "raw":  # the idea itself, unchanged: the baseline every configuration is compared with
            assert row["prompt"] == ideas[idea_id] and row["consistency"] == pytest.approx(1.0, abs=1e-3)
            assert row["answered_by"] is None and row["negative_prompt"] == ""
            continue
        assert not row["over_budget"] and row["tokens"] <= 77
        assert 0.2 < row["consistency"] < 1.0 and row["negative_prompt"]
        if config.startswith("rules"):  # two candidates per idea (grounded may find one distinct fusion only)
            assert row["diversity"] is not None and row["diversity"] > 0
        assert (row["example_similarity"] is not None) == config.endswith("+rag")
    # grounded without retrieved examples has nothing to ground on: every row says so
    assert {rows[(i, "grounded")]["answered_by"] for i in ideas} == {"rules"}
    assert all(rows[(i, "grounded")]["fallback_reasons"] == ["grounded: no examples to ground on"] for i in ideas)
    # grounded + rag keeps the idea verbatim and adds modifiers from real prompts
    grounded_rag = [rows[(i, "grounded+rag")] for i in ideas]
    assert sum(r["answered_by"] == "grounded" for r in grounded_rag) >= IDEAS // 2
    assert all(r["prompt"].startswith(ideas[r["idea_id"]].rstrip(".")) for r in grounded_rag
               if r["answered_by"] == "grounded")

    summary = json.loads((out / "summary.json").read_text())
    assert summary["configs"]["grounded"]["fallback_rate"] == 1.0
    assert summary["configs"]["grounded"]["fallback_reasons"] == {"grounded: no examples to ground on": IDEAS}
    assert summary["configs"]["rules"]["fallback_rate"] == 0.0
    assert summary["configs"]["raw"]["mean_tokens"] < summary["configs"]["rules"]["mean_tokens"]
    assert set(summary["per_category"]) == set(COMPBENCH_FILES)
    assert sum(c["raw"]["n"] for c in summary["per_category"].values()) == IDEAS

    # A second session in the same folder adds the local model (with retrieval) for a few ideas:
    # the configurations grow, the raw rows of those ideas are already there.
    monkeypatch.setenv("PROMPTRAG_LOCAL_LLM_MODEL", str(smollm_gguf))
    more = run_eval(compbench_set, out, options_from(enhancers=["local"], rag=True, index=str(eval_index),
                                                     candidates=2, workers=2, limit=4))
    assert (more.written, more.skipped) == (4, 4)
    rows = rows_by_pair(out)
    local = [r for (_, config), r in rows.items() if config == "local+rag"]
    assert len(local) == 4 and all(r["error"] is None and r["prompt"].strip() for r in local)
    for row in local:
        assert row["llm_calls"] == 1
        if row["answered_by"] == "local":
            assert not row["fallback"]
        else:  # SmolLM2-135M often writes no usable JSON: a clean, explained fallback
            assert row["fallback"] and all(reason.startswith("local: ") for reason in row["fallback_reasons"])
    run = json.loads((out / "run.json").read_text())
    assert run["configs"] == [*configs, "local+rag"] and len(run["sessions"]) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configs"]["local+rag"]["n"] == 4 and summary["cost"]["llm_calls"] == 4
    assert summary["configs"]["rules"]["n"] == IDEAS  # the first session's rows are all still counted


def test_images_share_seed_and_settings_and_an_image_on_disk_is_kept(compbench_set, tiny_sd_dir, tmp_path):
    from PIL import Image

    out = tmp_path / "run"
    options = options_from(enhancers=["rules"], rag=False, images=True, image_model=str(tiny_sd_dir),
                           width=64, height=64, steps=2, limit=3, seed=7, workers=2)
    report = run_eval(compbench_set, out, options)
    assert report.written == 6 and report.errors == 0
    rows = rows_by_pair(out)
    settings = {}
    for (idea_id, config), row in rows.items():
        assert row["image"] == f"images/{idea_id}/{config}.png"
        png = out / row["image"]
        used = json.loads(png.with_suffix(".json").read_text())["parameters"]
        assert (used["prompt"], used["negative_prompt"]) == (row["prompt"], row["negative_prompt"])
        assert used["idea"] == row["idea"]  # the recipe: the idea it was made for
        recipe = ("prompt", "negative_prompt", "idea", "enhancer", "style")
        settings[(idea_id, config)] = {k: v for k, v in used.items() if k not in recipe}
        with Image.open(png) as image:
            assert image.size == (64, 64) and "Seed: 7" in image.info["parameters"]
    # raw and rules: different prompts, the very same seed, steps, CFG, sampler, size and model
    assert len({json.dumps(s, sort_keys=True) for s in settings.values()}) == 1
    assert next(iter(settings.values()))["seed"] == 7 and next(iter(settings.values()))["steps"] == 2
    # a run killed after saving an image but before writing its row: the image stays, the row comes back
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    (out / "results.jsonl").write_bytes(b"".join(lines[:-1]))
    lost = json.loads(lines[-1])
    image = out / lost["image"]
    before = image.stat().st_mtime_ns
    again = run_eval(compbench_set, out, options)
    assert (again.written, again.skipped) == (1, 5)
    assert image.stat().st_mtime_ns == before
    assert rows_by_pair(out)[(lost["idea_id"], lost["config"])]["prompt"] == lost["prompt"]


def test_judge_verdicts_and_preferences_through_the_anthropic_sdk(compbench_set, tiny_sd_dir, tmp_path, monkeypatch):
    pytest.importorskip("anthropic")
    from evaluation.judge import get_judge
    from tests.servers.anthropic_server import AnthropicServer, image_blocks, message_reply

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-EVAL-0123456789")
    out = tmp_path / "run"
    options = options_from(enhancers=["rules"], rag=False, images=True, image_model=str(tiny_sd_dir), width=64,
                           height=64, steps=2, limit=2, workers=1)
    with AnthropicServer() as server:
        judge = get_judge("anthropic", base_url=server.url, model="claude-test-1", timeout=5.0, max_retries=0)
        # the first verdict's answers are all malformed: retried, then recorded as that row's error
        server.queue(*[message_reply("I think it looks fine.") for _ in range(judge.attempts)])
        report = run_eval(compbench_set, out, options, judge=judge)
        received = server.messages()
    rows = rows_by_pair(out)
    assert report.written == 4 and report.errors == 1
    failed = [r for r in rows.values() if r["error"]]
    assert len(failed) == 1 and "gave no valid answer" in failed[0]["error"] and failed[0]["prompt"]
    judged = [r for r in rows.values() if r["verdict"]]
    assert len(judged) == 3
    for row in judged:  # the scripted judge saw the 64 px image the run made
        assert row["verdict"]["score"] == 0.64 and "64x64 png" in row["verdict"]["reasoning"]
    sent = {png for body in received for png in image_blocks(body)}
    assert {(out / r["image"]).read_bytes() for r in rows.values()} <= sent
    pairs = read_jsonl(out / "pairs.jsonl")
    assert sorted((p["idea_id"], p["a"], p["b"]) for p in pairs) == [
        (i, "raw", "rules") for i in sorted({k[0] for k in rows})]
    for pair in pairs:  # same-size images: a tie on faithfulness; the biased judge's "first" mapped back
        assert pair["faithful"] == "tie" and pair["aesthetic"] == pair["shown_first"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configs"]["rules"]["mean_score"] == 0.64 or summary["configs"]["raw"]["mean_score"] == 0.64
    assert summary["cost"]["judge_calls"] == len(received) == judge.attempts + 3 + 2


def test_a_folder_of_another_run_is_refused(compbench_set, tmp_path):
    out = tmp_path / "run"
    run_eval(compbench_set, out, options_from(enhancers=["rules"], rag=False, limit=2))
    with pytest.raises(InputError, match=r"holds another evaluation \(seed differ"):
        run_eval(compbench_set, out, options_from(enhancers=["rules"], rag=False, limit=2, seed=9))
    with pytest.raises(InputError, match=r"options.candidates differ"):
        run_eval(compbench_set, out, options_from(enhancers=["rules"], rag=False, limit=2, candidates=1))
    with pytest.raises(InputError, match=r"--judge looks at images: add --images"):
        run_eval(compbench_set, out, options_from(enhancers=["rules"], rag=False, judge="anthropic"))
    with pytest.raises(InputError, match=r"unknown enhancer\(s\) nope; known: .*rules"):
        options_from(enhancers=["rules", "nope"])


def test_an_idea_the_enhancers_refuse_is_an_error_row_and_is_retried(tmp_path):
    ideas = tmp_path / "ideas.txt"
    ideas.write_text("a red fox\n" + "castle " * 3000 + "\n", encoding="utf-8")
    out = tmp_path / "run"
    report = run_eval(ideas, out, options_from(enhancers=["rules"], rag=False))
    assert report.written == 4 and report.errors == 1
    failed = [r for r in read_results(out) if r["error"]]
    assert [(r["idea_id"], r["config"]) for r in failed] == [("0002", "rules")]
    assert "at most 20000 characters" in failed[0]["error"] and failed[0]["prompt"] == ""
    summary = json.loads((out / "summary.json").read_text())
    assert summary["configs"]["rules"]["n"] == 1 and summary["configs"]["rules"]["errors"] == 1
    again = run_eval(ideas, out, options_from(enhancers=["rules"], rag=False))
    assert (again.written, again.skipped) == (1, 3)  # only the failed pair is tried again


def test_cancel_keeps_the_rows_written_and_the_same_call_resumes(compbench_set, tmp_path):
    out = tmp_path / "run"
    cancel = CancelToken()
    seen = []

    def on_progress(event):
        seen.append(event)
        if event.done >= 3:
            cancel.cancel()

    options = options_from(enhancers=["rules", "grounded"], rag=False, workers=1)
    with pytest.raises(Cancelled, match=r"the evaluation was cancelled; rows written so far are kept"):
        run_eval(compbench_set, out, options, on_progress=on_progress, cancel=cancel)
    kept = rows_by_pair(out)
    assert 3 <= len(kept) < IDEAS * 3 and seen[0].total == IDEAS * 3 and seen[0].stage == "eval"
    report = run_eval(compbench_set, out, options)
    assert report.skipped == len(kept) and report.written == IDEAS * 3 - len(kept)
    assert len(rows_by_pair(out)) == IDEAS * 3
