"""Silero VAD and smart-turn analyzers share one ONNX session per process (issue #12), keep
their per-call state apart, and hear exactly what Pipecat's own analyzers hear.

The Pipecat checks (``pipecat_compat.silero_analyzer_on_session`` and
``smart_turn_analyzer_on_session`` re-derive Pipecat's ``__init__``s less the session build)
fail naming what changed and the Pipecat version, like tests/unit/test_pipecat_compat.py.
Nothing here waits on a clock.
"""

from __future__ import annotations

import asyncio
import threading
import wave
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import soxr
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.metrics.metrics import TurnMetricsData

from voicebot import Bot, SileroVAD, SmartTurn
from voicebot.pipecat_compat import (
    CHECKED_AGAINST,
    PIPECAT_VERSION,
    silero_analyzer_on_session,
    silero_onnx_session,
    smart_turn_analyzer_on_session,
    smart_turn_onnx_session,
)
from voicebot.providers.onnx_sessions import (
    silero_analyzer,
    silero_session,
    smart_turn_analyzer,
    smart_turn_session,
)

WAV = Path(__file__).resolve().parents[2] / "examples" / "audio" / "two_turns.wav"
BOUND = 60.0  # seconds; only so that a broken analyzer fails rather than hangs


def changed(member: str, what: str) -> str:
    return (
        f"pipecat-ai {PIPECAT_VERSION} (voicebot checked {CHECKED_AGAINST}): {member} {what}; "
        "update voicebot/pipecat_compat.py"
    )


def clip(start: float, end: float, rate: int = 16000) -> np.ndarray:
    """int16 samples of examples/audio/two_turns.wav (16 kHz) from ``start`` to ``end`` s."""
    with wave.open(str(WAV)) as w:
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
    audio = audio[int(start * 16000) : int(end * 16000)]
    if rate != 16000:
        audio = soxr.resample(audio, 16000, rate)
    return audio


#: The first question (speech 0.7-3.2 s, then silence) and non-speech from between the two.
SPEECH = (0.0, 4.0)
SILENCE = (3.5, 6.3)


def stock_silero(rate: int) -> SileroVADAnalyzer:
    analyzer = SileroVADAnalyzer(params=VADParams())
    analyzer.set_sample_rate(rate)
    return analyzer


def shared_silero(rate: int) -> SileroVADAnalyzer:
    analyzer = silero_analyzer(VADParams())
    analyzer.set_sample_rate(rate)
    return analyzer


def windows(audio: np.ndarray, analyzer: SileroVADAnalyzer) -> list[bytes]:
    size = analyzer.num_frames_required()
    return [audio[i : i + size].tobytes() for i in range(0, len(audio) - size + 1, size)]


def confidences(analyzer: SileroVADAnalyzer, audio: np.ndarray) -> list[float]:
    return [np.asarray(analyzer.voice_confidence(w)).item() for w in windows(audio, analyzer)]


async def vad_states(analyzer: SileroVADAnalyzer, audio: np.ndarray) -> list[VADState]:
    return [await analyzer.analyze_audio(w) for w in windows(audio, analyzer)]


# ---- one session per model per process ----------------------------------------------------------


def test_analyzers_built_one_after_the_other_share_one_session_each() -> None:
    ctx = Bot(stt="fake", llm="fake", tts="fake", vad="silero", turn="smart-turn").build_context()
    vads = [SileroVAD().build(ctx), SileroVAD(confidence=0.5).build(ctx)]
    turns = [
        SmartTurn().build(ctx).stop[0],
        SmartTurn(max_silence_secs=1.0, threshold=0.3).build(ctx).stop[0],
    ]
    # The strategy's analyzer, whatever Pipecat names the attribute holding it.
    turn_analyzers = [
        next(v for v in vars(s).values() if isinstance(v, LocalSmartTurnAnalyzerV3)) for s in turns
    ]

    assert vads[0] is not vads[1]
    assert silero_onnx_session(vads[0]) is silero_onnx_session(vads[1]) is silero_session()
    assert isinstance(silero_session(), onnxruntime.InferenceSession)
    assert turn_analyzers[0] is not turn_analyzers[1]
    sessions = [smart_turn_onnx_session(a) for a in turn_analyzers]
    assert sessions[0] is sessions[1] is smart_turn_session()
    assert isinstance(smart_turn_session(), onnxruntime.InferenceSession)
    # Each call still gets its own options and state.
    assert [v.params.confidence for v in vads] == [0.5 if i else 0.7 for i in range(2)]
    assert [a.params.stop_secs for a in turn_analyzers] == [2.0, 1.0]
    assert [getattr(a, "threshold", None) for a in turn_analyzers] == [0.5, 0.3]
    with pytest.raises(ValueError, match="threshold"):
        SmartTurn(threshold=1.5)


def test_building_an_analyzer_builds_no_onnx_session(monkeypatch: pytest.MonkeyPatch) -> None:
    silero_session(), smart_turn_session()  # the process's sessions exist

    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise AssertionError("an analyzer built an InferenceSession of its own")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    ctx = Bot(stt="fake", llm="fake", tts="fake", vad="silero", turn="smart-turn").build_context()
    SileroVAD().build(ctx)
    SmartTurn().build(ctx)


def test_the_shared_sessions_keep_pipecat_s_session_options() -> None:
    pairs = {
        "SileroVADAnalyzer": (silero_session(), silero_onnx_session(stock_silero(16000))),
        "LocalSmartTurnAnalyzerV3": (
            smart_turn_session(),
            smart_turn_onnx_session(LocalSmartTurnAnalyzerV3()),
        ),
    }
    for name, (shared, stock) in pairs.items():
        ours, theirs = shared.get_session_options(), stock.get_session_options()
        for option in (
            "intra_op_num_threads",
            "inter_op_num_threads",
            "execution_mode",
            "graph_optimization_level",
        ):
            assert getattr(ours, option) == getattr(theirs, option), f"{name}: {option}"
        assert shared.get_providers() == stock.get_providers(), name
        assert [i.name for i in shared.get_inputs()] == [i.name for i in stock.get_inputs()]


# ---- Pipecat's __init__s, re-derived in pipecat_compat ------------------------------------------


def same_attributes(
    stock: object, ours: object, member: str, ours_only: tuple[str, ...] = ()
) -> None:
    """``ours`` has the attributes ``stock``'s ``__init__`` sets, of the same types (and
    ``ours_only``, which are voicebot's)."""
    theirs = vars(stock)
    mine = {k: v for k, v in vars(ours).items() if k not in ours_only}
    assert set(theirs) == set(mine), changed(
        f"{member}.__init__", f"sets {sorted(set(theirs) ^ set(mine))} differently"
    )
    for name, value in theirs.items():
        assert isinstance(mine[name], type(value)), changed(
            f"{member}.{name}", f"is a {type(value).__name__}, not a {type(mine[name]).__name__}"
        )


def test_silero_on_a_session_is_built_as_pipecat_builds_it() -> None:
    stock = SileroVADAnalyzer(params=VADParams())
    ours = silero_analyzer_on_session(silero_session(), params=VADParams())
    model = getattr(stock, "_model", None)
    assert isinstance(model, SileroOnnxModel), changed("SileroVADAnalyzer._model", "is gone")
    assert isinstance(getattr(model, "session", None), onnxruntime.InferenceSession), changed(
        "SileroOnnxModel.session", "is not an InferenceSession"
    )
    same_attributes(stock, ours, "SileroVADAnalyzer")
    same_attributes(model, ours._model, "SileroOnnxModel")
    for name, value in vars(model).items():
        if name != "session":
            assert np.array_equal(value, vars(ours._model)[name]), changed(
                f"SileroOnnxModel.{name}", "starts with another value"
            )
    assert type(ours).__name__ == "SileroVADAnalyzer"


def test_smart_turn_on_a_session_is_built_as_pipecat_builds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stock = LocalSmartTurnAnalyzerV3(params=SmartTurnParams())
    ours = smart_turn_analyzer_on_session(smart_turn_session(), params=SmartTurnParams())
    assert isinstance(getattr(stock, "_session", None), onnxruntime.InferenceSession), changed(
        "LocalSmartTurnAnalyzerV3._session", "is not an InferenceSession"
    )
    same_attributes(
        stock,
        ours,
        "LocalSmartTurnAnalyzerV3",
        ours_only=(
            "threshold",
            "early_verdicts",
            "early_rechecked",
            "last_state",
            "_vb_early",
            "_vb_early_pad",
        ),
    )
    assert vars(ours)["_log_data"] is False
    monkeypatch.setenv("PIPECAT_SMART_TURN_LOG_DATA", "1")
    logging = smart_turn_analyzer_on_session(smart_turn_session(), params=SmartTurnParams())
    assert vars(logging)["_log_data"] is True, changed("LocalSmartTurnAnalyzerV3._log_data", "")
    assert type(ours).__name__ == "LocalSmartTurnAnalyzerV3"


# ---- Silero: same output, state per analyzer ----------------------------------------------------


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_silero_on_the_shared_session_hears_what_a_fresh_one_hears(rate: int) -> None:
    audio = clip(*SPEECH, rate=rate)
    fresh = confidences(stock_silero(rate), audio)
    assert max(fresh) > 0.9 and min(fresh) < 0.1  # the clip has speech and silence
    assert confidences(shared_silero(rate), audio) == fresh
    assert await vad_states(shared_silero(rate), audio) == await vad_states(
        stock_silero(rate), audio
    )


async def test_each_silero_analyzer_keeps_its_own_state() -> None:
    speech, silence = clip(*SPEECH), clip(*SILENCE)
    alone = (confidences(shared_silero(16000), speech), confidences(shared_silero(16000), silence))
    a, b = shared_silero(16000), shared_silero(16000)
    heard: tuple[list[float], list[float]] = ([], [])
    for wa, wb in zip(windows(speech, a), windows(silence, b), strict=False):
        heard[0].append(np.asarray(a.voice_confidence(wa)).item())
        heard[1].append(np.asarray(b.voice_confidence(wb)).item())
    n = len(heard[0])
    assert heard == (alone[0][:n], alone[1][:n])
    # A VAD state of its own, too: one speaks while the other stays quiet.
    a, b = shared_silero(16000), shared_silero(16000)
    states_a = await vad_states(a, speech)
    states_b = await vad_states(b, silence)
    assert VADState.SPEAKING in states_a and set(states_b) == {VADState.QUIET}


def test_pipecat_s_vad_step_is_still_run_analyzer() -> None:
    """Silero's ``analyze_audio`` runs ``VADAnalyzer._run_analyzer`` on the event loop."""
    import inspect

    from pipecat.audio.vad.vad_analyzer import VADAnalyzer

    step = getattr(VADAnalyzer, "_run_analyzer", None)
    assert callable(step), changed("VADAnalyzer._run_analyzer", "is gone")
    assert list(inspect.signature(step).parameters) == ["self", "buffer"], changed(
        "VADAnalyzer._run_analyzer", "takes other arguments"
    )
    assert "self._run_analyzer" in inspect.getsource(VADAnalyzer.analyze_audio), changed(
        "VADAnalyzer.analyze_audio", "no longer runs _run_analyzer"
    )


@pytest.mark.parametrize("frame_secs", [0.02, 0.04])
async def test_silero_runs_on_the_event_loop_and_decides_as_pipecat_s_thread_does(
    frame_secs: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames of 20 or 40 ms (not whole 32 ms windows): the same states frame by frame as
    Pipecat's analyzer, which runs the model on a thread of its own; ours on this thread."""
    audio = clip(0.0, 9.0)
    size = int(16000 * frame_secs)
    frames = [audio[i : i + size].tobytes() for i in range(0, len(audio) - size + 1, size)]
    stock = stock_silero(16000)
    theirs = [await stock.analyze_audio(f) for f in frames]
    ours_vad = shared_silero(16000)
    callers: set[int] = set()
    step = ours_vad.voice_confidence

    def noted(buffer: bytes) -> Any:
        callers.add(threading.get_ident())
        return step(buffer)

    monkeypatch.setattr(ours_vad, "voice_confidence", noted)
    ours = [await ours_vad.analyze_audio(f) for f in frames]
    assert ours == theirs
    assert theirs.count(VADState.SPEAKING) > 10 and VADState.QUIET in theirs
    assert callers == {threading.get_ident()}


def test_silero_analyzers_on_threads_at_once_hear_what_each_hears_alone() -> None:
    """Two calls in one worker: each analyzer runs the one session from its own thread."""
    clips = [clip(*SPEECH), clip(*SILENCE), clip(5.0, 9.0), clip(0.5, 3.0)]
    alone = [confidences(shared_silero(16000), c) for c in clips]
    start = threading.Barrier(len(clips))
    heard: list[list[float]] = [[] for _ in clips]

    def run(i: int) -> None:
        start.wait(timeout=BOUND)
        for _ in range(3):
            heard[i] = confidences(shared_silero(16000), clips[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clips))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=BOUND)
    assert heard == alone


# ---- smart-turn: same prediction, state per analyzer --------------------------------------------


def shared_turn(rate: int) -> LocalSmartTurnAnalyzerV3:
    analyzer = smart_turn_analyzer(SmartTurnParams())
    analyzer.set_sample_rate(rate)
    return analyzer


def stock_turn(rate: int) -> LocalSmartTurnAnalyzerV3:
    analyzer = LocalSmartTurnAnalyzerV3(params=SmartTurnParams())
    analyzer.set_sample_rate(rate)
    return analyzer


def feed(analyzer: LocalSmartTurnAnalyzerV3, audio: np.ndarray) -> None:
    """All of ``audio`` as speech in 20 ms chunks: the segment the model judges is then the
    whole clip, whatever the clock did between chunks."""
    size = analyzer.sample_rate // 50
    for i in range(0, len(audio), size):
        analyzer.append_audio(audio[i : i + size].tobytes(), is_speech=True)


async def predict(analyzer: LocalSmartTurnAnalyzerV3) -> tuple[EndOfTurnState, float]:
    try:
        state, metrics = await asyncio.wait_for(analyzer.analyze_end_of_turn(), BOUND)
    finally:
        await analyzer.cleanup()
    assert isinstance(metrics, TurnMetricsData)
    return state, metrics.probability


@pytest.mark.parametrize("rate", [16000, 8000])
async def test_smart_turn_on_the_shared_session_predicts_what_a_fresh_one_does(rate: int) -> None:
    for end in (1.6, 3.4):  # mid-sentence, and after the question
        audio = clip(0.0, end, rate=rate)
        fresh, shared = stock_turn(rate), shared_turn(rate)
        feed(fresh, audio)
        feed(shared, audio)
        assert await predict(shared) == await predict(fresh)


def test_pipecat_s_endpoint_prediction_still_carries_the_probability_we_decide_on() -> None:
    """``LocalSmartTurnAnalyzerV3._predict_endpoint``: we re-decide its fixed 0.5."""
    stock = stock_turn(16000)
    predict_endpoint = getattr(stock, "_predict_endpoint", None)
    assert callable(predict_endpoint), changed("LocalSmartTurnAnalyzerV3._predict_endpoint", "")
    result = predict_endpoint(clip(0.0, 1.6).astype(np.float32) / 32768.0)
    assert isinstance(result, dict) and {"prediction", "probability"} <= set(result), changed(
        "LocalSmartTurnAnalyzerV3._predict_endpoint", f"returns {result!r}"
    )
    assert result["prediction"] == (1 if result["probability"] > 0.5 else 0), changed(
        "LocalSmartTurnAnalyzerV3._predict_endpoint", "no longer decides at 0.5"
    )


async def test_the_threshold_decides_where_a_pause_ends_the_turn() -> None:
    audio = clip(0.0, 1.6)  # mid-sentence: the model leans "not yet"
    stock = stock_turn(16000)
    feed(stock, audio)
    state, probability = await predict(stock)
    assert 0.0 < probability < 0.5 and state == EndOfTurnState.INCOMPLETE
    for threshold, expected in (
        (0.5, EndOfTurnState.INCOMPLETE),  # the default: what Pipecat says
        (probability * 1.01, EndOfTurnState.INCOMPLETE),
        (probability * 0.99, EndOfTurnState.COMPLETE),
    ):
        ours = smart_turn_analyzer(SmartTurnParams(), threshold=threshold)
        ours.set_sample_rate(16000)
        feed(ours, audio)
        assert await predict(ours) == (expected, probability), threshold


async def test_each_smart_turn_analyzer_keeps_its_own_audio() -> None:
    whole, part = clip(0.0, 3.4), clip(0.0, 1.6)
    alone = []
    for audio in (whole, part):
        analyzer = shared_turn(16000)
        feed(analyzer, audio)
        alone.append(await predict(analyzer))
    assert alone[0] != alone[1]  # the two clips are told apart

    a, b, c = shared_turn(16000), shared_turn(16000), shared_turn(16000)
    feed(a, whole)
    feed(b, part)
    feed(c, part)
    c.clear()  # one call's turn ends: the others keep theirs
    assert a.speech_triggered and b.speech_triggered and not c.speech_triggered
    assert list(await asyncio.gather(predict(a), predict(b))) == alone
