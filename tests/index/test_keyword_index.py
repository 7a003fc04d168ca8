"""The tantivy keyword index (index/keyword_index.py): built at publish, ranks keyword search,
applies the filters, keeps up with ingests that add rows or resume, and says what to do when it
is missing or damaged; an index written before it existed still searches (with FTS5)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.errors import Cancelled, IndexLoadError, InputError
from core.progress import CancelToken, Progress
from index import PromptIndex, SearchFilters, keyword_index
from index.manifest import MANIFEST_NAME
from ingest import run_ingest
from tests.index.conftest import LITERAL

FILTERS = [
    SearchFilters(sampler="k_lms"),
    SearchFilters(min_count=3),
    SearchFilters(width=512, height=768),
    SearchFilters(max_prompt_nsfw=0.05),  # rows without a score are kept, as in SQL
    SearchFilters(max_image_nsfw=0.05, min_count=2),
    SearchFilters(sampler="no_such_sampler"),
]
QUERIES = ["ramen photography", "painting", "city night rain neon", "astronaut", "a photo of the moon",
           "cafe", "oil painting portrait"]


def _ids(hits) -> list[int]:
    return [h.id for h in hits]


def _forget_keyword_index(path: Path) -> None:
    """Make `path` what an index written before keyword indexes existed looks like."""
    manifest = json.loads((path / MANIFEST_NAME).read_text())
    del manifest["extra"][keyword_index.MANIFEST_KEY]
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    shutil.rmtree(path / keyword_index.DIRECTORY)


def test_publish_builds_the_keyword_index_and_it_ranks_keyword_search(literal_index_dir, literal_index):
    entry = json.loads((literal_index_dir / MANIFEST_NAME).read_text())["extra"][keyword_index.MANIFEST_KEY]
    assert entry["engine"] == "tantivy" and entry["rows"] == len(LITERAL)
    assert (literal_index_dir / keyword_index.DIRECTORY / "meta.json").is_file()
    assert literal_index.keyword_engine == "tantivy"
    hits = literal_index.keyword_search("portrait painting by rembrandt", k=3)
    assert hits[0].prompt.startswith("portrait of an old fisherman") and hits[0].score > hits[1].score > 0
    assert _ids(literal_index.keyword_search("steampunk owl", k=5)) == [9]
    assert "café" in literal_index.keyword_search("CAFE", k=1)[0].prompt  # case and accents folded


def test_tantivy_and_fts5_agree_with_and_without_filters(literal_index_dir, literal_index):
    with PromptIndex.load(literal_index_dir, keyword_ranking="fts5") as fts5:
        assert fts5.keyword_engine == "fts5"
        for query in QUERIES:
            ranked = literal_index.keyword_search(query, k=20)
            assert ranked[0].id == fts5.keyword_search(query, k=1)[0].id, query
            for filters in [SearchFilters(), *FILTERS]:
                got = literal_index.keyword_search(query, k=20, filters=filters)
                assert sorted(_ids(got)) == sorted(_ids(fts5.keyword_search(query, k=20, filters=filters))), (
                    query, filters)
                for hit in got:  # every hit passes the filter, whichever engine chose it
                    assert hit.count >= filters.min_count
                    assert filters.sampler is None or hit.sampler == filters.sampler
                    assert filters.max_prompt_nsfw is None or hit.prompt_nsfw is None \
                        or hit.prompt_nsfw <= filters.max_prompt_nsfw


def test_filtered_keyword_search_returns_the_matching_rows(literal_index):
    assert 4 in _ids(literal_index.keyword_search("painting", k=5))  # the castle: k_lms, but 1024x512
    got = literal_index.keyword_search("painting", k=5, filters=SearchFilters(sampler="k_lms", height=768))
    assert sorted(_ids(got)) == [1, 8]  # the two k_lms paintings at 512x768


def test_index_without_keyword_index_still_searches_and_can_be_upgraded(literal_copy):
    _forget_keyword_index(literal_copy)
    with PromptIndex.load(literal_copy) as old:
        assert old.keyword_engine == "fts5"
        before = _ids(old.keyword_search("ramen photography", k=3))
        assert before[0] == 5
    assert keyword_index.main([str(literal_copy)]) == 0
    with PromptIndex.load(literal_copy) as upgraded:
        assert upgraded.keyword_engine == "tantivy"
        assert _ids(upgraded.keyword_search("ramen photography", k=3))[0] == 5


@pytest.mark.parametrize("damage", ["remove directory", "truncate a file", "remove a file"])
def test_damaged_keyword_index_names_the_fix_and_the_rebuild_works(literal_copy, damage):
    folder = literal_copy / keyword_index.DIRECTORY
    segment = max((p for p in folder.iterdir() if p.suffix == ".idx"), key=lambda p: p.stat().st_size)
    if damage == "remove directory":
        shutil.rmtree(folder)
    elif damage == "truncate a file":
        segment.write_bytes(segment.read_bytes()[:-7])
    else:
        segment.unlink()
    with pytest.raises(IndexLoadError, match=r"keyword index .*python -m index.keyword_index INDEX_DIR"):
        PromptIndex.load(literal_copy)
    with PromptIndex.load(literal_copy, keyword_ranking="fts5") as fts5:  # the rows themselves are fine
        assert fts5.keyword_search("neon", k=1)[0].id == 2
    assert keyword_index.main([str(literal_copy)]) == 0
    with PromptIndex.load(literal_copy) as rebuilt:
        assert rebuilt.keyword_engine == "tantivy" and rebuilt.keyword_search("neon", k=1)[0].id == 2


def test_keyword_search_is_safe_to_share_between_threads(literal_index):
    from concurrent.futures import ThreadPoolExecutor

    expected = {q: _ids(literal_index.keyword_search(q, k=5)) for q in QUERIES}
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda q: (q, _ids(literal_index.keyword_search(q, k=5))), QUERIES * 20))
    assert all(ids == expected[q] for q, ids in got)


def test_unknown_keyword_ranking_is_refused(literal_index_dir):
    with pytest.raises(InputError, match="keyword ranking must be one of auto, fts5, got 'bm42'"):
        PromptIndex.load(literal_index_dir, keyword_ranking="bm42")


def test_rebuild_of_a_folder_that_is_no_index_says_so(tmp_path, capsys):
    assert keyword_index.main([str(tmp_path / "nowhere")]) == 1
    assert "no index at" in capsys.readouterr().err


# ---- ingest: adding rows and resuming keep the keyword index consistent ---------------------
def _source(path: Path, prompts: list[str]) -> Path:
    path.write_text("\n".join(p.strip() for p in prompts) + "\n", encoding="utf-8")
    return path


def _check_consistent(index_path: Path, new_words: str, expect_prompt: str) -> None:
    with PromptIndex.load(index_path) as index, PromptIndex.load(index_path, keyword_ranking="fts5") as fts5:
        assert index.keyword_engine == "tantivy"
        assert index._keyword is not None and index._keyword._searcher.num_docs == len(index)
        assert index.keyword_search(new_words, k=1)[0].prompt == expect_prompt
        assert index.keyword_search(new_words, k=1)[0].id == fts5.keyword_search(new_words, k=1)[0].id


def test_ingest_that_adds_rows_rebuilds_the_keyword_index(tmp_path, dev_prompts):
    index = tmp_path / "idx"
    run_ingest(source=str(_source(tmp_path / "a.txt", dev_prompts[:12])), index=index, batch_size=8)
    added = "a zebracorn grazing beside a glass lighthouse, tilt shift"
    report = run_ingest(source=str(_source(tmp_path / "b.txt", [*dev_prompts[10:20], added])), index=index,
                        batch_size=8)
    assert report.final_rows > 12
    _check_consistent(index, "zebracorn lighthouse", added)


def test_resumed_ingest_publishes_a_consistent_keyword_index(tmp_path, dev_prompts):
    index = tmp_path / "idx"
    added = "a zebracorn grazing beside a glass lighthouse, tilt shift"
    source = _source(tmp_path / "a.txt", [*dev_prompts[:16], added])
    token = CancelToken()

    def cancel_mid_write(event: Progress) -> None:
        if event.stage == "write" and event.done > 0:
            token.cancel()

    with pytest.raises(Cancelled):
        run_ingest(source=str(source), index=index, batch_size=4, on_progress=cancel_mid_write, cancel=token)
    run_ingest(source=str(source), index=index, batch_size=4)
    _check_consistent(index, "zebracorn lighthouse", added)


@pytest.fixture(scope="module")
def dev_prompts(shared_data) -> list[str]:
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    return list(dict.fromkeys(" ".join(r["text"].split()) for r in rows[:200] if r["text"].strip()))
