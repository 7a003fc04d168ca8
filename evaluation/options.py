"""What an evaluation runs: its configurations and options (`EvalOptions`, `options_from`).

Configurations: "raw" (the idea itself is the prompt) plus one per enhancer, without and/or with
retrieval: `rules`, `grounded+rag`, `local+rag`, ... (`EvalOptions.configs`). The options are a
pydantic model whose field descriptions double as the CLI's help and the Evaluate page's; a bad
value is one InputError naming the field. `RUN_OPTIONS` are those that change what a row means: a
resumed run must repeat them (runner.py checks the folder's run.json).

Deliberately not here: running the evaluation (runner.py), the work units (rows.py).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.validation import validated
from enhancers.base import ModelFamily, Style
from enhancers.registry import enhancer_names
from generate.base import MAX_SEED
from rag.retriever import Mode

RAW = "raw"
RAG_SUFFIX = "+rag"
FALLBACK = "rules"
NOT_LLM = ("rules", "grounded")
# Options that change what a row means: a resumed run must use the same ones.
RUN_OPTIONS = ("candidates", "k", "mode", "style", "creativity", "model_family", "image_backend", "image_model",
               "steps", "width", "height")


class EvalOptions(BaseModel):
    """How an evaluation runs (the CLI's options; descriptions double as its help)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enhancers: list[str] = Field(["rules", "grounded"], min_length=1,
                                 description="Enhancers to compare with the raw idea, e.g. rules,grounded,local.")
    rag: bool | None = Field(None, description="With retrieval only (True), without only (False), or both (None).")
    images: bool = Field(False, description="Make one image per idea and configuration (same seed and settings).")
    image_backend: str = Field("diffusers", description="Image backend for --images: diffusers or bedrock.")
    image_model: str | None = Field(None, description="Image model id or local path (default: the settings').")
    steps: int | None = Field(None, ge=1, le=150,
                              description="Denoising steps for the images (default: the backend's).")
    width: int | None = Field(None, ge=64, le=2048, description="Image width (default: the model's native size).")
    height: int | None = Field(None, ge=64, le=2048, description="Image height (default: the model's native size).")
    judge: str | None = Field(None, description="Judge the images with a multimodal Claude: anthropic or bedrock.")
    limit: int | None = Field(None, ge=1, description="Evaluate N ideas spread over the set (seeded).")
    seed: int = Field(1, ge=0, le=MAX_SEED, description="Seed of the idea sample, the images and the local model.")
    workers: int = Field(4, ge=1, le=32, description="Ideas worked on at once (threads).")
    candidates: int = Field(3, ge=1, le=8,
                            description="Candidate prompts per idea (diversity is measured across them).")
    k: int = Field(8, ge=1, le=100, description="With retrieval: how many prompts to retrieve per idea.")
    mode: Mode = Field("hybrid", description="With retrieval: dense, keyword or hybrid.")
    style: Style = Field("auto", description="Visual style asked of every enhancer.")
    creativity: float = Field(0.7, ge=0.0, le=1.0, description="Creativity asked of every enhancer.")
    model_family: ModelFamily = Field("sdxl", description="Target model family (sets the CLIP token budget).")
    index: str | None = Field(None, description="Index for retrieval (default: the home's default index).")

    @field_validator("enhancers")
    @classmethod
    def _known_enhancers(cls, names: list[str]) -> list[str]:
        known = enhancer_names()
        names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown enhancer(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if not names:
            raise ValueError(f"name at least one enhancer, e.g. rules,grounded (known: {', '.join(known)})")
        return names

    @field_validator("judge")
    @classmethod
    def _known_judge(cls, name: str | None) -> str | None:
        if name is not None and name not in ("anthropic", "bedrock"):
            raise ValueError(f"judge must be anthropic or bedrock, got {name!r}")
        return name

    def configs(self) -> list[str]:
        """raw first, then each enhancer without and/or with retrieval."""
        names = [RAW]
        for name in self.enhancers:
            if self.rag is not True:
                names.append(name)
            if self.rag is not False:
                names.append(name + RAG_SUFFIX)
        return names


def options_from(**values: Any) -> EvalOptions:
    """EvalOptions from keyword values; a bad value is one InputError naming the field."""
    return validated(EvalOptions, "evaluation options", **values)

