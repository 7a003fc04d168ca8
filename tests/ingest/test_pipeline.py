"""End-to-end ingest of real prompts (DiffusionDB parquet schema, Krea CSV, ImageReward JSON),
then search through the published index."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.errors import InputError
from index import PromptIndex
from ingest import IngestOptions, run_ingest
from ingest.diffusiondb import SAMPLER_NAMES
from tests.ingest.conftest import KREA, REFL, write_diffusiondb_parquet


def _records(path) -> dict[str, object]:
    with PromptIndex.load(path) as idx:
        return {rec.prompt: (id_, rec) for batch in idx.iter_records(100) for id_, rec in batch}


def _key(text: str) -> str:
    return " ".join(text.casefold().split())


def test_diffusiondb_parquet_end_to_end(tmp_path, diffusiondb_parquet, dev_prompts):
    index = tmp_path / "idx"
    report = run_ingest(source=str(diffusiondb_parquet), index=index, progress=False)

    import pyarrow.parquet as pq

    table = pq.read_table(diffusiondb_parquet)
    assert report.rows_read == table.num_rows
    records = _records(index)
    assert report.final_rows == len(records) == report.new_prompts_embedded

    # Settings of the first occurrence survive; the uint8 sampler code becomes its name.
    _, temple = records[dev_prompts[30].strip()]
    assert (temple.seed, temple.steps, temple.cfg) == (10_030, 20, 5.0)
    assert temple.sampler == SAMPLER_NAMES[1 + 30 % 9] == "k_euler_ancestral"
    assert (temple.width, temple.height) == (512, 768)
    assert temple.source == "metadata.parquet"

    # Case / spacing variants of prompt 0 merge into one row counting every occurrence.
    expected = 2 + sum(_key(p) == _key(dev_prompts[0]) for p in dev_prompts[:48])
    merged = [rec for _, rec in records.values() if _key(rec.prompt) == _key(dev_prompts[0])]
    assert len(merged) == 1 and merged[0].count == expected
    assert merged[0].seed == 10_000  # representative = first occurrence
    assert merged[0].image_nsfw == pytest.approx(0.3)  # max over the merged rows
    assert report.duplicates_merged >= 2

    # Default thresholds drop the blurred image's prompt (2.0) and the toxic prompt (0.9).
    kept = {_key(p) for p in records}
    assert _key(dev_prompts[1]) not in kept and _key(dev_prompts[2]) not in kept
    assert report.nsfw_filtered_prompts == 2

    with PromptIndex.load(index) as idx:
        hits = idx.search("a temple in a jungle", k=10)
    assert dev_prompts[30].strip() in [hit.prompt for hit in hits]


def test_nsfw_thresholds_are_options(tmp_path, dev_prompts):
    blurred, toxic, mild, unscored = (dev_prompts[i].strip() for i in (7, 8, 9, 10))
    rows = [{"prompt": blurred, "image_nsfw": 2.0}, {"prompt": toxic, "prompt_nsfw": 0.6},
            {"prompt": mild, "image_nsfw": 0.4, "prompt_nsfw": 0.2},
            {"prompt": unscored, "image_nsfw": None, "prompt_nsfw": None}]
    source = str(write_diffusiondb_parquet(tmp_path / "m.parquet", rows))

    def kept(name, **thresholds):
        report = run_ingest(source=source, index=tmp_path / name, progress=False, **thresholds)
        return set(_records(tmp_path / name)), report.nsfw_filtered_prompts

    assert kept("default") == ({mild, unscored}, 2)  # SFW defaults drop the blurred image (2.0)
    assert kept("relaxed", max_prompt_nsfw=1.0, max_image_nsfw=2.0) == ({blurred, toxic, mild, unscored}, 0)
    assert kept("strict", max_prompt_nsfw=0.1, max_image_nsfw=0.3) == ({unscored}, 3)  # no score = kept


def test_krea_csv_settings_and_search(tmp_path, shared_data, krea_rows):
    index = tmp_path / "krea"
    report = run_ingest(source=str(shared_data / KREA), index=index, limit=25, progress=False)
    assert report.rows_read == 25
    records = _records(index)
    kangaroo = krea_rows[0]
    _, rec = records[kangaroo["prompt"]]
    assert rec.seed == int(kangaroo["seed"]) and rec.steps == int(kangaroo["num_step"])
    assert rec.cfg == float(kangaroo["cfg_scale"]) and rec.width == int(kangaroo["width"])
    assert rec.sampler is None and rec.prompt_nsfw is None  # Krea has neither column
    with PromptIndex.load(index) as idx:
        hits = idx.search("kangaroo in a hoodie at the sydney opera house", k=10)
    assert kangaroo["prompt"] in [hit.prompt for hit in hits]


def test_new_source_embeds_only_new_prompts(tmp_path, shared_data, dev_prompts):
    index = tmp_path / "idx"
    first = run_ingest(source=str(shared_data / REFL), index=index, limit=24, progress=False)
    with PromptIndex.load(index) as idx:
        before = {rec.prompt: (rec.count, np.array(idx.stored_vectors()[i]))
                  for b in idx.iter_records(50) for i, rec in b}

    again = [dev_prompts[3], dev_prompts[10].upper(), dev_prompts[20]]
    fresh = ["a lighthouse made of glass on a stormy cliff", "a tiny dragon sleeping in a teacup"]
    extra = tmp_path / "more.txt"
    extra.write_text("\n".join(again + fresh) + "\n", encoding="utf-8")
    second = run_ingest(source=str(extra), index=index, progress=False)

    assert second.new_prompts_embedded == 2
    assert second.seen_again_prompts == 3
    assert second.final_rows == first.final_rows + 2
    after = _records(index)
    with PromptIndex.load(index) as idx:
        vectors = idx.stored_vectors()
        for prompt, (count, vector) in before.items():
            id_, rec = after[prompt]
            grew = _key(prompt) in {_key(p) for p in again}
            assert rec.count == count + (1 if grew else 0)
            np.testing.assert_allclose(vectors[id_], vector, atol=1e-6)  # copied, not re-embedded
    assert after[fresh[0]][1].source == "more.txt"


def test_other_embedding_model_is_refused(tmp_path, shared_data):
    index = tmp_path / "idx"
    run_ingest(source=str(shared_data / REFL), index=index, limit=3, progress=False)
    with pytest.raises(InputError) as err:
        run_ingest(source=str(shared_data / KREA), index=index, limit=3, progress=False,
                   embedding_model="intfloat/e5-small-v2")
    message = str(err.value)
    assert "sentence-transformers/all-MiniLM-L6-v2" in message and "intfloat/e5-small-v2" in message


def test_sample_is_seeded(tmp_path, shared_data):
    def sampled(seed, name):
        run_ingest(source=str(shared_data / REFL), index=tmp_path / name, limit=100, sample=5, seed=seed,
                   progress=False)
        return set(_records(tmp_path / name))

    a, b, c = sampled(7, "a"), sampled(7, "b"), sampled(8, "c")
    assert len(a) == 5 and a == b and a != c


def test_json_report_lists_drops(tmp_path):
    src = tmp_path / "prompts.jsonl"
    lines = [{"prompt": "a red fox in the snow, watercolor"}, {"prompt": "!!! 1234 ???"}, {"prompt": "   "},
             {"prompt": "x" * 100_000}, {"prompt": "A RED FOX  in the snow , watercolor."}]
    src.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    report = run_ingest(IngestOptions(source=str(src), index=tmp_path / "idx", progress=False))
    assert report.dropped == {"empty": 1, "no_letters": 1, "too_long": 1, "bad_encoding": 0}
    assert report.duplicates_merged == 1 and report.final_rows == 1
    assert json.loads(json.dumps(report.to_dict()))["rows_read"] == 5
