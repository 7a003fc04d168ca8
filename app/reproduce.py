"""A refinement round from an image's recipe ("reproduce this image").

`round_from_image(recipe)` turns a `generate.readback.ImageRecipe` (read from one of our PNGs,
an A1111 / Forge PNG or a ComfyUI PNG) into an `AssistantResult` the Refine page shows as a new
round: the image's prompt and negative prompt as they were, its idea when it recorded one (else
the prompt stands in for it), no examples (they were not retrieved here). The settings to draw
it again are `recipe.image_options()`. Nothing is rewritten, so the next feedback round revises
exactly what made the image.
Deliberately not here: reading the image (generate/readback.py), drawing (app/, cli/).
"""

from __future__ import annotations

from enhancers.base import TOKEN_BUDGET
from enhancers.tokens import count_clip_tokens
from generate.readback import ImageRecipe
from rag.assistant import AssistantResult, RankedCandidate
from rag.quality import QualityFigures

ENHANCER_NAME = "image"  # who "answered": the prompt came from an image, no enhancer ran


def round_from_image(recipe: ImageRecipe, *, model_family: str = "sdxl") -> AssistantResult:
    """An AssistantResult holding `recipe`'s prompt, negative prompt, idea and style."""
    idea = recipe.idea or recipe.prompt
    quality = QualityFigures(token_count=count_clip_tokens(recipe.prompt), token_budget=TOKEN_BUDGET[model_family],
                             consistency=None, novelty=None, closest_example_id=None)
    candidate = RankedCandidate(recipe.prompt, recipe.negative_prompt, "", 0.0, 0.0)
    options = {"model_family": model_family, "from_image": recipe.source}
    rationale = f"read back from a {recipe.source} image ({', '.join(recipe.read_from)})"
    return AssistantResult(idea, recipe.prompt, recipe.negative_prompt, recipe.style or "auto", ENHANCER_NAME,
                           [], [candidate], {}, [], quality, options, rationale)
