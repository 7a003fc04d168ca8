"""Tiny local language models built offline for tests (no download, no checkpoint in the repo).

`build_tiny_llama(path, chat_template=...)` writes a random-weight Llama-style causal LM
(hidden size 32, 2 layers) plus a word-level tokenizer to `path` with `save_pretrained`, so the
local LLM enhancer can load it through its real transformers code by path. Random weights
write random words from `WORDS`: never valid JSON, always some text.

`tiny_llama_dir(tmp_path_factory, name, chat_template)` builds one per test session and name.

`build_scripted_llama(path, answer)` writes a Llama whose weights are set, not random: a
"bigram machine" that always answers `answer` after the chat template's `<|assistant|>` and then
ends. Each whitespace-separated word of `answer` is one vocabulary entry (the words must be
distinct); embeddings are one-hot, attention and MLP outputs are zero, so the hidden state is the
current token alone and the LM head maps it to the next word with a margin no temperature can
overturn. The real transformers `generate` samples it like any other model.
"""

from __future__ import annotations

import json
from pathlib import Path

WORDS = tuple(
    (
        "a frog knight castle storm sea light dark golden painting photo portrait detailed cinematic "
        "forest dragon city night rain neon old man woman sky cloud fire ice glow misty epic soft sharp"
    ).split()
)
SPECIALS = ("<unk>", "<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
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
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.save(str(path / "tokenizer.json"))
    # transformers 5 ignores some tokenizer constructor arguments: write the config it reads
    # in from_pretrained(dir) instead.
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
    with torch.random.fork_rng(devices=[]):
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


def tiny_llama_dir(tmp_path_factory, name: str, *, chat_template: str | None) -> Path:
    """One tiny model per session and `name` (a directory name the enhancer may recognise)."""
    path = Path(tmp_path_factory.getbasetemp()) / "tiny-models" / name
    if not (path / "config.json").is_file():
        build_tiny_llama(path, chat_template=chat_template)
    return path


def build_scripted_llama(path: Path, answer: str) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM

    words = answer.split()
    if len(set(words)) != len(words):
        raise ValueError(f"a scripted answer needs distinct words: {answer!r}")
    path.mkdir(parents=True, exist_ok=True)
    vocab = {word: i for i, word in enumerate(SPECIALS + tuple(words))}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.save(str(path / "tokenizer.json"))
    (path / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "unk_token": "<unk>", "pad_token": "<pad>", "model_max_length": 4096, "chat_template": CHAT_TEMPLATE,
    }))
    hidden = 8 * (len(vocab) // 8 + 1)  # room for a one-hot embedding per token
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(vocab), hidden_size=hidden, intermediate_size=hidden, num_hidden_layers=1,
        num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=4096, bos_token_id=1,
        eos_token_id=2, pad_token_id=3, tie_word_embeddings=False,
    ))
    successor = {vocab["<|assistant|>"]: vocab[words[0]]}
    successor |= {vocab[a]: vocab[b] for a, b in zip(words, words[1:])}
    successor[vocab[words[-1]]] = vocab["</s>"]
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        for layer in model.model.layers:  # norms stay 1: they only rescale the one-hot state
            layer.input_layernorm.weight.fill_(1.0)
            layer.post_attention_layernorm.weight.fill_(1.0)
        model.model.norm.weight.fill_(1.0)
        model.model.embed_tokens.weight[:, :len(vocab)] = torch.eye(len(vocab))
        for current, following in successor.items():
            model.lm_head.weight[following, current] = 50.0
    model.save_pretrained(path)
    return path
