"""Prompt sets in the formats benchmarks ship (PartiPrompts TSV, DrawBench CSV, JSONL, plain text),
and the one clear line a malformed file gets."""

from __future__ import annotations

import json

import pytest

from core.errors import SourceError
from evaluation.promptset import Idea, choose, load_promptset


def test_partiprompts_tsv_keeps_category_and_ignores_other_columns(tmp_path):
    path = tmp_path / "PartiPrompts.tsv"
    path.write_text("Prompt\tCategory\tChallenge\tNote\n"
                    "a red fox in the snow\tAnimals\tSimple Detail\t\n"
                    "\t\t\t\n"  # an empty row is skipped, not an idea
                    "three   cubes on a table\tArtifacts\tQuantity\tsee paper\n", encoding="utf-8")
    assert load_promptset(path) == [Idea("0001", "a red fox in the snow", "Animals"),
                                    Idea("0002", "three cubes on a table", "Artifacts")]


def test_drawbench_csv_with_quoted_commas_bom_and_crlf(tmp_path):
    path = tmp_path / "drawbench.csv"
    path.write_bytes('\ufeffPrompts,Category\r\n"A storefront, with ""Deep Learning"" written on it",Text\r\n'
                     'a blue cube,Colors\r\n'.encode("utf-8"))
    ideas = load_promptset(path)
    assert [(i.text, i.category) for i in ideas] == [('A storefront, with "Deep Learning" written on it', "Text"),
                                                     ("a blue cube", "Colors")]


def test_challenge_column_is_the_category_when_there_is_no_category(tmp_path):
    path = tmp_path / "set.csv"
    path.write_text("text,challenge\na cat,Counting\n", encoding="utf-8")
    assert load_promptset(path)[0].category == "Counting"


def test_jsonl_objects_and_strings(tmp_path):
    path = tmp_path / "set.jsonl"
    lines = [json.dumps({"prompt": "a fox", "category": "animals"}), "", json.dumps("a lighthouse in a storm"),
             json.dumps({"text": "two cups", "challenge": "count"})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert [(i.id, i.text, i.category) for i in load_promptset(path)] == [
        ("0001", "a fox", "animals"), ("0002", "a lighthouse in a storm", None), ("0003", "two cups", "count")]


def test_plain_text_one_idea_per_line_with_crlf_and_blank_lines(tmp_path):
    path = tmp_path / "color_train.txt"
    path.write_bytes(b"a green bench and a red car\r\n\r\n  a red bench and a green car  \r\n")
    assert [(i.id, i.text, i.category) for i in load_promptset(path)] == [
        ("0001", "a green bench and a red car", None), ("0002", "a red bench and a green car", None)]


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("empty.txt", "", r"holds no ideas: write one idea per line"),
    ("blank.txt", "\n  \n", r"holds no ideas"),
    ("header.csv", "Prompt,Category\n", r"holds no ideas"),
    ("nothing.tsv", "", r"is empty: write a header row with a Prompt column"),
    ("columns.csv", "idea,kind\na fox,animal\n",
     r"has no Prompt column .*columns 'idea', 'kind'.*name the idea column Prompt"),
    ("columns.tsv", "caption\tCategory\na fox\tanimal\n", r"TSV \(tab-separated\).*'caption'"),
    ("bad.jsonl", '{"prompt": "a fox"}\n{"prompt": \n', r"line 2 is not JSON"),
    ("keys.jsonl", '{"caption": "a fox"}\n', r"line 1 has no \"prompt\" text"),
])
def test_malformed_promptsets_are_one_clear_line(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SourceError, match=expected) as info:
        load_promptset(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_missing_file_directory_and_binary_file(tmp_path):
    with pytest.raises(SourceError, match=r"nope.tsv does not exist"):
        load_promptset(tmp_path / "nope.tsv")
    with pytest.raises(SourceError, match=r"is a directory"):
        load_promptset(tmp_path)
    binary = tmp_path / "set.txt"
    binary.write_bytes(b"\xff\xfe\x00a fox")
    with pytest.raises(SourceError, match=r"not UTF-8 text"):
        load_promptset(binary)


def test_choose_is_seeded_spread_in_file_order_and_grows_by_adding():
    ideas = [Idea(f"{i:04d}", f"idea {i}") for i in range(1, 101)]
    ten = choose(ideas, 10, seed=3)
    assert ten == choose(ideas, 10, seed=3) and ten != choose(ideas, 10, seed=4)
    assert [i.id for i in ten] == sorted(i.id for i in ten)
    assert int(ten[-1].id) - int(ten[0].id) > 30  # spread over the set, not the first ten
    assert set(ten) <= set(choose(ideas, 25, seed=3))  # a larger limit keeps the smaller one's ideas
    assert choose(ideas, None, seed=3) == ideas == choose(ideas, 500, seed=3)
