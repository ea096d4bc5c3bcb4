"""Whether the bot still owes the caller an answer, read off the frames the transport sees.

A recorded caller's call ends once the file has played and the bot has nothing left to say.
"Quiet for a while" alone is not that: a slow LLM (or a tool still running) is quiet too,
and ending the call then loses the bot's last answer. So the transport follows Pipecat's own
frames as they pass its output (and, for the bot's speech, its input) and knows:

- the caller is mid-turn (``UserStartedSpeakingFrame`` .. ``UserStoppedSpeakingFrame``): the
  turn may yet need an answer;
- an answer is owed: the user aggregator wrote a turn with words to the context
  (``LLMContextUserTurnFrame``, broadcast just before it asks the LLM) or the assistant
  aggregator asked the LLM again after a tool result (an upstream ``LLMContextFrame``), and
  the LLM's ``LLMFullResponseStartFrame`` has not come by yet;
- an answer is being made: ``LLMFullResponseStartFrame`` .. ``LLMFullResponseEndFrame``.
  The TTS queues the end frame behind the reply's audio, so this covers synthesis too;
- tool calls are running (``FunctionCallsStartedFrame`` until each call's result or cancel);
- the bot is speaking (``BotStartedSpeakingFrame`` .. ``BotStoppedSpeakingFrame``).

An interruption drops whatever answer was under way (Pipecat cancels the LLM and clears the
TTS, so its end frame may never come): the caller's new turn takes over. A turn with no words
(nothing transcribed) asks the LLM nothing, so nothing is owed for it.
"""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection

#: Frames ``ReplyWatch.observe`` acts on (one isinstance check for the 50 audio frames a second).
WATCHED = (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
)


class ReplyWatch:
    """The conversation's state as far as ending a recorded call is concerned."""

    def __init__(self) -> None:
        self.user_turn = False
        self.owed = False  # the LLM was asked and its answer has not started
        self.answering = False  # the LLM's answer started and has not ended (incl. its TTS)
        self.calls: set[str] = set()  # tool calls started and not finished
        self.bot_speaking = False
        #: When any of the above last changed (``time.monotonic()``): quiet is counted from it.
        self.changed_at = 0.0

    def observe(self, frame: Frame, direction: FrameDirection) -> None:
        """Follow one frame passing the output transport (the bot's speech: anywhere).

        Of the upstream frames only the assistant aggregator's requests count: broadcast
        frames also have an upstream copy, which would count them twice and out of order.
        """
        if not isinstance(frame, WATCHED):
            return
        if isinstance(frame, BotStartedSpeakingFrame):
            self.bot_speaking = True
        elif isinstance(frame, BotStoppedSpeakingFrame):
            self.bot_speaking = False
        elif isinstance(frame, LLMContextFrame):
            if direction != FrameDirection.UPSTREAM or frame.speculation:
                return  # downstream: the context after a reply, nothing asked
            self.owed = True
        elif direction == FrameDirection.UPSTREAM:
            return
        elif isinstance(frame, LLMContextUserTurnFrame):
            self.owed = True
        elif isinstance(frame, UserStartedSpeakingFrame):
            self.user_turn = True
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self.user_turn = False
        elif isinstance(frame, LLMFullResponseStartFrame):
            self.owed = False
            self.answering = True
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.answering = False
        elif isinstance(frame, FunctionCallsStartedFrame):
            self.calls.update(c.tool_call_id for c in frame.function_calls)
        elif isinstance(frame, (FunctionCallResultFrame, FunctionCallCancelFrame)):
            self.calls.discard(frame.tool_call_id)
        elif isinstance(frame, InterruptionFrame):
            self.owed = self.answering = False
        self.changed_at = time.monotonic()

    def pending(self) -> str | None:
        """What the call is still waiting for, in a few words; None when nothing."""
        if self.user_turn:
            return "the caller's turn to end"
        if self.owed:
            return "the LLM to start its answer"
        if self.answering:
            return "the LLM and TTS to finish the answer"
        if self.calls:
            return f"{len(self.calls)} tool call(s) to finish"
        if self.bot_speaking:
            return "the bot to stop speaking"
        return None
