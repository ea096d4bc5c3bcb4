"""The "balanced" model is loaded as a Q8_0 re-encoding of the packaged GGUF, made once."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from voicebot.providers.local.gguf_requant import Q8_0, q8_0_path
from voicebot.providers.local.models import smollm2_gguf

pytest.importorskip("llama_cpp")


def file_type(path: Path) -> int:
    from llama_cpp import Llama

    model = Llama(str(path), vocab_only=True, verbose=False)
    try:
        return int(model.metadata["general.file_type"])
    finally:
        model.close()


@pytest.fixture()
def source(tmp_path: Path) -> Path:
    """A small packaged GGUF (SmolLM2-135M, Q4_1) copied where the test may write."""
    try:
        shipped = smollm2_gguf()
    except Exception as e:
        pytest.skip(f"the small packaged GGUF is not installed: {e}")
    path = tmp_path / "small.gguf"
    shutil.copy(shipped, path)
    return path


def test_a_gguf_is_re_encoded_once_as_q8_0_beside_it(source: Path) -> None:
    assert file_type(source) != Q8_0
    made = q8_0_path(source, "sha-of-source")
    assert made == source.with_name("small.q8_0.gguf")
    assert file_type(made) == Q8_0
    sidecar = json.loads(made.with_name(made.name + ".made.json").read_text())
    assert sidecar["source_sha256"] == "sha-of-source"
    stamp = made.stat().st_mtime_ns
    assert q8_0_path(source, "sha-of-source") == made
    assert made.stat().st_mtime_ns == stamp  # not made again


def test_a_new_source_or_a_damaged_copy_is_made_again(source: Path) -> None:
    made = q8_0_path(source, "sha-1")
    first = made.stat().st_mtime_ns
    q8_0_path(source, "sha-2")  # the packages changed
    second = made.stat().st_mtime_ns
    assert second != first
    with made.open("r+b") as f:  # cut short (a disk that filled up, a killed copy)
        f.truncate(1000)
    assert file_type(q8_0_path(source, "sha-2")) == Q8_0


def test_a_file_llama_cpp_cannot_re_encode_is_loaded_as_shipped_with_a_warning(
    tmp_path: Path,
) -> None:
    from loguru import logger

    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(str(m)), level="WARNING")
    try:
        garbage = tmp_path / "garbage.gguf"
        garbage.write_bytes(os.urandom(4096))
        assert q8_0_path(garbage, "sha") == garbage  # the default profile still loads
    finally:
        logger.remove(sink)
    assert any("as shipped" in w and "could not re-encode" in w for w in warnings), warnings
    assert not list(tmp_path.glob("*.part")) and not list(tmp_path.glob(".*.part"))


def test_a_part_file_left_by_a_killed_process_is_removed(source: Path) -> None:
    stale = source.with_name(".small.q8_0.gguf.abc123.part")
    stale.write_bytes(b"half a model")
    q8_0_path(source, "sha")
    assert not stale.exists()


def test_the_balanced_profile_loads_the_q8_0_re_encoding() -> None:
    from voicebot.providers.local.llama import LlamaLLM

    try:
        path = LlamaLLM().model_file()
    except Exception as e:
        pytest.skip(f"the balanced model is not installed: {e}")
    assert path.name == "qwen2.5-coder-0.5b-instruct.q8_0.gguf"
    assert file_type(path) == Q8_0
