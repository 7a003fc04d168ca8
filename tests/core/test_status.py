"""Backend status: ready / not configured with the exact setting, fast, offline, and never a secret."""

from __future__ import annotations

import importlib.util
import socket
from pathlib import Path

import pytest

from core.status import BackendStatus, aws_status, model_location
from enhancers.registry import enhancer_status
from generate.registry import image_backend_status

SECRET = "sk-ant-api03-TOPSECRET-value-0123456789"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYTOPSECRET"
AWS_ENV = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
           "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE",
           "AWS_SHARED_CREDENTIALS_FILE",
           "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
           "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture(autouse=True)
def clean_machine(tmp_path, monkeypatch):
    """No keys, no ~/.aws, an empty Hugging Face cache, a working directory without .env; no network."""
    home = tmp_path / "user-home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in AWS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PROMPTRAG_LOCAL_LLM_MODEL", raising=False)
    monkeypatch.delenv("PROMPTRAG_IMAGE_MODEL", raising=False)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)

    def no_network(*args, **kwargs):
        raise AssertionError(f"backend status must not touch the network (connect {args})")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    return home


def statuses() -> dict[tuple[str, str], BackendStatus]:
    return {(s.kind, s.name): s for s in enhancer_status() + image_backend_status()}


def test_every_registered_backend_is_listed_and_the_built_ins_are_always_ready():
    from enhancers.registry import CHAIN_NAME, enhancer_names
    from generate.registry import image_backend_names

    found = statuses()
    # every registered name (test modules may register fakes of their own) ...
    assert set(found) == ({("enhancer", n) for n in enhancer_names() if n != CHAIN_NAME}
                          | {("image", n) for n in image_backend_names()})
    # ... and the built-ins always
    enhancers = ("anthropic", "bedrock", "grounded", "langchain", "local", "rules")
    assert {("enhancer", n) for n in enhancers} | {("image", "diffusers"), ("image", "bedrock")} <= set(found)
    assert found["enhancer", "rules"].ready and found["enhancer", "grounded"].ready


def test_nothing_configured_names_the_exact_setting_for_each():
    found = statuses()
    anthropic = found["enhancer", "anthropic"]
    assert not anthropic.ready
    assert anthropic.detail == "set ANTHROPIC_API_KEY in the environment, .env or .streamlit/secrets.toml"
    for key in (("enhancer", "bedrock"), ("image", "bedrock")):
        assert not found[key].ready
        assert "AWS_ACCESS_KEY_ID" in found[key].detail and "AWS_PROFILE" in found[key].detail
    local = found["enhancer", "local"]
    assert not local.ready and "PROMPTRAG_LOCAL_LLM_MODEL" in local.detail
    assert "huggingface-cli download Qwen/Qwen2.5-3B-Instruct" in local.detail
    diffusers = found["image", "diffusers"]
    assert not diffusers.ready and "PROMPTRAG_IMAGE_MODEL" in diffusers.detail


@pytest.mark.skipif(not has("anthropic"), reason="the anthropic package is not installed")
@pytest.mark.parametrize("where", ["environment", ".env"])
def test_anthropic_key_makes_it_ready_and_its_value_is_never_shown(where, monkeypatch, capsys):
    if where == "environment":
        monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    else:
        Path(".env").write_text(f"ANTHROPIC_API_KEY={SECRET}\n", encoding="utf-8")
    found = statuses()
    assert found["enhancer", "anthropic"].ready
    assert found["enhancer", "anthropic"].detail == "claude-sonnet-4-6"
    everything = repr(list(found.values())) + str(list(found.values())) + "".join(capsys.readouterr())
    assert SECRET not in everything and "TOPSECRET" not in everything


@pytest.mark.skipif(not has("boto3"), reason="boto3 is not installed")
def test_aws_profile_in_files_makes_bedrock_ready_without_showing_the_keys(clean_machine, monkeypatch):
    aws = clean_machine / ".aws"
    aws.mkdir()
    (aws / "credentials").write_text(
        f"[work]\naws_access_key_id = AKIATOPSECRET\naws_secret_access_key = {AWS_SECRET}\n",
        encoding="utf-8")
    (aws / "config").write_text("[profile work]\nregion = us-west-2\n", encoding="utf-8")
    monkeypatch.setenv("AWS_PROFILE", "work")
    found = statuses()
    for key in (("enhancer", "bedrock"), ("image", "bedrock")):
        assert found[key].ready, found[key].detail
        assert "profile 'work'" in found[key].detail and "us-west-2" in found[key].detail
    assert found["image", "bedrock"].detail.startswith("stability.sd3-5-large-v1:0")
    assert "TOPSECRET" not in repr(list(found.values()))


def test_aws_problems_are_named():
    assert aws_status() == (False, "no AWS credentials found: set AWS_ACCESS_KEY_ID and "
                                   "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run `aws configure`")


def test_aws_unknown_profile_and_missing_region(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "nope")
    ready, detail = aws_status()
    assert not ready and "AWS_PROFILE=nope" in detail and "aws configure --profile nope" in detail
    monkeypatch.delenv("AWS_PROFILE")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATOPSECRET")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    ready, detail = aws_status()
    assert not ready and "set AWS_REGION" in detail and "TOPSECRET" not in detail
    monkeypatch.setenv("AWS_REGION", "eu-central-1")
    assert aws_status() == (True, "AWS_ACCESS_KEY_ID (environment, .env or secrets.toml), region eu-central-1")


@pytest.mark.skipif(not has("llama_cpp"), reason="llama-cpp-python is not installed")
def test_local_llm_ready_with_a_local_gguf_file(tmp_path, monkeypatch):
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setenv("PROMPTRAG_LOCAL_LLM_MODEL", str(model))
    local = statuses()["enhancer", "local"]
    assert local.ready and local.detail == f"{model} (local file)"


@pytest.mark.skipif(not (has("transformers") and has("diffusers") and has("torch")),
                    reason="transformers / diffusers / torch not installed")
def test_models_in_the_hugging_face_cache_count_as_local(tmp_path, monkeypatch):
    def cache(repo: str, filename: str) -> None:  # the hub cache layout huggingface_hub writes
        root = tmp_path / "hf-cache" / f"models--{repo.replace('/', '--')}"
        (root / "refs").mkdir(parents=True)
        (root / "refs" / "main").write_text("abc123")
        (root / "snapshots" / "abc123").mkdir(parents=True)
        (root / "snapshots" / "abc123" / filename).write_text("{}")

    cache("Qwen/Qwen2.5-3B-Instruct", "config.json")
    cache("stabilityai/sd-turbo", "model_index.json")
    found = statuses()
    assert found["enhancer", "local"].ready
    assert found["enhancer", "local"].detail == "Qwen/Qwen2.5-3B-Instruct (Hugging Face cache)"
    assert found["image", "diffusers"].ready
    assert found["image", "diffusers"].detail == "stabilityai/sd-turbo (Hugging Face cache)"
    monkeypatch.setenv("PROMPTRAG_IMAGE_MODEL", str(tmp_path / "no-such-dir"))
    assert not statuses()["image", "diffusers"].ready


def test_model_location_kinds(tmp_path):
    (tmp_path / "model").mkdir()
    assert model_location(str(tmp_path / "model"), "config.json") == "local directory"
    assert model_location("owner/repo:file.gguf", "config.json") is None
    assert model_location("C:\\models\\x", "config.json") is None
    assert model_location("", "config.json") is None
    assert model_location("not a repo id!", "config.json") is None

