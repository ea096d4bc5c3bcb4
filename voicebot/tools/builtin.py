"""Tools and tool helpers voicebot ships for phone calls: ``end_call`` and ``collect_digits``.

``end_call`` is opt-in the way every tool is, ``Bot(tools=[end_call, ...])``, not a ``Bot``
flag: the model is offered it only when the bot should be able to hang up, its description
and goodbye can be changed (``end_call_tool(...)``) like any tool's, and the usual checks
(one tool per name) apply. Both find the running session through ``current_session()``
(``voicebot.session``), which Pipecat's tasks inherit from ``Session.run``; this module
imports neither Pipecat nor the session until a call runs, so a bot file stays cheap to load.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from loguru import logger

from voicebot.tools.tool import Tool, tool

if TYPE_CHECKING:
    from voicebot.processors.dtmf import Digits

DEFAULT_GOODBYE = "Goodbye!"
END_CALL_DESCRIPTION = (
    "Hang up the phone call. Call it only when the caller has said goodbye or asked to end "
    "the call, or the conversation is clearly over; say your goodbye in the same reply."
)


def end_call_tool(
    *,
    goodbye: str = DEFAULT_GOODBYE,
    name: str = "end_call",
    description: str = END_CALL_DESCRIPTION,
) -> Tool:
    """A tool that lets the model hang up: the goodbye is spoken, then the call ends.

    The goodbye is what the model said in the reply that called the tool; ``goodbye`` is
    said only when that reply had no words. The call then ends once the goodbye's audio has
    left the transport (``Session.hang_up``). The tool's own call never returns a result: a
    result would run the model again, and its next reply would race the hang-up.
    """

    async def end_call() -> None:
        from voicebot.session import current_session

        session = current_session()
        said_goodbye = session.conversation.response_had_text
        await session.hang_up(goodbye=None if said_goodbye else goodbye)
        # Ended with the session: Pipecat cancels calls in flight when the pipeline stops.
        await asyncio.Future()

    return tool(
        name=name,
        description=description,
        filler=None,
        apology=None,
    )(end_call)


#: The model may hang up: ``Bot(tools=[end_call])``.
end_call = end_call_tool()


async def collect_digits(
    count: int | None = None,
    *,
    timeout_secs: float = 10.0,
    terminator: str | None = "#",
) -> Digits:
    """From inside a tool: wait for the caller's keypad entry ("enter your PIN").

    ``count`` keys, or keys up to ``terminator``, whichever comes first, within
    ``timeout_secs``; returns ``Digits(keys, ended_by)`` where ``ended_by`` is ``"count"``,
    ``"terminator"``, ``"timeout"`` (``keys`` then holds what came) or ``"call_ended"``.
    While it waits, keys go to it instead of the context. Give the tool ``filler=None`` (and
    an ``ack`` such as "Please enter your PIN") so nothing else is said while the caller
    types.
    """
    from voicebot.session import current_session

    keypad = current_session().keypad
    if keypad is None:
        raise RuntimeError("this session has no keypad stage")
    digits = await keypad.collect(count, timeout_secs=timeout_secs, terminator=terminator)
    logger.debug(f"collect_digits: {len(digits.keys)} key(s), ended by {digits.ended_by}")
    return digits
