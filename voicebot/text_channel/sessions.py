"""The text chats a ``voicebot serve --text`` process holds: opened by id, expired when idle.

A text chat costs no audio and no model of its own (the LLM is loaded once per process), so
one process holds many: up to ``max_sessions`` at once (a new one beyond is refused, 503),
each ended after ``idle_secs`` without a message (its memory and turn records are written
as at any end). A chat whose session ended by itself (its LLM failed for good) is let go
when next asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from loguru import logger

from voicebot.text_channel.chat import TextChat
from voicebot.text_channel.session import check_text, prepare_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from voicebot.bot import Bot

#: Chats held at once by default.
MAX_SESSIONS = 1000
#: Seconds a chat may go without a message before it is ended, by default.
IDLE_SECS = 900.0


class SessionsFull(RuntimeError):
    """``max_sessions`` chats are open: a new one has to wait for one to end."""


@dataclass
class HeldChat:
    """One open chat and when it was last used (``time.monotonic``)."""

    chat: TextChat
    user_id: str | None
    last_used: float = field(default_factory=time.monotonic)

    def touch(self) -> None:
        self.last_used = time.monotonic()


class TextSessions:
    """The open chats of one bot, by session id."""

    def __init__(
        self,
        bot: Bot,
        *,
        max_sessions: int = MAX_SESSIONS,
        idle_secs: float = IDLE_SECS,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.bot = bot
        self.max_sessions = max_sessions
        self.idle_secs = idle_secs
        self.env = env
        self._chats: dict[str, HeldChat] = {}
        self._opening = 0  # chats being started (they count towards the cap)
        self._expiry: asyncio.Task[None] | None = None

    def check(self) -> None:
        """The bot's text stages can run here (a ``ConfigError`` naming the fix if not)."""
        check_text(self.bot, self.env)

    async def start(self) -> None:
        """Load the LLM (once per process) and start expiring idle chats."""
        await prepare_text(self.bot)
        self._expiry = asyncio.ensure_future(self._expire_idle())

    async def stop(self) -> None:
        """End every chat (their memory and records are written)."""
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        chats = list(self._chats.values())
        self._chats.clear()
        await asyncio.gather(*(held.chat.close() for held in chats))

    def __len__(self) -> int:
        return len(self._chats)

    async def open(self, user_id: str | None) -> HeldChat:
        """A new chat for ``user_id``, greeting said; ``SessionsFull`` at the cap."""
        if len(self._chats) + self._opening >= self.max_sessions:
            raise SessionsFull(
                f"{self.max_sessions} chats are open, the most this server holds: try again "
                "once one has ended"
            )
        self._opening += 1
        try:
            chat = TextChat(self.bot, user_id=user_id, env=self.env)
            try:
                await chat.start()
            except BaseException:
                await chat.close()
                raise
        finally:
            self._opening -= 1
        held = HeldChat(chat, user_id)
        self._chats[chat.id] = held
        logger.info(f"voicebot text: session {chat.id} opened for user {user_id!r}")
        return held

    def get(self, session_id: str) -> HeldChat | None:
        """The open chat ``session_id``, marked used; None if unknown, expired or ended."""
        held = self._chats.get(session_id)
        if held is None:
            return None
        if held.chat.ended:
            del self._chats[session_id]
            return None
        held.touch()
        return held

    async def close(self, session_id: str) -> bool:
        """End chat ``session_id``; False if there was none."""
        held = self._chats.pop(session_id, None)
        if held is None:
            return False
        await held.chat.close()
        logger.info(f"voicebot text: session {session_id} ended")
        return True

    async def _expire_idle(self) -> None:
        period = max(0.05, min(self.idle_secs / 4, 30.0))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            idle = [
                sid
                for sid, held in self._chats.items()
                if not held.chat.busy and now - held.last_used >= self.idle_secs
            ]
            for sid in idle:
                logger.info(f"voicebot text: session {sid} idle for {self.idle_secs:g}s, ended")
                await self.close(sid)
