"""No pickle anywhere in index/: an index is data a user may load from elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

INDEX_DIR = Path(__file__).resolve().parents[2] / "index"


def test_index_package_never_uses_pickle():
    sources = sorted(INDEX_DIR.glob("*.py"))
    assert sources
    for path in sources:
        text = path.read_text()
        assert not re.search(r"^\s*(import|from)\s+(c?pickle|joblib|dill)\b", text, re.M), path
        assert "allow_pickle=True" not in text, path
        assert "torch.load" not in text, path
