"""PROMPTRAG_INDEX points every entry point (CLI, app) at another index directory."""

from core.settings import get_settings


def test_default_index_is_under_home(isolated_env):
    assert get_settings().default_index == isolated_env / "indexes" / "default"


def test_promptrag_index_overrides_the_default(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTRAG_INDEX", str(tmp_path / "team-gallery"))
    assert get_settings().default_index == tmp_path / "team-gallery"
