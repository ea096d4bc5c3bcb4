"""benchmarks/phone_latency.py's machinery on one short call per path with the fake bot: a real
``voicebot serve`` called by streamdouble over the Twilio protocol, and the WAV transport,
each give a caller-side first-audio latency for the caller's question, and the phone call's
transcript comes back from the server. No timing threshold: timing is the benchmark's subject,
not this test's."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.common import SPEECH_WAV
from benchmarks.phone_latency import (
    FAKE_BOT,
    make_caller,
    measure,
    phone_recording,
    summarize,
)
from tests.phone.conftest import TURN_1
from voicebot.audio.wav import Pcm, read_wav, write_wav


def test_the_phone_recording_lays_chunks_as_the_wav_output_does() -> None:
    """Each chunk at its arrival, or right after the audio before it if that is later."""
    import numpy as np

    one = np.ones(80, np.int16)  # 10 ms at 8 kHz
    pcm = phone_recording([(0.02, one), (0.025, 2 * one), (0.1, 3 * one)])
    assert pcm.samples[:160].tolist() == [0] * 160  # silence before the first chunk
    assert pcm.samples[160:240].tolist() == [1] * 80
    assert pcm.samples[240:320].tolist() == [2] * 80  # queued behind the first
    assert pcm.samples[320:800].tolist() == [0] * 480
    assert pcm.samples[800:].tolist() == [3] * 80


@pytest.mark.real_time
async def test_one_question_over_the_phone_and_over_the_wav_transport(tmp_path: Path) -> None:
    question = tmp_path / "question.wav"
    speech = read_wav(SPEECH_WAV, 8000)
    write_wav(question, Pcm(speech.samples[: int(TURN_1[1] * 8000)], 8000))
    caller = make_caller(question, tmp_path / "r0", lead=0.0, gap=None, tail=4.0)
    assert len(caller.utterances) == 1

    calls = await measure(FAKE_BOT, [caller], tmp_path, max_load=math.inf)

    assert [c.path for c in calls] == ["phone", "wav"]
    for call in calls:
        assert len(call.latency) == 1 and call.latency[0] is not None, call
        assert call.bot_text == ["It opens at nine in the morning. Anything else?"], call
    summary = summarize(calls)
    assert summary["phone"]["caller"]["n"] == summary["wav"]["caller"]["n"] == 1
    assert summary["gap"]["p50"] is not None
    print(f"phone {calls[0].latency[0]:.3f}s, wav {calls[1].latency[0]:.3f}s")
