"""A local OpenID Connect provider on 127.0.0.1 for sign-in tests, built with Authlib's pieces.

Streamlit's `st.login` (Authlib's Starlette client underneath) talks to it exactly as it talks
to Google or Okta, through the authorization-code flow with PKCE:

    GET  /.well-known/openid-configuration   discovery: issuer, endpoints, RS256, S256 PKCE
    GET  /authorize?response_type=code&...   checks the client and its redirect_uri, then shows
                                             a sign-in form (an e-mail box and "Continue")
    POST /authorize                          the form: a one-time code, 302 to redirect_uri?code&state
    POST /token                              client_secret_basic or _post; the code once, the same
                                             redirect_uri, the PKCE verifier (S256); answers an
                                             access token and an ID token (iss, sub, aud, exp, iat,
                                             nonce, email, email_verified, name) signed RS256
    GET  /jwks                               the public half of the RSA key generated at start

Authlib supplies the parts a provider must get right: the signing key and JWTs (joserfc, the
JOSE library Authlib now uses), the PKCE S256 transform (`authlib.oauth2.rfc7636`) and random
codes / tokens (`authlib.common.security.generate_token`). Errors follow RFC 6749 (an `error`
JSON body on /token, a 400 page on /authorize for a bad client or redirect_uri).

Users are whoever types an e-mail: a test stand-in, no passwords. `signed_in` lists the e-mails
that got an ID token.
"""

from __future__ import annotations

import base64
import html
import time
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.servers.base import Recorded, Reply, ScriptedServer

CLIENT_ID = "promptrag-test"
CLIENT_SECRET = "promptrag-test-secret-0123456789"
KEY_ID = "test-key-1"
TOKEN_LIFETIME_S = 600


class OIDCServer(ScriptedServer):
    """`with OIDCServer(redirect_uris=[...]) as idp:`; `idp.metadata_url` goes in [auth] server_metadata_url."""

    def __init__(self, *, redirect_uris: list[str], client_id: str = CLIENT_ID,
                 client_secret: str = CLIENT_SECRET) -> None:
        super().__init__(responder=self._route)
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris)
        self.key = RSAKey.generate_key(2048, parameters={"kid": KEY_ID, "use": "sig", "alg": "RS256"})
        self.codes: dict[str, dict] = {}
        self.signed_in: list[str] = []

    @property
    def metadata_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    # ---- routing -------------------------------------------------------------------------
    def _route(self, recorded: Recorded) -> Reply:
        parts = urlsplit(recorded.path)
        query = dict(parse_qsl(parts.query))
        routes = {
            ("GET", "/.well-known/openid-configuration"): lambda: Reply(200, self.metadata()),
            ("GET", "/jwks"): lambda: Reply(200, {"keys": [self.key.as_dict(private=False)]}),
            ("GET", "/authorize"): lambda: self._authorize_form(query),
            ("POST", "/authorize"): lambda: self._authorize_submit(dict(parse_qsl(recorded.body.decode()))),
            ("POST", "/token"): lambda: self._token(recorded),
        }
        handler = routes.get((recorded.method, parts.path))
        return handler() if handler else Reply(404, {"error": "not_found", "path": parts.path})

    def metadata(self) -> dict:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name"],
        }

    # ---- authorization endpoint ----------------------------------------------------------
    def _client_problem(self, params: dict) -> str | None:
        if params.get("client_id") != self.client_id:
            return f"unknown client_id {params.get('client_id')!r}"
        if params.get("redirect_uri") not in self.redirect_uris:
            return f"redirect_uri {params.get('redirect_uri')!r} is not registered for this client"
        if params.get("response_type") != "code":
            return "only response_type=code is supported"
        if "openid" not in params.get("scope", "").split():
            return "scope must include openid"
        return None

    def _authorize_form(self, params: dict) -> Reply:
        problem = self._client_problem(params)
        if problem:
            return _page(400, "Sign-in error", f"<p id='error'>{html.escape(problem)}</p>")
        hidden = "".join(f"<input type='hidden' name='{html.escape(k)}' value='{html.escape(v)}'>"
                         for k, v in params.items())
        form = (f"<form method='post' action='/authorize'>{hidden}"
                "<label>E-mail <input id='email' name='email' type='email' required></label>"
                "<button id='continue' type='submit'>Continue</button></form>")
        return _page(200, "Sign in to the test provider", form)

    def _authorize_submit(self, form: dict) -> Reply:
        problem = self._client_problem(form)
        if problem or not form.get("email"):
            return _page(400, "Sign-in error", f"<p id='error'>{html.escape(problem or 'e-mail missing')}</p>")
        code = generate_token(32)
        self.codes[code] = {"redirect_uri": form["redirect_uri"], "nonce": form.get("nonce"),
                            "challenge": form.get("code_challenge"), "method": form.get("code_challenge_method"),
                            "email": form["email"].strip().lower(), "scope": form.get("scope", "")}
        back = {"code": code, **({"state": form["state"]} if form.get("state") else {})}
        return Reply(302, b"", {"Location": f"{form['redirect_uri']}?{urlencode(back)}"})

    # ---- token endpoint ------------------------------------------------------------------
    def _token(self, recorded: Recorded) -> Reply:
        form = dict(parse_qsl(recorded.body.decode()))
        client_id, secret = _basic_auth(recorded) or (form.get("client_id"), form.get("client_secret"))
        if (client_id, secret) != (self.client_id, self.client_secret):
            return _error(401, "invalid_client", "client authentication failed")
        if form.get("grant_type") != "authorization_code":
            return _error(400, "unsupported_grant_type", "only authorization_code is supported")
        grant = self.codes.pop(form.get("code", ""), None)  # a code works once
        if grant is None:
            return _error(400, "invalid_grant", "unknown or used code")
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return _error(400, "invalid_grant", "redirect_uri differs from the authorization request")
        if grant["challenge"]:
            verifier = form.get("code_verifier", "")
            if grant["method"] != "S256" or create_s256_code_challenge(verifier) != grant["challenge"]:
                return _error(400, "invalid_grant", "PKCE code_verifier does not match")
        now = int(time.time())
        claims = {"iss": self.url, "sub": "user-" + grant["email"], "aud": self.client_id, "iat": now,
                  "exp": now + TOKEN_LIFETIME_S, "email": grant["email"], "email_verified": True,
                  "name": grant["email"].split("@")[0]}
        if grant["nonce"]:
            claims["nonce"] = grant["nonce"]
        id_token = jwt.encode({"alg": "RS256", "kid": KEY_ID}, claims, self.key)
        self.signed_in.append(grant["email"])
        return Reply(200, {"access_token": generate_token(40), "token_type": "Bearer",
                           "expires_in": TOKEN_LIFETIME_S, "id_token": id_token, "scope": grant["scope"]},
                     {"Cache-Control": "no-store"})


def _basic_auth(recorded: Recorded) -> tuple[str, str] | None:
    header = {k.lower(): v for k, v in recorded.headers.items()}.get("authorization", "")
    if not header.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return unquote(user), unquote(password)


def _error(status: int, error: str, description: str) -> Reply:
    return Reply(status, {"error": error, "error_description": description}, {"Cache-Control": "no-store"})


def _page(status: int, title: str, body: str) -> Reply:
    page = (f"<!doctype html><html><head><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return Reply(status, page, {"Content-Type": "text/html; charset=utf-8"})
