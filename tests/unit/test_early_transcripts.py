"""Transcribing at the caller's pause, before the VAD's stop: the pause watch on the VAD's
states, and the offline Whisper service using (or dropping) the transcript it started there."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from pipecat.audio.vad.vad_analyzer import VADParams, VADState
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import run_test

from voicebot.conversation.pauses import PauseWatch, watch_pauses
from voicebot.providers.base import BuildContext
from voicebot.providers.local.early_transcripts import EarlyTranscripts, room_tone
from voicebot.providers.local.whisper import Transcript, WhisperSTT

# ---- the pause watch --------------------------------------------------------------------------


class Listener:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.stop_in: list[float] = []

    def caller_paused(self, stop_in_secs: float) -> None:
        self.calls.append("paused")
        self.stop_in.append(round(stop_in_secs, 3))

    def caller_resumed(self) -> None:
        self.calls.append("resumed")


def feed(watch: PauseWatch, states: str) -> None:
    """One 20 ms chunk per letter: S speaking, p stopping (quiet inside speech), Q quiet."""
    names = {"S": VADState.SPEAKING, "p": VADState.STOPPING, "Q": VADState.QUIET}
    for c in states:
        watch.observe(names[c], 0.02)


def test_a_pause_is_told_once_when_it_is_long_enough_and_a_resume_only_after_it() -> None:
    listener = Listener()
    watch = PauseWatch(0.06, [listener])
    feed(watch, "SSSpp")  # 40 ms of quiet: not yet
    assert listener.calls == []
    feed(watch, "pppp")  # 60 ms and on: once
    assert listener.calls == ["paused"]
    assert listener.stop_in == [0.14]  # the VAD's 0.2 s stop, 60 ms of it heard
    feed(watch, "SS")  # speech again before the stop
    assert listener.calls == ["paused", "resumed"]
    feed(watch, "ppS")  # a short dip: neither
    assert listener.calls == ["paused", "resumed"]
    feed(watch, "pppppppQQ")  # a pause that ends in the VAD's stop: no resume
    assert listener.calls == ["paused", "resumed", "paused"]
    feed(watch, "SS")
    assert listener.calls == ["paused", "resumed", "paused"]


def test_a_failing_listener_is_logged_and_the_others_still_hear() -> None:
    class Broken(Listener):
        def caller_paused(self, stop_in_secs: float) -> None:
            raise RuntimeError("boom")

    other = Listener()
    watch = PauseWatch(0.02, [Broken(), other])
    feed(watch, "Sp")
    assert other.calls == ["paused"]


def test_the_pause_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        PauseWatch(0, [])


class ScriptedVAD:
    """A VAD analyzer whose states are scripted, one per analyzed chunk."""

    sample_rate = 16000
    params = VADParams(stop_secs=0.3)

    def __init__(self, states: list[VADState]) -> None:
        self.states = states

    async def analyze_audio(self, buffer: bytes) -> VADState:
        return self.states.pop(0)


async def test_watch_pauses_wraps_the_analyzer_and_still_returns_its_states() -> None:
    assert WhisperSTT().early_secs == 0.064  # the offline default transcribes at pauses
    listener = Listener()
    listener.early_secs = 0.04  # type: ignore[attr-defined]
    vad = ScriptedVAD([VADState.SPEAKING, VADState.STOPPING, VADState.STOPPING])
    assert watch_pauses(vad, listener) is not None
    chunk = bytes(640)  # 20 ms at 16 kHz
    got = [await vad.analyze_audio(chunk) for _ in range(3)]
    assert got == [VADState.SPEAKING, VADState.STOPPING, VADState.STOPPING]
    assert listener.calls == ["paused"]
    assert listener.stop_in == [0.26]  # this VAD's own stop_secs, less the 40 ms heard


async def test_a_stop_changed_mid_call_is_the_one_the_pause_is_told() -> None:
    """Pipecat's VADParamsUpdateFrame sets new params on the analyzer during a call."""
    listener = Listener()
    listener.early_secs = 0.04  # type: ignore[attr-defined]
    vad = ScriptedVAD([VADState.SPEAKING, VADState.STOPPING, VADState.STOPPING])
    watch_pauses(vad, listener)
    vad.params = VADParams(stop_secs=0.5)  # after the watch was attached
    for _ in range(3):
        await vad.analyze_audio(bytes(640))
    assert listener.stop_in == [0.46]


def test_nothing_is_watched_for_an_stt_that_works_only_at_the_stop() -> None:
    vad = ScriptedVAD([])
    analyze = vad.analyze_audio
    assert watch_pauses(vad, object()) is None
    assert watch_pauses(None, Listener()) is None
    assert vad.analyze_audio == analyze


# ---- the early transcript ---------------------------------------------------------------------


class Whisper:
    """Says how long the audio was; ``gate`` holds it, ``fail`` makes it fail (None)."""

    def __init__(self) -> None:
        self.heard: list[int] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = False

    async def __call__(self, pcm: bytes) -> str | None:
        self.heard.append(len(pcm))
        await self.gate.wait()
        return None if self.fail else f"{len(pcm)} bytes"


def early_for(whisper: Whisper) -> EarlyTranscripts[str | None]:
    return EarlyTranscripts(whisper, asyncio.create_task, lambda: 32000)


CHUNK = bytes(640)  # 20 ms of 16 kHz 16-bit audio


def speak(early: EarlyTranscripts[Any], chunks: int) -> bytes:
    for _ in range(chunks):
        early.audio(CHUNK)
    return CHUNK * chunks


async def test_the_transcript_started_at_the_pause_is_the_turns_transcript() -> None:
    whisper = Whisper()
    early = early_for(whisper)
    early.speech_started()
    words = speak(early, 50)
    early.paused(0.0)  # the words so far go to Whisper here...
    quiet = speak(early, 10)  # ...and the quiet the VAD waits through is not transcribed
    assert await early.transcript(words + quiet) == "32000 bytes"
    assert whisper.heard == [32000]
    assert early.counts.to_dict() == {"started": 1, "used": 1, "distrusted": 0}


async def test_speech_after_the_pause_drops_it_and_the_stop_transcribes_the_segment() -> None:
    whisper = Whisper()
    early = early_for(whisper)
    early.speech_started()
    segment = speak(early, 50)
    early.paused(0.0)
    segment += speak(early, 5)
    early.resumed()  # the caller went on
    segment += speak(early, 20)
    assert await early.transcript(segment) == "48000 bytes"
    assert whisper.heard == [32000, 48000]
    assert early.counts.to_dict() == {"started": 1, "used": 0, "distrusted": 0}


async def test_a_dropped_transcription_still_running_is_waited_for_not_run_beside() -> None:
    whisper = Whisper()
    whisper.gate.clear()  # Whisper busy with the early one
    early = early_for(whisper)
    early.speech_started()
    segment = speak(early, 10)
    early.paused(0.0)
    early.resumed()
    segment += speak(early, 10)
    final = asyncio.create_task(early.transcript(segment))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert whisper.heard == [6400]  # the stop's transcription has not started beside it
    whisper.gate.set()
    assert await final == "12800 bytes"
    assert whisper.heard == [6400, 12800]


async def test_a_segment_that_does_not_start_with_the_early_words_is_transcribed_whole() -> None:
    whisper = Whisper()
    early = early_for(whisper)
    early.speech_started()
    speak(early, 10)
    early.paused(0.0)
    other = b"\x01" * 12800  # a buffer that drifted from ours: never trust the early one
    assert await early.transcript(other) == "12800 bytes"
    assert early.counts.to_dict() == {"started": 1, "used": 0, "distrusted": 0}


async def test_one_early_transcription_at_a_time_and_none_outside_speech() -> None:
    whisper = Whisper()
    whisper.gate.clear()
    early = early_for(whisper)
    early.paused(0.0)  # not speaking: nothing to transcribe
    early.speech_started()
    speak(early, 10)
    early.paused(0.0)
    early.resumed()
    speak(early, 10)
    early.paused(0.0)  # the first still runs: no second one beside it
    assert early.counts.started == 1
    whisper.gate.set()
    task = early.pending()
    assert task is not None
    await task


async def test_a_failed_early_transcription_is_the_turns_failure_not_a_second_run() -> None:
    whisper = Whisper()
    whisper.fail = True
    early = early_for(whisper)
    early.speech_started()
    words = speak(early, 25)
    early.paused(0.0)
    assert await early.transcript(words + speak(early, 5)) is None
    assert whisper.heard == [16000]


async def test_the_quiet_still_to_come_is_stood_in_for_by_room_tone() -> None:
    seen: list[bytes] = []

    async def whisper(pcm: bytes) -> str:
        seen.append(pcm)
        return "ok"

    early = EarlyTranscripts(whisper, asyncio.create_task, lambda: 32000)
    early.speech_started()
    loud = (np.full(3200, 8000)).astype("<i2").tobytes()  # 0.1 s of speech
    quiet = (np.random.default_rng(1).normal(0, 100, 1600)).astype("<i2").tobytes()
    early.audio(loud + quiet)  # the words, then 50 ms of line noise
    early.paused(0.125)
    assert await early.transcript(loud + quiet + bytes(4000)) == "ok"
    (heard,) = seen
    assert heard[: len(loud + quiet)] == loud + quiet
    tone = np.frombuffer(heard[len(loud + quiet) :], np.int16)
    assert len(tone) == 2000  # 125 ms at 16 kHz
    tail = np.frombuffer((loud + quiet)[-2048:], np.int16).astype(float)
    level = np.sqrt(np.mean(tail**2))  # the last 64 ms: mostly the noise, a little speech
    assert 0.8 * level < np.sqrt(np.mean(tone.astype(float) ** 2)) < 1.2 * level
    assert room_tone(loud + quiet, 0.125, 32000) == heard[len(loud + quiet) :]  # the same


async def test_before_speech_only_the_last_second_is_kept() -> None:
    whisper = Whisper()
    early = early_for(whisper)
    speak(early, 100)  # 2 s of line noise before the VAD heard speech
    early.speech_started()
    words = speak(early, 10)
    early.paused(0.0)
    assert await early.transcript(bytes(32000) + words) == "38400 bytes"  # 1 s + the words
    assert whisper.heard == [38400]


async def test_the_whisper_service_transcribes_at_the_stop_when_no_pause_came(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard: list[int] = []

    class Fake:
        def transcribe(
            self, audio: np.ndarray, *, tail_secs: float = 1.0, expect: str | None = None
        ) -> Transcript:
            heard.append(len(audio))
            return Transcript("hello", 0.01)

    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: Fake())
    service = WhisperSTT().build(BuildContext(audio_in_sample_rate=16000))
    pcm = bytes(16000 * 2)
    frames = [
        InputAudioRawFrame(audio=pcm[i : i + 640], sample_rate=16000, num_channels=1)
        for i in range(0, len(pcm), 640)
    ]
    down, _ = await run_test(
        service,
        frames_to_send=[VADUserStartedSpeakingFrame(), *frames, VADUserStoppedSpeakingFrame()],
    )
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == ["hello"]
    assert heard == [16000]
    assert service.early.to_dict() == {"started": 0, "used": 0, "distrusted": 0}


async def test_an_early_transcript_not_trusted_gives_way_to_the_stops_segment() -> None:
    whisper = Whisper()
    early = EarlyTranscripts(
        whisper, asyncio.create_task, lambda: 32000, trust=lambda text: text != "6400 bytes"
    )
    early.speech_started()
    words = speak(early, 10)
    early.paused(0.0)
    assert await early.transcript(words + speak(early, 5)) == "9600 bytes"
    assert whisper.heard == [6400, 9600]
    assert early.counts.to_dict() == {"started": 1, "used": 0, "distrusted": 1}


async def test_speech_after_the_pause_that_the_watch_missed_still_drops_it() -> None:
    """The VAD can hear speech and quiet again inside one chunk (two VAD frames in one
    analyze_audio call): no "resumed" comes, but the loud audio after the early words does."""
    whisper = Whisper()
    early = early_for(whisper)
    early.speech_started()
    words = speak(early, 10)  # silence as the "words": their tail level is 0
    early.paused(0.0)
    burst = (np.full(640, 6000)).astype("<i2").tobytes()  # 20 ms of loud speech
    assert await early.transcript(words + burst + bytes(1280)) == "8960 bytes"  # all of it
    assert early.counts.to_dict() == {"started": 1, "used": 0, "distrusted": 0}
