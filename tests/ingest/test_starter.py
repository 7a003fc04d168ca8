"""The starter set shipped in the package: what the file holds, and that it builds a searchable index."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core.errors import Cancelled
from core.progress import CancelToken
from ingest.starter import STARTER_FILE, STARTER_SIZE, build_starter_index, index_exists

REPO_ROOT = Path(__file__).resolve().parents[2]
SCRIPT = REPO_ROOT / "scripts" / "build_starter_set.py"


def load_script():
    spec = importlib.util.spec_from_file_location("build_starter_set", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def starter_prompts() -> list[str]:
    with STARTER_FILE.open(encoding="utf-8") as handle:
        return [json.loads(line)["prompt"] for line in handle]


def test_the_file_holds_starter_size_unique_short_safe_prompts():
    prompts = starter_prompts()
    assert len(prompts) == STARTER_SIZE == 3000
    assert len({p.lower() for p in prompts}) == len(prompts)
    assert all(12 <= len(p) <= 400 and p == " ".join(p.split()) for p in prompts)
    script = load_script()
    assert not [p for p in prompts if script.is_nsfw(p)]
    assert STARTER_FILE.stat().st_size < 1_000_000
    assert (STARTER_FILE.parent / "SOURCES.md").read_text(encoding="utf-8").count("CC0-1.0") >= 1


def test_the_word_list_drops_obvious_cases_but_not_innocent_words():
    script = load_script()
    assert all(map(script.is_nsfw, ["a NUDE portrait", "bloody battlefield", "sexy"]))
    assert not script.is_nsfw("a butterfly on a button, assorted flowers, class photo")


def test_the_script_rebuilds_the_committed_file_byte_for_byte(shared_data, tmp_path):
    source = shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json"
    out = tmp_path / "starter.jsonl"
    assert load_script().main(["--source", str(source), "--output", str(out)]) == 0
    assert out.read_bytes() == STARTER_FILE.read_bytes()


def test_starter_index_is_built_and_searchable(tmp_path, isolated_env):
    from rag.retriever import Retriever

    target = tmp_path / "index"
    assert not index_exists(target)
    events = []
    report = build_starter_index(target, on_progress=events.append, limit=200)
    assert index_exists(target)
    assert report.rows_read == 200 and report.final_rows == 200
    assert {event.stage for event in events} >= {"embed"}
    hits = Retriever.load(target).search("a castle on a hill at sunset", k=5, mode="hybrid")
    assert len(hits) == 5 and all(hit.prompt in set(starter_prompts()[:200]) for hit in hits)
    # the default location is the home's default index
    assert not index_exists()
    assert report.index_path.endswith("index")


def test_a_cancelled_starter_build_publishes_nothing_and_resumes(tmp_path):
    target = tmp_path / "index"
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        build_starter_index(target, cancel=token, limit=50)
    assert not index_exists(target)
    assert build_starter_index(target, limit=50).final_rows == 50
    assert index_exists(target)
