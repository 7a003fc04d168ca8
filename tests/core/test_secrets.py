"""Keys: SecretStr settings read from the environment, `.env`, then Streamlit's secrets.toml; never
shown; and the suite's isolation, which keeps a developer's real keys out of every test."""

from __future__ import annotations

import json
import logging
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import MissingCredentialError
from core.settings import SECRET_FIELDS, get_settings, resolve_secret
from tests.conftest import LAUNCH_DIR, REPO_ROOT

SECRET = "sk-ant-api03-TOPSECRET-0123456789"


def write_dotenv(directory: Path, **values: str) -> None:
    lines = [f"{name}={value}" for name, value in values.items()]
    (directory / ".env").write_text("\n".join(lines) + "\n", encoding="utf-8")


def write_secrets_toml(directory: Path, **values: str) -> None:
    (directory / ".streamlit").mkdir(parents=True, exist_ok=True)
    lines = [f'{name} = "{value}"' for name, value in values.items()]
    (directory / ".streamlit" / "secrets.toml").write_text(
        "\n".join(lines) + '\n\n[connections.db]\nurl = "ignored"\n', encoding="utf-8")


def test_each_source_is_read_and_earlier_sources_win(monkeypatch):
    cwd, home = Path.cwd(), Path(os.environ["HOME"])
    write_secrets_toml(home, ANTHROPIC_API_KEY="from-global-toml", AWS_SESSION_TOKEN="token-from-global-toml")
    assert get_settings().anthropic_api_key.get_secret_value() == "from-global-toml"
    write_secrets_toml(cwd, ANTHROPIC_API_KEY="from-project-toml")
    assert get_settings().anthropic_api_key.get_secret_value() == "from-project-toml"
    write_dotenv(cwd, ANTHROPIC_API_KEY="from-dotenv")
    assert get_settings().anthropic_api_key.get_secret_value() == "from-dotenv"
    monkeypatch.setenv("ANTHROPIC_API_KEY", "from-environment")
    settings = get_settings()
    assert settings.anthropic_api_key.get_secret_value() == "from-environment"
    # each key is looked up on its own: the token still comes from the global secrets.toml
    assert settings.aws_session_token.get_secret_value() == "token-from-global-toml"
    # an empty variable is no value: the next source answers
    monkeypatch.setenv("ANTHROPIC_API_KEY", "")
    assert resolve_secret("ANTHROPIC_API_KEY").get_secret_value() == "from-dotenv"


def test_settings_knobs_come_from_the_same_sources():
    write_secrets_toml(Path.cwd(), PROMPTRAG_ANTHROPIC_MODEL="claude-from-toml",
                       HF_ENDPOINT="http://mirror.test")
    settings = get_settings()
    assert settings.anthropic_model == "claude-from-toml" and settings.hub_endpoint == "http://mirror.test"


def test_a_key_never_shows_in_repr_dump_or_log(monkeypatch, caplog):
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATOPSECRET")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-TOPSECRET")
    settings = get_settings()
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("promptrag.test").info("settings: %s %r", settings, settings)
    shown = " ".join([repr(settings), str(settings), settings.model_dump_json(), repr(settings.model_dump()),
                      repr(resolve_secret("ANTHROPIC_API_KEY")), caplog.text])
    assert "TOPSECRET" not in shown
    assert resolve_secret("ANTHROPIC_API_KEY").get_secret_value() == SECRET  # only on explicit demand
    assert settings.aws_keys() == {"aws_access_key_id": "AKIATOPSECRET",
                                   "aws_secret_access_key": "aws-TOPSECRET"}


def test_a_missing_key_names_the_variable_and_where_to_put_it():
    with pytest.raises(MissingCredentialError) as err:
        resolve_secret("ANTHROPIC_API_KEY", purpose="the anthropic enhancer")
    assert str(err.value) == ("ANTHROPIC_API_KEY is not set to use the anthropic enhancer: export "
                              "ANTHROPIC_API_KEY=... or put it in .env or .streamlit/secrets.toml.")


def test_an_add_on_key_is_read_from_the_same_sources():
    write_dotenv(Path.cwd(), MY_ADDON_TOKEN="addon-secret")
    assert resolve_secret("MY_ADDON_TOKEN").get_secret_value() == "addon-secret"


def test_aws_keys_come_in_pairs_or_not_at_all(monkeypatch):
    assert get_settings().aws_keys() == {}  # boto3's own chain (profiles, roles) decides
    write_dotenv(Path.cwd(), AWS_ACCESS_KEY_ID="AKIAONLY")
    with pytest.raises(MissingCredentialError, match="AWS_SECRET_ACCESS_KEY is not set but its partner is"):
        get_settings().aws_keys()


def test_this_test_runs_in_a_clean_directory_without_keys():
    assert Path.cwd() not in (REPO_ROOT, LAUNCH_DIR) and not any(Path.cwd().iterdir())
    assert Path(os.environ["HOME"]) != Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert not [name for name in os.environ if name.startswith(("ANTHROPIC_", "AWS_"))]
    settings = get_settings()
    assert all(getattr(settings, field) is None for field in SECRET_FIELDS.values())


# The proof: a repo-shaped directory with a key in its .env, in the launch environment and in
# ~/.streamlit/secrets.toml, and the real tests/conftest.py. A probe run under that conftest sees
# no key; the same probe without it (the control, its own pytest run) sees every one, so the
# check fails as soon as the isolation goes away.
PROBE = '''
import json
from core.settings import SECRET_FIELDS, get_settings

def test_probe():
    settings = get_settings()
    seen = sorted(name for name, field in SECRET_FIELDS.items() if getattr(settings, field))
    print("SEEN", json.dumps(seen))
'''


def test_keys_in_the_repo_root_env_and_home_change_nothing_inside_tests(tmp_path):
    repo, home = tmp_path / "repo", tmp_path / "home"
    (repo / "tests").mkdir(parents=True)
    (repo / "control").mkdir()
    shutil.copy(REPO_ROOT / "tests" / "conftest.py", repo / "tests" / "conftest.py")
    (repo / "tests" / "test_probe.py").write_text(PROBE, encoding="utf-8")
    (repo / "control" / "test_probe_control.py").write_text(PROBE, encoding="utf-8")
    write_dotenv(repo, ANTHROPIC_API_KEY=SECRET)
    write_secrets_toml(home, AWS_SESSION_TOKEN="token-TOPSECRET")
    env = {**os.environ, "HOME": str(home), "AWS_ACCESS_KEY_ID": "AKIATOPSECRET",
           "AWS_SECRET_ACCESS_KEY": "aws-TOPSECRET"}

    def probe(folder: str) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "--rootdir", str(repo),
             folder],
            cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        [line] = [line for line in result.stdout.splitlines() if "SEEN [" in line]
        return json.loads(line.split("SEEN", 1)[1])

    assert probe("control") == ["ANTHROPIC_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                "AWS_SESSION_TOKEN"]
    assert probe("tests") == []


def test_aws_keys_in_dotenv_reach_boto3_which_never_reads_that_file():
    pytest.importorskip("boto3")
    from core.aws import bedrock_client
    from tests.servers.base import Reply, ScriptedServer

    write_dotenv(Path.cwd(), AWS_ACCESS_KEY_ID="AKIADOTENVKEY", AWS_SECRET_ACCESS_KEY="dotenv-TOPSECRET")
    with ScriptedServer() as server:
        server.queue(Reply(200, {"output": {"message": {"role": "assistant", "content": [{"text": "ok"}]}},
                                 "stopReason": "end_turn", "usage": {"inputTokens": 1, "outputTokens": 1,
                                                                     "totalTokens": 2}, "metrics": {"latencyMs": 1}}))
        client = bedrock_client(region="us-west-2", endpoint_url=server.url, max_retries=0, timeout_s=5)
        client.converse(modelId="test-model", messages=[{"role": "user", "content": [{"text": "hi"}]}])
    signed = server.requests[0].headers["Authorization"]
    assert "Credential=AKIADOTENVKEY/" in signed and "TOPSECRET" not in signed
