"""Sign-in in a real browser: Streamlit's st.login against the local OIDC provider (tests/servers/oidc_server.py).

The server runs from a working directory whose .streamlit/secrets.toml has an [auth] section
pointing at the provider on 127.0.0.1 (discovery, authorize, token, JWKS; ID tokens signed
RS256 with a key generated at start). Chromium follows the whole flow: the app's sign-in screen →
the provider's form → /oauth2callback → the app, with Streamlit's signed identity cookie.

- Alice (an admin) signs in, sees her own history round and not Bob's, and the index settings.
- Bob (not an admin) signs in in another browser context, sees his round only, and the Settings
  page refuses him the index switch with the one-line reason.
- Alice signs out: back to the sign-in screen.
"""

from __future__ import annotations

import pytest

from tests.e2e.browser import StreamlitServer, app_env, by_key, free_port, page_errors, wait_for_app_run

pytestmark = pytest.mark.slow

STEP_TIMEOUT_MS = 120_000
ALICE, BOB = "alice@x.org", "bob@y.org"


@pytest.fixture
def signin_app(tmp_path, starter_index, artifacts):
    """The app with sign-in on, its own PROMPTRAG_HOME (with one history round per user), and the provider."""
    from app.history import History
    from tests.app.test_history import make_result
    from tests.servers.oidc_server import CLIENT_ID, CLIENT_SECRET, OIDCServer

    port = free_port()
    redirect = f"http://127.0.0.1:{port}/oauth2callback"
    home = tmp_path / "home"
    history = History(home / "promptrag" / "history.sqlite", user=ALICE)
    history.add_round(session_id="a", result=make_result("a lighthouse only alice asked for"))
    history.as_user(BOB).add_round(session_id="b", result=make_result("a red fox only bob asked for"))
    with OIDCServer(redirect_uris=[redirect]) as idp:
        workdir = tmp_path / "cwd"
        (workdir / ".streamlit").mkdir(parents=True)
        (workdir / ".streamlit" / "secrets.toml").write_text(
            f'[auth]\nredirect_uri = "{redirect}"\ncookie_secret = "sign-in-test-cookie-secret-0123456789"\n'
            f'client_id = "{CLIENT_ID}"\nclient_secret = "{CLIENT_SECRET}"\n'
            f'server_metadata_url = "{idp.metadata_url}"\n\n[promptrag]\nadmins = ["{ALICE}"]\n',
            encoding="utf-8")
        env = app_env(home, PROMPTRAG_INDEX=str(starter_index))
        server = StreamlitServer(workdir, env, port=port, log_path=artifacts / "signin-streamlit.log")
        with server:
            server.wait_healthy()
            yield server, idp


def sign_in(browser, url: str, email: str):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    page.goto(url)
    wait_for_app_run(page)
    expect(page.get_by_text("Sign in to turn your ideas into prompts")).to_be_visible()
    assert page.get_by_text("Explore").count() == 0  # nothing of the app before signing in
    page.get_by_role("button", name="Sign in").click()
    page.locator("#email").fill(email)  # the provider's own page
    page.locator("#continue").click()
    page.wait_for_url(f"{url}/**", timeout=STEP_TIMEOUT_MS)
    wait_for_app_run(page)
    expect(page.get_by_text(f"Signed in as {email}")).to_be_visible()
    return context, page


def test_sign_in_keeps_users_apart_and_admin_actions_for_admins(browser, signin_app, artifacts):
    from playwright.sync_api import expect

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    server, idp = signin_app
    alice_context, alice = sign_in(browser, server.url, ALICE)
    expect(alice.get_by_text(f"Signed in as {ALICE} · admin")).to_be_visible()
    alice.goto(f"{server.url}/history")
    wait_for_app_run(alice)
    expect(alice.get_by_text("a lighthouse only alice asked for", exact=True)).to_be_visible()
    assert alice.get_by_text("only bob asked for").count() == 0  # not his title, not his prompt
    alice.screenshot(path=str(artifacts / "signin-alice-history.png"))

    bob_context, bob = sign_in(browser, server.url, BOB)
    bob.goto(f"{server.url}/history")
    wait_for_app_run(bob)
    expect(bob.get_by_text("a red fox only bob asked for", exact=True)).to_be_visible()
    assert bob.get_by_text("only alice asked for").count() == 0
    bob.goto(f"{server.url}/settings")
    wait_for_app_run(bob)
    expect(bob.get_by_text("Admin actions are for admins").first).to_be_visible()
    assert by_key(bob, "settings.use_index").count() == 0
    bob.screenshot(path=str(artifacts / "signin-bob-settings.png"))

    alice.goto(f"{server.url}/settings")
    wait_for_app_run(alice)
    expect(by_key(alice, "settings.use_index")).to_be_visible()
    alice.get_by_role("button", name="Sign out").click()
    wait_for_app_run(alice)
    expect(alice.get_by_role("button", name="Sign in")).to_be_visible()

    assert idp.signed_in == [ALICE, BOB]  # each sign-in went through the provider's token endpoint
    assert not page_errors(alice) and not page_errors(bob), server.log_tail()
    alice_context.close()
    bob_context.close()
