"""Settings > Models: the catalogue with cached / not downloaded, Download and Remove; the family
defaults offered for the model in use; the LangChain model field; the blocklist's wording."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.app.helpers import run
from tests.servers.hub_server import COMMIT


def open_settings(make_app):
    at = run(make_app())
    at.switch_page("pages/settings.py")
    return run(at)


def fake_cached(cache: Path, repo_id: str, files: tuple[str, ...]) -> None:
    """What `promptrag models pull` leaves: blobs, a snapshot of links, refs/main."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / "main").write_text(COMMIT)
    for name in files:
        data = f"{name}".encode()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / COMMIT / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(blob)


def image_rows(at) -> dict[str, str]:
    [frame] = [d.value for d in at.dataframe if "on this machine" in d.value.columns
               and "sd-turbo" in list(d.value["model"])]
    return dict(zip(frame["model"], frame["on this machine"]))


def test_models_tab_lists_the_catalogue_with_download_and_remove(make_app, home_index, isolated_env):
    from generate.models import CATALOGUE

    at = open_settings(make_app)
    rows = image_rows(at)
    assert rows["sd-turbo"] == "not downloaded" and {"sdxl-turbo", "sdxl", "sd-1.5"} <= set(rows)
    download = at.button(key="settings.models.download")
    assert download.label == "Download (2.6 GB)" and not download.disabled
    # offline (tests): the click explains how to go online instead of failing after a wait
    download.click()
    run(at)
    assert any("HF_HUB_OFFLINE is set" in e.value.replace("\\", "") for e in at.error)

    fake_cached(Path(isolated_env) / "hub-cache", "stabilityai/sd-turbo", CATALOGUE["sd-turbo"].files)
    run(at)
    assert image_rows(at)["sd-turbo"] == "cached"
    assert at.button(key="settings.models.download").disabled
    at.button(key="settings.models.remove").click()
    run(at)
    assert image_rows(at)["sd-turbo"] == "not downloaded"


def test_image_defaults_follow_the_model_family(make_app, home_index, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_IMAGE_MODEL", "stabilityai/sdxl-turbo")
    at = open_settings(make_app)
    # a new session starts on the family's defaults (turbo: 4 steps, CFG 0), so no button is offered
    assert at.number_input(key="settings.gen.steps").value == 4
    assert at.number_input(key="settings.gen.cfg").value == 0.0
    assert not [b for b in at.button if b.key == "settings.gen.family_defaults"]
    at.number_input(key="settings.gen.steps").set_value(25)
    at.button(key="settings.gen.save").click()
    run(at)
    button = at.button(key="settings.gen.family_defaults")
    assert "turbo defaults: 4 steps, CFG 0, 512×512" in button.label
    button.click()
    run(at)
    assert at.number_input(key="settings.gen.steps").value == 4
    assert at.number_input(key="settings.gen.cfg").value == 0.0


def test_langchain_is_not_configured_until_a_model_is_set(make_app, home_index, monkeypatch):
    from enhancers.registry import enhancer_status

    [status] = [s for s in enhancer_status() if s.name == "langchain"]
    assert not status.ready and "PROMPTRAG_LANGCHAIN_MODEL" in status.detail
    monkeypatch.setenv("PROMPTRAG_LANGCHAIN_MODEL", "openai:gpt-4.1-mini")
    [status] = [s for s in enhancer_status() if s.name == "langchain"]
    assert "openai:gpt-4.1-mini" in status.detail
    at = open_settings(make_app)
    assert at.text_input(key="settings.langchain_model").value == "openai:gpt-4.1-mini"
    at.text_input(key="settings.langchain_model").input("gpt-4")
    run(at)
    assert any("PROVIDER:MODEL" in e.value for e in at.error)


def test_blocklist_placeholder_is_not_entries_and_one_entry_is_singular(make_app, home_index, isolated_env):
    (Path(isolated_env) / "blocklist.txt").write_text("greg rutkowski\n", encoding="utf-8")
    at = open_settings(make_app)
    assert "nothing is blocked" in at.text_area(key="settings.blocklist_text").placeholder
    assert any(c.value.startswith("1 entry in effect") for c in at.caption)
