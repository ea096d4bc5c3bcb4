"""Feeds one session's frames to its ``ConversationState`` and, in one task, to its listeners.

Two jobs, both for one ``PipelineWorker``:

- **The state, inline.** ``ConversationState.apply`` runs inside the push that first carries a
  frame, before the next processor has it: the state leads every stage (see
  ``voicebot.conversation.state``).
- **The listeners, in one task, in order.** A listener (the turn log) gets the first push of
  each frame type it asks for, and anything ``post``-ed (Pipecat event handlers that run in
  other tasks: the context aggregators' turn events, a retrieval's outcome) is queued into the
  same task. So every turn record is written by one task, in the order the events reached
  the feed, whichever Pipecat task reported them. (Pipecat runs an async event handler in a
  task of its own, so an event can reach the feed a step after frames pushed at about the
  same moment; what matters is that no two writers race on a record.)

Pipecat gives each observer every processor's every frame through its own queue and task
(``WorkerObserver``): with 50 audio frames a second crossing every processor that costs a
session ~10 % more CPU for frames nobody here acts on. The feed therefore wraps the worker's
``WorkerObserver`` (through ``voicebot.pipecat_compat``), passing everything on to it
unchanged and keeping only the frames named. On a Pipecat without that hook it falls back to
a plain observer that sees every push in its own task (the state then trails the frames by a
queue hop; everything else is the same).
"""

from __future__ import annotations

import asyncio
import inspect
import weakref
from collections.abc import Callable
from typing import Any, Protocol, cast

from loguru import logger
from pipecat.frames.frames import Frame, FunctionCallResultFrame, LLMFullResponseEndFrame
from pipecat.observers.base_observer import BaseObserver, FramePushed

from voicebot import pipecat_compat
from voicebot.conversation.state import STATE_FRAMES, ConversationState

#: Frames the state takes at every hop (where they leave the output transport is what counts).
EVERY_HOP = (LLMFullResponseEndFrame, FunctionCallResultFrame)


class Listener(Protocol):
    """What the feed calls in its task: the same two calls Pipecat makes on an observer."""

    async def on_push_frame(self, data: FramePushed) -> None: ...

    async def on_pipeline_started(self) -> None: ...


_STARTED = object()


class ConversationFeed:
    """One per session: ``install`` it on the worker before the worker runs."""

    def __init__(self, state: ConversationState) -> None:
        self.state = state
        self._listeners: list[tuple[Listener, tuple[type[Frame], ...]]] = []
        self._watched: tuple[type[Frame], ...] = ()
        self._any: tuple[type[Frame], ...] = STATE_FRAMES  # the one check per pushed frame
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._seen: weakref.WeakValueDictionary[int, Frame] = weakref.WeakValueDictionary()

    def listen(self, listener: Listener, frames: tuple[type[Frame], ...]) -> None:
        """Give ``listener`` the first push of every frame of these types, in its task."""
        self._listeners.append((listener, frames))
        self._watched = tuple({t for _, types in self._listeners for t in types})
        self._any = tuple({*STATE_FRAMES, *self._watched})

    def post(self, call: Callable[..., Any], *args: Any) -> None:
        """Run ``call(*args)`` (awaited if it returns an awaitable) in the feed's task, after
        everything queued before it. Safe from any task on the session's loop."""
        self._queue.put_nowait((call, args))

    def install(self, worker: Any) -> None:
        """Hook into ``worker``'s frame pushes (see the module docstring)."""
        wrap = lambda inner: cast(BaseObserver, _Wrapper(inner, self))  # noqa: E731
        if not pipecat_compat.swap_worker_observer(worker, wrap):
            worker.add_observer(_FallbackObserver(self))

    # ---- called on every push ----------------------------------------------------------------

    def pushed(self, data: FramePushed) -> None:
        frame = data.frame
        if not isinstance(frame, self._any):
            return  # audio and the like: one check
        every_hop = isinstance(frame, EVERY_HOP)
        if every_hop:
            self.state.apply(frame, data.direction, data.source)  # the output's hop counts
        if frame.id in self._seen:
            return
        self._seen[frame.id] = frame
        if not every_hop:
            self.state.apply(frame, data.direction, data.source)
        if isinstance(frame, self._watched):
            self._queue.put_nowait(data)

    def started(self) -> None:
        self._queue.put_nowait(_STARTED)

    # ---- the one task ------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._dispatch(item)
            except Exception as e:
                logger.opt(exception=e).error(f"voicebot: conversation listener raised {e}")

    async def _dispatch(self, item: Any) -> None:
        if item is _STARTED:
            for listener, _ in self._listeners:
                await listener.on_pipeline_started()
        elif isinstance(item, FramePushed):
            for listener, types in self._listeners:
                if isinstance(item.frame, types):
                    await listener.on_push_frame(item)
        else:
            call, args = item
            result = call(*args)
            if inspect.isawaitable(result):
                await result

    async def drain(self) -> None:
        """Run whatever is still queued (the session has ended and the task is gone)."""
        while not self._queue.empty():
            item = self._queue.get_nowait()
            try:
                await self._dispatch(item)
            except Exception as e:
                logger.opt(exception=e).error(f"voicebot: conversation listener raised {e}")


class _Wrapper:
    """A worker's ``WorkerObserver`` with the feed spliced in: every call goes on to it."""

    def __init__(self, inner: Any, feed: ConversationFeed) -> None:
        self._inner = inner
        self._feed = feed
        self._task: asyncio.Task[None] | None = None
        self._task_manager: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def setup(self, task_manager: Any) -> None:
        await self._inner.setup(task_manager)
        self._task_manager = task_manager
        self._task = task_manager.create_task(self._feed.run(), "ConversationFeed")

    async def cleanup(self) -> None:
        if self._task is not None:
            await self._task_manager.cancel_task(self._task)
            self._task = None
        await self._inner.cleanup()

    async def on_pipeline_started(self) -> None:
        await self._inner.on_pipeline_started()
        self._feed.started()

    async def on_push_frame(self, data: FramePushed) -> None:
        self._feed.pushed(data)
        await self._inner.on_push_frame(data)


class _FallbackObserver(BaseObserver):
    def __init__(self, feed: ConversationFeed) -> None:
        super().__init__(observe_every_push=True)
        self._feed = feed
        self._task: asyncio.Task[None] | None = None

    async def on_pipeline_started(self) -> None:
        self._feed.started()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._feed.run())

    async def on_push_frame(self, data: FramePushed) -> None:
        self._feed.pushed(data)

    async def cleanup(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        await super().cleanup()  # type: ignore[no-untyped-call]  # Pipecat leaves it untyped
