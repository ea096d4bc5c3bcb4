"""How a ``Bot`` spec becomes one running Pipecat pipeline.

The pipeline, in order (custom processors at the named insertion points)::

    transport.input → [after_input] → STT → [after_stt] → (RetrievalStarter) → user context
    aggregator (VAD and turn detection live here) → (KnowledgeInjector) → [before_llm] → LLM
    → (ToolCaller) → [before_tts] → clauses → TTS → [after_tts] → HeardTextSynthesis →
    transport.output → HeardTextPlayback → assistant context aggregator

The stages in parentheses are voicebot's own, there when the spec asks for them (RAG,
tools); ``clauses`` cuts the LLM's text for any TTS (``voicebot.text.clauses``); the two
``HeardText`` ones keep the context to what the caller heard after a barge-in
(``voicebot.processors.heard_text``).

One ``Session`` is one conversation with its own worker and runner, so an idle or failing
session never takes others down. A stage whose vendor cannot be reached or refuses its key
ends the session, and ``run()`` raises ``VendorError`` (``voicebot.failures``).

Longer than the project's ~400 lines: ``Session.build`` wires every stage in one place, in
pipeline order, so that a reader sees the whole call at once; splitting it would scatter
the order the comment above documents.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import EndFrame, Frame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from voicebot.conversation import ConversationState
from voicebot.conversation.barge_in import barge_in_pause, hint_backchannels
from voicebot.conversation.output_pause import InterruptionPassed, OutputPause
from voicebot.conversation.pauses import watch_pauses
from voicebot.failover.spec import connect as connect_failover
from voicebot.failures import FailureWatch
from voicebot.knowledge.retrieval import RetrievalRun
from voicebot.memory.memory import MemorySession
from voicebot.metrics.records import TurnRecord
from voicebot.metrics.stats import LatencySummary, summarize
from voicebot.metrics.turn_log import TurnHook, TurnLog
from voicebot.processors.dtmf import Keypad
from voicebot.processors.heard_text import track_heard_text
from voicebot.providers.base import BuildContext, TransportProvider
from voicebot.session_control import CallControls, IdleWatch, mute_strategies
from voicebot.session_end import finish_memory, run_until_released
from voicebot.session_wiring import (
    assistant_params,
    audio_params,
    conversation_context,
    custom_stages,
    start_worker,
    stt_hears_after_bot,
    track_turns,
    words_check_reads,
)
from voicebot.text.clauses import clause_text_processor

if TYPE_CHECKING:
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer
    from pipecat.turns.user_turn_strategies import UserTurnStrategies

    from voicebot.bot import Bot
    from voicebot.transports.transfer import TransferResult

    #: A session's VAD analyzer and end-of-turn strategies (``build_turn_detection``).
    TurnDetection = tuple[VADAnalyzer, UserTurnStrategies]


@dataclass
class Session(CallControls):
    """One conversation: the built pipeline and what it recorded.

    Everything Pipecat-level is reachable for users who go further: ``worker``
    (``PipelineWorker``), ``pipeline``, ``context`` (``LLMContext``), ``transport`` and the
    ``stt``/``llm``/``tts`` services.
    """

    bot: Bot
    transport: BaseTransport
    stt: FrameProcessor
    llm: Any
    tts: FrameProcessor
    context: LLMContext
    user_aggregator: Any
    assistant_aggregator: Any
    pipeline: Pipeline
    worker: PipelineWorker
    turn_log: TurnLog
    transport_provider: TransportProvider
    memory: MemorySession | None = None  # the bot's Memory for this session's user
    retrieval: RetrievalRun | None = None  # the bot's Retrieval: its stages and records
    failures: FailureWatch | None = None  # ends the session when a stage cannot work
    #: Keypad presses (DTMF): events, text in the context, digits a tool awaits.
    keypad: Keypad | None = None
    #: The stage that runs the bot's tools (None when the call started without tools).
    tool_caller: Any = None
    #: Who is speaking, whether an answer is owed: the one place (voicebot.conversation).
    conversation: ConversationState = field(default_factory=ConversationState)
    #: Speech over the bot: the pause and its rulings (None: interrupt at once; BargeIn).
    barge_in: OutputPause | None = None
    _runner: WorkerRunner | None = field(default=None, repr=False)

    @classmethod
    def build(
        cls,
        bot: Bot,
        transport_provider: TransportProvider,
        ctx: BuildContext,
        *,
        user_id: str | None = None,
        detection: TurnDetection | None = None,
    ) -> Session:
        """Build on the calling thread; ``detection`` is the VAD and turn strategies when
        already built (``build_async`` builds them in a worker thread)."""
        if bot.realtime is not None:  # speech-to-speech: one model instead of STT/LLM/TTS
            from voicebot.realtime_session import build_realtime_session

            return build_realtime_session(cls, bot, transport_provider, ctx, user_id=user_id)
        vad_analyzer, turn_strategies = detection or build_turn_detection(bot, ctx)
        pause = barge_in_pause(bot, turn_strategies, vad_analyzer)  # talked over: pause first
        memory = bot.memory.for_session(user_id) if bot.memory is not None else None

        transport = transport_provider.build(ctx)
        conversation = ConversationState()
        conversation.output = transport.output()
        if pause is not None:
            pause.attach(transport.output())
        use_conversation = getattr(transport, "use_conversation", None)
        if use_conversation is not None:  # a transport that acts on it (a recorded caller)
            use_conversation(conversation)
        stt = bot.stt.build(ctx)
        watch_pauses(vad_analyzer, stt, *(turn_strategies.stop or []))
        if pause is not None:
            hint_backchannels(bot, stt, conversation)
        stt_hears_after_bot(stt, conversation)
        llm = bot.llm.build(ctx)
        tts = bot.tts.build(ctx)
        words_check_reads(turn_strategies, conversation, llm)

        context, tool_caller = conversation_context(
            bot.tools, llm, conversation, memory=memory if bot.llm.supports_tools else None
        )

        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=vad_analyzer,
                user_turn_strategies=turn_strategies,
                user_mute_strategies=mute_strategies(bot.mute_caller),
                user_idle_timeout=bot.user_idle.after_secs if bot.user_idle else 0,
            ),
            assistant_params=assistant_params(memory, llm),
        )
        if memory is not None:
            memory.attach(assistant_aggregator, context)
        turn_log = TurnLog()
        feed = track_turns(turn_log, conversation, user_aggregator, assistant_aggregator)
        for stage in (stt, llm, tts):  # fallback groups: each switch goes on the turn record
            connect_failover(
                stage,
                apology=bot.apology,
                max_failed_turns=bot.max_failed_turns,
                on_switch=turn_log.add_failover,
            )
        # RAG: searched from the final transcript, added before the LLM within the budget.
        retrieval = bot.retrieval.for_session(turn_log.add_retrieval) if bot.retrieval else None
        starter = [retrieval.starter()] if retrieval is not None else []
        injector = [retrieval.injector()] if retrieval is not None else []

        extra = custom_stages(bot)
        keypad = Keypad(bot.dtmf, allow_interruptions=bot.allow_interruptions)

        pipeline = Pipeline(
            [
                transport.input(),
                *extra("after_input"),
                keypad,
                stt,
                *extra("after_stt"),
                *starter,
                user_aggregator,
                *injector,
                *extra("before_llm"),
                llm,
                *tool_caller,
                *extra("before_tts"),
                clause_text_processor(),  # LLM text cut at clauses, for any TTS
                tts,
                *extra("after_tts"),
                *track_heard_text(transport.output()),  # after a barge-in: what was heard
                *([InterruptionPassed(pause)] if pause is not None else []),
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
        failures.watch(stt, bot.stt, "stt")
        failures.watch(llm, bot.llm, "llm")
        failures.watch(tts, bot.tts, "tts")
        session = cls(
            bot=bot,
            transport=transport,
            stt=stt,
            llm=llm,
            tts=tts,
            context=context,
            user_aggregator=user_aggregator,
            assistant_aggregator=assistant_aggregator,
            pipeline=pipeline,
            worker=worker,
            turn_log=turn_log,
            transport_provider=transport_provider,
            memory=memory,
            retrieval=retrieval,
            failures=failures,
            conversation=conversation,
            barge_in=pause,
            keypad=keypad,
            tool_caller=tool_caller[0] if tool_caller else None,
        )
        if bot.user_idle is not None:
            IdleWatch(session, bot.user_idle).attach(user_aggregator)
        transport_provider.on_client_ready(transport, worker, session._client_ready)
        # The caller has left: stop now, nothing more is said (Session.cancel, bounded).
        transport_provider.on_client_gone(transport, worker, session.cancel)
        return session

    @classmethod
    async def build_async(
        cls,
        bot: Bot,
        transport_provider: TransportProvider,
        ctx: BuildContext,
        *,
        user_id: str | None = None,
    ) -> Session:
        """``build`` for a running event loop: the VAD and turn analyzers open ONNX
        sessions (Silero, smart-turn: ~150 ms warm, ~800 ms cold), so they are built in a
        worker thread while the loop keeps serving the calls already running; the rest
        (Pipecat processors, cheap) is built on the loop."""
        if bot.realtime is not None:  # no VAD or turn model to load
            return cls.build(bot, transport_provider, ctx, user_id=user_id)
        loop = asyncio.get_running_loop()
        detection = await loop.run_in_executor(_builder(), build_turn_detection, bot, ctx)
        return cls.build(bot, transport_provider, ctx, user_id=user_id, detection=detection)

    # ---- lifecycle -------------------------------------------------------------------------

    async def _client_ready(self) -> None:
        if self.bot.greeting:
            # Spoken text joins the context as the caller hears it (heard_text), so the
            # greeting is not written in beforehand.
            await self.worker.queue_frames([TTSSpeakFrame(self.bot.greeting)])

    async def end(self, *, goodbye: str | None = None) -> None:
        """Finish gracefully: what is queued is still spoken, then ``goodbye`` if given,
        then the pipeline stops. Bounded: once no bot audio has gone out for
        ``voicebot.session_end.END_QUIET_SECS`` (a vendor hung), the session is cancelled.
        When the caller has gone, use ``cancel()``: there is no one left to speak to."""
        frames: list[Frame] = [TTSSpeakFrame(goodbye)] if goodbye else []
        await self.worker.queue_frames([*frames, EndFrame()])

    async def cancel(self, reason: str | None = None) -> None:
        """Stop now (the caller has gone): whatever is being said or generated is dropped
        and every vendor call is cancelled. ``run()`` returns within about 1.5 s, however
        stuck a stage is; the outputs (recording, turn records, memory) are still written."""
        await self.worker.cancel(reason=reason)

    async def hang_up(self, *, goodbye: str | None = None) -> None:
        """The bot ends the call: ``end()``, whose ``EndFrame`` follows the goodbye's audio
        out of the transport. Pipecat's phone serializers hang up on that ``EndFrame`` (a
        REST hang-up where the carrier needs one), so nothing more is sent here; a goodbye
        a stuck vendor cannot play is given up on (``end()``), and the call still ends."""
        logger.info(f"voicebot session {self.id}: the bot hangs up")
        await self.end(goodbye=goodbye)

    async def transfer(self, to: str, **options: Any) -> TransferResult:
        """Hand the call to a human at ``to`` (an E.164 number or a SIP URI) with the handoff
        package: the bot says a line, then Twilio dials (REST ``<Dial>``) or the caller's
        phone is asked to (SIP REFER), and the session ends once the human has the call.
        ``options``: ``say``, ``reason``, ``on_handoff``, ``caller_id``, ``timeout_secs``
        (``voicebot.transports.transfer.transfer``, which says what happens when)."""
        from voicebot.transports.transfer import transfer

        return await transfer(self, to, **options)

    async def run(self, *, handle_sigint: bool = False) -> None:
        """Run until the transport or ``end()`` finishes the conversation.

        Raises ``VendorError`` when a stage's vendor could not be reached or refused its key
        (at start, or the LLM on its first request): the session ends at once rather than
        running on without ears or voice.
        """
        # Every task the pipeline starts copies this, so a tool finds its session. A weak
        # reference: contexts outlive the call in cancelled timers still queued in the
        # loop, and must not keep the session (and its models' state) alive.
        token = _current.set(weakref.ref(self))
        try:
            await self._run(handle_sigint)
        finally:
            _current.reset(token)

    def describe_stages(self) -> str:
        """The stages this session runs, for its first log line."""
        stages = " → ".join(p.describe() for p in self.bot.stages(self.transport_provider))
        if self.retrieval is not None:
            stages += f" + {self.retrieval.config.describe()}"
        return stages

    async def _run(self, handle_sigint: bool) -> None:
        self._runner = WorkerRunner(handle_sigint=handle_sigint)
        await self._runner.add_workers(self.worker)
        logger.info(f"voicebot session: {self.describe_stages()}")
        if self.bot.prometheus is not None:
            self.bot.prometheus.start()
        if self.memory is not None:
            await self.memory.start(self.context)  # the user's facts, before the first turn
        try:
            # Bounded once the transport has closed, whatever the vendors do (session_end).
            await run_until_released(self._runner, self.worker)
        finally:
            await self.turn_log.close()  # the last turn's hooks, then the close hooks
            if self.memory is not None:
                await finish_memory(self.memory, self.turns, self.id)  # transcript, extraction
        if self.failures is not None and self.failures.error is not None:
            raise self.failures.error

    # ---- results ---------------------------------------------------------------------------

    @property
    def turns(self) -> list[TurnRecord]:
        return self.turn_log.turns

    @property
    def id(self) -> str:
        """This conversation's id: ``TurnRecord.session_id`` and the trace's conversation.id."""
        return self.turn_log.session_id

    @property
    def latency(self) -> LatencySummary:
        """Voice-to-voice p50/p95/max over the user turns so far, and per-stage figures."""
        return summarize(self.turns)

    def handoff_package(self) -> dict[str, Any]:
        """JSON-able data for whoever takes the call over: transcript, summary so far, the
        user's memory and the tool calls (docs/memory.md)."""
        if self.memory is not None:
            return self.memory.handoff(self.turns, self.id)
        from voicebot.memory.memory import transcript

        entries = transcript(self.turns)
        return {
            "session_id": self.id,
            "user_id": None,
            "transcript": entries,
            "summary": None,
            "user_memory": {"facts": [], "learned_this_call": []},
            "tool_calls": [e for e in entries if e["role"] == "tool"],
        }

    def on_turn(self, hook: TurnHook) -> TurnHook:
        """Call ``hook(turn)`` with each completed ``TurnRecord`` (see
        ``voicebot.metrics.turn_log`` for when a turn is complete). Usable as a decorator."""
        return self.turn_log.on_turn(hook)


_current: contextvars.ContextVar[weakref.ref[Session]] = contextvars.ContextVar("voicebot_session")


def current_session() -> Session:
    """The session whose pipeline is running this code: for a tool (``end_call``,
    ``collect_digits``) or a hook, which Pipecat runs in tasks started by ``Session.run``."""
    session = _current.get(lambda: None)()
    if session is None:
        raise RuntimeError(
            "no voicebot session is running here: call this from a tool or hook of a "
            "running session (Session.run)"
        )
    return session


_builds: ThreadPoolExecutor | None = None


def _builder() -> ThreadPoolExecutor:
    """One low-priority thread for every session's model build: sessions that start at
    once are built one after another instead of all competing with the event loop (and
    the calls on it) for the CPU."""
    global _builds
    if _builds is None:
        _builds = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="voicebot-build", initializer=_lower_priority
        )
    return _builds


def _lower_priority() -> None:
    """Nice this thread (per thread on Linux), so the loop's thread wins the CPU."""
    # Not Linux, or not allowed: the thread runs at normal priority.
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def build_turn_detection(bot: Bot, ctx: BuildContext) -> TurnDetection:
    """The session's VAD analyzer and turn strategies: the part of a build that loads
    models, and so the part ``Session.build_async`` runs off the event loop."""
    return bot.vad.build(ctx), bot.turn.strategies(ctx)
