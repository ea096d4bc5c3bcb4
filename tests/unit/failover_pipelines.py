"""Running a fallback group in a real Pipecat pipeline for a unit test (the contract tests'
``Harness``), stopped at the test's end even when it failed halfway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from pipecat.processors.frame_processor import FrameProcessor

from tests.contract.conftest import Harness

_started: list[Harness] = []


@pytest.fixture(autouse=True)
async def stop_pipelines() -> AsyncIterator[None]:
    """Import into a test module: every pipeline its tests started is stopped."""
    yield
    for h in _started:
        if not h.ended:
            await h.abort()
    _started.clear()


async def start(group: FrameProcessor) -> Harness:
    h = await Harness(group).start()
    _started.append(h)
    return h
