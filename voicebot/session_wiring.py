"""The pieces every kind of session wires the same way: voice (``voicebot.session``),
speech-to-speech (``voicebot.realtime_session``) and text (``voicebot.text_channel``).

Each builder lays out its own pipeline, in its own order; what a call keeps of itself (the
one context and its tools, the turn log fed from the conversation state, the worker with its
observers) is made here once, so the three kinds of session cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMAssistantAggregatorParams
from pipecat.processors.frame_processor import FrameProcessor

from voicebot.conversation import ConversationFeed, ConversationState
from voicebot.metrics.live import connect as connect_observability
from voicebot.metrics.turn_log import TurnLog
from voicebot.session_end import BoundedWorker
from voicebot.tools.caller import register_tools

if TYPE_CHECKING:
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams

    from voicebot.bot import Bot
    from voicebot.memory.memory import MemorySession
    from voicebot.providers.base import BuildContext
    from voicebot.tools.tool import Tool


def conversation_context(
    tools: Sequence[Tool],
    llm: Any,
    conversation: ConversationState,
    *,
    memory: MemorySession | None = None,
) -> tuple[LLMContext, list[FrameProcessor]]:
    """The call's one ``LLMContext`` (the system prompt travels in the LLM's settings, so it
    holds only the conversation) and, when there are tools, the ``ToolCaller`` stage that
    runs them. ``memory``: its tools (``remember``) join the bot's."""
    if memory is not None:
        tools = (*tools, *memory.tools)
    if not tools:
        return LLMContext([]), []
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

    context = LLMContext([], tools=ToolsSchema([t.to_function_schema() for t in tools]))
    return context, [register_tools(llm, tools, conversation)]


def words_check_reads(turn_strategies: Any, conversation: ConversationState, llm: Any) -> None:
    """Give a words check (``SmartTurn(text_check=...)``) what it reads at each check, from
    the one place each is kept: what the caller last heard the bot say (the conversation
    state) and the system prompt as it is now (the LLM's settings, which
    ``Session.update(system_prompt=...)`` changes; a fallback group's first member, which
    the update reaches too)."""
    service = (getattr(llm, "services", None) or [llm])[0]

    def system_prompt() -> str | None:
        prompt = getattr(getattr(service, "settings", None), "system_instruction", None)
        return prompt if isinstance(prompt, str) else None

    for strategy in turn_strategies.stop or []:
        strategy = getattr(strategy, "inner", strategy)
        if hasattr(strategy, "bot_words"):
            strategy.bot_words = lambda: conversation.last_heard
            strategy.system_prompt = system_prompt


def custom_stages(bot: Bot) -> Callable[[str], list[FrameProcessor]]:
    """``stages("before_llm")``: new instances of the bot's processors at that point (a
    factory per session, so no two sessions share one)."""
    from voicebot.custom_processors import make_processor

    def stages(point: str) -> list[FrameProcessor]:
        return [make_processor(p) for p in bot.processors.get(point, ())]  # type: ignore[call-overload]

    return stages


def track_turns(
    turn_log: TurnLog,
    conversation: ConversationState,
    user_aggregator: Any,
    assistant_aggregator: Any,
) -> ConversationFeed:
    """The turn log reads the conversation state (the one place that knows who is speaking
    and which turn it is) through the feed, and the aggregators' turn events."""
    feed = ConversationFeed(conversation)  # the state, and the turn log's one task
    turn_log.listen(feed)
    turn_log.attach(user_aggregator, assistant_aggregator)
    return feed


def assistant_params(memory: MemorySession | None, llm: Any) -> LLMAssistantAggregatorParams:
    """Pipecat's context summarization, when the bot's Memory asks for it."""
    config = memory.memory.summarization_config(llm) if memory is not None else None
    return LLMAssistantAggregatorParams(
        enable_auto_context_summarization=config is not None,
        auto_context_summarization_config=config,
    )


def audio_params(ctx: BuildContext) -> PipelineParams:
    """A voice session's worker parameters: the call's audio rates, metrics on."""
    from pipecat.pipeline.worker import PipelineParams

    return PipelineParams(
        audio_in_sample_rate=ctx.audio_in_sample_rate,
        audio_out_sample_rate=ctx.audio_out_sample_rate,
        enable_metrics=True,
    )


def start_worker(
    pipeline: Pipeline,
    bot: Bot,
    turn_log: TurnLog,
    feed: ConversationFeed,
    *,
    params: PipelineParams,
    rtvi: bool,
    idle_timeout_secs: float | None,
) -> BoundedWorker:
    """The session's worker (an end or cancel that cannot get through is bounded), with the
    state leading every stage, and the turn log, metrics and tracing observing it."""
    worker = BoundedWorker(
        pipeline,
        params=params,
        enable_rtvi=rtvi,
        # Pipecat's OpenTelemetry spans hang off its turn tracking: both on, or both off.
        enable_turn_tracking=bot.tracing,
        enable_tracing=bot.tracing,
        conversation_id=turn_log.session_id,
        idle_timeout_secs=idle_timeout_secs,
        cancel_runner_on_idle_timeout=False,
    )
    feed.install(worker)  # the state leads every stage; the turn log writes in order
    connect_observability(
        turn_log,
        worker,
        on_turn=bot.on_turn,
        turns_jsonl=bot.turns_jsonl,
        prometheus=bot.prometheus,
        tracing=bot.tracing,
    )
    return worker


def stt_hears_after_bot(stt: Any, conversation: ConversationState) -> bool:
    """Give an STT that takes it (``expect_after_bot``: the offline Whisper, alone or in a
    failover group) what the caller last heard the bot say, from the conversation state,
    the one record of it. Returns whether one took it."""
    takers = [
        expect
        for member in getattr(stt, "members", [stt])
        if (expect := getattr(member, "expect_after_bot", None)) is not None
    ]
    for expect in takers:
        expect(lambda: conversation.last_heard)
    return bool(takers)
