"""Shared fixtures: synthetic callers and quiet logs."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from voicebot.testing.redis_server import local_redis, redis_server_path


def _to_current_stderr(message: str) -> None:
    """A loguru sink that writes to whatever ``sys.stderr`` is *now*.

    ``logger.add(sys.stderr)`` binds the stream object of that moment; pytest swaps
    ``sys.stderr`` per test (``capsys``) and closes its capture streams, so a sink bound
    then raises "I/O operation on closed file" on every later log line.
    """
    sys.stderr.write(message)


def _standard_log_sinks() -> None:
    logger.remove()
    logger.add(_to_current_stderr, level="WARNING")


_standard_log_sinks()


@pytest.fixture(autouse=True)
def _restore_log_sinks() -> Iterator[None]:
    """Every test starts and ends with the standard sink only: code under test that adds
    its own (``voicebot.cli.main`` adds sinks on ``sys.stderr`` each call) cannot leave
    them writing to a stream pytest has closed."""
    _standard_log_sinks()
    yield
    _standard_log_sinks()


REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "real_time: runs on a real-time event loop, not tests/conversation's virtual clock "
        "(the test's subject is real-time behaviour or wall-clock figures)",
    )


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

    # Imported here, not at the top: importing voicebot imports Pipecat, which logs a banner
    # at INFO through loguru's default sink unless the sinks above are in place first.
    from voicebot.testing import write_caller_wav

    def make(utterances, total_secs=None, name="caller.wav", sample_rate=16000):  # type: ignore[no-untyped-def]
        return write_caller_wav(
            tmp_path / name, utterances, total_secs=total_secs, sample_rate=sample_rate
        )

    return make


@pytest.fixture
def no_keys() -> dict[str, str]:
    """An environment with no vendor keys, whatever the machine has."""
    return {}


# ---- a real redis-server on loopback (RedisStore, the serve host registry) -----------------

REDIS_SERVER = redis_server_path()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with local_redis() as url:
        yield url
