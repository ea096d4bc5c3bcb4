"""How a ``Bot`` spec becomes one running Pipecat pipeline.

The pipeline, in order (custom processors at the named insertion points)::

    transport.input → [after_input] → STT → [after_stt] → user context aggregator (VAD and
    turn detection live here) → [before_llm] → LLM (runs tools) → [before_tts] → TTS →
    [after_tts] → transport.output → assistant context aggregator

One ``Session`` is one conversation with its own worker and runner, so an idle or failing
session never takes others down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import EndFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import (
    LLMContextAggregatorPair,
    LLMUserAggregatorParams,
)
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.transports.base_transport import BaseTransport
from pipecat.workers.runner import WorkerRunner

from voicebot.metrics.turns import TurnLog, TurnRecord
from voicebot.providers.base import BuildContext, TransportProvider
from voicebot.tools.caller import register_tools

if TYPE_CHECKING:
    from voicebot.bot import Bot


@dataclass
class Session:
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
    _runner: WorkerRunner | None = field(default=None, repr=False)

    @classmethod
    def build(cls, bot: Bot, transport_provider: TransportProvider, ctx: BuildContext) -> Session:
        from voicebot.bot import make_processor

        transport = transport_provider.build(ctx)
        stt = bot.stt.build(ctx)
        llm = bot.llm.build(ctx)
        tts = bot.tts.build(ctx)

        # The system prompt travels in the LLM's settings (ctx.system_prompt), as Pipecat 1.9+
        # wants, so the context holds only the conversation.
        messages: list[Any] = []
        tool_caller: list[FrameProcessor] = []  # the ToolCaller stage, when there are tools
        if bot.tools:
            from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

            context = LLMContext(
                messages, tools=ToolsSchema([t.to_function_schema() for t in bot.tools])
            )
            tool_caller.append(register_tools(llm, bot.tools))
        else:
            context = LLMContext(messages)

        user_aggregator, assistant_aggregator = LLMContextAggregatorPair(
            context,
            user_params=LLMUserAggregatorParams(
                vad_analyzer=bot.vad.build(ctx),
                user_turn_strategies=bot.turn.build(ctx),
            ),
        )

        def extra(point: str) -> list[FrameProcessor]:
            return [make_processor(p) for p in bot.processors.get(point, ())]  # type: ignore[call-overload]

        pipeline = Pipeline(
            [
                transport.input(),
                *extra("after_input"),
                stt,
                *extra("after_stt"),
                user_aggregator,
                *extra("before_llm"),
                llm,
                *tool_caller,
                *extra("before_tts"),
                tts,
                *extra("after_tts"),
                transport.output(),
                assistant_aggregator,
            ]
        )
        turn_log = TurnLog()
        turn_log.attach(user_aggregator, assistant_aggregator)
        worker = PipelineWorker(
            pipeline,
            params=PipelineParams(
                audio_in_sample_rate=ctx.audio_in_sample_rate,
                audio_out_sample_rate=ctx.audio_out_sample_rate,
                enable_metrics=True,
            ),
            observers=turn_log.observers,
            enable_rtvi=transport_provider.rtvi,
            enable_turn_tracking=False,
            idle_timeout_secs=bot.idle_timeout_secs,
            cancel_runner_on_idle_timeout=False,
        )
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
        )
        transport_provider.on_client_ready(transport, worker, session._client_ready)
        transport_provider.on_client_gone(transport, worker, session.end)
        return session

    # ---- lifecycle -------------------------------------------------------------------------

    async def _client_ready(self) -> None:
        if self.bot.greeting:
            self.context.add_message({"role": "assistant", "content": self.bot.greeting})
            await self.worker.queue_frames([TTSSpeakFrame(self.bot.greeting)])

    async def end(self) -> None:
        """Finish gracefully: what is queued is still spoken, then the pipeline stops."""
        await self.worker.queue_frame(EndFrame())

    async def run(self, *, handle_sigint: bool = False) -> None:
        """Run until the transport or ``end()`` finishes the conversation."""
        self._runner = WorkerRunner(handle_sigint=handle_sigint)
        await self._runner.add_workers(self.worker)
        logger.info(
            "voicebot session: "
            + " → ".join(p.describe() for p in self.bot.stages(self.transport_provider))
        )
        await self._runner.run()

    # ---- results ---------------------------------------------------------------------------

    @property
    def turns(self) -> list[TurnRecord]:
        return self.turn_log.turns
