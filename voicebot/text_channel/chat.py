"""``TextChat``: talk to a ``Bot`` in text, from Python.

    async with TextChat(bot, user_id="ada") as chat:
        print(chat.greeting)
        reply = chat.send("When do you open?")
        async for chunk in reply:          # the reply's text as the model streams it
            print(chunk, end="", flush=True)
        result = await reply               # TextReply: text, tool_calls, turn (TurnRecord)

One ``TextChat`` is one conversation (a ``TextSession``, ``voicebot.text_channel.session``)
running in a task of its own. Messages are answered one at a time, in the order sent: a
``send`` made while another reply is being written waits for it (``busy`` says whether one
is). A reply is over when its turn's ``TurnRecord`` is complete (``TurnLog``: the bot has
said its answer and no tool call is still running), so tool calls and their answer are one
reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.metrics.records import ToolCallRecord, TurnRecord
from voicebot.text_channel.session import (
    TextSession,
    build_text_session,
    check_text,
    prepare_text,
)
from voicebot.text_channel.transport import OutputEvent, ToolCallStarted, message_frames

if TYPE_CHECKING:
    from voicebot.bot import Bot

#: Most seconds a reply may take (every LLM run and tool call of it) before ``send`` gives
#: up on it and returns what came, marked incomplete.
REPLY_SECS = 120.0
#: Most seconds ``close`` waits for the session to end before cancelling it.
CLOSE_SECS = 10.0


class ChatEnded(RuntimeError):
    """The chat's session has ended (closed, or a stage failed): no more replies."""


@dataclass
class TextReply:
    """The bot's whole answer to one message.

    ``complete`` is False when the reply took over ``reply_timeout_secs`` (``text`` is then
    what had come, and ``turn`` None). ``turn`` is the turn's ``TurnRecord``: its latency
    fields time "message in to first reply text out" (``voice_to_voice_secs``, ``stages``).
    """

    text: str
    tool_calls: list[ToolCallRecord] = field(default_factory=list)
    turn: TurnRecord | None = None
    complete: bool = True

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: the text, the tool calls (name, arguments, result) and the turn."""
        from voicebot.memory.memory import json_safe

        return {
            "text": self.text,
            "complete": self.complete,
            "tool_calls": [json_safe(vars(c)) for c in self.tool_calls],
            "turn": json_safe(self.turn.to_dict()) if self.turn is not None else None,
        }


class ReplyStream:
    """One message's reply as it comes: iterate it for the text chunks (or ``events()`` for
    chunks and tool calls), await it for the ``TextReply``. The message is sent at once,
    whether or not anyone reads the chunks."""

    def __init__(self, chat: TextChat, text: str) -> None:
        self._events: asyncio.Queue[OutputEvent | None] = asyncio.Queue()
        self._text: list[str] = []  # the chunks so far
        self._task = asyncio.ensure_future(chat._answer(text, self))
        self._task.add_done_callback(lambda _: self._events.put_nowait(None))

    def _put(self, event: OutputEvent) -> None:
        if isinstance(event, str):
            self._text.append(event)
        self._events.put_nowait(event)

    @property
    def text_so_far(self) -> str:
        return "".join(self._text)

    async def events(self) -> AsyncIterator[OutputEvent]:
        """Each text chunk (``str``) and tool call (``ToolCallStarted``) of the reply, in
        order; ends with the reply (raising ``ChatEnded`` if the session ended first)."""
        while True:
            event = await self._events.get()
            if event is None:
                break
            yield event
        await self._task  # its error, if it ended with one

    async def _chunks(self) -> AsyncIterator[str]:
        async for event in self.events():
            if isinstance(event, str):
                yield event

    def __aiter__(self) -> AsyncIterator[str]:
        return self._chunks()

    def __await__(self) -> Generator[Any, None, TextReply]:
        return self._task.__await__()


class TextChat:
    """One text conversation with ``bot`` (see the module docstring).

    ``user_id`` is whose memory it uses (as ``bot.session(user_id=...)``); ``env`` the
    environment its LLM's key is read from (default: the process's and ``.env``).
    """

    def __init__(
        self,
        bot: Bot,
        *,
        user_id: str | None = None,
        env: Mapping[str, str] | None = None,
        reply_timeout_secs: float = REPLY_SECS,
    ) -> None:
        self.bot = bot
        self.user_id = user_id
        self.env = env
        self.reply_timeout_secs = reply_timeout_secs
        #: The running conversation, once ``start()`` has built it.
        self.session: TextSession | None = None
        #: What the bot said first (``Bot(greeting=...)``), once started; else None.
        self.greeting: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._ended = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pending = 0  # messages sent and not yet answered
        self._sent = 0  # messages sent: the Nth one's turn is TurnRecord.index N
        self._waiting: dict[int, asyncio.Future[TurnRecord]] = {}
        self._current: ReplyStream | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Check the bot's LLM (``ConfigError`` naming the fix), load it, start the session
        and wait for the greeting, if the bot has one."""
        ctx = check_text(self.bot, self.env)
        await prepare_text(self.bot)
        session = build_text_session(self.bot, ctx, user_id=self.user_id)
        self.session = session
        session.turn_log.on_turn(self._on_turn)
        session.tts.listener = self._on_output  # type: ignore[attr-defined]
        greeted = self._expect(0) if self.bot.greeting else None
        self._task = asyncio.ensure_future(session.run())
        self._task.add_done_callback(lambda _: self._ended.set())
        if greeted is not None:
            record = await self._wait_for(greeted)
            self.greeting = record.bot_text if record is not None else None

    async def close(self) -> None:
        """End the conversation (its memory and turn records are written). Idempotent."""
        task = self._task
        if task is None or self.session is None:
            return
        if not task.done():
            await self.session.end()
            done, _ = await asyncio.wait({task}, timeout=CLOSE_SECS)
            if not done:
                await self.session.cancel("the chat was closed")
                await asyncio.wait({task}, timeout=CLOSE_SECS)
        if task.done() and not task.cancelled() and task.exception() is not None:
            logger.warning(f"voicebot chat {self.session.id} ended with: {task.exception()}")

    async def __aenter__(self) -> TextChat:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ---- state -----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        """The session's id (``TurnRecord.session_id``)."""
        if self.session is None:
            raise RuntimeError("the chat has not started: await chat.start() first")
        return self.session.id

    @property
    def busy(self) -> bool:
        """Whether a reply is being written (a ``send`` now waits for it)."""
        return self._pending > 0

    @property
    def ended(self) -> bool:
        return self._ended.is_set()

    @property
    def turns(self) -> list[TurnRecord]:
        return self.session.turns if self.session is not None else []

    # ---- messages --------------------------------------------------------------------------

    def send(self, text: str) -> ReplyStream:
        """Send one message; the reply streams from what this returns (see ``ReplyStream``).
        A message with no words is refused (``ValueError``): it would start no turn."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a message needs some text")
        if self.session is None:
            raise RuntimeError("the chat has not started: await chat.start() first")
        self._pending += 1
        reply = ReplyStream(self, text)
        reply._task.add_done_callback(self._answered)
        return reply

    def _answered(self, _task: asyncio.Future[TextReply]) -> None:
        self._pending -= 1

    async def ask(self, text: str) -> TextReply:
        """``send`` and wait for the whole reply."""
        return await self.send(text)

    async def _answer(self, text: str, stream: ReplyStream) -> TextReply:
        async with self._lock:
            session = self.session
            assert session is not None
            if self.ended:
                raise ChatEnded(self._end_reason())
            self._sent += 1
            done = self._expect(self._sent)
            self._current = stream
            try:
                await session.worker.queue_frames(message_frames(text, self._user()))
                record = await self._wait_for(done)
            finally:
                self._current = None
            if record is None:
                if self.ended:
                    raise ChatEnded(self._end_reason())
                logger.warning(
                    f"voicebot chat {session.id}: no complete reply to message {self._sent} "
                    f"within {self.reply_timeout_secs:g}s"
                )
                return TextReply(stream.text_so_far.strip(), complete=False)
            said = record.bot_text or stream.text_so_far.strip()
            return TextReply(said, list(record.tool_calls), record)

    # ---- events from the session -----------------------------------------------------------

    def _expect(self, index: int) -> asyncio.Future[TurnRecord]:
        future: asyncio.Future[TurnRecord] = asyncio.get_running_loop().create_future()
        self._waiting[index] = future
        return future

    async def _wait_for(self, future: asyncio.Future[TurnRecord]) -> TurnRecord | None:
        """The turn's record, or None when the session ended or the reply timed out first."""
        ended = asyncio.ensure_future(self._ended.wait())
        either: set[asyncio.Future[Any]] = {future, ended}
        try:
            await asyncio.wait(
                either,
                timeout=self.reply_timeout_secs,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ended.cancel()
        for index, waiting in list(self._waiting.items()):
            if waiting is future:
                del self._waiting[index]
        if future.done():
            return future.result()
        future.cancel()
        return None

    def _on_turn(self, record: TurnRecord) -> None:
        future = self._waiting.pop(record.index, None)
        if future is not None and not future.done():
            future.set_result(record)

    def _on_output(self, event: OutputEvent) -> None:
        if self._current is not None:
            self._current._put(event)
        elif isinstance(event, ToolCallStarted):
            logger.debug(f"voicebot chat: tool call {event.name} outside a reply")
        else:
            logger.debug(f"voicebot chat: text outside a reply: {event!r}")

    def _user(self) -> str:
        if self.session is not None and self.session.memory is not None:
            return self.session.memory.user_id
        return self.user_id or "user"

    def _end_reason(self) -> str:
        error = None
        if self._task is not None and self._task.done() and not self._task.cancelled():
            error = self._task.exception()
        return f"the chat has ended: {error}" if error else "the chat has ended"
