"""Tools and tool helpers voicebot ships for phone calls: ``end_call``, ``transfer_call_tool``
and ``collect_digits``.

``end_call`` is opt-in the way every tool is, ``Bot(tools=[end_call, ...])``, not a ``Bot``
flag: the model is offered it only when the bot should be able to hang up, its description
and goodbye can be changed (``end_call_tool(...)``) like any tool's, and the usual checks
(one tool per name) apply. A transfer needs a target, so it is only made by
``transfer_call_tool(to=...)``. All find the running session through ``current_session()``
(``voicebot.session``), which Pipecat's tasks inherit from ``Session.run``; this module
imports neither Pipecat nor the session until a call runs, so a bot file stays cheap to load.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.tools.tool import Tool, tool

if TYPE_CHECKING:
    from voicebot.processors.dtmf import Digits
    from voicebot.transports.transfer import HandoffHook

DEFAULT_GOODBYE = "Goodbye!"
END_CALL_DESCRIPTION = (
    "Hang up the phone call. Call it only when the caller has said goodbye or asked to end "
    "the call, or the conversation is clearly over; say your goodbye in the same reply."
)
#: What callers say to end a call, for the offline router (``Tool.examples``).
END_CALL_EXAMPLES = (
    "that's everything thanks goodbye",
    "ok bye now",
    "you can hang up now",
    "no that's all cheers bye",
    "i'm done thank you bye bye",
    "great thanks have a good day goodbye",
)


def end_call_tool(
    *,
    goodbye: str = DEFAULT_GOODBYE,
    name: str = "end_call",
    description: str = END_CALL_DESCRIPTION,
    examples: tuple[str, ...] | list[str] = END_CALL_EXAMPLES,
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
        examples=examples,
    )(end_call)


#: The model may hang up: ``Bot(tools=[end_call])``.
end_call = end_call_tool()

TRANSFER_DESCRIPTION = (
    "Transfer the phone call to a human colleague. Call it when the caller asks for a person, "
    "or needs something you cannot do. In `reason`, say in one sentence what the caller "
    "needs, for the colleague who takes the call."
)
#: What callers say to reach a person, for the offline router (``Tool.examples``).
TRANSFER_EXAMPLES = (
    "can i speak to a real person",
    "put me through to someone at reception",
    "i want to talk to a human",
    "transfer me to a member of staff please",
    "is there anyone there i can actually talk to",
    "get me your manager",
)


def transfer_call_tool(
    to: str,
    *,
    say: str = "Please hold while I put you through to a colleague.",
    on_handoff: HandoffHook | None = None,
    caller_id: str | None = None,
    timeout_secs: float = 60.0,
    name: str = "transfer_call",
    description: str = TRANSFER_DESCRIPTION,
    examples: tuple[str, ...] | list[str] = TRANSFER_EXAMPLES,
) -> Tool:
    """A tool that lets the model hand the call to a human at ``to`` (an E.164 number or a
    SIP URI; checked now, so a typo fails when the bot is defined).

    ``say`` is spoken first unless the model's reply that called the tool had words of its
    own. The handoff package (transcript, summary, memory, the model's ``reason``) goes to
    ``on_handoff`` before the human's phone rings (``Session.transfer``). Once the human has
    the call the session ends and the tool never returns; a transfer that fails returns
    ``{"transferred": False, "error": ...}`` so the model can tell the caller.
    """
    from voicebot.transports.transfer import TransferError, parse_target

    parse_target(to)

    async def transfer_call(reason: str) -> dict[str, Any]:
        from voicebot.session import current_session

        session = current_session()
        spoke = session.conversation.response_had_text
        try:
            result = await session.transfer(
                to,
                say=None if spoke else say,
                reason=reason,
                on_handoff=on_handoff,
                caller_id=caller_id,
                timeout_secs=timeout_secs,
            )
        except TransferError as e:
            logger.error(f"{name}: {e}")
            return {"transferred": False, "error": str(e)}
        if not result.transferred:
            return {"transferred": False, "error": result.detail}
        # Ended with the session, like end_call: a result would run the model again.
        await asyncio.Future()
        return {}  # not reached

    return tool(
        name=name,
        description=description,
        filler=None,
        apology=None,
        cancel_on_interruption=False,  # the caller speaking must not cancel a transfer under way
        examples=examples,
    )(transfer_call)


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
