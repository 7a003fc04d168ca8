"""`promptrag app --host 0.0.0.0` without sign-in warns; with [auth] in secrets, or on loopback, it does not."""

from __future__ import annotations

import pytest

from cli.app_cmd import exposure_warning, sign_in_configured
from core.errors import ConfigError


def test_serving_to_the_network_without_sign_in_warns_and_says_how_to_fix_it(workdir):
    assert exposure_warning("127.0.0.1") is None and exposure_warning("::1") is None
    warning = exposure_warning("0.0.0.0")
    assert warning and "WITHOUT sign-in" in warning and "docs/auth.md" in warning and "127.0.0.1" in warning
    assert exposure_warning("192.168.1.20")  # a LAN address is the network too

    secrets = workdir / ".streamlit" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text('ANTHROPIC_API_KEY = "sk-not-auth"\n', encoding="utf-8")
    assert not sign_in_configured() and exposure_warning("0.0.0.0")  # keys alone are not sign-in
    secrets.write_text('[auth]\nredirect_uri = "http://h:8501/oauth2callback"\ncookie_secret = "x"\n'
                       'client_id = "c"\nclient_secret = "s"\nserver_metadata_url = "http://idp/.well-known"\n',
                       encoding="utf-8")
    assert sign_in_configured() and exposure_warning("0.0.0.0") is None

    secrets.write_text("[auth\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="secrets.toml"):
        exposure_warning("0.0.0.0")
