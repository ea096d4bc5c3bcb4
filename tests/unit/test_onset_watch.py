"""The caller's first voiced chunk, before the VAD calls speech started (``OnsetWatch``):
what it tells its listener for each run of chunks, and that it reads the VAD's own scores."""

from __future__ import annotations

import asyncio
import math

import numpy as np
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from voicebot.conversation.pauses import ROSE, SUSTAINS, VOICED, OnsetWatch, level_db
from voicebot.providers.energy import EnergyVADAnalyzer

CHUNK = 0.032
START = 0.2  # the VAD's start_secs


class Listener:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def caller_sounded(self) -> None:
        self.calls.append("sounded")

    def caller_faded(self) -> None:
        self.calls.append("faded")


def feed(watch: OnsetWatch, chunks: str, state: str = "Q") -> None:
    """One analyze call per letter: v a voiced chunk, . an unvoiced one; ``state`` the VAD's
    state after it (Q quiet, s starting, S speaking, p stopping)."""
    names = {"Q": VADState.QUIET, "s": VADState.STARTING, "S": VADState.SPEAKING}
    names["p"] = VADState.STOPPING
    for c in chunks:
        watch.observe(names[state], [c == "v"], CHUNK, START)


def test_a_first_voiced_chunk_is_told_once_and_the_vads_call_ends_it_quietly() -> None:
    listener = Listener()
    watch = OnsetWatch(listener)
    feed(watch, "...")
    assert listener.calls == []
    feed(watch, "v", "s")
    assert listener.calls == ["sounded"]
    feed(watch, "vvv", "s")  # more of the same sound: not told again
    feed(watch, "v", "S")  # the VAD calls it speech: its own frames take over
    feed(watch, "v.v", "p")
    assert listener.calls == ["sounded"]
    assert (watch.onsets, watch.faded) == (1, 0)
    feed(watch, "...", "Q")  # speech over; a new sound is a new onset
    feed(watch, "v")
    assert listener.calls == ["sounded", "sounded"]


def test_a_sound_that_stops_fades_after_three_unvoiced_chunks() -> None:
    listener = Listener()
    watch = OnsetWatch(listener)
    feed(watch, "v..")  # a click: two unvoiced chunks, not yet
    assert listener.calls == ["sounded"]
    feed(watch, ".")
    assert listener.calls == ["sounded", "faded"]
    feed(watch, "..")
    assert listener.calls == ["sounded", "faded"]


def test_a_voiced_chunk_between_quiet_ones_keeps_the_sound_alive() -> None:
    listener = Listener()
    watch = OnsetWatch(listener)
    feed(watch, "v..v..v..")
    assert listener.calls == ["sounded"]


def test_a_sound_the_vad_never_calls_fades_after_its_start_wait_and_the_grace() -> None:
    listener = Listener()
    watch = OnsetWatch(listener, grace_secs=0.25)
    limit = int((START + 0.25) / CHUNK)  # 14 chunks of 32 ms
    feed(watch, "v" * limit)  # voiced all along, but quiet to the VAD (its loudness window)
    assert listener.calls == ["sounded"]
    feed(watch, "v")
    assert listener.calls == ["sounded", "faded"]


def test_the_watch_reads_the_vads_own_scores_and_its_loudness_floor() -> None:
    async def run() -> list[str]:
        vad = EnergyVADAnalyzer(
            threshold=0.02,
            params=VADParams(confidence=0.5, start_secs=0.2, stop_secs=0.2, min_volume=0.4),
        )
        vad.set_sample_rate(16000)
        listener = Listener()
        OnsetWatch(listener).attach(vad)
        n = vad.num_frames_required()
        quiet = np.zeros(n, dtype=np.int16)
        tone = np.sin(2 * np.pi * 440 * np.arange(n) / 16000)  # not DC: loudness filters DC
        soft = (tone * 1100).astype(np.int16)  # RMS 0.024: over the energy threshold
        loud = (tone * 11000).astype(np.int16)
        # A call's first 0.4 s: the VAD's loudness window fills (volume reads 0 until then).
        states = [await vad.analyze_audio(quiet.tobytes()) for _ in range(25)]
        assert listener.calls == []
        # -110 + 100 * 0.4 = -70 dBFS: the soft tone is -32 dBFS, over it; a near-silent
        # chunk that the energy VAD also rejects is not a sound.
        await vad.analyze_audio(np.full(n, 3, dtype=np.int16).tobytes())
        assert listener.calls == []
        states.append(await vad.analyze_audio(soft.tobytes()))
        assert listener.calls == ["sounded"]
        for _ in range(15):  # 2 chunks to the smoothed volume, then the 0.2 s start
            states.append(await vad.analyze_audio(loud.tobytes()))
        assert VADState.SPEAKING in states  # the VAD went on to call it speech
        return listener.calls

    assert asyncio.run(run()) == ["sounded"]


def test_a_loud_chunk_the_model_scores_low_is_no_sound() -> None:
    async def run() -> list[str]:
        vad = EnergyVADAnalyzer(threshold=0.5, params=VADParams(confidence=0.5, min_volume=0.0))
        vad.set_sample_rate(16000)
        listener = Listener()
        OnsetWatch(listener).attach(vad)
        chunk = np.full(vad.num_frames_required(), 8000, dtype=np.int16)  # RMS 0.24 < 0.5
        await vad.analyze_audio(chunk.tobytes())
        return listener.calls

    assert asyncio.run(run()) == []


def test_level_db() -> None:
    assert level_db(b"") == float("-inf")
    assert level_db(np.zeros(10, dtype=np.int16).tobytes()) == float("-inf")
    full = np.full(10, 32767, dtype=np.int16).tobytes()
    assert abs(level_db(full)) < 0.01
    assert abs(level_db(np.full(10, 3277, dtype=np.int16).tobytes()) + 20) < 0.01


def test_on_real_speech_silero_is_heard_before_the_vad_calls_speech() -> None:
    """Silero (its scores are arrays) on a recorded question: the first sound is told, once,
    well before the VAD's call (its 0.2 s start and loudness window)."""
    from pathlib import Path

    from voicebot.audio import read_wav
    from voicebot.providers.onnx_sessions import silero_analyzer

    speech = read_wav(Path(__file__).parents[2] / "examples/audio/two_turns.wav", 16000)

    async def run() -> tuple[list[str], int, int]:
        vad = silero_analyzer(VADParams())
        vad.set_sample_rate(16000)
        listener = Listener()
        OnsetWatch(listener).attach(vad)
        step = 320  # 20 ms frames, as a transport sends them
        sounded_at = speaking_at = -1
        for i in range(0, speech.samples.size - step, step):
            state = await vad.analyze_audio(speech.samples[i : i + step].tobytes())
            if listener.calls and sounded_at < 0:
                sounded_at = i
            if state == VADState.SPEAKING:
                speaking_at = i
                break
        return listener.calls, sounded_at, speaking_at

    calls, sounded_at, speaking_at = asyncio.run(run())
    assert calls == ["sounded"]
    assert 0 <= sounded_at < speaking_at
    # Not a timing margin: positions in the audio. The VAD's start wait alone is 0.2 s.
    assert (speaking_at - sounded_at) / 16000 >= 0.15


def test_a_voiced_chunk_under_the_vads_loudness_floor_is_no_sound() -> None:
    async def run() -> list[str]:
        # min_volume 0.8 stands for -30 dBFS; the tone is -32 dBFS and voiced to the model.
        vad = EnergyVADAnalyzer(threshold=0.02, params=VADParams(confidence=0.5, min_volume=0.8))
        vad.set_sample_rate(16000)
        listener = Listener()
        OnsetWatch(listener).attach(vad)
        n = vad.num_frames_required()
        tone = (np.sin(2 * np.pi * 440 * np.arange(n) / 16000) * 1100).astype(np.int16)
        assert vad.voice_confidence(tone.tobytes()) == 1.0  # (the wrapped score, unchanged)
        for _ in range(5):
            await vad.analyze_audio(tone.tobytes())
        return listener.calls

    assert asyncio.run(run()) == []


def test_a_drop_with_no_chunk_held_does_not_outlive_the_interruption() -> None:
    """A barge-in whose interruption passes while the transport holds no chunk (its queue was
    empty) must leave the pause usable: the next pause can be resumed."""
    from voicebot.conversation.output_pause import OutputPause

    async def run() -> tuple[int, bool]:
        class Output:
            async def write_audio_frame(self, frame: object) -> bool:
                return True

        pause = OutputPause()
        pause.attach(Output())
        pause.hold()
        pause.drop()
        pause.interruption_passed()  # no write was waiting
        pause.hold()
        await pause.resume()
        return pause.resumes, pause.held

    assert asyncio.run(run()) == (1, False)


def test_a_first_sound_may_take_a_lower_score_than_the_vads_own() -> None:
    """``OnsetWatch(confidence=...)`` (``BargeIn.first_sound_confidence``): a chunk scored
    0.6 is a first sound at 0.5, and not at the VAD's own 0.7."""

    class ScoresSixTenths(EnergyVADAnalyzer):
        def voice_confidence(self, buffer: bytes) -> float:
            return 0.6

    async def run(confidence: float | None) -> list[str]:
        vad = ScoresSixTenths(params=VADParams(confidence=0.7, min_volume=0.0))
        vad.set_sample_rate(16000)
        listener = Listener()
        OnsetWatch(listener, confidence=confidence).attach(vad)
        chunk = np.full(vad.num_frames_required(), 8000, dtype=np.int16)
        await vad.analyze_audio(chunk.tobytes())
        return listener.calls

    assert asyncio.run(run(0.5)) == ["sounded"]
    assert asyncio.run(run(None)) == []


def test_a_sudden_onset_counts_with_rise_db_and_not_without() -> None:
    """``rise_db``: a chunk 15 dB over the louder of the two before, loud enough (and over
    the VAD's own floor) and with some voice in the model's score, is a first sound even
    under ``confidence``; a slow swell, a quiet jump or a jump with no voice in it is not."""
    on = OnsetWatch(Listener(), rise_db=15.0)
    off = OnsetWatch(Listener())
    assert on.rises(0.2, -30.0, -60.0)  # an "s" after line noise
    assert on.rises(0.2, -30.0, -math.inf)  # after digital silence
    assert not on.rises(0.2, -math.inf, -math.inf)
    assert not off.rises(0.2, -30.0, -60.0)
    assert not on.rises(0.2, -30.0, -40.0)  # a swell of 10 dB
    assert not on.rises(0.2, -50.0, -80.0)  # a jump, but quieter than RISE_MIN_DB
    assert not on.rises(0.05, -30.0, -60.0)  # a click: no voice in it at all
    assert not on.rises(0.2, -40.0, -60.0, floor_db=-30.0)  # under min_volume's floor


def chunks_of(watch: OnsetWatch, scored: list[tuple[float, float]]) -> list[int]:
    """``classify`` over (score, dB) chunks, confidence 0.5, the VAD's floor -50 dBFS."""
    return [watch.classify(score, db, 0.5, -50.0) for score, db in scored]


def test_a_rise_is_measured_against_the_louder_of_the_two_chunks_before() -> None:
    watch = OnsetWatch(Listener(), rise_db=15.0)
    # Background at -40 dBFS with a one-chunk dip to -60: back at -35 is no onset.
    kinds = chunks_of(watch, [(0.0, -40.0), (0.0, -40.0), (0.2, -60.0), (0.2, -35.0)])
    assert kinds[3] == SUSTAINS  # loud with a trace of voice, but no onset
    kinds = chunks_of(watch, [(0.0, -60.0), (0.0, -60.0), (0.2, -30.0), (0.2, -30.0)])
    assert kinds[2] == ROSE and kinds[3] == SUSTAINS  # the same level again: no new onset


def test_a_sound_begun_by_a_rise_is_carried_by_loud_low_scored_chunks_until_voiced() -> None:
    """A long "sss" before the vowel: the rise starts the sound, the chunks after it (loud,
    a trace of voice, under ``confidence``) keep it from fading; a sound the score began
    is not carried by them (a cough scored once is still a noise)."""
    listener = Listener()
    watch = OnsetWatch(listener, rise_db=15.0)
    watch.observe(VADState.QUIET, [ROSE, SUSTAINS, SUSTAINS, SUSTAINS, VOICED], CHUNK, START)
    assert listener.calls == ["sounded"]
    listener = Listener()
    watch = OnsetWatch(listener, rise_db=15.0)
    watch.observe(VADState.QUIET, [VOICED, SUSTAINS, SUSTAINS, SUSTAINS], CHUNK, START)
    assert listener.calls == ["sounded", "faded"]


def test_rise_db_reads_the_levels_of_the_chunks_the_vad_scores() -> None:
    """Through ``attach``: the level of each chunk the VAD scores is kept, so a loud chunk
    after a loud chunk is no onset, and one after a quiet chunk is."""

    def run(scores: list[float]) -> list[str]:
        listener = Listener()
        vad = EnergyVADAnalyzer(params=VADParams(confidence=0.99))
        vad.set_sample_rate(16000)
        given = iter(scores)
        vad.voice_confidence = lambda buffer: next(given)  # type: ignore[method-assign]
        OnsetWatch(listener, rise_db=15.0).attach(vad)
        n = vad.num_frames_required()
        rng = np.random.default_rng(0)
        quiet = (rng.standard_normal(n) * 30).astype("<i2").tobytes()
        loud = (rng.standard_normal(n) * 3000).astype("<i2").tobytes()

        async def feed_chunks() -> None:
            for chunk in (quiet, loud, loud):
                await vad.analyze_audio(chunk)

        asyncio.run(feed_chunks())
        return listener.calls

    # A voice trace only on the second loud chunk: no rise there (the chunk before was as
    # loud), and confidence 0.99 is never reached.
    assert run([0.0, 0.0, 0.2]) == []
    # On the first loud chunk: a rise of ~40 dB.
    assert run([0.0, 0.2, 0.0]) == ["sounded"]


def test_the_session_gives_the_onset_watch_the_bots_rise_and_confidence(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from types import SimpleNamespace

    from pipecat.turns.user_start import (
        TranscriptionUserTurnStartStrategy,
        VADUserTurnStartStrategy,
    )

    from voicebot import BargeIn
    from voicebot.conversation import barge_in

    made: list[dict[str, object]] = []

    class Recorded:
        def __init__(self, listener: object, **kwargs: object) -> None:
            made.append(kwargs)

        def attach(self, vad: object) -> None:
            pass

    monkeypatch.setattr(barge_in, "OnsetWatch", Recorded)
    strategies = SimpleNamespace(
        start=[VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()]
    )
    for policy in (BargeIn(), BargeIn(first_sound_rise_db=None, first_sound_confidence=0.6)):
        bot = SimpleNamespace(barge_in=policy, allow_interruptions=True)
        assert barge_in.barge_in_pause(bot, strategies, vad=object()) is not None
        strategies.start = [VADUserTurnStartStrategy(), TranscriptionUserTurnStartStrategy()]
    assert made == [
        {"confidence": 0.5, "rise_db": 15.0},
        {"confidence": 0.6, "rise_db": None},
    ]
