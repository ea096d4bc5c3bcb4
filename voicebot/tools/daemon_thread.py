"""Where a sync tool runs: a daemon thread of its own per call.

asyncio's default pool (``asyncio.to_thread``) is joined when the loop and the interpreter
shut down, so one tool stuck on a socket with no timeout kept a finished ``voicebot run``
alive until it returned. A daemon thread is left behind instead; its late result is dropped.
``SystemExit`` (and ``KeyboardInterrupt``, which no Ctrl-C sends to a worker thread) from the
function become ``ToolExited``, a failure the model reads, not the end of the process.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable
from typing import Any


class ToolExited(RuntimeError):
    """A tool's function raised ``SystemExit`` (or, in its thread, ``KeyboardInterrupt``)."""


async def in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any], name: str) -> Any:
    """``fn(**kwargs)`` in a new daemon thread, in the caller's context variables, awaited."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(outcome: Callable[[], None]) -> None:
        if not done.done():  # cancelled meanwhile (a timeout, the call ending)
            outcome()

    def hand_back(outcome: Callable[[], None]) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the session ended long ago
            loop.call_soon_threadsafe(settle, outcome)

    def run() -> None:
        error: BaseException | None = None
        try:
            value = context.run(fn, **kwargs)
        except (SystemExit, KeyboardInterrupt) as e:  # no Ctrl-C reaches a worker thread
            what = (
                f"called sys.exit({e.code!r})"
                if isinstance(e, SystemExit)
                else f"raised {type(e).__name__}"
            )
            error = ToolExited(f"{name} {what}")
            error.__cause__ = e
        except BaseException as e:
            error = e
        if error is not None:
            failure = error
            hand_back(lambda: done.set_exception(failure))
        else:
            hand_back(lambda: done.set_result(value))

    threading.Thread(target=run, name=f"tool-{name}", daemon=True).start()
    return await done
