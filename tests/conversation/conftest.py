"""Conversation tests run on a virtual clock (``voicebot.testing.virtual_time``): the
caller's seconds of audio, the fakes' delays and the linger at the end are skipped, not
waited, and a loaded machine cannot push a timing past its window. A test whose subject is
real-time behaviour is marked ``@pytest.mark.real_time`` and runs on an ordinary loop.
``VOICEBOT_TESTS_REAL_TIME=1`` runs them all on ordinary loops (to compare, or to check
that a failure is not the virtual clock's)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import pytest

from voicebot.testing.virtual_time import VirtualTimeLoop

_T = TypeVar("_T")


ALL_REAL_TIME = os.environ.get("VOICEBOT_TESTS_REAL_TIME", "") not in ("", "0")


def pytest_asyncio_loop_factories(config: pytest.Config, item: pytest.Item) -> Mapping[str, Any]:
    if ALL_REAL_TIME or item.get_closest_marker("real_time"):
        return {"real_time": asyncio.new_event_loop}
    return {"virtual_time": VirtualTimeLoop}


def _run_on_a_virtual_loop(main: Coroutine[Any, Any, _T], *, debug: bool | None = None) -> _T:
    with asyncio.Runner(debug=debug, loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)


@pytest.fixture
def virtual_asyncio_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """``asyncio.run`` on a virtual clock, for a synchronous test of code that runs its own
    loop (``voicebot.cli.main``)."""
    if not ALL_REAL_TIME:
        monkeypatch.setattr(asyncio, "run", _run_on_a_virtual_loop)
