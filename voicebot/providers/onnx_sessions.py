"""Silero VAD and smart-turn analyzers that share one ONNX session per model per process.

Why: each call's analyzers used to build their own ``onnxruntime.InferenceSession`` of the
same bundled file, ~9 % of a phone worker's CPU (py-spy, issue #12). A session holds only
the model; what a call changes lives outside it, in the analyzer (Silero's recurrent state,
context and reset counters; smart-turn's audio buffer and speech tracking), so every
analyzer built here gets its own state and the process's one session. onnxruntime allows
``InferenceSession.run`` from several threads at once: each smart-turn analyzer runs its
model on a thread of its own, so two calls in one worker (``--calls-per-worker 2``) may run
it together; Silero's runs on the worker's event loop (``pipecat_compat``), one window at a time.

The session is built the first time it is asked for (``prepare()`` of the providers, or the
first build), by a Pipecat analyzer of its own: so it has Pipecat's model file and session
options (one thread each, CPU provider) whatever Pipecat version is installed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

from voicebot.pipecat_compat import (
    silero_analyzer_on_session,
    silero_onnx_session,
    smart_turn_analyzer_on_session,
    smart_turn_onnx_session,
)

if TYPE_CHECKING:
    from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
    from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
    from pipecat.audio.vad.silero import SileroVADAnalyzer
    from pipecat.audio.vad.vad_analyzer import VADParams

_sessions: dict[tuple[str, int], Any] = {}
_lock = threading.Lock()


def _shared(key: tuple[str, int], build: Callable[[], Any]) -> Any:
    """The session for ``key``, built by ``build`` the first time (one build per process even
    when sessions start in several threads at once)."""
    with _lock:
        session = _sessions.get(key)
        if session is None:
            start = time.perf_counter()
            session = _sessions[key] = build()
            took = time.perf_counter() - start
            logger.debug(f"built the shared {key[0]} ONNX session in {took:.2f}s")
        return session


def silero_session() -> Any:
    """This process's Silero VAD session."""

    def build() -> Any:
        from pipecat.audio.vad.silero import SileroVADAnalyzer

        return silero_onnx_session(SileroVADAnalyzer())

    return _shared(("silero", 1), build)


def smart_turn_session(cpu_count: int = 1) -> Any:
    """This process's smart-turn v3 session running on ``cpu_count`` threads."""

    def build() -> Any:
        from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3

        return smart_turn_onnx_session(LocalSmartTurnAnalyzerV3(cpu_count=cpu_count))

    return _shared(("smart-turn", cpu_count), build)


def silero_analyzer(params: VADParams) -> SileroVADAnalyzer:
    """A Silero VAD analyzer of its own (one call's) on the process's Silero session."""
    return silero_analyzer_on_session(silero_session(), params=params)


def smart_turn_analyzer(
    params: SmartTurnParams, *, cpu_count: int = 1, threshold: float = 0.5
) -> LocalSmartTurnAnalyzerV3:
    """A smart-turn v3 analyzer of its own (one call's) on the process's smart-turn session;
    a turn is complete above ``threshold`` (Pipecat's: 0.5)."""
    return smart_turn_analyzer_on_session(
        smart_turn_session(cpu_count), params=params, threshold=threshold
    )
