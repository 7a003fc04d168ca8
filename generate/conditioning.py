"""Parsed prompts → text embeddings for SD 1.x/2.x and SDXL pipelines (weights, long, timed).

Recipe (AUTOMATIC1111's, written small):
1. ``prompt_schedule`` resolves timed prompts into a few plain weighted prompts;
2. each is split into weighted fragments, tokenised per fragment with the pipeline's CLIP
   tokenizer(s) and cut into 75-token windows (``BREAK`` closes a window early);
3. each window becomes ``BOS + tokens + EOS + padding`` (77 ids, laid out exactly like
   diffusers' own tokenisation, so an unweighted short prompt gives diffusers' embeddings) and
   is encoded; windows are concatenated along the sequence axis;
4. weights scale token embeddings, then the window's original mean is restored;
5. every prompt of the schedule (positive and negative) is padded with empty windows to one
   length, because the UNet sees ``[negative, positive]`` as one batch.

SDXL: ``prompt_embeds`` is the concat of both encoders' penultimate hidden states and the pooled
embedding comes from encoder 2 (first window), as in diffusers' ``encode_prompt``.
Timed prompts switch the conditioning during denoising through ``callback_on_step_end``
(the "dynamic fine-control prompt" of arXiv 2404.04095).

Deliberately not here: textual inversion, LoRA scaling, clip-skip, A1111's "cut at the last
comma" heuristic, and pipelines other than SD / SDXL (callers reject syntax for those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.errors import InputError
from generate.prompt_syntax import BREAK_FRAGMENT, Fragment, has_syntax, parse_weights, prompt_schedule

WINDOW = 75  # tokens per chunk, plus BOS and EOS = CLIP's 77
MAX_WINDOWS = 20  # 1500 tokens: far beyond any useful prompt, still cheap for the UNet


def pipeline_family(pipe: Any) -> str | None:
    """"sdxl", "sd" (1.x / 2.x) or None for pipelines this module cannot condition."""
    if getattr(pipe, "text_encoder_2", None) is not None and getattr(pipe, "tokenizer_2", None) is not None:
        return "sdxl"
    if getattr(pipe, "text_encoder", None) is not None and type(pipe.text_encoder).__name__.startswith("CLIP"):
        return "sd"
    return None


def _encoders(pipe: Any) -> list[tuple[Any, Any]]:
    pairs = [(getattr(pipe, "tokenizer", None), getattr(pipe, "text_encoder", None))]
    if pipeline_family(pipe) == "sdxl":
        pairs.append((pipe.tokenizer_2, pipe.text_encoder_2))
    return [(tok, enc) for tok, enc in pairs if tok is not None and enc is not None]


def needs_conditioning(pipe: Any, prompt: str, negative_prompt: str) -> bool:
    """True when the prompts use syntax or exceed one 75-token window (else diffusers does it)."""
    if has_syntax(prompt) or has_syntax(negative_prompt):
        return True
    for tokenizer, _ in _encoders(pipe):
        for text in (prompt, negative_prompt):
            if len(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]) > WINDOW:
                return True
    return False


def token_windows(tokenizer: Any, fragments: list[Fragment]) -> list[tuple[list[int], list[float]]]:
    """Cut weighted fragments into windows of at most 75 (token id, weight) pairs."""
    windows: list[tuple[list[int], list[float]]] = []
    ids: list[int] = []
    weights: list[float] = []
    for frag in fragments:
        if frag is BREAK_FRAGMENT:
            windows.append((ids, weights))
            ids, weights = [], []
            continue
        for token in tokenizer(frag.text, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]:
            if len(ids) == WINDOW:
                windows.append((ids, weights))
                ids, weights = [], []
            ids.append(token)
            weights.append(frag.weight)
    if ids or not windows:
        windows.append((ids, weights))
    return windows


def _window_ids(tokenizer: Any, ids: list[int], weights: list[float]) -> tuple[list[int], list[float]]:
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    filler = WINDOW - len(ids)
    full = [tokenizer.bos_token_id, *ids, tokenizer.eos_token_id] + [pad] * filler
    return full, [1.0, *weights, 1.0] + [1.0] * filler


def _encode(device: Any, tokenizer: Any, encoder: Any, windows, penultimate: bool, n_windows: int):
    """Hidden states (1, n_windows*77, dim) and pooled output (1, dim) of the first window."""
    import torch

    windows = list(windows) + [([], [])] * (n_windows - len(windows))
    rows = [_window_ids(tokenizer, ids, weights) for ids, weights in windows]
    input_ids = torch.tensor([r[0] for r in rows], device=device)
    with torch.no_grad():
        out = encoder(input_ids, output_hidden_states=True)
    hidden = out.hidden_states[-2] if penultimate else out[0]
    weights = torch.tensor([r[1] for r in rows], device=device, dtype=hidden.dtype)
    if bool((weights != 1.0).any()):
        # A1111: scale token embeddings, then restore each window's original mean.
        original_mean = hidden.float().mean(dim=(1, 2), keepdim=True)
        hidden = hidden * weights.unsqueeze(-1)
        new_mean = hidden.float().mean(dim=(1, 2), keepdim=True)
        # A mean of ~0 (possible after a final LayerNorm without bias) cannot be restored.
        usable = (new_mean.abs() > 1e-6) & (original_mean.abs() > 1e-6)
        scale = torch.where(usable, original_mean / torch.where(usable, new_mean, 1.0), 1.0)
        hidden = (hidden.float() * scale).to(hidden.dtype)
    pooled = out[0][:1] if out[0].ndim == 2 else None
    return hidden.reshape(1, -1, hidden.shape[-1]), pooled


@dataclass
class Embeds:
    """One prompt's conditioning: (1, seq, dim) embeddings and, for SDXL, (1, dim) pooled."""

    embeds: Any
    pooled: Any = None


def encode_prompts(pipe: Any, texts: list[str], device: Any = None) -> list[Embeds]:
    """Embeddings of weighted (not timed) prompts, all padded to the same number of windows.

    ``device`` defaults to the pipeline's execution device (costly to look up: pass it if known).
    """
    import torch

    family = pipeline_family(pipe)
    if family is None:
        raise InputError(
            f"prompt weights and long prompts need an SD 1.x/2.x or SDXL pipeline; "
            f"{type(pipe).__name__} is not one (remove the ( ) [ ] syntax or pick another model)"
        )
    encoders = _encoders(pipe)
    fragments = [parse_weights(text) for text in texts]
    windows = [[token_windows(tok, frags) for tok, _ in encoders] for frags in fragments]
    n_windows = max(len(w) for per_text in windows for w in per_text)
    if n_windows > MAX_WINDOWS:
        raise InputError(
            f"prompt too long: it needs {n_windows} windows of {WINDOW} tokens; at most {MAX_WINDOWS} "
            f"({MAX_WINDOWS * WINDOW} tokens) are accepted, shorten the prompt"
        )
    device = device if device is not None else pipe._execution_device
    result = []
    for per_text in windows:
        hidden, pooled = [], None
        for (tok, enc), wins in zip(encoders, per_text):
            h, pooled = _encode(device, tok, enc, wins, penultimate=family == "sdxl", n_windows=n_windows)
            hidden.append(h)
        result.append(Embeds(torch.cat(hidden, dim=-1), pooled if family == "sdxl" else None))
    return result


@dataclass
class PromptConditioning:
    """Per-step conditioning for one request; ``pipeline_kwargs`` and ``callback`` plug into a pipeline."""

    until_steps: list[int]
    positive: list[Embeds]
    negative: list[Embeds]
    switched_at: list[int] = field(default_factory=list)  # UNet evaluations (0-based) that got new embeds

    def index_for_step(self, step: int) -> int:
        return next(k for k, until in enumerate(self.until_steps) if step <= until)

    def pipeline_kwargs(self) -> dict[str, Any]:
        pos, neg = self.positive[0], self.negative[0]
        kwargs = {"prompt_embeds": pos.embeds, "negative_prompt_embeds": neg.embeds}
        if pos.pooled is not None:
            kwargs |= {"pooled_prompt_embeds": pos.pooled, "negative_pooled_prompt_embeds": neg.pooled}
        if len(self.until_steps) > 1:
            inputs = ["prompt_embeds"] + (["add_text_embeds"] if pos.pooled is not None else [])
            kwargs |= {"callback_on_step_end": self.callback, "callback_on_step_end_tensor_inputs": inputs}
        return kwargs

    def callback(self, pipe: Any, i: int, t: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        """Called after UNet evaluation ``i``; installs the next evaluation's conditioning.

        Second-order samplers (Heun, DPM2) evaluate the UNet about twice per step and PNDM once
        more in all, so evaluation ``j`` of ``n`` belongs to 1-based step ``j * steps // n + 1``.
        """
        import torch

        steps, evaluations = self.until_steps[-1], len(pipe.scheduler.timesteps)
        if i + 1 >= evaluations:
            return {}
        k = self.index_for_step((i + 1) * steps // evaluations + 1)
        if k == self.index_for_step(i * steps // evaluations + 1):
            return {}
        self.switched_at.append(i + 1)
        current = tensors["prompt_embeds"]
        # With CFG the pipeline feeds the UNet torch.cat([negative, positive]) over the batch.
        cfg = bool(getattr(pipe, "do_classifier_free_guidance", False))
        n = current.shape[0] // (2 if cfg else 1)

        def batch(pos: Any, neg: Any, like: Any) -> Any:
            parts = ([neg.repeat(n, *[1] * (neg.ndim - 1))] if cfg else []) + [pos.repeat(n, *[1] * (pos.ndim - 1))]
            return torch.cat(parts).to(device=like.device, dtype=like.dtype)

        out = {"prompt_embeds": batch(self.positive[k].embeds, self.negative[k].embeds, current)}
        if "add_text_embeds" in tensors and self.positive[k].pooled is not None:
            out["add_text_embeds"] = batch(self.positive[k].pooled, self.negative[k].pooled, tensors["add_text_embeds"])
        return out


def build_conditioning(
    pipe: Any, prompt: str, negative_prompt: str, steps: int, device: Any = None
) -> PromptConditioning:
    """Resolve timed prompts for ``steps`` steps and encode every distinct prompt once."""
    import torch

    pos_schedule = prompt_schedule(prompt, steps)
    neg_schedule = prompt_schedule(negative_prompt, steps) if negative_prompt else [(steps, "")]
    until_steps = sorted({u for u, _ in pos_schedule} | {u for u, _ in neg_schedule})

    def text_at(schedule: list[tuple[int, str]], step: int) -> str:
        return next(text for until, text in schedule if step <= until)

    pos_texts = [text_at(pos_schedule, u) for u in until_steps]
    neg_texts = [text_at(neg_schedule, u) for u in until_steps]
    distinct = list(dict.fromkeys(pos_texts + neg_texts))
    encoded = dict(zip(distinct, encode_prompts(pipe, distinct, device)))
    negative = [encoded[t] for t in neg_texts]
    if not negative_prompt and getattr(pipe.config, "force_zeros_for_empty_prompt", False):
        # SDXL's convention (as in diffusers): an empty negative prompt is all zeros.
        zeros = Embeds(torch.zeros_like(negative[0].embeds), torch.zeros_like(negative[0].pooled))
        negative = [zeros] * len(until_steps)
    return PromptConditioning(until_steps, [encoded[t] for t in pos_texts], negative)
