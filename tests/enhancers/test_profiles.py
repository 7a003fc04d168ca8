"""The target model shapes the prompt: tags for SD 1.x, a sentence plus tags for SDXL / turbo,
prose for SD3 / Flux; weights only where parsed; no pretend negative prompts for turbo models."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from cli.main import app
from core.errors import InputError
from enhancers.base import TOKEN_BUDGET, EnhanceRequest, Example
from enhancers.grounded import GroundedEnhancer
from enhancers.media import clashing_pairs
from enhancers.profiles import (
    PROFILES,
    family_for_model,
    has_weight_syntax,
    prompt_form,
    resolve_family,
    strip_weight_syntax,
)
from enhancers.prompting import build_messages
from enhancers.rules import RuleBasedEnhancer
from enhancers.tokens import count_clip_tokens
from generate.prompt_syntax import plain_for_backend, plain_text
from tests.generate.tiny_pipelines import tiny_sd_dir  # noqa: F401 (fixture)

RULES = RuleBasedEnhancer()
GROUNDED = GroundedEnhancer()
FORMS = {"sd1": "tags", "sdxl": "mixed", "turbo": "mixed", "sd3": "prose", "flux": "prose", "other": "prose"}
IDEAS = ["a red kettle on a stove", "a wizard casting a spell in a library",
         "The fluffy pillow was on top of the hard chair.", "an oil painting of a fox in the snow"]
EXAMPLES = [
    Example(text="a castle on a hill, digital painting, by greg rutkowski, volumetric lighting, fantasy, 8k",
            score=0.8),
    Example(text="a tower at dusk, digital painting, fantasy, volumetric lighting, highly detailed", score=0.7),
    Example(text="old fortress, concept art, dramatic lighting, wide angle, 8k, masterpiece", score=0.6),
]


def rules(idea: str, family: str, **fields):
    return RULES.enhance(EnhanceRequest(idea=idea, model_family=family, **fields))


# -- form per family ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", list(FORMS))
@pytest.mark.parametrize("idea", IDEAS)
def test_rules_write_each_family_in_its_form(family, idea):
    result = rules(idea, family, creativity=0.7, n_candidates=3)
    for candidate in result.candidates:
        assert prompt_form(candidate.prompt) == FORMS[family], candidate.prompt
        assert count_clip_tokens(candidate.prompt) <= TOKEN_BUDGET[family]
        assert clashing_pairs(candidate.prompt) == [], candidate.prompt


def test_prose_families_get_a_sentence_not_a_tag_list():
    prompt = rules("a red kettle on a stove", "sd3", creativity=0.3).prompt
    assert prompt.startswith("A professional photograph of a red kettle on a stove, with ")
    assert prompt.endswith(".") and prompt_form(prompt) == "prose"
    sentence_idea = rules("The fluffy pillow was on top of the hard chair.", "flux").prompt
    assert sentence_idea.startswith("The fluffy pillow was on top of the hard chair. A ")  # kept whole


def test_sd1_gets_tags_with_quality_tags_and_others_do_not():
    sd1 = rules("a wizard casting a spell", "sd1", creativity=1.0).prompt
    assert "masterpiece" in sd1 and "best quality" in sd1 and prompt_form(sd1) == "tags"
    for family in ("sdxl", "sd3", "flux", "turbo"):
        prompt = rules("a wizard casting a spell", family, creativity=1.0).prompt.lower()
        assert "masterpiece" not in prompt and "best quality" not in prompt and "8k" not in prompt, prompt


def test_sdxl_is_one_sentence_then_a_few_tags():
    prompt = rules("a red kettle on a stove", "sdxl", creativity=1.0).prompt
    sentence, tags = prompt.split(". ")
    assert sentence.startswith("a red kettle on a stove, professional photograph with ")
    assert 1 <= len(tags.split(", ")) <= PROFILES["sdxl"].max_tags


@pytest.mark.parametrize("family", list(FORMS))
@pytest.mark.parametrize("idea", ["a castle in the clouds", "The old castle was surrounded by fog."])
def test_grounded_writes_the_examples_modifiers_in_the_familys_form(family, idea):
    result = GROUNDED.enhance(EnhanceRequest(idea=idea, examples=EXAMPLES, model_family=family, n_candidates=2))
    assert result.enhancer == "grounded" and not result.fallback_reasons
    for candidate in result.candidates:
        assert prompt_form(candidate.prompt) == FORMS[family], candidate.prompt
        assert count_clip_tokens(candidate.prompt) <= TOKEN_BUDGET[family]
    assert "volumetric lighting" in result.prompt.lower()  # the examples' shared modifier, in any form


def test_grounded_turns_the_examples_tags_into_a_sentence():
    result = GROUNDED.enhance(EnhanceRequest(idea="a castle in the clouds", examples=EXAMPLES, model_family="sd3"))
    assert result.prompt.startswith("A digital painting of a castle in the clouds, in a fantasy style, with ")
    assert "by greg rutkowski" in result.prompt and result.prompt.endswith(".")
    assert "8k" not in result.prompt and "masterpiece" not in result.prompt


# -- weights -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["sd1", "sdxl", "turbo"])
def test_weights_are_kept_for_families_whose_backend_parses_them(family):
    result = rules("a (red:1.3) kettle on a ((stove))", family)
    assert "(red:1.3)" in result.prompt and "((stove))" in result.prompt
    assert not any("weight" in notice for notice in result.notices)


@pytest.mark.parametrize("family", ["sd3", "flux", "other"])
def test_weights_are_stripped_for_t5_families_and_the_user_is_told(family):
    for enhancer in (RULES, GROUNDED):
        result = enhancer.enhance(EnhanceRequest(idea="a (red:1.3) kettle on a ((stove))", model_family=family,
                                                 examples=EXAMPLES, n_candidates=2))
        for candidate in result.candidates:
            assert not has_weight_syntax(candidate.prompt), candidate.prompt
            assert "red kettle on a stove" in candidate.prompt
        assert any("does not parse A1111 weight syntax" in notice for notice in result.notices)


def test_weight_stripping_keeps_words_and_leaves_plain_text_alone():
    assert strip_weight_syntax("a (red:1.3) kettle, ((steam)), [dust], (((very (old:0.8))))") == \
        "a red kettle, steam, dust, very old"
    assert strip_weight_syntax("a 50mm photo, f/1.8") == "a 50mm photo, f/1.8"
    assert plain_text("a (red:1.3) kettle BREAK [cat:dog:0.5], \\(sic\\)") == "a red kettle, dog, (sic)"


# -- negative prompts that have no effect ------------------------------------------------------


@pytest.mark.parametrize("family", ["turbo", "flux"])
def test_families_that_ignore_negative_prompts_get_none_and_a_notice(family):
    for enhancer in (RULES, GROUNDED):
        result = enhancer.enhance(EnhanceRequest(idea="a red kettle", model_family=family, examples=EXAMPLES,
                                                 n_candidates=2))
        assert result.negative_prompt == "" and all(c.negative_prompt == "" for c in result.candidates)
        assert any("negative prompt" in notice and "no effect" in notice or "no negative" in notice
                   for notice in result.notices), result.notices


def test_families_that_use_negative_prompts_keep_them_without_notice():
    for family in ("sd1", "sdxl", "sd3"):
        result = rules("a red kettle", family)
        assert result.negative_prompt and result.notices == []


# -- which family a model belongs to -----------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("stability.sd3-5-large-v1:0", "sd3"),
        ("us.stability.sd3-5-large-v1:0", "sd3"),
        ("stability.stable-image-ultra-v1:1", "sd3"),
        ("stability.stable-image-core-v1:1", "sd3"),
        ("stability.stable-diffusion-xl-v1", "sdxl"),
        ("stabilityai/stable-diffusion-xl-base-1.0", "sdxl"),
        ("stabilityai/sdxl-turbo", "turbo"),
        ("stabilityai/sd-turbo", "turbo"),
        ("ByteDance/SDXL-Lightning", "turbo"),
        ("latent-consistency/lcm-lora-sdv1-5", "turbo"),
        ("black-forest-labs/FLUX.1-dev", "flux"),
        ("black-forest-labs/FLUX.1-schnell", "flux"),
        ("stabilityai/stable-diffusion-3.5-large", "sd3"),
        ("runwayml/stable-diffusion-v1-5", "sd1"),
        ("CompVis/stable-diffusion-v1-4", "sd1"),
        ("stabilityai/stable-diffusion-2-1", "sd1"),
    ],
)
def test_family_follows_from_the_model_id(model, family):
    assert family_for_model(model) == family


@pytest.mark.parametrize(
    ("config", "family"),
    [
        ({"_class_name": "StableDiffusion3Pipeline"}, "sd3"),
        ({"_class_name": "FluxPipeline"}, "flux"),
        ({"_class_name": "StableDiffusionXLPipeline"}, "sdxl"),
        ({"_class_name": "StableDiffusionPipeline"}, "sd1"),
        ({"_class_name": "StableDiffusionPipeline", "scheduler": ["diffusers", "LCMScheduler"]}, "turbo"),
    ],
)
def test_family_of_a_local_diffusers_directory_comes_from_its_config(tmp_path, config, family):
    model = tmp_path / "my-model"
    model.mkdir()
    (model / "model_index.json").write_text(json.dumps(config), encoding="utf-8")
    assert family_for_model(str(model)) == family


def test_resolve_family_prefers_an_explicit_family_then_the_configured_model(monkeypatch):
    assert resolve_family("sd1", backend="bedrock") == "sd1"
    monkeypatch.setenv("PROMPTRAG_BEDROCK_IMAGE_MODEL", "stability.sd3-5-large-v1:0")
    monkeypatch.setenv("PROMPTRAG_IMAGE_MODEL", "stabilityai/sdxl-turbo")
    assert resolve_family("auto", backend="bedrock") == "sd3"
    assert resolve_family(None, backend="diffusers") == "turbo"
    assert resolve_family(None) == "sdxl"  # no image model in sight: the old default
    with pytest.raises(ValueError, match="known families: sd1, sdxl"):
        resolve_family("sd5")


# -- LLM templates carry the profile -----------------------------------------------------------


def test_llm_system_message_carries_the_profile():
    sd1, _ = build_messages(EnhanceRequest(idea="a fox", model_family="sd1"))
    sd3, _ = build_messages(EnhanceRequest(idea="a fox", model_family="sd3"))
    turbo, _ = build_messages(EnhanceRequest(idea="a fox", model_family="turbo"))
    flux, _ = build_messages(EnhanceRequest(idea="a fox", model_family="flux"))
    assert "comma-separated list of short tags" in sd1 and "masterpiece" in sd1
    assert "natural-language sentences" in sd3 and "Do not use weight syntax" in " ".join(sd3.split())
    assert "256 tokens" in sd3 and "512 tokens" in flux
    assert "Leave negative_prompt empty" in turbo and "Leave negative_prompt empty" in flux
    assert "Leave negative_prompt empty" not in sd3


def test_an_llm_answer_with_weights_is_conformed_for_a_t5_family(monkeypatch):
    pytest.importorskip("anthropic")
    from enhancers.registry import get_enhancer
    from tests.servers.anthropic_server import AnthropicServer, message_reply

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-0123456789")
    answer = {"prompt": "A photograph of a (red:1.4) kettle on a stove, with ((soft morning light)).",
              "negative_prompt": "blurry", "rationale": "ok"}
    with AnthropicServer() as server:
        server.queue(message_reply(json.dumps(answer)))
        enhancer = get_enhancer("anthropic", base_url=server.url, timeout=5.0, max_retries=0, model="claude-test-1")
        result = enhancer.enhance(EnhanceRequest(idea="a red kettle on a stove", style="photography",
                                                 model_family="sd3"))
        sent = server.requests[0].json()["system"]
    assert "natural-language sentences" in sent  # the profile reached the model
    assert result.prompt == "A photograph of a red kettle on a stove, with soft morning light."
    assert any("weight syntax" in notice for notice in result.notices)


# -- the CLI -----------------------------------------------------------------------------------


def test_cli_family_option_shapes_the_prompt_and_prints_notices():
    runner = CliRunner()
    out = runner.invoke(app, ["enhance", "a red kettle on a stove", "-e", "rules", "--family", "sd3", "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert prompt_form(data["prompt"]) == "prose" and data["token_budget"] == 256
    out = runner.invoke(app, ["enhance", "a red kettle on a stove", "-e", "rules", "--family", "turbo"])
    assert out.exit_code == 0, out.output
    assert "negative:  -" in out.stdout and "note:      turbo / lightning / LCM models run at CFG <= 1" in out.stdout
    out = runner.invoke(app, ["enhance", "a red kettle", "-e", "rules", "--family", "sd5"])
    assert isinstance(out.exception, InputError)
    assert "--family must be auto or one of sd1, sdxl, sd3, flux, turbo, other, got 'sd5'" in str(out.exception)


def test_cli_old_family_values_still_work():
    runner = CliRunner()
    for family, budget in (("sd1", 77), ("sdxl", 77), ("other", 256)):
        out = runner.invoke(app, ["enhance", "a red kettle", "-e", "rules", "--family", family, "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["token_budget"] == budget


# -- generation meets a backend that does not parse weights -----------------------------------


def test_plain_for_backend_converts_only_prompts_with_syntax():
    assert plain_for_backend("a kettle", "blurry", "SD3.5 Large") == ("a kettle", "blurry", [])
    prompt, negative, notices = plain_for_backend("a (red:1.3) kettle", "[blurry]", "SD3.5 Large")
    assert (prompt, negative) == ("a red kettle", "blurry")
    assert notices and notices[0].startswith("SD3.5 Large does not parse A1111 prompt syntax")


def test_bedrock_receives_plain_text_and_the_result_says_so(monkeypatch, tmp_path):
    pytest.importorskip("boto3")
    from generate.base import ImageRequest
    from generate.bedrock_backend import BedrockImageBackend
    from tests.servers.base import ScriptedServer
    from tests.servers.bedrock_invoke import STABLE_IMAGE_MODELS, StabilityInvokeResponder, use_fake_aws

    use_fake_aws(monkeypatch, tmp_path)
    with ScriptedServer(StabilityInvokeResponder()) as server:
        monkeypatch.setenv("PROMPTRAG_BEDROCK_ENDPOINT_URL", server.url)
        result = BedrockImageBackend(STABLE_IMAGE_MODELS[0]).generate(ImageRequest(
            prompt="a (red:1.3) kettle, ((steam))", negative_prompt="(blurry:1.5)", width=1024, height=1024, seed=1))
        body = server.requests[0].json()
    assert body["prompt"] == "a red kettle, steam" and body["negative_prompt"] == "blurry"
    assert result.parameters["prompt"] == "a red kettle, steam"  # what the model was actually sent
    assert "does not parse A1111 prompt syntax" in result.parameters["notices"][0]


def test_diffusers_says_a_negative_prompt_has_no_effect_at_cfg_1(tiny_sd_dir):
    from generate.base import ImageRequest
    from generate.registry import get_image_backend

    backend = get_image_backend("diffusers", model=str(tiny_sd_dir), device="cpu")
    turbo = backend.generate(ImageRequest(prompt="a cat", negative_prompt="blurry", steps=2, guidance=1.0,
                                          width=64, height=64, seed=1))
    assert any("no effect at CFG 1" in notice for notice in turbo.parameters["notices"])
    guided = backend.generate(ImageRequest(prompt="a cat", negative_prompt="blurry", steps=2, guidance=5.0,
                                           width=64, height=64, seed=1))
    assert "notices" not in guided.parameters
    backend.release()


def test_prose_refinement_keeps_the_previous_prompt_and_adds_to_its_sentence():
    previous = "A professional photograph of a fox in the snow, with natural lighting and bright lighting."
    for enhancer in (RULES, GROUNDED):
        result = enhancer.enhance(EnhanceRequest(idea="a fox in the snow", model_family="sd3", n_candidates=2,
                                                 previous_prompt=previous, feedback="moodier, no text"))
        assert result.prompt.startswith("A professional photograph of a fox in the snow, with a moody atmosphere")
        assert "moody atmosphere" in result.prompt and "bright lighting" not in result.prompt
        assert prompt_form(result.prompt) == "prose"
        assert result.negative_prompt.startswith("text, watermark")
        assert len({c.prompt for c in result.candidates}) == 2
