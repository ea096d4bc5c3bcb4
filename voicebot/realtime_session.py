"""How a ``Bot(realtime=...)`` spec becomes one running Pipecat pipeline (speech-to-speech).

The pipeline, in order, as Pipecat's realtime examples build it::

    transport.input → [after_input] → keypad → user context aggregator → [before_llm]
    → realtime model (+ ToolCaller) → [after_tts] → HeardTextSynthesis → transport.output
    → HeardTextPlayback → assistant context aggregator

There is no STT, VAD, turn detector, LLM or TTS of the bot's own: the model hears the audio,
rules when the caller's turn is over (its server VAD, announced as Pipecat's proposed-turn
frames, which the user aggregator turns into the usual turn frames) and speaks. The
aggregator pair notices the realtime service and runs in Pipecat's realtime mode: the
caller's words are written to the context once the model's transcript of them arrives.

What stays the same as a cascaded bot: tools (the ``ToolCaller``), memory (facts in the
context, the ``remember`` tool, the transcript saved at the end; no summarization: the model
keeps its own conversation), keypad, mute strategies, idle prompts, every transport, and the
``TurnRecord``s (``on_turn``, ``turns_jsonl``, latency from the caller's last sound to the
bot's first audio). The greeting is said by the model: an instruction to say it, and a
response (Pipecat's way); it is the model's voice, so the words may differ slightly. A bot
without a greeting has its conversation set up quietly (``quiet_start_context``): the
model's VAD answers each of the caller's turns, once.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from pipecat.frames.frames import (
    EndFrame,
    Frame,
    LLMMessagesAppendFrame,
    TTSSpeakFrame,
    UserStoppedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.observers.base_observer import FramePushed
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.aggregators.llm_response_universal import (
    LLMAssistantAggregatorParams,
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import ExternalUserTurnStrategies, UserTurnStrategies

from voicebot.conversation import ConversationState, Turn
from voicebot.failures import FailureWatch
from voicebot.metrics.turn_log import TurnLog
from voicebot.processors.dtmf import Keypad
from voicebot.processors.heard_text import track_heard_text
from voicebot.session_control import IdleWatch, mute_strategies
from voicebot.session_wiring import (
    audio_params,
    conversation_context,
    custom_stages,
    start_worker,
    track_turns,
)

if TYPE_CHECKING:
    from voicebot.bot import Bot
    from voicebot.providers.base import BuildContext, TransportProvider
    from voicebot.providers.openai_realtime import InstructionReplies
    from voicebot.session import Session

#: ``TurnRecord.user_text`` of a caller's turn until (or unless) the model's transcript of
#: it arrives: the turn is the caller's, its words are not known yet.
AWAITING_WORDS = "…"
DOWNSTREAM = FrameDirection.DOWNSTREAM


def greeting_instruction(greeting: str) -> str:
    """What the model is asked, to greet the caller with ``greeting``."""
    return f'Greet the caller now by saying exactly this, and nothing else: "{greeting}"'


def say_instruction(text: str) -> str:
    """What the model is asked, to say ``text`` (``session.say``, an idle nudge, a goodbye)."""
    return f'Say exactly this to the caller now, and nothing else: "{text}"'


#: How long an end waits for the model to speak a goodbye asked just before it (a model
#: that never answers must not hold the end for good).
GOODBYE_BOUND_SECS = 10.0


class RealtimeSpeech(FrameProcessor):
    """Text to speak (``TTSSpeakFrame``: ``session.say``, idle nudges, a goodbye, a transfer's
    announcement), turned into what a speech-to-speech model understands: an instruction to
    say it, and a response. An ``EndFrame`` that follows such a request waits until the
    response that took the instruction in is done (``replies``, the service's
    ``InstructionReplies``), at most ``GOODBYE_BOUND_SECS``: its audio is then ahead of the
    ``EndFrame``, which the output plays out before it stops, so a goodbye is heard."""

    def __init__(self, replies: InstructionReplies) -> None:
        super().__init__(name="RealtimeSpeech")
        self.replies = replies

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSSpeakFrame) and direction == DOWNSTREAM:
            if frame.text.strip():
                self.replies.asked()
                item: Any = {"role": "developer", "content": say_instruction(frame.text)}
                await self.push_frame(LLMMessagesAppendFrame([item], run_llm=True), direction)
            return
        if isinstance(frame, EndFrame) and not self.replies.answered.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.replies.answered.wait(), GOODBYE_BOUND_SECS)
        await self.push_frame(frame, direction)


class RealtimeTurnLog(TurnLog):
    """A ``TurnLog`` for a model that answers as soon as it rules the caller's turn over
    and transcribes the caller afterwards.

    The caller's record opens at the model's ruling itself (the ``VADUserStoppedSpeakingFrame``
    the service pushes ahead of its answer), in frame order: the user aggregator's turn frame
    and its report of the turn can trail the model's first answer frames (a tool call would
    land on the turn before). It takes the id of the state's turn to come, which joins the
    record at its ``UserStoppedSpeakingFrame`` (the record then takes its texts from it). In
    Pipecat's realtime mode the report has no words: ``user_text`` is ``AWAITING_WORDS``,
    so the record counts as the caller's (its latency is kept), until ``words_heard`` gives
    the model's transcript.
    """

    def __init__(self, session_id: str | None = None) -> None:
        super().__init__(session_id)
        self.awaiting_index: int | None = None
        self._unjoined: int | None = None  # a record opened before its state's turn began

    async def on_push_frame(self, data: FramePushed) -> None:
        await super().on_push_frame(data)
        frame = data.frame
        if data.direction != DOWNSTREAM:
            return
        if isinstance(frame, VADUserStoppedSpeakingFrame):
            # Numbered as the state's turn that this ruling's UserStoppedSpeakingFrame starts
            # (with no greeting, the state's turn now is the opening: the caller's first
            # turn is 1, and each record's words come from its own turn), which joins it.
            state = self.conversation
            upcoming = Turn(state.turn.id + 1, state.clock())
            await super()._on_user_turn_stopped(upcoming, None, None, None, None)
            record = self.turns[-1]
            if self._turn_of.get(record.index) is upcoming:
                del self._turn_of[record.index]  # a stand-in: only the state's own turn joins
            record.user_text = AWAITING_WORDS
            self.awaiting_index = self._unjoined = record.index
        elif isinstance(frame, UserStoppedSpeakingFrame) and self._unjoined is not None:
            turn = self.conversation.turn
            if turn.id == self._unjoined:
                self._turn_of[turn.id] = turn
            self._unjoined = None

    async def _on_user_turn_stopped(self, *_args: Any) -> None:
        """The aggregator's report: the record is open already (at the model's ruling)."""

    def words_heard(self, text: str) -> None:
        """The model's transcript of the caller's latest turn (the feed runs this in order,
        after that turn's record opened)."""
        record = next((t for t in reversed(self.turns) if t.index == self.awaiting_index), None)
        if record is not None and text.strip():
            record.user_text = text.strip()
            self.awaiting_index = None


def model_turns(*, allow_interruptions: bool) -> UserTurnStrategies:
    """The caller's turns as the model rules them (Pipecat's recommendation for a realtime
    service, given up front: left out, Pipecat would first load its smart-turn model), the
    turn's end not waiting for a transcript (which comes after the model has answered)."""
    strategies = ExternalUserTurnStrategies(enable_interruptions=allow_interruptions)
    strategies.stop = [ExternalUserTurnStopStrategy(wait_for_transcript=False)]
    return strategies


def build_realtime_session(
    session_cls: type[Session],
    bot: Bot,
    transport_provider: TransportProvider,
    ctx: BuildContext,
    *,
    user_id: str | None = None,
) -> Session:
    """``Session.build`` for ``Bot(realtime=...)``: see the module docstring."""
    assert bot.realtime is not None
    memory = bot.memory.for_session(user_id) if bot.memory is not None else None
    transport = transport_provider.build(ctx)
    conversation = ConversationState()
    conversation.output = transport.output()
    use_conversation = getattr(transport, "use_conversation", None)
    if use_conversation is not None:  # a transport that acts on it (a recorded caller)
        use_conversation(conversation)
    realtime: Any = bot.realtime.build(ctx)  # the service voicebot_realtime_service makes

    context, tool_caller = conversation_context(bot.tools, realtime, conversation, memory=memory)
    if not bot.greeting:  # nothing to say first: the conversation is set up quietly
        realtime.quiet_start_context = context

    user_params = LLMUserAggregatorParams(
        user_turn_strategies=model_turns(allow_interruptions=bot.allow_interruptions),
        user_mute_strategies=mute_strategies(bot.mute_caller),
        user_idle_timeout=bot.user_idle.after_secs if bot.user_idle else 0,
    )
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context, user_params=user_params, assistant_params=LLMAssistantAggregatorParams()
    )
    turn_log = RealtimeTurnLog()
    feed = track_turns(turn_log, conversation, user_aggregator, assistant_aggregator)

    async def words_added(_aggregator: Any, message: Any) -> None:
        conversation.words_written_late()
        feed.post(turn_log.words_heard, str(getattr(message, "content", "") or ""))

    user_aggregator.add_event_handler("on_user_turn_message_added", words_added)

    extra = custom_stages(bot)
    keypad = Keypad(bot.dtmf, allow_interruptions=bot.allow_interruptions)
    pipeline = Pipeline(
        [
            transport.input(),
            *extra("after_input"),
            keypad,
            user_aggregator,
            *extra("before_llm"),
            RealtimeSpeech(realtime.instruction_replies),
            realtime,
            *tool_caller,
            *extra("after_tts"),
            *track_heard_text(transport.output()),
            assistant_aggregator,
        ]
    )
    worker = start_worker(
        pipeline,
        bot,
        turn_log,
        feed,
        params=audio_params(ctx),
        rtvi=transport_provider.rtvi,
        idle_timeout_secs=bot.idle_timeout_secs,
    )
    failures = FailureWatch(worker)
    failures.watch(transport.input(), transport_provider, "transport")
    failures.watch(transport.output(), transport_provider, "transport")
    failures.watch(realtime, bot.realtime, "llm")
    session = session_cls(
        bot=bot,
        transport=transport,
        stt=realtime,  # the one model hears, thinks and speaks
        llm=realtime,
        tts=realtime,
        context=context,
        user_aggregator=user_aggregator,
        assistant_aggregator=assistant_aggregator,
        pipeline=pipeline,
        worker=worker,
        turn_log=turn_log,
        transport_provider=transport_provider,
        memory=memory,
        failures=failures,
        conversation=conversation,
        keypad=keypad,
        tool_caller=tool_caller[0] if tool_caller else None,
    )
    if bot.user_idle is not None:
        IdleWatch(session, bot.user_idle).attach(user_aggregator)

    async def client_ready() -> None:
        if bot.greeting:
            instruction: Any = {"role": "developer", "content": greeting_instruction(bot.greeting)}
            await worker.queue_frames([LLMMessagesAppendFrame([instruction], run_llm=True)])

    transport_provider.on_client_ready(transport, worker, client_ready)
    transport_provider.on_client_gone(transport, worker, session.cancel)
    return session
