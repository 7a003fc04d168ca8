"""BedrockImageBackend: pure request building, then the real boto3 client against a local
InvokeModel server (SigV4-signed requests, Stability response bodies, errors, retries)."""

from __future__ import annotations

import pytest

pytest.importorskip("boto3")
pytest.importorskip("PIL")

from core.errors import BackendError, ConfigError, InputError, MissingCredentialError  # noqa: E402
from generate.base import ImageRequest  # noqa: E402
from generate.bedrock_backend import BedrockImageBackend  # noqa: E402
from generate.bedrock_schemas import ASPECT_RATIOS, SDXL_SAMPLERS, aspect_ratio, build_request, sdxl_sampler  # noqa: E402
from generate.registry import get_image_backend  # noqa: E402
from tests.servers.base import ScriptedServer  # noqa: E402
from tests.servers.bedrock_invoke import (  # noqa: E402
    FAKE_SECRET,
    SDXL_MODEL,
    STABLE_IMAGE_MODELS,
    StabilityInvokeResponder,
    bedrock_error,
    use_fake_aws,
)

SD35, CORE, ULTRA = STABLE_IMAGE_MODELS


@pytest.fixture
def aws(monkeypatch, tmp_path):
    use_fake_aws(monkeypatch, tmp_path)
    monkeypatch.setenv("PROMPTRAG_MAX_RETRIES", "2")


@pytest.fixture
def server(aws, monkeypatch):
    with ScriptedServer(StabilityInvokeResponder()) as srv:
        monkeypatch.setenv("PROMPTRAG_BEDROCK_ENDPOINT_URL", srv.url)
        yield srv


def req(**kw) -> ImageRequest:
    base = {"prompt": "a lighthouse at dusk, oil painting", "width": 1024, "height": 1024}
    return ImageRequest(**{**base, **kw})


# ---------------------------------------------------------------- pure request building

def test_sdxl_body_has_weighted_prompts_and_mapped_sampler():
    body = build_request(SDXL_MODEL, req(negative_prompt="blurry", steps=30, guidance=8.5,
                                          sampler="k_euler_ancestral", width=1344, height=768), 42,
                         style_preset="cinematic")
    assert body == {
        "text_prompts": [{"text": "a lighthouse at dusk, oil painting", "weight": 1.0},
                         {"text": "blurry", "weight": -1.0}],
        "cfg_scale": 8.5, "seed": 42, "steps": 30, "width": 1344, "height": 768, "samples": 1,
        "sampler": "K_EULER_ANCESTRAL", "style_preset": "cinematic",
    }


def test_sdxl_body_without_negative_or_sampler_sends_neither():
    body = build_request(SDXL_MODEL, req(), 7)
    assert body["text_prompts"] == [{"text": "a lighthouse at dusk, oil painting", "weight": 1.0}]
    assert "sampler" not in body and "style_preset" not in body


@pytest.mark.parametrize("model", STABLE_IMAGE_MODELS)
def test_stable_image_body(model):
    body = build_request(model, req(negative_prompt="text, watermark", width=1920, height=1080), 5)
    assert body == {"prompt": "a lighthouse at dusk, oil painting", "negative_prompt": "text, watermark",
                    "mode": "text-to-image", "aspect_ratio": "16:9", "seed": 5, "output_format": "png"}
    assert "negative_prompt" not in build_request(model, req(), 5)


@pytest.mark.parametrize(("name", "expected"), [
    ("k_euler_ancestral", "K_EULER_ANCESTRAL"), ("k_lms", "K_LMS"), ("ddim", "DDIM"),
    ("k_dpmpp_2m", "K_DPMPP_2M"), ("Euler a", "K_EULER_ANCESTRAL"), ("DPM++ 2M", "K_DPMPP_2M"),
    ("k_dpm_2_ancestral", "K_DPM_2_ANCESTRAL"), ("K_HEUN", "K_HEUN"),
])
def test_sampler_names_map_to_bedrock_enum(name, expected):
    assert sdxl_sampler(name) == expected


def test_unknown_sampler_lists_the_bedrock_names():
    with pytest.raises(InputError) as err:
        build_request(SDXL_MODEL, req(sampler="plms"), 1)
    assert "'plms'" in str(err.value) and all(name in str(err.value) for name in SDXL_SAMPLERS)


@pytest.mark.parametrize(("size", "ratio"), [((1024, 1024), "1:1"), ((1920, 1080), "16:9"),
                                             ((512, 768), "2:3"), ((896, 1120), "4:5"), ((1344, 576), "21:9")])
def test_aspect_ratio_from_size(size, ratio):
    assert aspect_ratio(*size) == ratio


def test_size_without_an_allowed_ratio_is_rejected_with_the_list():
    with pytest.raises(InputError) as err:
        build_request(SD35, req(width=1344, height=768), 1)
    assert "1344x768" in str(err.value) and "7:4" in str(err.value)
    assert all(r in str(err.value) for r in ASPECT_RATIOS)


def test_checks_that_fail_before_sending():
    with pytest.raises(InputError, match="steps must be between 10 and 50"):
        build_request(SDXL_MODEL, req(steps=5), 1)
    with pytest.raises(InputError, match="at most 2000"):
        build_request(SDXL_MODEL, req(prompt="x" * 2001), 1)
    with pytest.raises(InputError, match="style_preset"):
        build_request(CORE, req(), 1, style_preset="anime")
    with pytest.raises(InputError, match="unknown"):
        build_request(SDXL_MODEL, req(), 1, style_preset="watercolour")
    with pytest.raises(InputError, match="4294967294"):
        BedrockImageBackend(SD35).check_request(req(seed=4294967295))


def test_unknown_model_lists_known_ids_and_region_prefix_is_accepted():
    with pytest.raises(InputError) as err:
        BedrockImageBackend("stability.made-up-v9")
    assert SD35 in str(err.value) and SDXL_MODEL in str(err.value)
    assert BedrockImageBackend(f"us.{SD35}").spec.model_id == SD35


def test_registry_builds_the_backend_with_settings_default(monkeypatch):
    monkeypatch.setenv("PROMPTRAG_BEDROCK_IMAGE_MODEL", ULTRA)
    backend = get_image_backend("bedrock")
    assert isinstance(backend, BedrockImageBackend) and backend.model == ULTRA


# ---------------------------------------------------------------- through boto3 and the wire

def test_sdxl_success_signed_request_and_exact_body(server):
    result = BedrockImageBackend(SDXL_MODEL).generate(
        req(negative_prompt="blurry", steps=20, guidance=6.0, seed=1234, sampler="k_euler", width=1152, height=896))
    [sent] = server.requests
    assert sent.method == "POST" and sent.path == f"/model/{SDXL_MODEL}/invoke"
    assert sent.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIATESTPROMPTRAG01/")
    assert "/us-west-2/bedrock/aws4_request" in sent.headers["Authorization"]
    assert sent.json() == {
        "text_prompts": [{"text": "a lighthouse at dusk, oil painting", "weight": 1.0},
                         {"text": "blurry", "weight": -1.0}],
        "cfg_scale": 6.0, "seed": 1234, "steps": 20, "width": 1152, "height": 896, "samples": 1,
        "sampler": "K_EULER",
    }
    assert result.seeds == [1234]
    assert result.images[0].size == (1152, 896)
    p = result.parameters
    assert (p["model"], p["steps"], p["cfg"], p["sampler"], p["ignored"]) == (SDXL_MODEL, 20, 6.0, "K_EULER", [])
    assert (p["width"], p["height"], p["region"], p["backend"]) == (1152, 896, "us-west-2", "bedrock")
    assert result.timings["invoke_s"] > 0


@pytest.mark.parametrize("model", STABLE_IMAGE_MODELS)
def test_stable_image_models_success(server, model):
    result = BedrockImageBackend(model).generate(
        req(negative_prompt="watermark", seed=77, width=1920, height=1080, num_images=2, sampler="ddim"))
    assert [r.path for r in server.requests] == [f"/model/{model.replace(':', '%3A')}/invoke"] * 2
    first, second = (r.json() for r in server.requests)
    assert first == {"prompt": "a lighthouse at dusk, oil painting", "negative_prompt": "watermark",
                     "mode": "text-to-image", "aspect_ratio": "16:9", "seed": 77, "output_format": "png"}
    assert second["seed"] == 78
    assert result.seeds == [77, 78] and len(result.images) == 2
    assert result.images[0].size == (1344, 768)  # what the model returned, not the requested 1920x1080
    p = result.parameters
    assert p["steps"] is None and p["cfg"] is None and p["sampler"] is None
    assert p["ignored"] == ["steps", "cfg", "sampler"]
    assert (p["aspect_ratio"], p["requested_size"], p["width"], p["height"]) == ("16:9", "1920x1080", 1344, 768)


def test_random_seed_is_chosen_and_reported(server):
    result = BedrockImageBackend(SDXL_MODEL).generate(req())
    sent_seed = server.requests[0].json()["seed"]
    assert result.seeds == [sent_seed] and 0 <= sent_seed <= 4294967295


def test_throttling_is_retried_then_succeeds(server):
    server.queue(bedrock_error(429, "ThrottlingException", "Too many requests, please wait before trying again."))
    result = BedrockImageBackend(SD35).generate(req(seed=3))
    assert len(server.requests) == 2 and server.requests[0].json() == server.requests[1].json()
    assert result.seeds == [3] and len(result.images) == 1


def test_throttling_past_the_retry_budget_is_a_clear_error(server, monkeypatch):
    monkeypatch.setenv("PROMPTRAG_MAX_RETRIES", "0")
    server.queue(bedrock_error(429, "ThrottlingException", "Too many requests"))
    with pytest.raises(BackendError, match="throttled") as err:
        BedrockImageBackend(SD35).generate(req(seed=3))
    assert len(server.requests) == 1 and "PROMPTRAG_MAX_RETRIES" in str(err.value)


def test_access_denied_says_to_enable_model_access_in_the_region(server):
    server.queue(bedrock_error(403, "AccessDeniedException",
                               "You don't have access to the model with the specified model ID."))
    with pytest.raises(BackendError) as err:
        BedrockImageBackend(ULTRA).generate(req())
    message = str(err.value)
    assert "enable model access" in message and ULTRA in message and "us-west-2" in message
    assert FAKE_SECRET not in message and FAKE_SECRET not in repr(err.value.__cause__)
    assert len(server.requests) == 1  # a 403 is not retried


def test_model_not_in_region(server):
    server.queue(bedrock_error(404, "ResourceNotFoundException", "Could not resolve the foundation model."))
    with pytest.raises(BackendError, match="not available in region us-west-2"):
        BedrockImageBackend(CORE).generate(req())


def test_validation_exception_is_an_input_error_with_the_service_message(server):
    server.queue(bedrock_error(400, "ValidationException", "Malformed input request: prompt too long"))
    with pytest.raises(InputError, match="Malformed input request: prompt too long"):
        BedrockImageBackend(CORE).generate(req())


def test_service_quota_exceeded(server):
    server.queue(bedrock_error(400, "ServiceQuotaExceededException", "quota reached"))
    with pytest.raises(BackendError, match="quota"):
        BedrockImageBackend(CORE).generate(req())


@pytest.mark.parametrize("model", [SD35, SDXL_MODEL])
def test_content_filtered_is_a_clear_error(server, model):
    server.responder.finish_reason = "Filter reason: prompt"
    with pytest.raises(BackendError, match="filtered"):
        BedrockImageBackend(model).generate(req())


@pytest.mark.parametrize(("model", "size"), [(SDXL_MODEL, (512, 512)), (SD35, (1344, 768))])
def test_bad_size_fails_before_any_request(server, model, size):
    with pytest.raises(InputError, match=f"{size[0]}x{size[1]}"):
        BedrockImageBackend(model).generate(req(width=size[0], height=size[1]))
    assert server.requests == []


def test_missing_credentials_name_the_variables(monkeypatch, tmp_path):
    use_fake_aws(monkeypatch, tmp_path, credentials=False)
    with ScriptedServer(StabilityInvokeResponder()) as srv:
        backend = BedrockImageBackend(SD35, endpoint_url=srv.url)
        with pytest.raises(MissingCredentialError) as err:
            backend.generate(req())
        assert srv.requests == []
    assert "AWS_ACCESS_KEY_ID" in str(err.value) and "AWS_PROFILE" in str(err.value)


def test_injected_client_is_used(aws, monkeypatch):
    import boto3

    with ScriptedServer(StabilityInvokeResponder()) as srv:
        client = boto3.client("bedrock-runtime", region_name="eu-central-1", endpoint_url=srv.url)
        result = BedrockImageBackend(CORE, client=client).generate(req(seed=9))
        assert "/eu-central-1/bedrock/" in srv.requests[0].headers["Authorization"]
    assert result.parameters["region"] == "eu-central-1" and result.seeds == [9]


def test_server_errors_are_retried(server):
    server.queue(bedrock_error(500, "InternalServerException", "boom"),
                 bedrock_error(503, "ServiceUnavailableException", "busy"))
    result = BedrockImageBackend(CORE).generate(req(seed=4))
    assert len(server.requests) == 3 and result.seeds == [4]


def test_read_timeout_is_a_clear_error(server, monkeypatch):
    from tests.servers.base import Reply

    monkeypatch.setenv("PROMPTRAG_MAX_RETRIES", "0")
    monkeypatch.setenv("PROMPTRAG_REQUEST_TIMEOUT_S", "0.3")
    server.queue(Reply(200, {"images": []}, delay_s=1.0))
    with pytest.raises(BackendError, match="ReadTimeoutError.*PROMPTRAG_REQUEST_TIMEOUT_S"):
        BedrockImageBackend(CORE).generate(req())


def test_missing_region_names_the_variable(monkeypatch, tmp_path):
    use_fake_aws(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("PROMPTRAG_BEDROCK_ENDPOINT_URL", raising=False)
    with pytest.raises(ConfigError, match="AWS_REGION"):
        BedrockImageBackend(SD35).generate(req())


def test_each_bedrock_image_is_a_paid_call_in_the_audit_log_and_a_spent_cap_sends_nothing(server, monkeypatch):
    """Stability images on Bedrock cost money per image: they count toward the spend caps and the
    audit log like Claude calls do (core/spend.py), and a reached cap stops before the request."""
    from core.settings import get_settings
    from core.spend import Ledger, SpendCapReached, image_price_for

    BedrockImageBackend(SD35).generate(req(num_images=2, seed=5))
    rows = Ledger(get_settings().spend_db).rows()
    assert [(r["what"], r["model"], r["images"]) for r in rows] == [("image", SD35, 1)] * 2
    assert sum(r["cost_usd"] for r in rows) == pytest.approx(2 * image_price_for(SD35)) and image_price_for(SD35) > 0
    sent = len(server.requests)
    monkeypatch.setenv("PROMPTRAG_SPEND_CAP_USER_DAY_USD", str(2 * image_price_for(SD35) + 0.01))
    with pytest.raises(SpendCapReached):
        BedrockImageBackend(SD35).generate(req(seed=6))
    assert len(server.requests) == sent  # nothing reached Bedrock
