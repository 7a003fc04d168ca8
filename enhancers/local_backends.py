"""Loading and sampling local language models: GGUF through llama.cpp, others through transformers.

`resolve_key(model, device=..., n_ctx=...)` decides what `model` names (a `.gguf` file, an
`owner/repo:file.gguf` hub file, a local transformers directory or a hub id) and checks local
paths; `load_model(key)` loads it once and keeps it in a process-wide cache keyed by (route,
location, device, context size), so every enhancer object naming the same model shares one
copy. `release_model(key)` drops it and gives the memory back (the image backend needs that
memory for a diffusion model). Loading is serialised by a lock; releasing a model while
another thread samples from it is the caller's mistake (the app releases between requests).

Both routes answer the same `generate(job)` call: a chat job (system + user message, rendered
with the model's own chat template) or a plain-text job (instruction-format models), sampled
`n` times, deterministically when a seed is given.

Deliberately not here: prompt wording (see `prompting.py`), reading the model's answer (see
`llm_output.py`, `local_llm.py`), and any heavy import at module import time.
"""

from __future__ import annotations

import gc
import random
import re
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.devices import dtype_for, free_accelerator_memory, pick_device, validate_device
from core.errors import BackendError, ConfigError, InputError

PIP_HINT = "pip install 'promptrag[local-llm]'"
_HUB_GGUF_RE = re.compile(r"^[\w.-]+/[\w.-]+:[^/\\:]+\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class GenerationJob:
    """One sampling request. Exactly one of `messages` (chat) or `text` (raw prompt) is set."""

    max_new_tokens: int
    temperature: float
    seed: int
    n: int = 1
    messages: tuple[tuple[str, str], ...] = ()
    text: str | None = None
    stop: tuple[str, ...] = ()
    # JSON schema the answer must follow; llama.cpp enforces it with a grammar while sampling,
    # transformers ignores it (its answer is still parsed and validated afterwards).
    json_schema: dict[str, Any] | None = None


@dataclass
class Generation:
    texts: list[str]
    new_tokens: int
    seconds: float
    stop_reasons: list[str] = field(default_factory=list)  # per text: "stop" or "length" (cut off)


@dataclass(frozen=True)
class ModelKey:
    route: str  # "gguf" | "transformers"
    location: str
    device: str
    n_ctx: int
    filename: str = ""


class LocalModel(ABC):
    """A loaded model. Subclasses implement `generate`; `close` frees native memory."""

    def __init__(self, key: ModelKey) -> None:
        self.key = key
        self.has_chat_template = False

    @abstractmethod
    def generate(self, job: GenerationJob) -> Generation:
        """Sample `job.n` continuations of the job's chat or text prompt."""

    def close(self) -> None:  # noqa: B027 (an optional hook: a no-op unless overridden)
        """Free what the model holds outside Python's garbage collector (no-op by default)."""


def _too_long(tokens: int, key: ModelKey, room: int) -> BackendError:
    return BackendError(
        f"the prompt for local model {key.location!r} is {tokens} tokens, which with {room} new "
        f"tokens exceeds its context window n_ctx={key.n_ctx}; use fewer or shorter examples or "
        "raise n_ctx"
    )


# --------------------------------------------------------------------------------------------
# llama.cpp (GGUF)


class GGUFModel(LocalModel):
    def __init__(self, key: ModelKey, llm: Any) -> None:
        super().__init__(key)
        self.llm = llm
        self.has_chat_template = bool((llm.metadata or {}).get("tokenizer.chat_template"))

    @classmethod
    def load(cls, key: ModelKey) -> "GGUFModel":
        llama_cpp = _import("llama_cpp", "llama-cpp-python")
        gpu_layers = 0 if key.device == "cpu" else -1
        common = {"n_ctx": key.n_ctx, "n_gpu_layers": gpu_layers, "verbose": False}
        try:
            if key.filename:  # owner/repo:file.gguf — fetched through huggingface_hub (online only)
                llm = llama_cpp.Llama.from_pretrained(repo_id=key.location, filename=key.filename, **common)
            else:
                llm = llama_cpp.Llama(model_path=key.location, **common)
        except (ValueError, RuntimeError, OSError) as exc:
            where = f"{key.location}:{key.filename}" if key.filename else key.location
            raise ConfigError(
                f"llama.cpp could not load GGUF model {where!r} ({exc}); check that it is a complete "
                "GGUF file (re-download it if truncated), or, for a hub file, that you are online"
            ) from None
        return cls(key, llm)

    def generate(self, job: GenerationJob) -> Generation:
        started = time.perf_counter()
        texts: list[str] = []
        reasons: list[str] = []
        new_tokens = 0
        for i in range(job.n):
            common = {
                "max_tokens": job.max_new_tokens,
                "temperature": job.temperature,
                "seed": job.seed + i,
                "stop": list(job.stop) or None,
            }
            try:
                if job.text is not None:
                    out = self.llm.create_completion(prompt=job.text, **common)
                    text = out["choices"][0]["text"]
                else:
                    messages = [{"role": role, "content": content} for role, content in job.messages]
                    if job.json_schema is not None:
                        common["response_format"] = {"type": "json_object", "schema": job.json_schema}
                    out = self.llm.create_chat_completion(messages=messages, **common)
                    text = out["choices"][0]["message"]["content"] or ""
            except ValueError as exc:  # llama.cpp: "Requested tokens (N) exceed context window"
                found = re.search(r"\((\d+)\)", str(exc))
                if found and "context window" in str(exc):
                    raise _too_long(int(found.group(1)), self.key, job.max_new_tokens) from None
                raise BackendError(f"llama.cpp failed on model {self.key.location!r}: {exc}") from None
            texts.append(text)
            reasons.append(out["choices"][0].get("finish_reason") or "stop")
            new_tokens += int(out.get("usage", {}).get("completion_tokens", 0))
        return Generation(texts, new_tokens, time.perf_counter() - started, reasons)

    def close(self) -> None:
        closer = getattr(self.llm, "close", None)
        if closer is not None:
            closer()


# --------------------------------------------------------------------------------------------
# transformers


class TransformersModel(LocalModel):
    def __init__(self, key: ModelKey, model: Any, tokenizer: Any) -> None:
        super().__init__(key)
        self.model = model
        self.tokenizer = tokenizer
        self.has_chat_template = bool(getattr(tokenizer, "chat_template", None))

    @classmethod
    def load(cls, key: ModelKey) -> "TransformersModel":
        transformers = _import("transformers", "transformers")

        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(key.location)
            model = transformers.AutoModelForCausalLM.from_pretrained(key.location, dtype=dtype_for(key.device))
        except OSError as exc:  # not on disk, not in the HF cache while offline, unknown hub id
            raise ConfigError(
                f"transformers could not load model {key.location!r}: {_first_line(exc)}. Pass a local "
                "model directory or a .gguf file, or go online (unset HF_HUB_OFFLINE) so the hub id "
                "can be downloaded once"
            ) from None
        except (ValueError, KeyError) as exc:  # not a causal LM, unknown architecture
            raise ConfigError(
                f"{key.location!r} is not a causal language model transformers can load "
                f"({_first_line(exc)}); pass a chat/instruct model such as Qwen/Qwen2.5-3B-Instruct"
            ) from None
        model.to(key.device)
        model.eval()
        if tokenizer.pad_token_id is None:  # many causal LMs ship without one; generate() needs it
            tokenizer.pad_token = tokenizer.eos_token
        return cls(key, model, tokenizer)

    def _render_chat(self, job: GenerationJob) -> str:
        from jinja2 import TemplateError  # transformers renders chat templates with jinja2

        messages = [{"role": role, "content": content} for role, content in job.messages]
        try:
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        except TemplateError:  # e.g. Gemma-style templates that reject a system role
            if len(messages) < 2:
                raise
            merged = [{"role": "user", "content": "\n\n".join(m["content"] for m in messages)}]
            return self.tokenizer.apply_chat_template(merged, tokenize=False, add_generation_prompt=True)

    def _stop_on_text(self, stop: tuple[str, ...], prompt_len: int) -> Any:
        # Decoding the new tokens works for every tokenizer; transformers' own `stop_strings`
        # assumes BPE-style vocabularies and fails on word-level ones.
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList

        tokenizer = self.tokenizer

        class StopOnText(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                texts = tokenizer.batch_decode(input_ids[:, prompt_len:], skip_special_tokens=True)
                done = [any(marker in text for marker in stop) for text in texts]
                return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

        return StoppingCriteriaList([StopOnText()])

    def generate(self, job: GenerationJob) -> Generation:
        import torch

        started = time.perf_counter()
        prompt = job.text if job.text is not None else self._render_chat(job)
        add_special = job.text is not None  # chat templates already carry their special tokens
        enc = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=add_special)
        prompt_len = int(enc["input_ids"].shape[1])
        if prompt_len + job.max_new_tokens > self.key.n_ctx:
            raise _too_long(prompt_len, self.key, job.max_new_tokens)
        enc = {name: tensor.to(self.model.device) for name, tensor in enc.items()}
        options: dict[str, Any] = {
            "max_new_tokens": job.max_new_tokens,
            "do_sample": job.temperature > 0,
            "num_return_sequences": job.n,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if job.temperature > 0:
            options.update(temperature=job.temperature, top_p=0.95)
        if job.stop:
            options["stopping_criteria"] = self._stop_on_text(job.stop, prompt_len)
        fork = [torch.device(self.key.device).index or 0] if self.key.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=fork), torch.inference_mode():
            torch.manual_seed(job.seed)  # seeds CPU and CUDA generators inside the fork only
            output = self.model.generate(**enc, **options)
        new = output[:, prompt_len:]
        ends = {self.tokenizer.pad_token_id, self.tokenizer.eos_token_id} - {None}
        if ends:
            ended = torch.isin(new, torch.tensor(sorted(ends), device=new.device))
        else:
            ended = torch.zeros_like(new, dtype=torch.bool)
        new_tokens = int((~ended).sum())
        texts = [self.tokenizer.decode(row, skip_special_tokens=True) for row in new]
        # A row that used every allowed token without an end token was cut off.
        reasons = [
            "length" if new.shape[1] >= job.max_new_tokens and not bool(row.any()) else "stop" for row in ended
        ]
        return Generation(texts, new_tokens, time.perf_counter() - started, reasons)


# --------------------------------------------------------------------------------------------
# resolving, caching, releasing

_CACHE: dict[ModelKey, LocalModel] = {}
_LOCK = threading.Lock()


@dataclass
class LoadReport:
    model: LocalModel
    load_s: float
    loaded_now: bool = field(default=False)


def resolve_key(model: str, *, device: str | None, n_ctx: int) -> ModelKey:
    """Decide the route for `model` and check that a local file/directory really is one."""
    text = model.strip()
    if not text:
        raise InputError("model must name a Hugging Face model id, a model directory or a .gguf file, got ''")
    wanted = validate_device(device)
    path = Path(text).expanduser()
    if text.lower().endswith(".gguf"):
        if not path.exists() and _HUB_GGUF_RE.match(text):
            repo, _, filename = text.partition(":")
            return ModelKey("gguf", repo, _gguf_device(wanted), n_ctx, filename)
        if not path.is_file():
            raise ConfigError(
                f"GGUF model file not found: {text!r}; check the path, or download the file first "
                "(e.g. huggingface-cli download OWNER/REPO FILE.gguf)"
            )
        return ModelKey("gguf", str(path.resolve()), _gguf_device(wanted), n_ctx)
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(p.name for p in path.glob("*.gguf"))
            hint = f"pass the .gguf file itself, e.g. {path / ggufs[0]}" if ggufs else (
                "pass a directory written by save_pretrained() (config.json, weights, tokenizer files)"
            )
            raise ConfigError(f"model directory {text!r} has no config.json, so it is not a transformers model; {hint}")
        location = str(path.resolve())
    elif text.startswith(("/", "./", "../", "~", "\\")) or re.match(r"^[A-Za-z]:[\\/]", text):
        raise ConfigError(f"model directory not found: {text!r}; check the path")
    else:
        location = text  # a hub id such as Qwen/Qwen2.5-3B-Instruct

    return ModelKey("transformers", location, pick_device(wanted), n_ctx)


def _gguf_device(wanted: str | None) -> str:
    if wanted == "cpu":
        return "cpu"
    llama_cpp = _import("llama_cpp", "llama-cpp-python")
    gpu = bool(llama_cpp.llama_supports_gpu_offload())
    if wanted is not None and not gpu:
        raise ConfigError(
            f"device {wanted!r} was asked for but this llama-cpp-python build has no GPU support; use "
            "device='cpu' or reinstall it with CMAKE_ARGS='-DGGML_CUDA=on' (or -DGGML_METAL=on)"
        )
    return "gpu" if gpu else "cpu"


def load_model(key: ModelKey) -> LoadReport:
    """The cached model for `key`, loading it on first use (one load at a time per process)."""
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return LoadReport(cached, 0.0)
        started = time.perf_counter()
        loaded = GGUFModel.load(key) if key.route == "gguf" else TransformersModel.load(key)
        _CACHE[key] = loaded
        return LoadReport(loaded, time.perf_counter() - started, loaded_now=True)


def cached_keys() -> list[ModelKey]:
    with _LOCK:
        return list(_CACHE)


def release_model(key: ModelKey | None = None) -> int:
    """Drop the cached model for `key` (all models when None); returns how many were dropped."""
    with _LOCK:
        keys = list(_CACHE) if key is None else [k for k in (key,) if k in _CACHE]
        dropped = [_CACHE.pop(k) for k in keys]
    if not dropped:
        return 0
    devices = {loaded.key.device for loaded in dropped}
    while dropped:  # pop so no loop variable keeps the last model alive
        dropped.pop().close()
    gc.collect()
    accelerators = devices - {"cpu", "gpu"}
    if accelerators:
        for device in accelerators:
            free_accelerator_memory(device)
    return len(keys)


def random_seed() -> int:
    return random.randrange(2**31 - 1)


def _import(module: str, package: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(
            f"the local LLM enhancer needs {package}, which is not installed; run {PIP_HINT}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
