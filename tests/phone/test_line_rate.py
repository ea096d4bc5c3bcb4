"""The caller's line audio reaches the pipeline at its rate at once (``LineRateSerializer``,
``StreamUpsampler``): each 20 ms chunk comes out whole when it goes in, not in soxr's bursts
up to 131 ms later, and the upsampling keeps the speech band and drops its images."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import InputAudioRawFrame
from pipecat.processors.frame_processor import FrameProcessorSetup

from voicebot.audio.upsample import StreamUpsampler
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext
from voicebot.transports.phone import Exotel, PhoneCall, Twilio
from voicebot.transports.phone.line_rate import LineRateSerializer


def tone(hz: float, secs: float, rate: int, amp: float = 8000.0) -> np.ndarray:
    return (amp * np.sin(2 * np.pi * hz * np.arange(int(secs * rate)) / rate)).astype(np.int16)


def level_at(x: np.ndarray, hz: float, rate: int) -> float:
    """Amplitude of the ``hz`` component (a Hann-windowed DFT bin)."""
    w = np.hanning(len(x))
    bin_ = np.abs(np.sum(x * w * np.exp(-2j * np.pi * hz * np.arange(len(x)) / rate)))
    return float(2 * bin_ / w.sum())


@pytest.mark.parametrize("out_rate", [16000, 24000, 48000])
def test_every_chunk_comes_out_whole_at_once_and_as_one_stream(out_rate: int) -> None:
    x = tone(440, 1.0, 8000)
    up = StreamUpsampler(8000, out_rate)
    ratio = out_rate // 8000
    sizes = [160, 160, 37, 283, 160] * 20  # carriers' chunks need not be 20 ms
    pieces, at = [], 0
    for n in sizes:
        out = up.process(x[at : at + n].tobytes())
        assert len(out) == 2 * ratio * len(x[at : at + n])  # nothing held back
        pieces.append(out)
        at += n
    whole = StreamUpsampler(8000, out_rate).process(x[:at].tobytes())
    assert b"".join(pieces) == whole  # the state carries over from chunk to chunk
    assert up.delay_secs < 0.0031


def test_the_speech_band_passes_and_its_images_do_not() -> None:
    up = StreamUpsampler(8000, 16000)
    for hz in (300.0, 1000.0, 3000.0, 3400.0):
        out = np.frombuffer(up.process(tone(hz, 0.5, 8000).tobytes()), "<i2")[800:]
        assert level_at(out, hz, 16000) == pytest.approx(8000, rel=0.02)  # within 0.2 dB
        image = level_at(out, 8000 - hz, 16000)  # what zero-stuffing mirrors above 4 kHz
        assert image < 8000 * 10 ** (-60 / 20)


def test_the_output_lags_the_input_by_the_stated_delay() -> None:
    up = StreamUpsampler(8000, 16000)
    click = np.zeros(800, np.int16)
    click[400] = 20000
    out = np.frombuffer(up.process(click.tobytes()), "<i2")
    peak = int(np.argmax(np.abs(out)))
    assert peak / 16000 - 400 / 8000 == pytest.approx(up.delay_secs, abs=1 / 16000)


def test_only_whole_upsampling_ratios() -> None:
    assert StreamUpsampler.supports(8000, 16000) and StreamUpsampler.supports(8000, 48000)
    assert not StreamUpsampler.supports(16000, 16000)
    assert not StreamUpsampler.supports(16000, 8000)
    assert not StreamUpsampler.supports(44100, 16000)
    with pytest.raises(ValueError, match="whole ratio"):
        StreamUpsampler(16000, 24000)


def setup_at(rate: int) -> FrameProcessorSetup:
    return FrameProcessorSetup(
        clock=None,  # type: ignore[arg-type]  # the serializers read only the rates
        task_manager=None,  # type: ignore[arg-type]
        pipeline_worker=None,  # type: ignore[arg-type]
        audio_in_sample_rate=rate,
    )


def twilio_media(ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode()
    return json.dumps({"event": "media", "streamSid": "MZ1", "media": {"payload": payload}})


async def test_a_twilio_chunk_reaches_a_16k_pipeline_whole_when_it_arrives() -> None:
    from streamdouble import g711

    serializer = LineRateSerializer(
        Twilio().serializer(BuildContext(env={}), PhoneCall(carrier="twilio", stream_id="MZ1")),
        line_rate=8000,
    )
    await serializer.setup(setup_at(16000))
    x = tone(1000, 0.2, 8000)
    for k in range(10):  # soxr's stream gave nothing for the first ~120 ms of these
        frame = await serializer.deserialize(twilio_media(g711.encode(x[k * 160 : (k + 1) * 160])))
        assert isinstance(frame, InputAudioRawFrame)
        assert (frame.sample_rate, len(frame.audio)) == (16000, 640)
    assert isinstance(frame, InputAudioRawFrame)
    assert abs(level_at(np.frombuffer(frame.audio, "<i2"), 1000, 16000) - 8000) < 400  # μ-law


@pytest.mark.parametrize(
    ("provider", "call", "pipeline_rate", "line_rate"),
    [
        (Twilio(), PhoneCall(carrier="twilio", stream_id="MZ1"), 8000, 8000),
        (Exotel(), PhoneCall(carrier="exotel", stream_id="s", sample_rate=16000), 16000, 16000),
    ],
)
async def test_a_line_at_the_pipeline_rate_is_passed_on_untouched(
    provider: Any, call: PhoneCall, pipeline_rate: int, line_rate: int
) -> None:
    """An 8 kHz bot on Twilio, and Exotel streaming 16 kHz to a 16 kHz bot: nothing to
    resample (Exotel's line rate is the call's, not 8 kHz, or its audio would be cut to 4 kHz)."""
    assert provider.input_rate(call) == line_rate
    serializer = LineRateSerializer(
        provider.serializer(BuildContext(env={}), call), line_rate=line_rate
    )
    await serializer.setup(setup_at(pipeline_rate))
    assert serializer.upsampler is None


async def test_carrier_frames_are_joined_into_frames_of_frame_secs_in_order() -> None:
    """Pairs of 20 ms carrier messages become one 40 ms frame (the pipeline's cost is per
    frame): no sample lost, none reordered, the upsampled stream the same as one by one."""
    from streamdouble import g711

    call = PhoneCall(carrier="twilio", stream_id="MZ1")
    one_by_one = LineRateSerializer(Twilio().serializer(BuildContext(env={}), call), line_rate=8000)
    paired = LineRateSerializer(
        Twilio().serializer(BuildContext(env={}), call), line_rate=8000, frame_secs=0.04
    )
    await one_by_one.setup(setup_at(16000))
    await paired.setup(setup_at(16000))
    x = tone(440, 0.2, 8000)
    singles, pairs = b"", []
    for k in range(10):
        message = twilio_media(g711.encode(x[k * 160 : (k + 1) * 160]))
        single = await one_by_one.deserialize(message)
        assert isinstance(single, InputAudioRawFrame)
        singles += single.audio
        if (frame := await paired.deserialize(message)) is not None:
            assert isinstance(frame, InputAudioRawFrame)
            pairs.append(frame)
    assert [(f.sample_rate, len(f.audio)) for f in pairs] == [(16000, 1280)] * 5
    assert b"".join(f.audio for f in pairs) == singles


def test_a_phone_transport_pairs_carrier_frames_by_default() -> None:
    assert Twilio().input_frame_secs == 0.04
    with pytest.raises(ConfigError, match="input_frame_secs"):
        Twilio(input_frame_secs=0)
