"""Waiting on what a conversation does, not on the clock: a test's tool or helper holds until
the pipeline reaches a state, so a slow machine delays the test instead of failing it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

#: How long a condition is waited for before the wait gives up (and the test, reading the
#: ``False``, fails): far beyond any normal run, short of hanging the suite.
BOUND_SECS = 15.0


async def until(condition: Callable[[], object], bound_secs: float = BOUND_SECS) -> bool:
    """Wait until ``condition()`` is true (checked every 10 ms); False if it never was."""
    deadline = time.monotonic() + bound_secs
    while not condition():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True
