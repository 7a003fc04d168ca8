"""settings_held: which generation settings an index holds at all (index/coverage.py)."""

from __future__ import annotations

import numpy as np

from index import IndexWriter, PromptIndex, PromptRecord
from index.coverage import SETTINGS, settings_held


def _index(path, records) -> PromptIndex:
    vectors = np.eye(len(records), 8, dtype=np.float32)
    writer = IndexWriter(path, model_id="test/eye-8", dimension=8, index_type="flat")
    writer.add(records, vectors)
    writer.publish()
    return PromptIndex.load(path)


def test_text_only_index_holds_no_settings(tmp_path):
    index = _index(tmp_path / "i", [PromptRecord("a fox"), PromptRecord("a cabin in the snow")])
    assert settings_held(index) == frozenset()


def test_settings_found_in_any_row_even_a_late_one(tmp_path):
    records = [PromptRecord(f"prompt {i}") for i in range(5)]
    records.append(PromptRecord("last", sampler="k_lms", width=512, height=768))
    index = _index(tmp_path / "i", records)
    assert settings_held(index, batch_size=2) == {"sampler", "width", "height"}


def test_stops_reading_once_every_setting_is_seen():
    full = PromptRecord("x", seed=1, steps=30, cfg=7.0, sampler="k_lms", width=512, height=512)

    class Store:
        batches = 0

        def iter_records(self, batch_size):
            for _ in range(100):
                Store.batches += 1
                yield [(0, full)]

    assert settings_held(Store()) == frozenset(SETTINGS)
    assert Store.batches == 1
