"""Who uses the app and what they may do: sign-in, the acting user, admins, the exposed-server rule.

Sign-in is Streamlit's own OIDC support (`st.login`, `st.user`, `st.logout`, with Authlib). It is on
when `.streamlit/secrets.toml` has an `[auth]` section (redirect_uri, cookie_secret, and a
provider's client_id / client_secret / server_metadata_url, in `[auth]` itself or in named
`[auth.<provider>]` tables); then `sign_in_gate()` shows only a sign-in screen until the browser
has signed in, and the acting user is the identity's e-mail (its `sub` when it has none). Without
`[auth]` the app is single-user: everyone is the fixed user "local", as before users existed.

The acting user scopes the per-user data (app/history.py, campaign/jobs.py, evaluation/jobs.py)
and the spend caps (core/spend.py): `sign_in_gate` hands it to `core.spend.use_account` on every
script run.

Admin actions (ingest a server path or an upload, switch the index, edit templates, the
blocklist and styles, pull models, see which keys are set) are for admins only:
* with sign-in: users listed in `PROMPTRAG_ADMINS` or `[promptrag] admins = [...]` in secrets;
* without sign-in: the local user, unless the server listens beyond this machine (any
  `server.address` but a loopback one: 0.0.0.0, a LAN address, or none at all, which Streamlit
  binds to every interface). Then nobody is admin: anyone on the network would be.
`admin_problem()` says in one line why admin actions are off; pages show it and skip the
action's widgets, and the actions themselves call `require_admin` (a forged click is refused too).

Deliberately not here: an identity provider of our own (tests/servers/oidc_server.py is a test
stand-in), per-user API keys, and trusting client IP addresses (a proxy on this machine would make
every visitor look local).
"""

from __future__ import annotations

import streamlit as st
from streamlit import config as st_config

from app.text import escape_md
from core.errors import ConfigError, PromptragError
from core.settings import get_settings
from core.spend import LOCAL_USER, use_account

LOOPBACK = ("127.0.0.1", "localhost", "::1")
SETUP_HINT = "configure sign-in ([auth] in .streamlit/secrets.toml, see docs/auth.md)"


class NotAllowed(PromptragError):
    """An admin action asked for by someone who is not an admin; the message says why."""


# ---- configuration ---------------------------------------------------------------------------
def _secrets() -> dict:
    """Streamlit's secrets as a dict ({} when there is no secrets file at all)."""
    from streamlit.errors import StreamlitSecretNotFoundError

    try:
        return st.secrets.to_dict()
    except StreamlitSecretNotFoundError as exc:
        if getattr(exc, "error_id", None) == "no-secrets-found":
            return {}
        raise ConfigError(f"cannot read Streamlit's secrets: {exc}; fix .streamlit/secrets.toml") from None


def auth_section() -> dict:
    section = _secrets().get("auth")
    return dict(section) if isinstance(section, dict) else {}


def auth_configured() -> bool:
    """Whether sign-in is on (an [auth] section in Streamlit's secrets)."""
    return bool(auth_section())


def providers() -> list[str | None]:
    """The providers `st.login` takes: None for one configured in [auth] itself, else each [auth.NAME]."""
    section = auth_section()
    named = [name for name, value in section.items() if isinstance(value, dict)]
    return [None] if "client_id" in section or not named else named


def server_address() -> str | None:
    return st_config.get_option("server.address") or None


def server_exposed() -> bool:
    """Whether the server listens beyond this machine (unset: Streamlit binds every interface)."""
    address = server_address()
    return address is None or address.strip("[]") not in LOOPBACK


def admins() -> set[str]:
    """Admin identities (lower case) from PROMPTRAG_ADMINS and `[promptrag] admins` in secrets."""
    listed = list(get_settings().admins)
    extra = (_secrets().get("promptrag") or {}).get("admins") or []
    listed += [extra] if isinstance(extra, str) else list(extra)
    return {str(name).strip().lower() for name in listed if str(name).strip()}


# ---- the acting user ------------------------------------------------------------------------
def signed_in_user() -> str | None:
    """The signed-in identity (e-mail, else "sub:<subject>"); None when nobody is signed in."""
    if not st.user.is_logged_in:
        return None
    email = str(st.user.get("email") or "").strip().lower()
    subject = str(st.user.get("sub") or "").strip()
    return email or (f"sub:{subject}" if subject else None)


def current_user() -> str:
    """The acting user: the signed-in identity with sign-in on, else "local"."""
    if not auth_configured():
        return LOCAL_USER
    user = signed_in_user()
    if user is None:
        raise NotAllowed("nobody is signed in; sign in first")
    return user


def sign_in_gate() -> str:
    """Call first on every run: the acting user (also made core.spend's account); with sign-in on
    and nobody signed in, draws the sign-in screen and stops the run."""
    if auth_configured() and signed_in_user() is None:
        # The only page (no pages/ folder navigation to show around it), then nothing else.
        st.navigation([st.Page(_sign_in_screen, title="Sign in", url_path="sign-in")], position="hidden").run()
        st.stop()
    user = current_user()
    use_account(user)
    return user


def _sign_in_screen() -> None:
    st.title("promptrag")
    st.markdown("Sign in to turn your ideas into prompts. Your history, campaigns and evaluations are yours "
                "alone.")
    for provider in providers():
        label = "Sign in" if provider is None else f"Sign in with {provider}"
        st.button(label, key=f"auth.login.{provider or 'default'}", type="primary", icon=":material/login:",
                  on_click=st.login, args=(provider,) if provider else ())


# ---- roles ------------------------------------------------------------------------------------
def admin_problem() -> str | None:
    """Why this user may not take admin actions, in one line (None: they may)."""
    if not auth_configured():
        if server_exposed():
            where = server_address() or "every network interface"
            return (f"Admin actions are off: this app listens on {where} without sign-in, so anyone on the "
                    f"network could use them. Restart it on 127.0.0.1 (promptrag app) or {SETUP_HINT}.")
        return None
    user = current_user()
    if user in admins():
        return None
    return (f"Admin actions are for admins; you are signed in as {user}. Admins are listed in "
            "PROMPTRAG_ADMINS or [promptrag] admins in .streamlit/secrets.toml.")


def is_admin() -> bool:
    return admin_problem() is None


def require_admin(action: str) -> None:
    """Raise NotAllowed naming `action` and the reason unless the acting user is an admin."""
    problem = admin_problem()
    if problem:
        raise NotAllowed(f"{action} is an admin action. {problem}")


def admin_notice() -> bool:
    """Draw the one-line reason when admin actions are off; True when they are on."""
    problem = admin_problem()
    if problem:
        st.info(escape_md(problem), icon=":material/lock:")
    return problem is None


def account_panel() -> None:
    """The sidebar's account line: who is signed in (and a sign-out button), or the single-user note."""
    if auth_configured():
        user = current_user()
        st.caption(escape_md(f"Signed in as {user}" + (" · admin" if is_admin() else "")))
        st.button("Sign out", key="auth.logout", on_click=st.logout, icon=":material/logout:")
    elif server_exposed():
        st.caption("Shared without sign-in: admin actions are off.")
