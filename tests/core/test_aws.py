"""core/aws.py: the one Bedrock client factory and error mapping, shared by text and images.

Both Bedrock paths (the `bedrock` enhancer's Converse and the `bedrock` image backend's
InvokeModel) run through real boto3 against one scripted Bedrock Runtime on 127.0.0.1, and must
behave alike where the factory and the mapping decide: the signing region, the user agent, the
standard-mode retries, and the one-line error for the same AWS failure.
"""

from __future__ import annotations

import pytest

pytest.importorskip("boto3")
pytest.importorskip("PIL")

from core.aws import BedrockCall, aws_errors, bedrock_client, translate_aws_error  # noqa: E402
from core.errors import BackendError, ConfigError, InputError, MissingCredentialError  # noqa: E402
from enhancers.base import EnhanceRequest  # noqa: E402
from enhancers.claude_bedrock import BedrockEnhancer  # noqa: E402
from generate.base import ImageRequest  # noqa: E402
from generate.bedrock_backend import BedrockImageBackend  # noqa: E402
from tests.servers.bedrock_invoke import FAKE_SECRET, STABLE_IMAGE_MODELS, StabilityInvokeResponder, use_fake_aws  # noqa: E402
from tests.servers.bedrock_server import BedrockServer, aws_error_reply  # noqa: E402

TEXT_MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
IMAGE_MODEL = STABLE_IMAGE_MODELS[1]  # Stable Image Core
IDEA = EnhanceRequest(idea="a lighthouse in a storm")
PICTURE = ImageRequest(prompt="a lighthouse in a storm, oil painting", width=1024, height=1024, seed=5)


@pytest.fixture
def server(monkeypatch, tmp_path):
    """One Bedrock Runtime answering Converse (text) and InvokeModel (Stability images)."""
    use_fake_aws(monkeypatch, tmp_path)
    with BedrockServer() as srv:
        invoke = StabilityInvokeResponder()
        srv.add_route(r"^/model/(?P<model_id>[^/]+)/invoke$", lambda recorded, match: invoke(recorded))
        yield srv


def text_path(server, **options):
    options = {"endpoint_url": server.url, "timeout": 10.0, "max_retries": 0, **options}
    return lambda: BedrockEnhancer(model=TEXT_MODEL, **options).enhance(IDEA)


def image_path(server, monkeypatch, *, max_retries=0, **options):
    monkeypatch.setenv("PROMPTRAG_MAX_RETRIES", str(max_retries))
    options = {"endpoint_url": server.url, **options}
    return lambda: BedrockImageBackend(IMAGE_MODEL, **options).generate(PICTURE)


def both_paths(server, monkeypatch, *, max_retries=0, **options):
    return {"text": text_path(server, max_retries=max_retries, **options),
            "image": image_path(server, monkeypatch, max_retries=max_retries, **options)}


def test_the_factory_sets_region_standard_retries_timeouts_and_user_agent(server):
    client = bedrock_client(region="eu-west-3", endpoint_url=server.url, timeout_s=7.0, max_retries=4)
    config = client.meta.config
    assert client.meta.region_name == "eu-west-3"
    assert config.retries == {"mode": "standard", "total_max_attempts": 5}
    assert (config.read_timeout, config.connect_timeout) == (7.0, 7.0)
    assert "promptrag" in config.user_agent_extra


def test_both_paths_sign_for_the_region_asked_with_our_user_agent(server, monkeypatch):
    text = text_path(server, region="eu-central-1")()
    image = image_path(server, monkeypatch, region="eu-central-1")()
    assert text.prompt.startswith("a lighthouse in a storm") and len(image.images) == 1
    assert image.parameters["region"] == "eu-central-1"
    converse, invoke = server.requests
    assert converse.path.endswith("/converse") and invoke.path.endswith("/invoke")
    for sent in (converse, invoke):
        assert BedrockServer.signature(sent)["region"] == "eu-central-1"
        assert "promptrag" in sent.headers["User-Agent"]


@pytest.mark.parametrize("path", ["text", "image"])
def test_both_paths_retry_throttling_in_standard_mode(server, monkeypatch, path):
    server.queue(aws_error_reply(429, "ThrottlingException", "Too many requests"))
    both_paths(server, monkeypatch, max_retries=1)[path]()
    assert len(server.requests) == 2 and server.requests[0].body == server.requests[1].body


@pytest.mark.parametrize(
    ("status", "code", "message", "error", "hint"),
    [
        (403, "AccessDeniedException", "You don't have access to the model with the specified model ID.",
         BackendError, "enable access to this model in the Amazon Bedrock console for region us-west-2"),
        (403, "AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized", BackendError,
         "bedrock:InvokeModel"),
        (429, "ThrottlingException", "Too many requests", BackendError, "raise PROMPTRAG_MAX_RETRIES"),
        (503, "ServiceUnavailableException", "busy", BackendError, "try again later"),
        (400, "ServiceQuotaExceededException", "quota reached", BackendError, "Service Quotas"),
        (403, "UnrecognizedClientException", "The security token included in the request is invalid",
         MissingCredentialError, "AWS_ACCESS_KEY_ID"),
        (404, "ResourceNotFoundException", "Could not resolve the foundation model", BackendError,
         "is not available in region us-west-2"),
    ],
)
def test_the_same_aws_error_reads_the_same_on_both_paths(server, monkeypatch, status, code, message, error, hint):
    said = {}
    for name, call in both_paths(server, monkeypatch).items():
        server.responder = lambda recorded: aws_error_reply(status, code, message)
        with pytest.raises(error) as info:
            call()
        said[name] = str(info.value)
    for name, model in (("text", TEXT_MODEL), ("image", IMAGE_MODEL)):
        assert said[name].startswith(f"Bedrock {code} ({status}) for model {model!r} in us-west-2: {message}")
        assert hint in said[name] and "\n" not in said[name] and FAKE_SECRET not in said[name]


def test_a_rejected_request_is_an_input_error_for_images_and_a_backend_error_for_text(server, monkeypatch):
    server.responder = lambda recorded: aws_error_reply(400, "ValidationException", "prompt too long")
    calls = both_paths(server, monkeypatch)
    with pytest.raises(InputError, match="prompt too long"):
        calls["image"]()
    with pytest.raises(BackendError, match="prompt too long") as info:
        calls["text"]()
    assert not isinstance(info.value, InputError)


@pytest.mark.parametrize("path", ["text", "image"])
def test_unknown_profile_is_one_config_line(server, monkeypatch, path):
    with pytest.raises(ConfigError, match="AWS_PROFILE") as info:
        both_paths(server, monkeypatch, profile="no-such-profile")[path]()
    assert "no-such-profile" in str(info.value) and server.requests == []


@pytest.mark.parametrize("path", ["text", "image"])
def test_missing_region_names_the_variable(server, monkeypatch, path):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    with pytest.raises(ConfigError, match="set AWS_REGION"):
        both_paths(server, monkeypatch)[path]()


@pytest.mark.parametrize("path", ["text", "image"])
def test_missing_credentials_name_the_variables(server, monkeypatch, path):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(MissingCredentialError, match="AWS_ACCESS_KEY_ID.*AWS_PROFILE"):
        both_paths(server, monkeypatch)[path]()
    assert server.requests == []


@pytest.mark.parametrize("path", ["text", "image"])
def test_unreachable_endpoint_names_the_setting(server, monkeypatch, path):
    import socket

    with socket.socket() as closed:  # a port that was free a moment ago: nothing listens there
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with pytest.raises(BackendError, match="cannot reach Bedrock.*PROMPTRAG_BEDROCK_ENDPOINT_URL"):
        both_paths(server, monkeypatch, endpoint_url=dead)[path]()


def test_other_exceptions_pass_through_unchanged():
    bug = ZeroDivisionError("a bug, not AWS")
    assert translate_aws_error(bug, BedrockCall(model="m")) is bug
    with pytest.raises(ZeroDivisionError):
        with aws_errors(BedrockCall(model="m")):
            raise bug
