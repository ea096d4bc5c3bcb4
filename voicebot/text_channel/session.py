"""A ``Bot`` run as a text agent: the voice session's pipeline without its audio stages.

    TextInput → [after_input] → [after_stt] → (RetrievalStarter) → user context aggregator
    → (KnowledgeInjector) → [before_llm] → LLM → (ToolCaller) → [before_tts] → [after_tts]
    → TextOutput → assistant context aggregator

Skipped: the audio transport, VAD, STT, keypad, clause splitting, TTS and heard-text
tracking (``voicebot.transports``, ``voicebot.processors``, ``voicebot.text.clauses``), and
the bot's ``mute_caller`` and ``user_idle`` (a chat's messages are answered one at a time,
so there is nothing to mute; an idle chat is expired by whoever holds it, not nudged). The
rest is the voice session's own pieces, wired in the same order as ``Session.build``: the
user aggregator, RAG, memory by user id, tools (``ToolCaller``), any LLM provider including
``FallbackLLM``, ``TurnLog`` and its ``TurnRecord``s, ``on_turn``, ``turns_jsonl``,
Prometheus and tracing. The turn is Pipecat's external turn strategies resolving the
proposals ``TextInput`` sends (``voicebot.text_channel.transport``).

Only the LLM and the retrieval are checked and loaded (``check_text``): a text session
never builds or loads the bot's STT, TTS, VAD or turn models, so a bot whose voice stages
need keys or models this host lacks still chats.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.turns.user_start import ExternalUserTurnStartStrategy
from pipecat.turns.user_stop import ExternalUserTurnStopStrategy
from pipecat.turns.user_turn_strategies import UserTurnStrategies

from voicebot import redaction
from voicebot.conversation import ConversationState
from voicebot.errors import ConfigError, raise_all
from voicebot.failover.spec import connect as connect_failover
from voicebot.failover.spec import members
from voicebot.failures import FailureWatch
from voicebot.metrics.turn_log import TurnLog
from voicebot.session import Session
from voicebot.session_wiring import (
    assistant_params,
    conversation_context,
    custom_stages,
    start_worker,
    track_turns,
)
from voicebot.text_channel.transport import TextChannel, TextInput, TextOutput

if TYPE_CHECKING:
    from voicebot.bot import Bot
    from voicebot.memory.memory import MemorySession
    from voicebot.providers.base import BuildContext


@dataclass
class TextSession(Session):
    """A ``Session`` whose transport is text: ``stt`` is its ``TextInput`` (the typed words
    come in there) and ``tts`` its ``TextOutput`` (the reply's text leaves there). Every
    ``Session`` feature that does not need audio works on it (``turns``, ``latency``,
    ``handoff_package``, ``say``, ``update``, ``end``, tools' ``current_session()``)."""

    def describe_stages(self) -> str:
        stages = f"text → {self.bot.llm.describe()} → text"
        if self.retrieval is not None:
            stages += f" + {self.retrieval.config.describe()}"
        return stages


def check_text(bot: Bot, env: Mapping[str, str] | None = None) -> BuildContext:
    """The context a text session of ``bot`` is built in, or the ``ConfigError`` naming the
    fix: only the LLM (every fallback member) and the retrieval are checked."""
    if getattr(bot, "realtime", None) is not None:
        raise ConfigError(
            "this bot talks through a speech-to-speech model (Bot(realtime=...)), which takes "
            "audio, not text: give it a text LLM (llm=...) without realtime= to chat with it"
        )
    ctx = bot.build_context(env)
    names = [m.api_key_env for m in members(bot.llm) if m.api_key_env]
    redaction.protect(bot, ctx.env, names)
    checks: list[Callable[[], Any]] = [functools.partial(bot.llm.check, ctx)]
    if bot.retrieval is not None:
        checks.append(bot.retrieval.check)
    problems: list[ConfigError] = []
    for run_check in checks:
        try:
            run_check()
        except ConfigError as e:
            problems.append(e)
    raise_all(problems)
    return ctx


async def prepare_text(bot: Bot) -> None:
    """Load what a text session uses (the LLM, its tool index, the retrieval) in a worker
    thread, once per process: never the voice stages' models."""

    def prepare() -> None:
        bot.llm.prepare()
        if bot.tools and bot.llm.supports_tools:
            bot.llm.prepare_tools([t.to_function_schema() for t in bot.tools])
        bot.llm.prepare_conversation(bot.system_prompt, bot.greeting)
        if bot.retrieval is not None:
            bot.retrieval.prepare()

    await asyncio.to_thread(prepare)


def build_text_session(bot: Bot, ctx: BuildContext, *, user_id: str | None = None) -> TextSession:
    """One text conversation's pipeline, worker and context (see the module docstring)."""
    memory: MemorySession | None = bot.memory.for_session(user_id) if bot.memory else None
    provider = TextChannel()
    transport = provider.build(ctx)
    text_in, text_out = transport.input(), transport.output()
    conversation = ConversationState()
    conversation.output = text_out
    llm = bot.llm.build(ctx)

    context, tool_caller = conversation_context(
        bot.tools, llm, conversation, memory=memory if bot.llm.supports_tools else None
    )

    strategies = UserTurnStrategies(
        start=[ExternalUserTurnStartStrategy(enable_interruptions=False)],
        stop=[ExternalUserTurnStopStrategy()],
    )
    user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
        context,
        user_params=LLMUserAggregatorParams(user_turn_strategies=strategies),
        assistant_params=assistant_params(memory, llm),
    )
    if memory is not None:
        memory.attach(assistant_aggregator, context)
    turn_log = TurnLog()
    feed = track_turns(turn_log, conversation, user_aggregator, assistant_aggregator)
    connect_failover(
        llm,
        apology=bot.apology,
        max_failed_turns=bot.max_failed_turns,
        on_switch=turn_log.add_failover,
    )
    retrieval = bot.retrieval.for_session(turn_log.add_retrieval) if bot.retrieval else None
    starter = [retrieval.starter()] if retrieval is not None else []
    injector = [retrieval.injector()] if retrieval is not None else []

    extra = custom_stages(bot)
    pipeline = Pipeline(
        [
            text_in,
            *extra("after_input"),
            *extra("after_stt"),
            *starter,
            user_aggregator,
            *injector,
            *extra("before_llm"),
            llm,
            *tool_caller,
            *extra("before_tts"),
            *extra("after_tts"),
            text_out,
            assistant_aggregator,
        ]
    )
    worker = start_worker(
        pipeline,
        bot,
        turn_log,
        feed,
        params=PipelineParams(enable_metrics=True),
        rtvi=False,
        idle_timeout_secs=None,  # whoever holds the chat expires it (TextSessions)
    )
    failures = FailureWatch(worker)
    failures.watch(llm, bot.llm, "llm")
    session = TextSession(
        bot=bot,
        transport=transport,
        stt=text_in,
        llm=llm,
        tts=text_out,
        context=context,
        user_aggregator=user_aggregator,
        assistant_aggregator=assistant_aggregator,
        pipeline=pipeline,
        worker=worker,
        turn_log=turn_log,
        transport_provider=provider,
        memory=memory,
        retrieval=retrieval,
        failures=failures,
        conversation=conversation,
        tool_caller=tool_caller[0] if tool_caller else None,
    )
    if bot.greeting:
        greeting = bot.greeting

        async def greet() -> None:
            await worker.queue_frames([TTSSpeakFrame(greeting)])

        provider.on_client_ready(transport, worker, greet)
    logger.debug(f"voicebot text session {session.id} built for user {user_id!r}")
    return session


__all__ = ["TextInput", "TextOutput", "TextSession", "build_text_session", "check_text"]
