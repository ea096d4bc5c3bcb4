"""Smart-turn asked inside the caller's pause (``SmartTurn(early_secs=...)``): the VAD's stop
takes the verdict started there, which is the model's verdict on the words so far plus room
tone for the quiet still to come; a pause talked through, or a turn cleared, is judged again
at the stop as before. The private ``BaseSmartTurn`` members it rests on fail naming
themselves (see ``voicebot/pipecat_compat.py``). Nothing here waits on a clock.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pipecat.audio.turn.base_turn_analyzer import EndOfTurnState
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.vad.vad_analyzer import VADState

from tests.unit.test_shared_onnx_sessions import BOUND, WAV, changed, clip
from voicebot import Bot, SmartTurn, WavFile
from voicebot.audio.room_tone import room_tone
from voicebot.conversation.pauses import PauseWatch, watch_pauses
from voicebot.providers.base import BuildContext
from voicebot.providers.onnx_sessions import smart_turn_analyzer
from voicebot.providers.turn_strategies import SmartTurnStopStrategy
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS

CHUNK = 320  # 20 ms at 16 kHz


def analyzer() -> Any:
    a = smart_turn_analyzer(SmartTurnParams())
    a.set_sample_rate(16000)
    calls: list[int] = []
    predict = a._predict_endpoint

    def counted(audio: np.ndarray) -> dict[str, Any]:
        calls.append(len(audio))
        return predict(audio)

    a._predict_endpoint = counted
    a.model_calls = calls
    return a


def chunks(audio: np.ndarray) -> list[bytes]:
    return [audio[i : i + CHUNK].tobytes() for i in range(0, len(audio), CHUNK)]


async def verdict(a: Any) -> tuple[EndOfTurnState, float]:
    state, metrics = await asyncio.wait_for(a.analyze_end_of_turn(), BOUND)
    return state, metrics.probability


async def test_the_stop_takes_the_verdict_on_the_words_plus_room_tone_started_at_the_pause() -> (
    None
):
    words, quiet = chunks(clip(0.0, 3.3)), chunks(clip(3.3, 3.6))  # speech ends ~3.2 s
    early = analyzer()
    for c in words:
        early.append_audio(c, True)
    early.caller_paused(0.1)  # the VAD heard 0.1 s of quiet in this chunk; 0.1 s to go
    early.append_audio(quiet[0], True)  # the chunk the VAD just heard: the model starts
    for c in quiet[1:6]:  # the rest of the pause, up to the stop
        early.append_audio(c, True)
    got = await verdict(early)
    assert early.early_verdicts == 1
    assert len(early.model_calls) == 1  # not run again at the stop

    heard = b"".join([*words, quiet[0]])
    reference = analyzer()
    for c in [*words, quiet[0], room_tone(heard, 0.1, 32000)]:
        reference.append_audio(c, True)
    assert got == await verdict(reference)
    assert early.model_calls == reference.model_calls  # the same audio, to the sample
    assert early.speech_triggered == (got[0] == EndOfTurnState.INCOMPLETE)  # as at the stop


async def test_a_pause_talked_through_is_judged_at_the_stop() -> None:
    audio = clip(0.0, 3.6)
    early, stock = analyzer(), analyzer()
    for n, c in enumerate(chunks(audio)):
        if n == 40:
            early.caller_paused(0.1)
        if n == 42:
            early.caller_resumed()  # speech again before the stop
        early.append_audio(c, True)
        stock.append_audio(c, True)
    got = await verdict(early)
    assert early.early_verdicts == 0
    assert got == await verdict(stock)
    assert early.model_calls[-1] == len(audio)  # the stop's own run, on the whole buffer


async def test_a_turn_cleared_after_the_pause_drops_its_verdict() -> None:
    early = analyzer()
    for c in chunks(clip(0.0, 1.6)):
        early.append_audio(c, True)
    early.caller_paused(0.1)
    early.append_audio(chunks(clip(1.6, 1.62))[0], True)
    early.clear()  # the turn ended another way (a forced stop)
    for c in chunks(clip(0.0, 3.4)):
        early.append_audio(c, True)
    await verdict(early)
    assert early.early_verdicts == 0


async def test_a_pause_before_any_speech_starts_no_model() -> None:
    early = analyzer()
    early.caller_paused(0.1)
    early.append_audio(chunks(clip(3.5, 3.6))[0], False)
    await asyncio.sleep(0)
    assert early.model_calls == []


def test_the_base_smart_turn_members_the_early_verdict_rests_on() -> None:
    """``BaseSmartTurn._audio_buffer``, ``_speech_triggered``, ``_process_speech_segment``,
    ``_model_executor``, ``_clear``: voicebot/pipecat_compat.py's early verdict."""
    a = smart_turn_analyzer(SmartTurnParams())
    a.set_sample_rate(16000)
    for c in chunks(clip(0.0, 1.0)):
        a.append_audio(c, True)
    buffer = getattr(a, "_audio_buffer", None)
    assert isinstance(buffer, list) and buffer, changed("BaseSmartTurn._audio_buffer", "is gone")
    first = buffer[0]
    assert (
        isinstance(first, tuple)
        and isinstance(first[0], float)
        and isinstance(first[1], np.ndarray)
        and first[1].dtype == np.int16
    ), changed("BaseSmartTurn._audio_buffer", f"holds {type(first)!r}, not (time, int16 array)")
    assert getattr(a, "_speech_triggered", None) is True, changed(
        "BaseSmartTurn._speech_triggered", "is not set by speech"
    )
    state, metrics = BaseSmartTurn._process_speech_segment(a, list(buffer))
    assert state in (EndOfTurnState.COMPLETE, EndOfTurnState.INCOMPLETE), changed(
        "BaseSmartTurn._process_speech_segment(buffer)", f"returned {state!r}"
    )
    assert 0.0 <= metrics.probability <= 1.0
    assert hasattr(BaseSmartTurn, "_model_executor"), changed("BaseSmartTurn._model_executor", "")
    BaseSmartTurn._clear(a, EndOfTurnState.COMPLETE)
    assert a._audio_buffer == [] and a._audio_buffer is not buffer, changed(
        "BaseSmartTurn._clear", "no longer starts a new buffer"
    )


# ---- wiring: the provider, the pause watch, a session ------------------------------------------


def test_smart_turn_asks_at_the_stop_by_default_and_at_the_pause_when_told() -> None:
    ctx = BuildContext(audio_in_sample_rate=16000)
    (default,) = SmartTurn().build(ctx).stop
    assert isinstance(default, SmartTurnStopStrategy) and default.early_secs is None
    (early,) = SmartTurn(early_secs=0.064).build(ctx).stop
    assert early.early_secs == 0.064
    with pytest.raises(ValueError):
        SmartTurn(early_secs=0)


class StoppingVAD:
    """A VAD analyzer that hears only quiet inside speech."""

    class params:
        stop_secs = 0.2

    sample_rate = 16000

    async def analyze_audio(self, buffer: bytes) -> VADState:
        return VADState.STOPPING


class Listener:
    def __init__(self, early_secs: float | None) -> None:
        self.early_secs = early_secs
        self.paused: list[float] = []

    def caller_paused(self, stop_in_secs: float) -> None:
        self.paused.append(round(stop_in_secs, 3))

    def caller_resumed(self) -> None:
        pass


def test_each_party_hears_the_pause_at_its_own_point() -> None:
    whisper, turn, off = Listener(0.04), Listener(0.1), Listener(None)
    watch = PauseWatch(0.04, [])
    watch.add(whisper, 0.04)
    watch.add(turn, 0.1)
    for _ in range(3):
        watch.observe(VADState.STOPPING, 0.02)
    assert (whisper.paused, turn.paused) == ([0.16], [])
    for _ in range(3):
        watch.observe(VADState.STOPPING, 0.02)
    assert (whisper.paused, turn.paused) == ([0.16], [0.1])

    assert watch_pauses(StoppingVAD(), off) is None  # early_secs None: nothing to watch
    attached = watch_pauses(StoppingVAD(), off, whisper, turn)
    assert attached is not None and attached.listeners == [whisper, turn]


async def test_a_call_s_turns_are_decided_by_verdicts_started_at_pauses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The session connects the strategy to its VAD: over two real questions, the stops take
    the early verdicts and both are answered."""
    import voicebot.providers.onnx_sessions as onnx_sessions

    built: list[Any] = []
    make = onnx_sessions.smart_turn_analyzer

    def recorded(*args: Any, **kwargs: Any) -> Any:
        built.append(make(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(onnx_sessions, "smart_turn_analyzer", recorded)
    bot = Bot(
        stt=FakeSTT(transcripts=["What time do you open?", "Thanks."]),
        llm=FakeLLM(replies=["At nine.", "Bye."]),
        tts=FakeTTS(),
        vad="silero",
        turn=SmartTurn(early_secs=0.064),
    )
    session = bot.session(transport=WavFile(input=WAV, output=tmp_path / "o.wav", speed=2))
    await asyncio.wait_for(session.run(), BOUND)
    answered = [t for t in session.turns if t.user_text and t.bot_text]
    assert len(answered) == 2
    assert len(built) == 1 and built[0].early_verdicts >= 2


def test_a_speculative_smart_turn_still_hears_the_pauses() -> None:
    """``SmartTurn(speculate=True)`` wraps the strategy; the watch looks through to it."""
    ctx = BuildContext(audio_in_sample_rate=16000)
    (wrapped,) = SmartTurn(speculate=True, early_secs=0.064).strategies(ctx).stop
    assert not isinstance(wrapped, SmartTurnStopStrategy)

    watch = watch_pauses(StoppingVAD(), wrapped)
    assert watch is not None and watch.listeners == [wrapped.inner]


async def test_an_early_verdict_near_the_threshold_is_asked_again_at_the_stop() -> None:
    """Within ``EARLY_VERDICT_MARGIN`` of the threshold the room tone may tip the verdict:
    the stop asks the model on the real quiet, as Pipecat would."""
    words, quiet = chunks(clip(0.0, 3.3)), chunks(clip(3.3, 3.6))
    probe = analyzer()
    for c in words:
        probe.append_audio(c, True)
    probe.caller_paused(0.1)
    probe.append_audio(quiet[0], True)
    _, early_p = await verdict(probe)

    near = analyzer()
    near.threshold = early_p - 0.02  # the early verdict is "unsure" at any threshold
    stock = analyzer()
    stock.threshold = near.threshold
    for c in words:
        near.append_audio(c, True)
        stock.append_audio(c, True)
    near.caller_paused(0.1)
    for c in quiet[:6]:
        near.append_audio(c, True)
        stock.append_audio(c, True)
    got = await verdict(near)
    assert (near.early_verdicts, near.early_rechecked) == (0, 1)
    assert len(near.model_calls) == 2  # the early run, then the stop's
    assert got == await verdict(stock)


async def test_speech_the_pause_watch_missed_sends_the_stop_to_the_model_again() -> None:
    """The watch sees the VAD's state once per frame; a word's onset inside the pause can
    pass unreported. Audio louder than the pause since the early run: asked again."""
    words, quiet = chunks(clip(0.0, 3.3)), chunks(clip(3.3, 3.6))
    onset = chunks(clip(0.8, 0.84))  # 40 ms of speech from inside the question
    early, stock = analyzer(), analyzer()
    for c in words:
        early.append_audio(c, True)
        stock.append_audio(c, True)
    early.caller_paused(0.1)
    for c in [quiet[0], *onset, *quiet[1:4]]:  # no caller_resumed: the watch missed it
        early.append_audio(c, True)
        stock.append_audio(c, True)
    got = await verdict(early)
    assert (early.early_verdicts, early.early_rechecked) == (0, 1)
    assert got == await verdict(stock)


async def test_a_dropped_early_run_that_has_not_started_never_runs() -> None:
    """Pauses talked through while the model thread is busy (a loaded host) must not queue
    up model calls ahead of the one the stop needs."""
    a = analyzer()
    for c in chunks(clip(0.0, 2.0)):
        a.append_audio(c, True)
    busy = threading.Event()
    a._model_executor.submit(busy.wait, BOUND)  # the call's model thread, held
    quiet = chunks(clip(3.3, 3.5))
    for c in quiet[:3]:  # three pauses, each talked through
        a.caller_paused(0.1)
        a.append_audio(c, True)
        a.caller_resumed()
    a.caller_paused(0.1)
    a.append_audio(quiet[3], True)  # the pause that reaches the stop
    busy.set()
    await verdict(a)
    assert len(a.model_calls) == 1  # only the last pause's run


def test_the_margin_shrinks_for_a_threshold_near_one() -> None:
    from types import SimpleNamespace

    a = analyzer()
    a.threshold = 0.9  # an early "complete" at 0.99 must still be able to stand
    assert a._vb_sure(SimpleNamespace(probability=0.99))
    assert not a._vb_sure(SimpleNamespace(probability=0.9))
    a.threshold = 0.5
    assert a._vb_sure(SimpleNamespace(probability=0.75))
    assert not a._vb_sure(SimpleNamespace(probability=0.65))


async def test_the_analyzer_records_its_last_verdict_for_the_words_check() -> None:
    """SmartTurnStopStrategy reads ``last_state`` after a VAD stop to know whether smart-turn
    said "not yet" (voicebot's attribute on the analyzer, whichever path decided)."""
    a = analyzer()
    assert a.last_state is None
    for c in chunks(clip(0.0, 3.6)):
        a.append_audio(c, True)
    state, _ = await verdict(a)
    assert a.last_state == state
