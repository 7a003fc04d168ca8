"""The local LLM enhancer (registered as "local"): a chat model or a text-to-prompt model on this machine.

`model` may be a Hugging Face chat model id (Qwen/Qwen2.5-3B-Instruct, the default from
settings), a local transformers directory, a `.gguf` file run through llama.cpp, or an
`owner/repo:file.gguf` hub file. Two kinds of model are handled:

* chat models: the shared templates (`prompting.build_messages`) are rendered with the model's
  own chat template and the answer is read by `llm_output.parse_with_stop_reason`; a small
  model that writes no usable JSON (or echoes a template placeholder) raises BackendError, so
  the fallback chain moves on to the rules. For GGUF models llama.cpp also constrains the
  answer to the JSON schema with a grammar (`json_mode`, on by default).
* instruction-format text-to-prompt models (e.g. alibaba-pai/pai-bloom-1b1-text2prompt-sd),
  recognised by name in `INSTRUCTION_FORMATS` or by having no chat template: the idea (plus the
  style when one is chosen) is put in the model's training format and the raw text it writes
  is the prompt; for several candidates the model is sampled several times. These models were
  not trained with examples or feedback, so they ignore both; their negative prompt is the
  rule-based one for the style.

Models are loaded on first use and shared through a process-wide cache (see
`local_backends.py`); `release()` drops this enhancer's model and returns its memory. Creativity
maps to temperature through `prompting.temperature_for`; a seed makes the output repeatable.

Deliberately not here: prompt wording (templates), JSON extraction (`llm_output.py`), choosing
which enhancer runs (`chain.py`), and any download at import time or in tests.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.devices import validate_device
from core.errors import BackendError
from core.settings import Settings, get_settings
from core.status import importable, model_location
from core.validation import validated
from enhancers.base import Candidate, Enhancer, EnhanceRequest, EnhanceResult
from enhancers.llm_output import parse_with_stop_reason, result_style
from enhancers.local_backends import (
    Generation,
    GenerationJob,
    LoadReport,
    LocalModel,
    ModelKey,
    load_model,
    random_seed,
    release_model,
    resolve_key,
)
from enhancers.prompting import CONCRETE_STYLES, build_messages, temperature_for
from enhancers.rules import choose_style
from enhancers.styles import STYLE_SPECS

PAI_BLOOM_FORMAT = (
    "Instruction: Give a simple description of the image to generate a drawing prompt.\n"
    "Input: {idea}\nOutput:"
)


_MAX_SAMPLING_ROUNDS = 3
_PLACEHOLDER_RE = re.compile(
    r"\{\{.*?\}\}|\$\{?[a-z_]+\}?|</?(idea|example|examples)\b"
    r"|\[(example|your|insert|response)\b[^\]]*\]|\[prompt\]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class InstructionFormat:
    """How a non-chat text-to-prompt model expects its input, and how to read its output."""

    template: str  # with an {idea} placeholder
    keep_input: bool = False  # continuation models: the prompt is the input plus what they add
    stop: tuple[str, ...] = ("\n", "Instruction:", "Input:")


INSTRUCTION_FORMATS: dict[str, InstructionFormat] = {
    "alibaba-pai/pai-bloom-1b1-text2prompt-sd": InstructionFormat(PAI_BLOOM_FORMAT),
    "alibaba-pai/pai-bloom-1b1-text2prompt-sd-v2": InstructionFormat(PAI_BLOOM_FORMAT),
    "gustavosta/magicprompt-stable-diffusion": InstructionFormat("{idea}", keep_input=True, stop=("\n",)),
    "succinctly/text2image-prompt-generator": InstructionFormat("{idea}", keep_input=True, stop=("\n",)),
}
# Used for any model whose tokenizer has no chat template and whose name is not in the table.
DEFAULT_INSTRUCTION_FORMAT = InstructionFormat(PAI_BLOOM_FORMAT)


def instruction_format_for(model: str) -> InstructionFormat | None:
    """The table entry for a hub id, or for a local directory / .gguf file named after one."""
    text = model.strip().lower()
    if text in INSTRUCTION_FORMATS:
        return INSTRUCTION_FORMATS[text]
    name = Path(text.split(":")[-1]).name
    for known in sorted(INSTRUCTION_FORMATS, key=len, reverse=True):
        base = known.split("/")[-1]
        if name == base or name.startswith((base + ".", base + "-")):
            return INSTRUCTION_FORMATS[known]
    return None


class LocalLLMOptions(BaseModel):
    """Options of the local LLM enhancer (also the CLI / settings-page help)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        None, description="Hugging Face chat model id, local model directory or .gguf file (default: settings)."
    )
    device: str | None = Field(None, description="auto (CUDA → MPS → CPU), cpu, cuda, cuda:N or mps.")
    max_new_tokens: int = Field(200, ge=1, le=4096, description="Most tokens the model may write per call.")
    n_ctx: int = Field(2048, ge=256, le=131_072, description="Context window in tokens (prompt + answer).")
    seed: int | None = Field(None, ge=0, description="Sampling seed; the same seed gives the same prompt.")
    json_mode: bool = Field(
        True, description="Constrain a GGUF chat model's answer to the JSON format with a llama.cpp grammar."
    )

    @field_validator("model")
    @classmethod
    def _model_not_blank(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("model must name a model id, a directory or a .gguf file, got an empty string")
        return value


class LocalLLMEnhancer(Enhancer):
    """Enhance with a model running in this process (transformers or llama.cpp)."""

    name: ClassVar[str] = "local"
    supports_examples: ClassVar[bool] = True
    uses_network: ClassVar[bool] = False
    thread_safe: ClassVar[bool] = False  # one model in memory: calls take turns

    @classmethod
    def status(cls, settings: Settings) -> tuple[bool, str]:
        model = settings.local_llm_model
        modules = ("llama_cpp",) if model.lower().endswith(".gguf") else ("transformers", "torch")
        missing = [module for module in modules if not importable(module)]
        if missing:
            return False, f"install {', '.join(missing)}: pip install 'promptrag[local-llm]'"
        where = model_location(model, "config.json")
        if where is None:
            repo, _, filename = model.partition(":")
            download = " ".join(part for part in ("huggingface-cli download", repo, filename) if part)
            return False, (f"model {model!r} is not on this machine: set PROMPTRAG_LOCAL_LLM_MODEL to a local "
                           f".gguf file or model directory, or download it first ({download})")
        return True, f"{model} ({where})"

    def __init__(
        self,
        model: str | None = None,
        *,
        device: str | None = None,
        max_new_tokens: int = 200,
        n_ctx: int = 2048,
        seed: int | None = None,
        json_mode: bool = True,
    ) -> None:
        options = validated(LocalLLMOptions, "local LLM options", model=model, device=device,
                            max_new_tokens=max_new_tokens, n_ctx=n_ctx, seed=seed, json_mode=json_mode)

        validate_device(options.device)  # fail now on a typo, not at the first enhance()
        if options.model is None:
            options = options.model_copy(update={"model": get_settings().local_llm_model})
        self.options = options
        self._key: ModelKey | None = None  # resolved on first use: resolving may import torch
        self.last_generation: Generation | None = None  # for benchmarks and debugging

    def __repr__(self) -> str:
        return f"LocalLLMEnhancer(model={self.options.model!r}, device={self.options.device!r})"

    @property
    def model(self) -> str:
        return self.options.model or ""

    def load(self) -> LoadReport:
        """Load (or find in the cache) this enhancer's model; raises ConfigError with the fix."""
        if self._key is None:
            self._key = resolve_key(self.model, device=self.options.device, n_ctx=self.options.n_ctx)
        return load_model(self._key)

    def release(self) -> None:
        """Drop this enhancer's model from the shared cache and give its memory back."""
        if self._key is not None:
            release_model(self._key)

    def _enhance(self, request: EnhanceRequest) -> EnhanceResult:
        started = time.perf_counter()
        # 1. load the model (cached after the first call)
        report = self.load()
        loaded = report.model
        # 2. chat model (shared templates, JSON answer) or instruction-format model (raw text)?
        fmt = instruction_format_for(self.model)
        if fmt is None and not loaded.has_chat_template:
            fmt = DEFAULT_INSTRUCTION_FORMAT
        # 3. sample and 4. read the candidates out of the text
        if fmt is not None:
            candidates, generation = self._instruction_candidates(loaded, request, fmt)
            style = choose_style(request)[0]
        else:
            generation = self.last_generation = loaded.generate(self._chat_job(request))
            prompts = self._chat_prompts(request, generation)
            candidates = [prompt.to_candidate() for prompt in prompts]
            style = result_style(request, prompts)
        # 5. the result, with where the time went
        timings = {"load_s": report.load_s, "generate_s": generation.seconds}
        if generation.seconds > 0:
            timings["tokens_per_s"] = generation.new_tokens / generation.seconds
        return self.make_result(request, candidates, style=style, started=started, timings=timings)

    # ---------------------------------------------------------------------------------------

    def _sampling(self, request: EnhanceRequest, round_: int = 0) -> dict:
        seed = self.options.seed if self.options.seed is not None else random_seed()
        return {
            "max_new_tokens": self.options.max_new_tokens,
            "temperature": temperature_for(request.creativity),
            "seed": seed + 1000 * round_,
        }

    def _chat_job(self, request: EnhanceRequest) -> GenerationJob:
        system, user = build_messages(request)
        schema = answer_schema(
            request.n_candidates, with_style=request.style == "auto", token_budget=request.token_budget
        )
        return GenerationJob(
            messages=(("system", system), ("user", user)),
            n=1,
            json_schema=schema if self.options.json_mode else None,
            **self._sampling(request),
        )

    def _chat_prompts(self, request: EnhanceRequest, generation: Generation) -> list:
        hint = "a larger instruct model (e.g. Qwen/Qwen2.5-3B-Instruct) follows the format better"
        stop_reason = generation.stop_reasons[0] if generation.stop_reasons else None
        try:
            prompts = parse_with_stop_reason(generation.texts[0], request.n_candidates, stop_reason, self.model)
        except BackendError as exc:
            raise BackendError(f"local model {self.model!r} gave no usable prompt: {exc}; {hint}") from None
        kept = [p for p in prompts if unusable_reason(p.prompt, request.idea) is None]
        if not kept:
            why = unusable_reason(prompts[0].prompt, request.idea)
            raise BackendError(f"local model {self.model!r} {why} ({prompts[0].prompt[:80]!r}); {hint}")
        negative = negative_prompt_for(request)
        return [
            p.model_copy(update={"negative_prompt": negative})
            if not p.negative_prompt or _PLACEHOLDER_RE.search(p.negative_prompt)
            else p
            for p in kept
        ]

    def _instruction_candidates(
        self, loaded: LocalModel, request: EnhanceRequest, fmt: InstructionFormat
    ) -> tuple[list[Candidate], Generation]:
        text = fmt.template.format(idea=_instruction_input(request))
        prompts: list[str] = []
        total = Generation([], 0, 0.0)
        # Sampling may repeat itself (low temperature, confident model): sample again for the rest.
        for round_ in range(_MAX_SAMPLING_ROUNDS):
            wanted = request.n_candidates - len(prompts)
            if wanted <= 0:
                break
            job = GenerationJob(text=text, n=wanted, stop=fmt.stop, **self._sampling(request, round_))
            generation = loaded.generate(job)
            total = Generation(
                total.texts + generation.texts,
                total.new_tokens + generation.new_tokens,
                total.seconds + generation.seconds,
                total.stop_reasons + generation.stop_reasons,
            )
            self.last_generation = total
            for raw in generation.texts:
                prompt = clean_instruction_output(raw, fmt.stop)
                if fmt.keep_input and prompt:
                    prompt = f"{_instruction_input(request)} {prompt}"
                if prompt and prompt not in prompts:
                    prompts.append(prompt)
        if not prompts:
            raise BackendError(
                f"local model {self.model!r} wrote no prompt text after its instruction "
                f"(raw output: {total.texts[:1]!r}); try a higher creativity or another model"
            )
        negative = negative_prompt_for(request)
        return [Candidate(prompt=p, negative_prompt=negative) for p in prompts], total


def answer_schema(n: int, *, with_style: bool = False, token_budget: int = 77) -> dict:
    """JSON schema of the answer the templates ask for: one object, or an array of `n` of them.

    String lengths are capped (about 4 characters per prompt token, i.e. what fits the text
    encoder) so that a small model under the grammar closes its strings instead of rambling
    until it runs out of tokens.
    """
    properties: dict = {
        "prompt": {"type": "string", "minLength": 1, "maxLength": min(1000, 4 * token_budget)},
        "negative_prompt": {"type": "string", "maxLength": 200},
        "rationale": {"type": "string", "maxLength": 120},
    }
    if with_style:
        properties["style"] = {"type": "string", "enum": list(CONCRETE_STYLES)}
    item = {"type": "object", "properties": properties, "required": list(properties)}
    if n == 1:
        return item
    return {"type": "array", "items": item, "minItems": n, "maxItems": n}


def negative_prompt_for(request: EnhanceRequest) -> str:
    """Instruction models write no negative prompt: use the rules' one for the (detected) style."""
    return ", ".join(STYLE_SPECS[choose_style(request)[0]].negative)


def unusable_reason(prompt: str, idea: str) -> str | None:
    """Why a parsed prompt is no use (None when it is fine).

    Small models under a JSON grammar sometimes fill the fields with template placeholders, or
    hand the idea back unchanged; the rule-based enhancer, which adds descriptors, does better.
    """
    if _PLACEHOLDER_RE.search(prompt):
        return "echoed a template placeholder instead of a prompt"
    if _normalized(prompt) == _normalized(idea):
        return "returned the idea unchanged as its prompt"
    return None


def _normalized(text: str) -> str:
    return " ".join(text.lower().split()).strip(" .,;:!\"'")


def _instruction_input(request: EnhanceRequest) -> str:
    idea = " ".join(request.idea.split())
    return idea if request.style == "auto" else f"{idea}, {request.style}"


def clean_instruction_output(text: str, stop: tuple[str, ...] = ()) -> str:
    """The prompt in an instruction model's raw continuation: first line, trimmed of quotes/commas."""
    cut = text.lstrip()  # a leading newline is not the end of the answer
    for marker in stop:
        if marker and marker in cut:
            cut = cut.split(marker, 1)[0]
    cut = re.sub(r"^\s*Output:\s*", "", cut)
    cut = " ".join(cut.split())
    return cut.strip(" ,;\"'`")


def release_all() -> int:
    """Drop every cached local model (all enhancers); returns how many were dropped."""
    return release_model(None)
