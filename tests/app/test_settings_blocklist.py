"""Settings: the blocklist editor and the index's most credited artists, blocked and unblocked there."""

from __future__ import annotations

from pathlib import Path

from tests.app.helpers import run


def open_settings(make_app):
    at = run(make_app())
    at.switch_page("pages/settings.py")
    return run(at)


def artist_rows(at) -> dict[str, bool]:
    [frame] = [d.value for d in at.dataframe if "artist" in d.value.columns]
    return dict(zip(frame["artist"], frame["blocked"]))


def test_top_artists_are_shown_blocked_and_unblocked(make_app, home_index, isolated_env):
    at = open_settings(make_app)
    rows = artist_rows(at)
    assert rows.get("greg rutkowski") is False and "rembrandt" in rows
    at.multiselect(key="settings.block_artists").set_value(["greg rutkowski"])
    at.button(key="settings.block_artists_go").click()
    run(at)
    blocklist = Path(isolated_env) / "blocklist.txt"
    assert "greg rutkowski" in blocklist.read_text(encoding="utf-8").splitlines()
    assert artist_rows(at)["greg rutkowski"] is True
    assert "greg rutkowski" in at.text_area(key="settings.blocklist_text").value
    # the count was cached beside the home's other caches
    assert list((Path(isolated_env) / "cache" / "artists").glob("*.json"))

    at.multiselect(key="settings.unblock_artists").set_value(["greg rutkowski"])
    at.button(key="settings.unblock_artists_go").click()
    run(at)
    assert "greg rutkowski" not in blocklist.read_text(encoding="utf-8")
    assert artist_rows(at)["greg rutkowski"] is False


def test_editing_the_blocklist_text_checks_it_and_refuses_a_bad_pattern(make_app, home_index, isolated_env):
    at = open_settings(make_app)
    at.text_area(key="settings.blocklist_text").input("re:^rembrandt$\n")
    at.button(key="settings.blocklist_save").click()
    run(at)
    assert artist_rows(at)["rembrandt"] is True
    at.text_area(key="settings.blocklist_text").input("ok\nre:(broken\n")
    at.button(key="settings.blocklist_save").click()
    run(at)
    assert any("line 2: invalid regular expression" in e.value.replace("\\", "") for e in at.error)
    assert "re:^rembrandt$" in (Path(isolated_env) / "blocklist.txt").read_text(encoding="utf-8")


def test_explore_can_hide_prompts_with_blocked_artists(make_app, tiny_index, isolated_env):
    (Path(isolated_env) / "blocklist.txt").write_text("greg rutkowski\n", encoding="utf-8")
    at = run(make_app(tiny_index))
    at.text_input(key="explore.query").input("a lighthouse in a storm")
    at.form_submit_button(key="explore.search").click()
    run(at)
    assert any("greg rutkowski" in c.value for c in at.code)
    at.toggle(key="explore.hide_blocked").set_value(True)
    at.form_submit_button(key="explore.search").click()
    run(at)
    assert at.code and not any("greg rutkowski" in c.value for c in at.code)
    assert any("hidden by your blocklist" in c.value for c in at.caption)
