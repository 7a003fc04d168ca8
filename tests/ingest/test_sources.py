"""Source readers and the clean-up rules, on real prompts and on bad input (no embedding here)."""

from __future__ import annotations

import pytest

from core.errors import SourceError
from ingest.normalize import clean_prompt, dedupe_key
from ingest.sources import open_source
from tests.ingest.conftest import KREA, REFL, write_diffusiondb_parquet


def _all(source, **kwargs):
    return [row for batch in source.batches(**kwargs) for row in batch]


def test_clean_prompt_rules():
    assert clean_prompt("  a\tcat\n\non   a\u200b mat\x07 ") == ("a cat on a mat", None)
    assert clean_prompt("ｆｕｌｌｗｉｄｔｈ ｃａｔ") == ("fullwidth cat", None)  # NFKC
    assert clean_prompt("") == (None, "empty")
    assert clean_prompt("1234 !!! 🎨") == (None, "no_letters")
    assert clean_prompt("x" * 2001) == (None, "too_long")
    assert clean_prompt("bad \ufffd byte") == (None, "bad_encoding")
    assert clean_prompt("猫の絵") == ("猫の絵", None)  # letters of any script count


def test_dedupe_key_folds_case_and_spacing_only():
    assert dedupe_key("A Cat , red.") == dedupe_key("a cat, red") == dedupe_key("A  CAT,  RED")
    assert dedupe_key("a cat, red") != dedupe_key("a red cat")


def test_diffusiondb_parquet_reads_only_prompt_and_settings(tmp_path, dev_prompts):
    path = write_diffusiondb_parquet(tmp_path / "m.parquet", [{"prompt": p, "sampler": 4} for p in dev_prompts[:95]],
                                     row_group_size=30)
    source = open_source(path)
    assert source.total_rows == 95
    assert set(source.mapping.values()) == {"prompt", "seed", "step", "cfg", "sampler", "width", "height",
                                             "prompt_nsfw", "image_nsfw", "part_id", "image_name"}
    rows = _all(source, batch_rows=20)
    assert [r["prompt"] for r in rows] == dev_prompts[:95]
    assert rows[0]["sampler"] == "k_euler_ancestral" and rows[0]["steps"] == 50
    # Skipping crosses row-group boundaries exactly (this is how a resumed run continues).
    assert [r["prompt"] for r in _all(source, skip=31, limit=70, batch_rows=7)] == dev_prompts[31:70]


def test_krea_csv_columns_are_mapped(shared_data, krea_rows):
    source = open_source(shared_data / KREA)
    assert source.mapping["steps"] == "num_step" and source.mapping["cfg"] == "cfg_scale"
    rows = _all(source, limit=50)
    assert len(rows) == 50 and rows[1]["prompt"] == krea_rows[1]["prompt"]
    assert rows[1]["seed"] == int(krea_rows[1]["seed"])


def test_refl_json_uses_text_column(shared_data):
    source = open_source(shared_data / REFL)
    assert source.mapping == {"prompt": "text", "image": "image"}
    rows = _all(source, limit=10)
    assert len(rows) == 10
    assert {r["image"] for r in rows} == {None}  # ImageReward's image ids ("000044-0048") are no file paths


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("missing.csv", None, "not found"),
        ("empty.csv", b"", "is empty"),
        ("header_only.jsonl", b"\n\n", "no rows"),
        ("no_prompt.csv", b"title,seed\nfoo,1\n", "no prompt column"),
        ("scalar.json", b'{"prompt": "a cat"}', "JSON array"),
        ("broken.json", b'[{"prompt": "a cat"', "not valid JSON"),
        ("table.xlsx", b"PK\x03\x04", "unsupported source format"),
        ("fake.parquet", b"not parquet at all", "not a readable Parquet"),
    ],
)
def test_bad_sources_fail_clearly(tmp_path, name, content, expected):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SourceError, match=expected) as err:
        open_source(path)
    assert str(path) in str(err.value)


def test_bad_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a cat"}\n{"prompt": oops}\n', encoding="utf-8")
    with pytest.raises(SourceError, match="line 2"):
        _all(open_source(path))


def test_non_utf8_bytes_become_droppable_rows(tmp_path):
    path = tmp_path / "p.csv"
    path.write_bytes(b"prompt\na cat on a mat\nbad \xff\xfe bytes here\n")
    rows = _all(open_source(path))
    assert rows[0]["prompt"] == "a cat on a mat"
    assert clean_prompt(rows[1]["prompt"]) == (None, "bad_encoding")


def test_unparseable_settings_become_none(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("caption,steps,cfg_scale,seed\na cat,abc,nan,\n", encoding="utf-8")
    (row,) = _all(open_source(path))
    assert row["prompt"] == "a cat" and row["steps"] is None and row["cfg"] is None and row["seed"] is None


def test_a_jsonl_key_missing_from_the_first_line_is_still_read(tmp_path):
    """Optional keys (an image, a seed) often appear only on some records: the first line alone
    must not decide the columns, or those values are dropped without a word."""
    import json

    lines = [{"prompt": "a red fox in the snow"}, {"prompt": "a lighthouse at dusk", "seed": 42, "steps": 30}]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n", encoding="utf-8")
    rows = _all(open_source(path))
    assert [r.get("seed") for r in rows] == [None, 42] and rows[1]["steps"] == 30
