"""One session's conversation state: who is speaking, whether an answer is owed or under way,
which tool calls are running, which turn this is and what the bot said and the caller heard
in it. The one place these are derived from frames.

Before this module four stages each rebuilt the same facts from the frames passing them (the
tool caller, the turn log, the recorded-caller transport's end condition, the WAV input's
"did the VAD ever fire"), each at its own position in the pipeline, so they could disagree by
however long a frame took between them. Now one ``ConversationState`` per session is updated
by ``ConversationFeed`` (``voicebot.conversation.feed``) **inline, when a frame is first
pushed**, before the processor it is pushed to has seen it: every stage that reads the state
sees the frame's effect already, and all of them see the same thing. A stage built without a
session (a test pipeline, a user's own) gets its own state and feeds it the frames it sees
(``ConversationState.apply``), which is what each stage used to do.

What is *not* here, on purpose: facts that belong to a position in the pipeline. The heard-text
stage (``voicebot.processors.heard_text``) measures audio as the output transport releases it;
that is a fact about that place, not about the conversation. A turn *strategy*
(``voicebot.providers.turn_strategies``) runs inside Pipecat's user aggregator and decides
the turn before any of these frames exist, so it follows the VAD itself. Turn *records*
(texts, timings) are written by ``voicebot.metrics`` in the feed's one task, in frame order.

Signals, all Pipecat's own public frames:

- the caller: ``VADUserStarted/StoppedSpeakingFrame`` (speech as the VAD heard it) and
  ``UserStarted/StoppedSpeakingFrame`` (the turn strategy's ruling on it);
- turns (``voicebot.conversation.turn``): turn 0 is the opening (the greeting); each
  ``UserStoppedSpeakingFrame`` starts the next. Its ``said`` text is the text sent to be
  spoken (below); its ``heard`` text the assistant messages the context aggregator commits
  (``LLMContextAssistantTurnFrame``: what passed the output transport, and after a barge-in
  the heard-text stage's prefix and cut mark);
- the bot: ``BotStarted/StoppedSpeakingFrame`` (audio playing), text sent to be spoken
  (``LLMTextFrame``, ``TTSSpeakFrame``) until that audio starts;
- the model: asked (``LLMContextUserTurnFrame``; an upstream, non-speculative
  ``LLMContextFrame``; an ``LLMRunFrame``; a tool result with ``run_llm`` starts the wait),
  generating (``LLMFullResponseStartFrame`` .. its ``LLMFullResponseEndFrame``), and the
  reply still in the pipeline until that end frame has passed the output transport (the TTS
  queues it behind the reply's audio, so this covers synthesis and playback);
- tool calls: ``FunctionCallsStartedFrame`` until each call's cancel frame, or its result has
  passed the output transport (the tool stage may hold a result back until nobody is
  talking: until then it is still owed to the conversation).

An interruption drops whatever answer was owed or under way (Pipecat cancels the LLM and clears
the TTS, so the end frames may never come).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from pipecat.frames.frames import (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextAssistantTurnFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection

from voicebot.conversation.turn import Turn

#: Turns kept for ``turn_by_id`` (a reader a few turns behind still finds its turn).
RECENT_TURNS = 16

#: Frame types that change the state (one isinstance check for the 50 audio frames a second).
STATE_FRAMES: tuple[type[Frame], ...] = (
    BotStartedSpeakingFrame,
    BotStoppedSpeakingFrame,
    FunctionCallCancelFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMContextAssistantTurnFrame,
    LLMContextFrame,
    LLMContextUserTurnFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    LLMTextFrame,
    TTSSpeakFrame,
    UserStartedSpeakingFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)


@dataclass(frozen=True)
class ToolCallInFlight:
    """A tool call the model made that has neither a result nor a cancel yet."""

    tool_call_id: str
    name: str
    started_at: float
    #: The turn the model made it in (``Turn.id``).
    turn_id: int = 0


class ConversationState:
    """The facts of one conversation, updated frame by frame (see the module docstring).

    Read the attributes; do not set them: ``apply`` is the only writer. ``clock`` is the time
    source for every ``*_at``/``*_since`` (``time.monotonic`` by default, looked up at
    each call; a test may pass its own). ``output`` is the output transport processor, when
    known: the reply counts as in the pipeline until its end frame has been pushed on from
    there.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self.clock = clock if clock is not None else _monotonic
        #: Seconds since the epoch, read as Pipecat dates an assistant turn's start
        #: (``datetime.now``: a test's virtual ``time.time`` must not set the two apart).
        self.wall_clock = wall_clock if wall_clock is not None else _wall_now
        # When each recent utterance was sent to be spoken (wall clock), in which turn, and
        # whether an interruption cut it: a cut reply's heard text may be committed after
        # the caller's next turn has begun, and belongs to the turn it was said in
        # (``turn_said_at``).
        self._utterances: deque[_Utterance] = deque(maxlen=RECENT_TURNS)
        # A speech-to-speech model answers before the caller's turn is written, so its
        # replies start in the turn before their own (``words_written_late``).
        self._replies_lead_turns = False
        self.output: object | None = None
        #: The VAD hears the caller speak (speech, before any turn ruling).
        self.user_speaking = False
        #: The turn strategy says the caller has the floor (``UserStarted`` .. ``Stopped``).
        self.user_turn = False
        #: The VAD has heard the caller at least once in this session.
        self.user_speech_seen = False
        #: When the caller's last turn ended (``UserStoppedSpeakingFrame``), or None.
        self.user_turn_ended_at: float | None = None
        #: Bot audio is playing (``BotStarted`` .. ``BotStoppedSpeakingFrame``).
        self.bot_speaking = False
        #: Text went to be spoken and its audio has not started yet: since when.
        self.speech_pending_since: float | None = None
        #: When text last went to be spoken (``LLMTextFrame`` / ``TTSSpeakFrame``), or 0.
        self.last_speech_at = 0.0
        #: The model was asked to answer and its answer has not started.
        self.answer_owed = False
        #: Since when the model has been asked or has been answering; None when neither.
        self.responding_since: float | None = None
        #: The model's answer has started and its end has not passed the output yet.
        self.reply_in_pipeline = False
        #: When the model's latest answer started (``LLMFullResponseStartFrame``), or None.
        self.response_started_at: float | None = None
        #: The model's latest answer has had words in it (not only tool calls).
        self.response_had_text = False
        #: Tool calls running, by id.
        self.calls: dict[str, ToolCallInFlight] = {}
        #: Interruptions so far.
        self.interruptions = 0
        #: The turn under way (``Turn``: its id, what was said and heard in it).
        self.turn = Turn(0, self.clock())
        self._recent: deque[Turn] = deque([self.turn], maxlen=RECENT_TURNS)
        #: When anything above last changed (``clock()``).
        self.changed_at = self.clock()
        self._waiters: list[asyncio.Event] = []

    # ---- reading -------------------------------------------------------------------------

    @property
    def turn_id(self) -> int:
        """The id of the turn under way (0 until the caller's first turn is over)."""
        return self.turn.id

    def turn_by_id(self, turn_id: int) -> Turn | None:
        """One of the last ``RECENT_TURNS`` turns, by id; None when older or not begun."""
        for turn in reversed(self._recent):
            if turn.id == turn_id:
                return turn
        return None

    @property
    def last_heard(self) -> str:
        """What the caller last heard the bot say: this turn's ``heard``, or, when nothing of
        it was heard yet (the reply was cut before its audio, or has not begun), that of the
        latest of the last ``RECENT_TURNS`` turns that had any; "" when none had."""
        for turn in reversed(self._recent):
            if turn.heard:
                return turn.heard
        return ""

    @property
    def caller_has_floor(self) -> bool:
        """The caller is speaking or mid-turn."""
        return self.user_turn or self.user_speaking

    def pending(self) -> str | None:
        """What the conversation still waits for before the bot has nothing left to do, in
        a few words (for logs and the recorded-caller end condition); None when nothing."""
        if self.user_turn:
            return "the caller's turn to end"
        if self.answer_owed:
            return "the LLM to start its answer"
        if self.reply_in_pipeline:
            return "the LLM and TTS to finish the answer"
        if self.calls:
            return f"{len(self.calls)} tool call(s) to finish"
        if self.bot_speaking:
            return "the bot to stop speaking"
        return None

    async def wait_change(self, timeout: float) -> bool:
        """Wait until ``apply`` changes something, at most ``timeout`` seconds; whether it did."""
        event = asyncio.Event()
        self._waiters.append(event)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if event in self._waiters:
                self._waiters.remove(event)

    # ---- the one writer --------------------------------------------------------------------

    def apply(self, frame: Frame, direction: FrameDirection, source: object | None = None) -> bool:
        """Take one frame into account; whether the state changed.

        Call it with each frame's first push (``ConversationFeed`` does), plus every push
        of an ``LLMFullResponseEndFrame`` and a ``FunctionCallResultFrame`` so the one
        leaving ``output`` is seen. Of the
        upstream frames only the bot's speech and requests to the model count: a broadcast
        frame also has an upstream copy, which would count twice.
        """
        if not isinstance(frame, STATE_FRAMES):
            return False
        now = self.clock()
        if isinstance(frame, LLMFullResponseEndFrame):
            if source is not None and source is self.output:
                self.reply_in_pipeline = False
            elif self.responding_since is not None:
                self.responding_since = None  # the model is done; its audio may not be
                if self.output is None:
                    self.reply_in_pipeline = False
            else:
                return False
        elif isinstance(frame, BotStartedSpeakingFrame):
            if self.bot_speaking:
                return False
            self.bot_speaking = True
            self.speech_pending_since = None
        elif isinstance(frame, BotStoppedSpeakingFrame):
            if not self.bot_speaking:
                return False
            self.bot_speaking = False
            self.speech_pending_since = None
        elif isinstance(frame, LLMRunFrame):
            self._asked(now)  # either way: the assistant aggregator runs it downstream
        elif isinstance(frame, LLMContextFrame):
            if direction != FrameDirection.UPSTREAM or frame.speculation:
                return False  # downstream: a context after a reply, nothing asked
            self._asked(now)
        elif direction == FrameDirection.UPSTREAM:
            return False
        elif isinstance(frame, LLMContextUserTurnFrame):
            self._asked(now)
        elif isinstance(frame, LLMContextAssistantTurnFrame):
            if not self.turn_said_at(frame.timestamp).hear(frame.text):
                return False
        elif isinstance(frame, FunctionCallResultFrame):
            if self.output is not None and source is not self.output:
                return False  # held by the tool stage, or on its way: still in flight
            if self.calls.pop(frame.tool_call_id, None) is None:
                return False
            if frame.run_llm and self.responding_since is None:
                # The assistant aggregator asks the model next (an upstream context frame).
                self.responding_since = now
        elif isinstance(frame, FunctionCallCancelFrame):
            if self.calls.pop(frame.tool_call_id, None) is None:
                return False
        elif isinstance(frame, FunctionCallsStartedFrame):
            for call in frame.function_calls:
                self.calls[call.tool_call_id] = ToolCallInFlight(
                    call.tool_call_id, call.function_name, now, self.turn.id
                )
        elif isinstance(frame, VADUserStartedSpeakingFrame):
            self.user_speaking = self.user_speech_seen = True
        elif isinstance(frame, VADUserStoppedSpeakingFrame):
            self.user_speaking = False
        elif isinstance(frame, UserStartedSpeakingFrame):
            self.user_turn = True
        elif isinstance(frame, UserStoppedSpeakingFrame):
            self.user_turn = False
            self.user_turn_ended_at = now
            self.turn = Turn(self.turn.id + 1, now)
            self._recent.append(self.turn)
        elif isinstance(frame, LLMFullResponseStartFrame):
            self.answer_owed = self.response_had_text = False
            self.responding_since = self.response_started_at = now
            self.reply_in_pipeline = True
            self.turn.new_utterance()
            self._utterances.append(_Utterance(self.wall_clock(), self.turn))
        elif isinstance(frame, InterruptionFrame):
            self.interruptions += 1
            for utterance in self._utterances:
                utterance.cut = True
            self.answer_owed = self.reply_in_pipeline = False
            self.responding_since = self.speech_pending_since = None
        elif isinstance(frame, (LLMTextFrame, TTSSpeakFrame)):
            self._said(frame)
            if not frame.text.strip():
                return False
            self.last_speech_at = now
            if isinstance(frame, LLMTextFrame):
                self.response_had_text = True
            if not self.bot_speaking and self.speech_pending_since is None:
                self.speech_pending_since = now
        else:  # pragma: no cover - every STATE_FRAMES type is handled above
            return False
        self.changed_at = now
        for event in self._waiters:
            event.set()
        return True

    def _said(self, frame: LLMTextFrame | TTSSpeakFrame) -> None:
        """Add ``frame``'s text to what the bot said this turn (a space-only LLM token too:
        it is the spacing between words)."""
        if isinstance(frame, TTSSpeakFrame):
            self._utterances.append(_Utterance(self.wall_clock(), self.turn))
            self.turn.new_utterance()
            self.turn.say(frame.text, False)
            self.turn.new_utterance()
        elif not frame.skip_tts:
            self.turn.say(frame.text, frame.includes_inter_frame_spaces)

    def turn_said_at(self, timestamp: str) -> Turn:
        """The turn a committed reply belongs to, from the time Pipecat's assistant
        aggregator dates its start with (``timestamp``, ISO 8601 to the millisecond): when
        the utterance sent to be spoken last by then (the aggregator, at the pipeline's end,
        sees it after this state does) was cut by an interruption, that utterance's turn;
        otherwise, and always for a speech-to-speech model (which starts answering before the
        caller's turn is written), the turn under way."""
        if self._replies_lead_turns:
            return self.turn  # a reply's start does not say its turn there
        try:
            at = datetime.fromisoformat(timestamp).timestamp() + 0.001  # its ms were cut
        except (TypeError, ValueError):
            return self.turn
        found = None
        for utterance in self._utterances:
            if utterance.said_at <= at:
                found = utterance
        return found.turn if found is not None and found.cut else self.turn

    def words_written_late(self) -> None:
        """The caller's words reached the context after a speech-to-speech model had started
        answering them: Pipecat's realtime mode writes them once the model's transcript
        arrives, with the frame a cascaded bot asks its LLM with (``LLMContextUserTurnFrame``).
        That write asks nothing (the model answered on its own when it ruled the turn over),
        so no answer is owed for it."""
        self.answer_owed = False
        self._replies_lead_turns = True
        started = self.response_started_at
        if self.responding_since is not None and (
            started is None or self.responding_since > started
        ):
            self.responding_since = None  # set by the write, not by the model

    def _asked(self, now: float) -> None:
        self.answer_owed = True
        if self.responding_since is None:
            self.responding_since = now


@dataclass
class _Utterance:
    said_at: float  # wall clock
    turn: Turn
    cut: bool = False


def _wall_now() -> float:
    return datetime.now(UTC).timestamp()


def _monotonic() -> float:
    """``time.monotonic``, looked up at each call (a test's virtual clock replaces it)."""
    return time.monotonic()
