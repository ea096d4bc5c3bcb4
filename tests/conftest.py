"""Shared fixtures: synthetic callers and quiet logs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from voicebot.testing import write_caller_wav

logger.remove()
logger.add(sys.stderr, level="WARNING")

REPO = Path(__file__).resolve().parent.parent


def load_example(filename: str, module_name: str | None = None) -> Any:
    """An example script from ``examples/``, imported as a fresh module."""
    path = REPO / "examples" / filename
    spec = importlib.util.spec_from_file_location(module_name or path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def caller_wav(tmp_path: Path) -> Callable[..., Path]:
    """Write a synthetic caller: ``caller_wav([(start, dur), ...], total_secs=...)``."""

    def make(utterances, total_secs=None, name="caller.wav", sample_rate=16000):  # type: ignore[no-untyped-def]
        return write_caller_wav(
            tmp_path / name, utterances, total_secs=total_secs, sample_rate=sample_rate
        )

    return make


@pytest.fixture
def no_keys() -> dict[str, str]:
    """An environment with no vendor keys, whatever the machine has."""
    return {}
