"""The tool caller: runs ``Tool``s through Pipecat's function calling, and speaks for them.

Two halves, one object per session:

- **Handlers** registered with ``LLMService.register_function``: each validates the model's
  arguments, runs the function with its timeout and retries (``voicebot.tools.calls``), and
  hands Pipecat a result through ``result_callback``. Bad model output (arguments that are
  not JSON or do not fit the schema) and failing tools become error results the model reads
  and recovers from; nothing a tool or the model does takes the session down.
- **A pipeline stage** (``ToolCaller``, between the LLM and TTS) that sees the function-call
  frames go by and does what Pipecat leaves to the application: it says a tool's ``ack``
  when the call starts, a ``filler`` once when a blocking call leaves dead air (from the
  model's choice of the tool, when the model says so: ``voicebot.tools.frames``), an
  ``apology`` when a call times out (or when a call raised and the model, told of the
  error, found nothing to say), and holds a background call's result until neither the
  bot nor the caller is talking, then lets it into the context so the model speaks it.
  Who is talking, and whether the model is answering, it reads from the session's
  ``ConversationState`` (``voicebot.conversation``); what it decides is its own.

Pipecat does the rest: ``cancel_on_interruption=False`` makes a call asynchronous (a "still
running" placeholder in the context, the result written in place or as a later developer
message), calls of one LLM turn run concurrently (``run_in_parallel``), and the assistant
aggregator runs the model again once results are in.

(Over 400 lines: the stage's rules for speaking, holding and apologising read one state and
one set of calls, and are easier to check side by side than split.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger
from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    FunctionCallCancelFrame,
    FunctionCallInProgressFrame,
    FunctionCallResultFrame,
    FunctionCallsStartedFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMRunFrame,
    TTSSpeakFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voicebot.conversation.state import ConversationState
from voicebot.tools.calls import Outcome, run_tool
from voicebot.tools.frames import ToolChosenFrame, ToolDroppedFrame
from voicebot.tools.tool import Tool

#: After the caller's turn ends, how long a background result waits for the model to start
#: answering that turn before it is let in anyway (an empty turn brings no answer).
SETTLE_SECS = 0.5

#: Text handed to TTS that has not been heard after this long no longer counts as the bot
#: about to speak (a TTS that produced no audio must not hold results forever).
PENDING_SPEECH_SECS = 3.0

#: A model answer that was asked for and has not started after this long no longer counts.
RESPONSE_WAIT_SECS = 10.0


# ---- the pipeline stage ----------------------------------------------------------------------


@dataclass
class Utterance:
    """Something the tool caller said (rather than the model)."""

    kind: Literal["ack", "filler", "apology"]
    text: str
    tool: str
    at: float  # time.monotonic()


@dataclass
class _Batch:
    """The calls of one model turn (Pipecat's ``FunctionCallsStartedFrame``), by id."""

    names: dict[str, str]
    started: set[str] = field(default_factory=set)
    done: set[str] = field(default_factory=set)
    filler_said: bool = False

    @property
    def ids(self) -> set[str]:
        return set(self.names)

    def outstanding(self) -> set[str]:
        """Calls not finished yet, including those whose handler has not started."""
        return self.ids - self.done


@dataclass
class _Call:
    tool_call_id: str
    name: str
    tool: Tool | None
    started_at: float
    batch: _Batch | None
    filler_task: asyncio.Task[None] | None = None

    @property
    def background(self) -> bool:
        return self.tool is not None and self.tool.policy == "background"


@dataclass
class _Held:
    frame: FunctionCallResultFrame
    call: _Call | None
    outcome: Outcome | None


class ToolCaller(FrameProcessor):
    """voicebot's tool stage, between the LLM and TTS; see the module docstring.

    ``said`` lists what it said (acks, fillers, apologies) for tests and logs; all of it
    goes into the context and the turn's transcript when spoken, like any bot speech.

    After a call fails, the model runs with an error result, so it can tell the caller
    what went wrong and offer a way on. A timeout is apologised for at once (the caller
    has waited long enough already), and the result says so; a call that raised is
    apologised for only if the model's answer to the error has no words in it.
    """

    def __init__(
        self,
        tools: Sequence[Tool],
        *,
        conversation: ConversationState | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.tools = {t.name: t for t in tools}
        self.said: list[Utterance] = []
        #: Who is speaking, whether the model is answering: the session's state, or (built
        #: outside a session) one of its own, fed the frames this stage sees and pushes.
        self.conversation = conversation if conversation is not None else ConversationState()
        self._own_state = conversation is None
        self._outcomes: dict[str, Outcome] = {}
        self._calls: dict[str, _Call] = {}
        self._batches: dict[str, _Batch] = {}  # by tool_call_id
        self._held: list[_Held] = []
        self._release_task: asyncio.Task[None] | None = None
        # The tool caller's own policy, on top of the conversation's state.
        self._filler_said_at: float | None = None
        self._response_called_tools = False
        self._apology_owed: tuple[str, str] | None = None  # (text, tools), until answered
        self._apology_armed = False  # a model answer started since the apology was owed

    # ---- registration (the handlers) ---------------------------------------------------------

    def register(self, llm: Any) -> None:
        """Register a handler for each tool on a Pipecat ``LLMService``."""
        for tool in self.tools.values():
            llm.register_function(
                tool.name,
                self._handler(tool),
                cancel_on_interruption=tool.interruptible,
                cancellable_by_llm=tool.cancellable_by_llm,
            )

    def _handler(self, tool: Tool) -> Any:
        async def handle(params: Any) -> None:
            result, outcome = await run_tool(tool, params.arguments)
            self._outcomes[params.tool_call_id] = outcome
            await params.result_callback(result)

        return handle

    # ---- the conversation's state ------------------------------------------------------------

    @property
    def user_speaking(self) -> bool:
        return self.conversation.caller_has_floor

    @property
    def quiet(self) -> bool:
        """Nobody is talking, nor about to: the caller, the bot, or the model."""
        state = self.conversation
        now = state.clock()
        if state.caller_has_floor or state.bot_speaking or self._settling(now):
            return False
        since = state.responding_since
        if since is not None and now - since < RESPONSE_WAIT_SECS:
            return False
        pending = state.speech_pending_since
        return pending is None or now - pending >= PENDING_SPEECH_SECS

    def _settling(self, now: float) -> bool:
        """The caller's turn ended a moment ago and the model has not started answering it."""
        state = self.conversation
        ended = state.user_turn_ended_at
        if ended is None or now >= ended + SETTLE_SECS:
            return False
        started = state.response_started_at
        return started is None or started < ended

    async def _push(self, frame: Frame, direction: FrameDirection) -> None:
        """Push a frame this stage makes; its own state (if it has one) takes it in first,
        as the session's feed does for the session's state."""
        if self._own_state:
            self.conversation.apply(frame, direction)
        await self.push_frame(frame, direction)

    # ---- frames ------------------------------------------------------------------------------

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, EndFrame):
            await self._stop()
            await self._release(force=True)  # into the context before the session ends
        elif isinstance(frame, CancelFrame):
            await self._stop()
        if self._own_state:
            self.conversation.apply(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame):
            self._apology_armed = self._apology_owed is not None
        elif isinstance(frame, FunctionCallsStartedFrame):
            # A system frame: it may overtake its answer's start, so this is cleared at the
            # answer's end (after _maybe_apologise has read it), not at its start.
            self._response_called_tools = True
        elif isinstance(frame, InterruptionFrame):
            self._apology_owed = None  # the caller has moved on
        if isinstance(frame, LLMFullResponseEndFrame):
            await self.push_frame(frame, direction)
            await self._maybe_apologise()
            self._response_called_tools = False
            return
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, FunctionCallsStartedFrame):
                batch = _Batch({c.tool_call_id: c.function_name for c in frame.function_calls})
                for tool_call_id in batch.ids:
                    self._batches[tool_call_id] = batch
            elif isinstance(frame, FunctionCallInProgressFrame):
                await self.push_frame(frame, direction)
                await self._call_started(frame)
                return
            elif isinstance(frame, FunctionCallResultFrame):
                await self._call_finished(frame)
                return
            elif isinstance(frame, FunctionCallCancelFrame):
                self._forget(frame.tool_call_id)
            elif isinstance(frame, ToolChosenFrame):  # ours, from the LLM: not passed on
                self._chosen(frame)
                return
            elif isinstance(frame, ToolDroppedFrame):
                self._forget(frame.tool_call_id)
                return
            elif isinstance(frame, InterruptionFrame):
                # The caller spoke: no filler for what was asked before.
                for call in self._calls.values():
                    self._cancel_filler(call)
        await self.push_frame(frame, direction)

    def _chosen(self, frame: ToolChosenFrame) -> None:
        """The model chose a tool and is still writing its arguments: the call's silence,
        and so its filler's wait, starts now; if the model expects to answer later than the
        wait, the filler is said at once (``voicebot.tools.frames``). A tool with an ``ack``
        says it when the call starts, as always."""
        tool = self.tools.get(frame.function_name)
        call = _Call(frame.tool_call_id, frame.function_name, tool, self.conversation.clock(), None)
        self._calls[frame.tool_call_id] = call
        if tool is not None and tool.policy == "blocking" and tool.filler and not tool.ack:
            later = (
                frame.answer_in_secs is not None and frame.answer_in_secs >= tool.filler_after_secs
            )
            call.filler_task = self.create_task(
                self._filler_after(call, tool, 0.0 if later else None), f"filler::{tool.name}"
            )

    async def _call_started(self, frame: FunctionCallInProgressFrame) -> None:
        tool = self.tools.get(frame.function_name)
        batch = self._batches.pop(frame.tool_call_id, None)
        call = self._calls.get(frame.tool_call_id)  # chosen before its arguments were written
        chosen = call is not None
        if call is None:
            call = _Call(
                frame.tool_call_id, frame.function_name, tool, self.conversation.clock(), batch
            )
            self._calls[frame.tool_call_id] = call
        call.batch = batch
        if batch is not None:
            batch.started.add(frame.tool_call_id)
        if tool is None:
            return  # an unknown tool: Pipecat answers it at once
        if tool.ack and not self.conversation.response_had_text and not self.user_speaking:
            await self._say("ack", tool.ack, tool.name)
        elif tool.policy == "blocking" and tool.filler and not chosen:
            call.filler_task = self.create_task(
                self._filler_after(call, tool), f"filler::{tool.name}"
            )
        if batch is not None and batch.started == batch.ids:
            await self._maybe_let_model_acknowledge(batch)

    async def _maybe_let_model_acknowledge(self, batch: _Batch) -> None:
        """A turn of background calls only, one of them without an ``ack``, and the model
        said nothing: run it now over Pipecat's "still running" placeholders so it tells the
        caller what it is doing, rather than leave silence until the results are in."""
        tools = [self.tools.get(name) for name in batch.names.values()]
        if not all(t is not None and t.policy == "background" for t in tools):
            return
        if self.conversation.response_had_text or all(t is not None and t.ack for t in tools):
            return
        if not batch.outstanding() or self.user_speaking:
            return  # done already, or the caller's own turn will run the model
        # Downstream, behind the call's in-progress frame: the assistant aggregator has put
        # the "still running" placeholder in the context by the time it runs the model.
        # (Upstream, the run raced that frame and could ask the model without it.)
        await self._push(LLMRunFrame(), FrameDirection.DOWNSTREAM)

    async def _filler_after(self, call: _Call, tool: Tool, wait: float | None = None) -> None:
        await asyncio.sleep(tool.filler_after_secs if wait is None else wait)
        state = self.conversation
        if wait is not None and (self.user_speaking or state.bot_speaking):
            await asyncio.sleep(tool.filler_after_secs)  # not at once over speech: as usual
        call.filler_task = None
        if call.tool_call_id not in self._calls or tool.filler is None:
            return
        if call.batch is not None and call.batch.filler_said:
            return
        state = self.conversation
        last_was_filler = (
            self._filler_said_at is not None and state.last_speech_at <= self._filler_said_at
        )
        if last_was_filler or state.last_speech_at >= call.started_at:
            return  # never twice in a row; nor once the bot has said something
        if self.user_speaking or state.bot_speaking or state.speech_pending_since is not None:
            return  # never over the caller, nor over the bot
        if call.batch is not None:
            call.batch.filler_said = True
        await self._say("filler", tool.filler, tool.name)
        self._filler_said_at = state.last_speech_at

    async def _call_finished(self, frame: FunctionCallResultFrame) -> None:
        call = self._forget(frame.tool_call_id)
        outcome = self._outcomes.pop(frame.tool_call_id, None)
        if call is not None and call.batch is not None:
            # Pipecat runs the model once every call of the turn that it has seen start is
            # done, background ones included. voicebot answers once the blocking ones are,
            # counting those not started yet; a background result is answered on its own.
            batch = call.batch
            if call.background:
                frame.run_llm = True
            else:
                frame.run_llm = not any(
                    self._blocks_answer(batch.names[i]) for i in batch.outstanding()
                )
        outlives_turn = call is not None and call.tool is not None and not call.tool.interruptible
        if outlives_turn and (self._held or not self.quiet):
            self._held.append(_Held(frame, call, outcome))
            self._ensure_release_task()
            return
        await self._deliver([_Held(frame, call, outcome)])

    def _blocks_answer(self, name: str) -> bool:
        tool = self.tools.get(name)
        return tool is None or tool.policy == "blocking"

    def _forget(self, tool_call_id: str) -> _Call | None:
        batch = self._batches.pop(tool_call_id, None)
        call = self._calls.pop(tool_call_id, None)
        if call is not None:
            self._cancel_filler(call)
            batch = call.batch
        if batch is not None:
            batch.done.add(tool_call_id)
        return call

    def _cancel_filler(self, call: _Call) -> None:
        if call.filler_task is not None:
            call.filler_task.cancel()
            call.filler_task = None

    async def _deliver(self, results: list[_Held]) -> None:
        """Let results into the context: apologise for a timeout first (once), and owe an
        apology for a call that raised, said if the model's answer has no words."""
        for outcome in ("timeout", "failed"):
            failed = [r for r in results if r.outcome == outcome and r.call and r.call.tool]
            apology = next((r.call.tool.apology for r in failed if r.call and r.call.tool), None)
            if apology is None:
                continue
            names = ", ".join(r.frame.function_name for r in failed)
            if outcome == "timeout":
                await self._say("apology", apology, names)
                break
            self._apology_owed = (apology, names)
            self._apology_armed = False
        for r in results:
            await self._push(r.frame, FrameDirection.DOWNSTREAM)

    def _ensure_release_task(self) -> None:
        if self._release_task is None or self._release_task.done():
            self._release_task = self.create_task(self._release_when_quiet(), "release")

    async def _release_when_quiet(self) -> None:
        while self._held:
            if self.quiet:
                await self._release()
                return
            # Quiet comes with a change, or with time (a wait that ran out): look again then.
            await self.conversation.wait_change(0.1)

    async def _release(self, *, force: bool = False) -> None:
        if self._held and (force or self.quiet):
            held, self._held = self._held, []
            await self._deliver(held)

    async def _maybe_apologise(self) -> None:
        """At the end of a model answer: the apology owed for a failed call, if the answer
        to the error said nothing (and did not try another tool)."""
        if self._apology_owed is None or not self._apology_armed:
            return
        (text, tools), self._apology_owed = self._apology_owed, None
        if not self.conversation.response_had_text and not self._response_called_tools:
            await self._say("apology", text, tools)

    async def _say(self, kind: Literal["ack", "filler", "apology"], text: str, tool: str) -> None:
        self.said.append(Utterance(kind, text, tool, time.monotonic()))
        logger.debug(f"{self}: {kind} for {tool}: {text!r}")
        await self._push(TTSSpeakFrame(text), FrameDirection.DOWNSTREAM)

    async def _stop(self) -> None:
        for call in self._calls.values():
            self._cancel_filler(call)
        if self._release_task is not None:
            await self.cancel_task(self._release_task)
            self._release_task = None


def register_tools(
    llm: Any, tools: Sequence[Tool], conversation: ConversationState | None = None
) -> ToolCaller:
    """Register each tool's handler on a Pipecat ``LLMService``; returns the ``ToolCaller``
    stage that speaks for them, to put between the LLM and TTS."""
    caller = ToolCaller(tools, conversation=conversation)
    caller.register(llm)
    return caller
