"""Keypad presses (DTMF) from a phone call: events, text in the context, digits a tool awaits.

Carriers send a key press as an event next to the audio; Pipecat's serializers turn it into
an ``InputDTMFFrame``, which any transport may push. Pipecat has no stage that lets a bot use
them beyond ``DTMFAggregator`` (a transcript per entry, which the turn strategies then have to
rule on like speech). The ``Keypad`` stage, right after the transport's input (and the
``after_input`` processors), does three things with each press:

- **events**: ``on_dtmf(keypad, key)`` for every key and ``on_entry(keypad, keys)`` for each
  entry (keys up to the terminator or a pause); the ``InputDTMFFrame`` itself goes on
  downstream, so a processor of yours sees it too;
- **text in the context** (``DTMF(as_text=True)``, the default): each entry becomes a user
  message, ``[caller pressed 1 2 3 4 #]``, and the model answers it, as the model would answer
  words. Not a transcript: a transcript needs the turn strategy's ruling, which waits for
  speech that never comes;
- **digits for a tool**: ``await collect_digits(count=4, timeout_secs=10)``
  (``voicebot.tools.builtin``) takes the next keys instead of the context, and says whether
  the entry was complete, ended by the terminator, or timed out.

It lives here, with the pipeline stages, rather than under ``voicebot/tools``: it is a stage
every session has; the tool side is one function over it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InputDTMFFrame,
    LLMMessagesAppendFrame,
    StartFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from voicebot.errors import ConfigError, from_validation_error
from voicebot.pipecat_compat import emit_event, register_event

#: The keys of a phone keypad, as Pipecat's ``KeypadEntry`` values.
KEYS = "0123456789*#"

#: How an entry a tool waited for ended.
EndedBy = Literal["count", "terminator", "timeout", "call_ended"]


class DTMF(BaseModel):
    """What a session does with keypad presses (``Bot(dtmf=DTMF(...))``).

    - ``as_text``: put each entry in the context as a user message (``text_format``, with
      the keys spaced: ``[caller pressed 1 2 3 4 #]``) and let the model answer it.
    - ``terminator``: the key that ends an entry at once (``None``: only a pause does).
    - ``pause_secs``: an entry also ends this long after its last key.
    - ``interrupt``: the first key of an entry stops the bot talking, as speech would (only
      when the bot allows interruptions; never while a tool is collecting digits).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    as_text: bool = True
    terminator: str | None = "#"
    pause_secs: float = Field(default=2.0, gt=0)
    interrupt: bool = True
    text_format: str = "[caller pressed {keys}]"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise from_validation_error("DTMF", e, type(self).model_fields) from None

    @field_validator("terminator")
    @classmethod
    def _one_key(cls, value: str | None) -> str | None:
        if value is not None and (len(value) != 1 or value not in KEYS):
            raise ConfigError(
                f"DTMF(terminator={value!r}) is not a keypad key: use one of {' '.join(KEYS)}, "
                "or None to end entries on a pause only"
            )
        return value

    @field_validator("text_format")
    @classmethod
    def _has_keys(cls, value: str) -> str:
        if "{keys}" not in value:
            raise ConfigError(
                f"DTMF(text_format={value!r}) must contain {{keys}}, where the keys go"
            )
        return value


@dataclass(frozen=True)
class Digits:
    """Keys a tool waited for: ``keys`` without the terminator, and how the entry ended."""

    keys: str
    ended_by: EndedBy

    @property
    def timed_out(self) -> bool:
        return self.ended_by == "timeout"

    def __str__(self) -> str:
        return self.keys


class _Collector:
    """One ``collect`` call waiting for keys."""

    def __init__(self, count: int | None, terminator: str | None) -> None:
        self.count = count
        self.terminator = terminator
        self.keys = ""
        self.done: asyncio.Future[Digits] = asyncio.get_running_loop().create_future()

    def take(self, key: str) -> None:
        if self.done.done():
            return
        if key == self.terminator:
            self.done.set_result(Digits(self.keys, "terminator"))
            return
        self.keys += key
        if self.count is not None and len(self.keys) >= self.count:
            self.done.set_result(Digits(self.keys, "count"))

    def end(self, why: EndedBy) -> None:
        if not self.done.done():
            self.done.set_result(Digits(self.keys, why))


class Keypad(FrameProcessor):
    """The session's DTMF stage (see the module docstring).

    ``pressed`` is every key of the call, in order. Events (Pipecat's ``event_handler``):
    ``on_dtmf(keypad, key)`` and ``on_entry(keypad, keys)``; an entry a tool collected is
    the tool's and raises no ``on_entry``.
    """

    def __init__(
        self, config: DTMF | None = None, *, allow_interruptions: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.config = config if config is not None else DTMF()
        self.pressed: list[str] = []
        self._allow_interruptions = allow_interruptions
        self._entry = ""
        self._pause_task: asyncio.Task[None] | None = None
        self._collector: _Collector | None = None
        self._started = self._ended = False
        register_event(self, "on_dtmf")
        register_event(self, "on_entry")

    @property
    def started(self) -> bool:
        """The pipeline has started (keys can arrive)."""
        return self._started

    @property
    def collecting(self) -> bool:
        """A tool is waiting for keys (``collect``)."""
        return self._collector is not None

    # ---- frames ------------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, StartFrame):
            self._started = True
        elif isinstance(frame, (EndFrame, CancelFrame)):
            await self._finish()
        await self.push_frame(frame, direction)
        if isinstance(frame, InputDTMFFrame) and direction == FrameDirection.DOWNSTREAM:
            await self._pressed(str(frame.button.value))

    async def _pressed(self, key: str) -> None:
        self.pressed.append(key)
        logger.debug(f"{self}: the caller pressed a key")  # not which: it may be a PIN
        await emit_event(self, "on_dtmf", key)
        if self._collector is not None:
            self._collector.take(key)
            return
        first = not self._entry
        self._entry += key
        if first and self.config.interrupt and self._allow_interruptions:
            await self.broadcast_interruption()  # type: ignore[no-untyped-call]  # untyped in Pipecat
        if key == self.config.terminator:
            await self._flush()
        else:
            self._restart_pause()

    def _restart_pause(self) -> None:
        self._cancel_pause()
        self._pause_task = self.create_task(self._flush_after_pause(), "dtmf-pause")

    def _cancel_pause(self) -> None:
        if self._pause_task is not None:
            self._pause_task.cancel()
            self._pause_task = None

    async def _flush_after_pause(self) -> None:
        await asyncio.sleep(self.config.pause_secs)
        self._pause_task = None
        await self._flush()

    async def _flush(self) -> None:
        """The entry is complete: its event, and (``as_text``) a user message the model
        answers."""
        self._cancel_pause()
        keys, self._entry = self._entry, ""
        if not keys:
            return
        await emit_event(self, "on_entry", keys)
        if self.config.as_text:
            text = self.config.text_format.format(keys=" ".join(keys))
            await self.push_frame(
                LLMMessagesAppendFrame(messages=[{"role": "user", "content": text}], run_llm=True)
            )

    async def _finish(self) -> None:
        self._ended = True
        self._cancel_pause()
        if self._entry:
            logger.debug(f"{self}: call ended with keys {self._entry!r} unsent")
            self._entry = ""
        if self._collector is not None:
            self._collector.end("call_ended")

    # ---- a tool waiting for keys -------------------------------------------------------------

    async def collect(
        self,
        count: int | None = None,
        *,
        timeout_secs: float = 10.0,
        terminator: str | None = "#",
    ) -> Digits:
        """The caller's next keys: ``count`` of them, or up to ``terminator``, whichever
        comes first, waiting at most ``timeout_secs`` (then what came so far, marked
        ``timeout``). Keys of an entry not yet sent to the context count as the first ones
        (a caller who starts typing while the bot still asks)."""
        if count is not None and count < 1:
            raise ValueError(f"collect(count={count}): give 1 or more, or None for any number")
        if not timeout_secs > 0:
            raise ValueError(f"collect(timeout_secs={timeout_secs}): give a number above 0")
        if terminator is not None and (len(terminator) != 1 or terminator not in KEYS):
            raise ValueError(f"collect(terminator={terminator!r}): not a keypad key")
        if self._collector is not None:
            raise RuntimeError("another tool is already collecting keys in this call")
        if self._ended:
            return Digits("", "call_ended")
        collector = _Collector(count, terminator)
        self._collector = collector
        self._cancel_pause()
        early, self._entry = self._entry, ""
        for key in early:
            collector.take(key)
        try:
            return await asyncio.wait_for(asyncio.shield(collector.done), timeout_secs)
        except TimeoutError:
            collector.end("timeout")
            return collector.done.result()
        finally:
            self._collector = None
