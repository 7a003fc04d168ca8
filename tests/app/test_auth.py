"""Sign-in and roles in the app (AppTest): with [auth] in secrets nobody gets past the sign-in screen
until signed in; a signed-in user sees their own history only; admin actions are refused to a user
who is not an admin, and to everyone when the app is shared on the network without sign-in."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1.util import patch_config_options

from app.history import History
from core import spend
from core.settings import get_settings
from tests.app.helpers import page_texts, run
from tests.app.test_history import make_result

AUTH = {"redirect_uri": "http://127.0.0.1:8501/oauth2callback", "cookie_secret": "a-test-cookie-secret-0123456789",
        "client_id": "promptrag", "client_secret": "test-secret",
        "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration"}
ALICE, BOB = "alice@x.org", "bob@y.org"


def shown(elements) -> list[str]:
    """The texts of notices / captions as the reader sees them (the app escapes markdown)."""
    return [re.sub(r"\\(.)", r"\1", str(e.value)) for e in elements]


@pytest.fixture(autouse=True)
def nobody_acting():
    yield
    spend.clear_account()


def signed_in(make_app, user: str | None, *, index=None, admins=(ALICE,)):
    at = make_app(index)
    at.secrets["auth"] = AUTH
    at.secrets["promptrag"] = {"admins": list(admins)}
    at.user = {"is_logged_in": False} if user is None else {"is_logged_in": True, "email": user, "sub": user}
    return at


def test_with_sign_in_configured_nothing_but_the_sign_in_screen_is_shown(make_app, tiny_index):
    at = run(signed_in(make_app, None, index=tiny_index))
    assert [b.label for b in at.button] == ["Sign in"]
    texts = " ".join(page_texts(at))
    assert "Sign in to turn your ideas into prompts" in texts
    assert "Explore" not in texts and not at.text_input and not at.expander  # no page, no sidebar


def test_a_signed_in_user_sees_only_their_own_history(make_app, tiny_index):
    history = History(get_settings().history_db, user=ALICE)
    history.add_round(session_id="a", result=make_result("a lighthouse that belongs to alice"))
    history.as_user(BOB).add_round(session_id="b", result=make_result("a red fox that belongs to bob"))

    at = run(signed_in(make_app, BOB, index=tiny_index))
    assert any("Signed in as bob@y.org" in c for c in shown(at.caption))  # the sidebar's account line
    at.switch_page("pages/history.py")
    texts = " ".join(page_texts(run(at)))
    assert "a red fox that belongs to bob" in texts and "alice" not in texts


def test_admin_actions_are_refused_to_a_user_who_is_not_an_admin(make_app, home_index):
    at = run(signed_in(make_app, BOB))
    assert not any("Backends" in e.label for e in at.expander)  # which backends are ready: not shown
    at.switch_page("pages/settings.py")
    run(at)
    notices = shown(at.info)
    assert any("Admin actions are for admins" in n and "bob@y.org" in n for n in notices), notices
    keys = {w.key for w in [*at.selectbox, *at.text_area, *at.button]}
    assert "settings.index" not in keys and "settings.use_index" not in keys  # switch index
    assert "settings.blocklist_text" not in keys and "settings.template_save" not in keys  # blocklist, templates
    assert "settings.enhancers" in {m.key for m in at.multiselect}  # session choices stay everyone's
    assert not any("ANTHROPIC" in t for t in page_texts(at))  # which keys are set: not shown

    admin = run(signed_in(make_app, ALICE))  # the admin of the same app
    assert any("Signed in as alice@x.org · admin" in c for c in shown(admin.caption))
    assert any("Backends" in e.label for e in admin.expander)
    admin.switch_page("pages/settings.py")
    run(admin)
    assert admin.selectbox(key="settings.index").value == str(home_index)


def test_shared_on_the_network_without_sign_in_admin_actions_are_off(make_app, isolated_env):
    with patch_config_options({"server.address": "0.0.0.0"}):
        at = run(make_app())  # no index yet: the first-run page, where an index is built
        notices = shown(at.info)
        assert any("Admin actions are off" in n and "0.0.0.0" in n for n in notices), notices
        assert not [b for b in at.button if b.key and b.key.startswith("first_run.")]  # no build, no upload
    with patch_config_options({"server.address": "127.0.0.1"}):
        assert run(make_app()).button(key="first_run.starter")  # the same app on loopback: the local admin
