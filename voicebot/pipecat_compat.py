"""Every use of a private Pipecat member (a ``_name``), and every re-derived private algorithm.

voicebot is pinned to ``pipecat-ai>=1.14,<2``; Pipecat may change anything whose name starts
with ``_`` in any release. Keeping those uses here, one function or class each, means an
upgrade has one file to review, and ``tests/unit/test_pipecat_compat.py`` has one test per
member that fails naming the member and the Pipecat version when it changed. Everything else
in ``voicebot/`` uses Pipecat's public API only (``tests/unit/test_pipecat_compat.py`` also
scans for that). Fixes that belong upstream are written up in ``docs/upstream.md``.

The members used, as of Pipecat 1.14.0:

- ``PipelineWorker._observer``: the ``WorkerObserver`` the worker hands its processors at
  setup (``swap_worker_observer``).
- ``TTSService._stream_audio_frames_from_iterator``: PCM chunks to ``TTSAudioRawFrame``s,
  resampled, which every Pipecat TTS uses and none exposes (``stream_audio_frames``).
- ``LLMService._push_llm_text``: an LLM's text out, through Pipecat's turn-completion filter
  when that is on (``push_llm_text``).
- ``STTService._user_id``: the user a transcript is for (``stt_user_id``).
- ``BaseObject._register_event_handler`` / ``_call_event_handler``: a Pipecat object's own
  events (``register_event``, ``emit_event``).
- ``BaseOpenAILLMService._process_context``'s tool-call assembly, re-derived to see the calls
  it drops (``ToolCallRecorder``).
- Pipecat routing a frame by ``SystemFrame`` before anything else, so a text frame can also be
  a system frame (``SystemTTSTextFrame``).
- ``SileroVADAnalyzer._model`` (``SileroOnnxModel.session``) and
  ``LocalSmartTurnAnalyzerV3._session``: the ONNX sessions, shared by all calls of a process;
  the two ``__init__``s re-derived less the session build (``silero_analyzer_on_session``,
  ``smart_turn_analyzer_on_session``; tested in ``tests/unit/test_shared_onnx_sessions.py``).
- ``VADAnalyzer._run_analyzer(buffer)``: the VAD's per-frame step, which Pipecat runs in a
  one-thread executor; Silero's runs on the event loop instead (``silero_analyzer_on_session``).
- ``LocalSmartTurnAnalyzerV3._predict_endpoint``: its result's ``probability``, decided
  against our own threshold instead of its fixed 0.5 (``smart_turn_analyzer_on_session``'s
  ``threshold``).
- ``BaseSmartTurn._audio_buffer`` (a list of ``(monotonic time, int16 array)``, replaced by
  a new list when cleared), ``_speech_triggered``, ``_process_speech_segment(buffer)``,
  ``_model_executor`` and ``_clear(state)``: smart-turn's verdict started at the caller's
  pause, before the VAD's stop (``caller_paused``; ``SmartTurn(early_secs=...)``).

One file on purpose, so it is longer than the ~400 lines a module is kept to elsewhere.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loguru import logger
from pipecat.frames.frames import Frame, SystemFrame, TTSTextFrame
from pipecat.observers.base_observer import BaseObserver

if TYPE_CHECKING:
    from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams, VADState
    from pipecat.services.llm_service import LLMService
    from pipecat.services.stt_service import STTService
    from pipecat.services.tts_service import TTSService

#: The Pipecat these shims were checked against, and the one installed.
CHECKED_AGAINST = "1.14.0"
PIPECAT_VERSION = importlib.metadata.version("pipecat-ai")


# ---- PipelineWorker._observer ----------------------------------------------------------------


def swap_worker_observer(worker: Any, wrap: Callable[[BaseObserver], Any]) -> bool:
    """Replace ``worker``'s ``WorkerObserver`` with ``wrap(current)``; False if impossible.

    Why: Pipecat gives every observer every processor's every frame through a queue and a task
    wake-up; a wrapper can pass everything on to the real ``WorkerObserver`` and feed one
    consumer only the frame types it needs. ``wrap`` returns the replacement: anything with
    the ``WorkerObserver`` methods the worker calls (delegating the rest is simplest). Pipecat
    has no public hook for that (an observer
    frame-type filter would be the upstream fix, docs/upstream.md). Call before the worker
    runs: it hands ``_observer`` to its processors at setup. When this Pipecat has no such
    member, nothing is changed and False is returned, so the caller can fall back to
    ``worker.add_observer``.
    """
    inner = getattr(worker, "_observer", None)
    if not isinstance(inner, BaseObserver):
        return False
    worker._observer = wrap(inner)
    return True


# ---- TTSService._stream_audio_frames_from_iterator -------------------------------------------


def stream_audio_frames(
    service: TTSService,
    chunks: AsyncIterator[bytes],
    *,
    in_sample_rate: int,
    context_id: str,
) -> AsyncGenerator[Frame, None]:
    """``TTSAudioRawFrame``s from raw 16-bit mono PCM chunks, resampled to the service's rate.

    Why: it is how Pipecat's own TTS services (Piper, Deepgram, Google, ...) turn bytes into
    frames, odd byte counts and resampling included; re-writing it would be a second copy.
    """
    return service._stream_audio_frames_from_iterator(  # type: ignore[no-any-return]
        chunks, in_sample_rate=in_sample_rate, context_id=context_id
    )


# ---- LLMService._push_llm_text, STTService._user_id ----------------------------------------------


async def push_llm_text(service: LLMService, text: str) -> None:
    """Push a piece of the LLM's answer the way Pipecat's own LLM services do.

    Why: besides pushing an ``LLMTextFrame`` it stops the time-to-first-answer-token metric
    and, with ``filter_incomplete_user_turns``, holds text back for turn completion.
    """
    await service._push_llm_text(text)


def stt_user_id(service: STTService) -> str:
    """The user id Pipecat's STT services put on the transcripts they make.

    Why: ``STTService`` keeps it from the last ``UserStartedSpeakingFrame`` and exposes no
    accessor; a voicebot STT should label transcripts as Pipecat's own do.
    """
    return str(service._user_id)


# ---- BaseObject events --------------------------------------------------------------------------


def register_event(obj: Any, event_name: str, *, sync: bool = False) -> None:
    """Declare an event on a Pipecat object (a transport, a processor) so that
    ``add_event_handler``/``event_handler`` accept handlers for it.

    Why: every Pipecat class declares its events this way; there is no public spelling.
    """
    obj._register_event_handler(event_name, sync=sync)


async def emit_event(obj: Any, event_name: str, *args: Any) -> None:
    """Call the handlers of an event declared with ``register_event``."""
    await obj._call_event_handler(event_name, *args)


# ---- OpenAI tool-call assembly (BaseOpenAILLMService._process_context) ------------------------


@dataclass
class StreamedToolCall:
    """One tool call as the chat-completions stream carried it (arguments unparsed)."""

    tool_call_id: str
    name: str
    arguments: str


class ToolCallRecorder:
    """Passes a chat-completions stream through unchanged, noting each tool call in it the way
    Pipecat 1.14's ``BaseOpenAILLMService._process_context`` assembles them.

    Why: Pipecat drops a call whose arguments are not JSON without telling anyone; to put it
    back, the calls must be seen as Pipecat saw them. Pipecat's rule, re-derived here: only
    the first tool-call delta of each chunk counts, a new ``index`` starts a new call, the
    name and id come with a delta that has a name, argument fragments are concatenated.
    """

    def __init__(self, stream: Any, calls: list[StreamedToolCall]) -> None:
        self._stream = stream
        self._calls = calls
        self._index: int | None = None

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        chunks = self._stream.__aiter__()
        try:
            async for chunk in chunks:
                self.note(chunk)
                yield chunk
        finally:
            if hasattr(chunks, "aclose"):
                await chunks.aclose()

    def note(self, chunk: Any) -> None:
        """Take one chunk's tool-call delta into the calls."""
        choices = getattr(chunk, "choices", None)
        delta = choices[0].delta if choices else None
        if not delta or not delta.tool_calls:
            return
        piece = delta.tool_calls[0]
        if not self._calls or piece.index != self._index:
            self._calls.append(StreamedToolCall("", "", ""))
            self._index = piece.index
        call = self._calls[-1]
        if piece.function and piece.function.name:
            call.name += piece.function.name
            call.tool_call_id = piece.id or call.tool_call_id
        if piece.function and piece.function.arguments:
            call.arguments += piece.function.arguments

    async def close(self) -> None:
        close = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


# ---- a text frame that is also a system frame ---------------------------------------------------


@dataclass
class SystemTTSTextFrame(TTSTextFrame, SystemFrame):
    """Spoken text that travels as a system frame.

    Why: the heard part of an interrupted reply (``voicebot.processors.heard_text``) must reach
    the assistant aggregator ahead of the ``InterruptionFrame`` pushed right after it, and join
    the message that interruption commits; a data frame would be dropped from the aggregator's
    queue by that very interruption. This relies on Pipecat 1.14 routing a frame by
    ``SystemFrame`` before its data type (processor queues) while the assistant aggregator
    still takes its text as a ``TTSTextFrame``.
    """


# ---- OpenAIRealtimeLLMService: its session's events, and a first context without a response ---


def realtime_service_hooks(service_cls: type[Any]) -> type[Any]:
    """``service_cls`` (Pipecat's ``OpenAIRealtimeLLMService``) with public hooks where its
    private handlers publish nothing, and a first context that asks for no response.

    Why: ``voicebot.providers.openai_realtime`` pairs a goodbye with the response that speaks
    it, notices a socket the server closed, and sets a greeting-less bot's conversation up
    without a response (the service asks for one on the first context it gets, and the
    server's VAD answers the caller's first turn itself). Uses, as of Pipecat 1.14.0:

    - ``_handle_evt_response_created`` / ``_handle_evt_response_done``: then
      ``on_response_created(id)`` / ``on_response_done(id)``;
    - ``_handle_evt_session_updated``: then ``on_session_updated()``;
    - ``_receive_task_handler`` and ``_disconnecting``: ``on_receive_ended(closed)`` when the
      receive loop ends (``closed``: the ``ConnectionClosed`` it raised, else None) while the
      service is not disconnecting;
    - ``_context``, ``_process_completed_function_calls``, ``_messages_added_manually``,
      ``_send_session_update`` and ``_llm_needs_conversation_setup``: ``has_context()``, and
      ``set_up_conversation(context)``, the setup steps of ``_create_response`` re-derived.
    """
    from pipecat.services.openai.realtime import events
    from websockets.exceptions import ConnectionClosed

    class WithHooks(service_cls):  # type: ignore[misc, valid-type]
        async def on_response_created(self, response_id: str) -> None:
            """A response started (``response.created``)."""

        async def on_response_done(self, response_id: str) -> None:
            """A response ended (``response.done``: completed, cancelled or failed)."""

        async def on_session_updated(self) -> None:
            """The API has applied a ``session.update`` (the first: the session is ready)."""

        async def on_receive_ended(self, closed: BaseException | None) -> None:
            """The server's events stopped while the service was still in use."""

        def has_context(self) -> bool:
            """Whether the service has been given its first context."""
            return self._context is not None

        async def set_up_conversation(self, context: Any) -> None:
            """Take ``context`` as the first context; send the API its messages and tools."""
            self._context = context
            await self._process_completed_function_calls(send_new_results=False)
            params = await self.get_llm_adapter().get_llm_invocation_params(context)
            for item in params["messages"]:
                event = events.ConversationItemCreateEvent(item=item)
                self._messages_added_manually[event.item.id] = True
                await self.send_client_event(event)
            await self._send_session_update()
            self._llm_needs_conversation_setup = False

        async def _handle_evt_response_created(self, evt: Any) -> None:
            await super()._handle_evt_response_created(evt)
            await self.on_response_created(evt.response.id)

        async def _handle_evt_response_done(self, evt: Any) -> None:
            await super()._handle_evt_response_done(evt)
            await self.on_response_done(evt.response.id)

        async def _handle_evt_session_updated(self, evt: Any) -> None:
            await super()._handle_evt_session_updated(evt)
            await self.on_session_updated()

        async def _receive_task_handler(self) -> None:
            closed: BaseException | None = None
            try:
                await super()._receive_task_handler()
            except ConnectionClosed as e:
                closed = e
            if not self._disconnecting:
                await self.on_receive_ended(closed)

    WithHooks.__name__ = WithHooks.__qualname__ = service_cls.__name__
    return WithHooks


# ---- SileroVADAnalyzer / LocalSmartTurnAnalyzerV3 on a session built once ----------------------


def silero_onnx_session(analyzer: SileroVADAnalyzer) -> Any:
    """The ``onnxruntime.InferenceSession`` a Silero analyzer runs (``_model.session``)."""
    return analyzer._model.session


def smart_turn_onnx_session(analyzer: LocalSmartTurnAnalyzerV3) -> Any:
    """The ``onnxruntime.InferenceSession`` a smart-turn v3 analyzer runs (``_session``)."""
    return analyzer._session


def silero_analyzer_on_session(
    session: Any, *, params: VADParams | None = None, sample_rate: int | None = None
) -> SileroVADAnalyzer:
    """A ``SileroVADAnalyzer`` that runs ``session`` instead of building its own.

    Why: every analyzer builds an ``InferenceSession`` of the same file in its ``__init__``
    (tens of ms of CPU per call); the session is only the model, the per-call state
    (recurrent state, context, reset counters) lives in the analyzer and its model wrapper.
    Pipecat takes no session argument, so this re-derives ``SileroVADAnalyzer.__init__`` and
    ``SileroOnnxModel.__init__`` as of Pipecat 1.14.0 less the session build: it sets
    ``_model``, ``_windows_since_reset``, ``_low_confidence_windows`` and the model's
    ``session``, ``sample_rates`` and (``reset_states``) ``_state``, ``_context``,
    ``_last_sr``, ``_last_batch_size``.
    """
    analyzer: SileroVADAnalyzer = _silero_on_session()(
        session, params=params, sample_rate=sample_rate
    )
    return analyzer


def smart_turn_analyzer_on_session(
    session: Any,
    *,
    params: SmartTurnParams | None = None,
    sample_rate: int | None = None,
    threshold: float = 0.5,
) -> LocalSmartTurnAnalyzerV3:
    """A ``LocalSmartTurnAnalyzerV3`` that runs ``session`` instead of building its own,
    and calls a turn complete when the model's probability is above ``threshold``.

    Why: as for Silero (``silero_analyzer_on_session``); the per-call state (the audio
    buffer, speech tracking, the model thread) is ``BaseSmartTurn``'s. Re-derives
    ``LocalSmartTurnAnalyzerV3.__init__`` as of Pipecat 1.14.0 less the session build: it
    sets ``_log_data`` (``PIPECAT_SMART_TURN_LOG_DATA``) and ``_session``. Pipecat decides
    at a fixed 0.5 inside ``_predict_endpoint``; its result dict also carries the
    probability, which is decided again here (docs/offline.md, "smart-turn's threshold").
    """
    analyzer: LocalSmartTurnAnalyzerV3 = _smart_turn_on_session()(
        session, params=params, sample_rate=sample_rate, threshold=threshold
    )
    return analyzer


@functools.cache
def _silero_on_session() -> type[Any]:
    from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADAnalyzer

    class ModelOnSession(SileroOnnxModel):
        def __init__(self, session: Any) -> None:
            self.session = session
            self.reset_states()
            self.sample_rates = [8000, 16000]

    class OnSession(SileroVADAnalyzer):
        def __init__(
            self, session: Any, *, params: VADParams | None, sample_rate: int | None
        ) -> None:
            VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
            self._model = ModelOnSession(session)
            self._windows_since_reset = 0
            self._low_confidence_windows = 0

        async def analyze_audio(self, buffer: bytes) -> VADState:
            # On the event loop, not Pipecat's one-thread executor: the model takes ~0.1-0.3
            # ms a window, and the hop to the thread and back (a thread and a self-pipe
            # wake-up per frame) cost ~2 ms of CPU per call-second on top of ~10
            # (benchmarks/vad_on_loop.py; docs/deploy.md, "Twelve phone calls within 50 ms").
            state: VADState = self._run_analyzer(buffer)
            return state

    ModelOnSession.__name__ = ModelOnSession.__qualname__ = SileroOnnxModel.__name__
    OnSession.__name__ = OnSession.__qualname__ = SileroVADAnalyzer.__name__
    return OnSession


#: An early verdict (``SmartTurn(early_secs=...)``) this near the threshold (0.5; scaled
#: down for a threshold nearer 0 or 1) is not trusted: the stop asks the model again on the
#: real quiet. The model's probability moves with the pause's last 0.1 s (room tone
#: instead: mean difference 0.05); with this margin and the quiet check, 2 of 402 recorded
#: verdicts differed from the stop's instead of 20, and 15 % of stops asked again
#: (``python benchmarks/early_smart_turn.py``, docs/offline.md).
EARLY_VERDICT_MARGIN = 0.2


@functools.cache
def _smart_turn_on_session() -> type[Any]:
    import numpy as np
    from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
    from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.utils.env import env_truthy

    from voicebot.audio.room_tone import is_quiet, room_tone, tail_level

    class OnSession(LocalSmartTurnAnalyzerV3):
        def __init__(
            self,
            session: Any,
            *,
            params: SmartTurnParams | None,
            sample_rate: int | None,
            threshold: float,
        ) -> None:
            BaseSmartTurn.__init__(self, sample_rate=sample_rate, params=params)
            self._log_data = env_truthy("PIPECAT_SMART_TURN_LOG_DATA", default=False)
            self._session = session
            self.threshold = threshold
            # voicebot's own state, prefixed so no Pipecat release can shadow it.
            self._vb_early_pad: float | None = None
            self._vb_early: tuple[list[Any], int, float, Any] | None = None
            #: Stops decided by the verdict started at the pause, and stops where that
            #: verdict was too near the threshold and the model was asked again (tests,
            #: benchmarks).
            self.early_verdicts = 0
            self.early_rechecked = 0
            #: The verdict of the last ``analyze_end_of_turn`` (None before the first).
            self.last_state: EndOfTurnState | None = None

        def _predict_endpoint(self, audio_array: Any) -> dict[str, Any]:
            result: dict[str, Any] = super()._predict_endpoint(audio_array)
            result["prediction"] = 1 if result["probability"] > self.threshold else 0
            return result

        # The early verdict (``SmartTurn(early_secs=...)``, docs/offline.md, "The turn
        # decision at the pause"): the PauseWatch's ``caller_paused`` marks the pause; the
        # next ``append_audio`` (the chunk the VAD just heard) starts the model on the
        # buffer so far plus room tone for the quiet still to come; the VAD's stop then
        # takes that verdict instead of starting the model again, if nothing was cleared,
        # the audio since was quiet (``is_quiet``: the watch sees the VAD's state once per
        # frame and can miss a word's onset) and the verdict is not near the threshold.

        def caller_paused(self, stop_in_secs: float) -> None:
            self._vb_early_pad = stop_in_secs if self._speech_triggered else None

        def caller_resumed(self) -> None:
            self._vb_drop_early()

        def _vb_drop_early(self) -> None:
            """Forget the verdict started at the pause; if its run has not started on the
            model thread yet, it never will (a run in progress finishes, unused)."""
            early, self._vb_early, self._vb_early_pad = self._vb_early, None, None
            if early is not None:
                early[3].cancel()

        def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
            state = super().append_audio(buffer, is_speech)
            pad, self._vb_early_pad = self._vb_early_pad, None
            if pad is not None and state == EndOfTurnState.INCOMPLETE and self._audio_buffer:
                self._vb_drop_early()
                try:
                    self._vb_early = self._vb_start_early(pad)
                except RuntimeError:  # no running loop (a script feeding it by hand)
                    self._vb_early = None
            return state

        def _vb_start_early(self, pad_secs: float) -> tuple[list[Any], int, float, Any]:
            """(the buffer, how many chunks of it the run hears, their tail's level, the
            run's future)."""
            heard = self._audio_buffer
            rate = self.sample_rate or 16000
            tail = b"".join(chunk.tobytes() for _, chunk in heard[-8:])
            tone = np.frombuffer(room_tone(tail, pad_secs, 2 * rate), np.int16)
            segment = [*heard, (time.monotonic(), tone)] if len(tone) else list(heard)
            asyncio.get_running_loop()  # raises where there is no loop to await it on
            # The executor's own future, so a drop cancels a run not yet started at once.
            future = self._model_executor.submit(self._process_speech_segment, segment)
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            return heard, len(heard), tail_level(tail, 2 * rate), future

        def _vb_sure(self, result: Any) -> bool:
            """The early verdict is far enough from the threshold to stand (the margin
            shrinks near a threshold close to 0 or 1, so both verdicts stay reachable)."""
            probability = getattr(result, "probability", None)
            if probability is None:
                return False
            margin = EARLY_VERDICT_MARGIN * min(1.0, 2 * min(self.threshold, 1 - self.threshold))
            return bool(abs(probability - self.threshold) >= margin)

        async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, Any]:
            state, result = await self._vb_analyze()
            self.last_state = state  # read by SmartTurnStopStrategy's words check
            return state, result

        async def _vb_analyze(self) -> tuple[EndOfTurnState, Any]:
            early, self._vb_early = self._vb_early, None
            self._vb_early_pad = None
            if early is not None and early[0] is self._audio_buffer:
                buffer, seen, level, future = early
                rate = self.sample_rate or 16000
                after = b"".join(chunk.tobytes() for _, chunk in buffer[seen:])
                if not is_quiet(after, level, 2 * rate):  # speech the pause watch missed
                    future.cancel()
                    self.early_rechecked += 1
                    return await super().analyze_end_of_turn()
                try:
                    state, result = await asyncio.wrap_future(future)
                except Exception as e:  # the stop's own run decides instead
                    logger.warning(f"smart-turn at the pause failed: {e!r}")
                else:
                    if self._vb_sure(result):
                        self.early_verdicts += 1
                        if state == EndOfTurnState.COMPLETE:
                            self._clear(state)
                        return state, result
                    self.early_rechecked += 1  # too near the threshold: ask on the real quiet
            return await super().analyze_end_of_turn()

        def clear(self) -> None:
            self._vb_drop_early()
            super().clear()

    OnSession.__name__ = OnSession.__qualname__ = LocalSmartTurnAnalyzerV3.__name__
    return OnSession
