"""Fixtures for index tests: the real MiniLM embedder and small indexes built with it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from index import IndexWriter, PromptIndex, PromptRecord

# Literal prompts (with varied metadata) so most tests run without the shared data.
LITERAL = [
    PromptRecord(
        "a majestic red fox in a snowy forest, golden hour, highly detailed, 8k",
        count=5,
        seed=1,
        steps=50,
        cfg=7.0,
        sampler="k_euler_ancestral",
        width=512,
        height=512,
        prompt_nsfw=0.01,
        image_nsfw=0.02,
        source="literal",
    ),
    PromptRecord(
        "portrait of an old fisherman with a white beard, oil painting by rembrandt",
        count=2,
        seed=2,
        steps=30,
        cfg=7.5,
        sampler="k_lms",
        width=512,
        height=768,
        prompt_nsfw=0.05,
        image_nsfw=0.1,
        source="literal",
    ),
    PromptRecord(
        "cyberpunk city street at night, neon signs, rain, blade runner style",
        count=9,
        seed=3,
        steps=50,
        cfg=9.0,
        sampler="k_euler_ancestral",
        width=768,
        height=512,
        prompt_nsfw=0.02,
        image_nsfw=0.03,
        source="literal",
    ),
    PromptRecord(
        "a cute corgi puppy wearing a tiny astronaut helmet, studio photo",
        count=1,
        seed=4,
        steps=25,
        cfg=6.0,
        sampler="ddim",
        width=512,
        height=512,
        prompt_nsfw=0.0,
        image_nsfw=0.9,
        source="literal",
    ),
    PromptRecord(
        "medieval castle on a cliff above a stormy sea, matte painting, artstation",
        count=3,
        seed=5,
        steps=50,
        cfg=7.0,
        sampler="k_lms",
        width=1024,
        height=512,
        source="literal",
    ),
    PromptRecord(
        "bowl of ramen with steam, food photography, shallow depth of field",
        count=1,
        seed=6,
        steps=20,
        cfg=5.0,
        sampler="plms",
        width=512,
        height=512,
        prompt_nsfw=0.8,
        image_nsfw=0.1,
        source="literal",
    ),
    PromptRecord(
        "underwater coral reef with colorful tropical fish, national geographic photo",
        count=4,
        sampler="k_euler",
        width=512,
        height=512,
        source="literal",
    ),
    PromptRecord(
        "a lonely astronaut sitting on the moon looking at earth, cinematic lighting",
        count=7,
        sampler="k_euler_ancestral",
        width=512,
        height=512,
        source="literal",
    ),
    PromptRecord(
        "watercolor painting of cherry blossoms in kyoto, soft pastel colors",
        count=2,
        sampler="k_lms",
        width=512,
        height=768,
        source="literal",
    ),
    PromptRecord(
        "steampunk mechanical owl made of brass gears, intricate, octane render", count=1, source="literal"
    ),
    PromptRecord("café in paris at dawn, impressionist style, claude monet", count=1, source="literal"),
    PromptRecord('logo of a "quoted" NEAR star* : weird-prompt with syntax', count=1, source="literal"),
]


@pytest.fixture(scope="session")
def literal_vectors(embedder) -> np.ndarray:
    return embedder.embed([r.prompt for r in LITERAL])


def build_index(path: Path, records, vectors, embedder, **kwargs) -> Path:
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension, **kwargs)
    # Two chunks, as ingest streams them.
    half = len(records) // 2
    writer.add(records[:half], vectors[:half])
    writer.add(records[half:], vectors[half:])
    writer.publish()
    return path


@pytest.fixture(scope="session")
def literal_index_dir(tmp_path_factory, embedder, literal_vectors) -> Path:
    return build_index(tmp_path_factory.mktemp("idx") / "literal", LITERAL, literal_vectors, embedder)


@pytest.fixture()
def literal_copy(literal_index_dir, tmp_path) -> Path:
    """A private copy of the literal index, free to corrupt."""
    target = tmp_path / "index"
    shutil.copytree(literal_index_dir, target)
    return target


@pytest.fixture(scope="session")
def literal_index(literal_index_dir, embedder):
    index = PromptIndex.load(literal_index_dir, embedder=embedder)
    yield index
    index.close()


@pytest.fixture(scope="session")
def real_prompts(shared_data) -> list[str]:
    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text())
    seen: dict[str, None] = {}
    for row in rows:
        text = " ".join(row["text"].split())
        if text and len(text) < 400:
            seen.setdefault(text, None)
        if len(seen) >= 200:
            break
    return list(seen)


@pytest.fixture(scope="session")
def real_index(tmp_path_factory, embedder, real_prompts):
    records = [PromptRecord(p, source="refl_prompts_dev.json") for p in real_prompts]
    vectors = embedder.embed(real_prompts)
    path = build_index(tmp_path_factory.mktemp("idx") / "real", records, vectors, embedder)
    index = PromptIndex.load(path, embedder=embedder)
    yield index
    index.close()
