"""Phone audio and call features, stage by stage: every STT takes 8 kHz input (Whisper by
resampling each utterance to 16 kHz), the keypad stage's options and frames, and the helpers
a tool calls refusing to run outside a session."""

from __future__ import annotations

import numpy as np
import pytest
from pipecat.audio.dtmf.types import KeypadEntry
from pipecat.frames.frames import (
    ErrorFrame,
    InputAudioRawFrame,
    InputDTMFFrame,
    InterruptionFrame,
    LLMMessagesAppendFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.tests.utils import run_test

from voicebot import Bot, registry
from voicebot.errors import ConfigError
from voicebot.providers.base import BuildContext, STTProvider
from voicebot.providers.local.whisper import Transcript, WhisperSTT
from voicebot.session import current_session
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS
from voicebot.tools.builtin import collect_digits, end_call

# ---- 8 kHz into every STT ----------------------------------------------------------------------


class RecordingTranscriber:
    def __init__(self) -> None:
        self.heard: list[np.ndarray] = []

    def transcribe(
        self, audio: np.ndarray, *, tail_secs: float = 1.0, expect: str | None = None
    ) -> Transcript:
        self.heard.append(audio)
        return Transcript("Press one for sales.", 0.01)


def tone_8khz(freq: float, secs: float) -> bytes:
    t = np.arange(int(8000 * secs)) / 8000
    return (0.3 * np.sin(2 * np.pi * freq * t) * 32767).astype("<i2").tobytes()


async def test_whisper_transcribes_8khz_audio_resampled_to_16khz(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = RecordingTranscriber()
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: fake)
    service = WhisperSTT(model="base").build(BuildContext(audio_in_sample_rate=8000))
    pcm = tone_8khz(440.0, 1.0)
    chunks = [  # 20 ms frames, as a phone transport delivers them
        InputAudioRawFrame(audio=pcm[i : i + 320], sample_rate=8000, num_channels=1)
        for i in range(0, len(pcm), 320)
    ]
    down, _ = await run_test(
        service,
        frames_to_send=[VADUserStartedSpeakingFrame(), *chunks, VADUserStoppedSpeakingFrame()],
        pipeline_params=PipelineParams(audio_in_sample_rate=8000),
    )
    assert not [f for f in down if isinstance(f, ErrorFrame)]
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == ["Press one for sales."]
    (audio,) = fake.heard
    assert abs(len(audio) - 16000) <= 160  # one second at 16 kHz (the segment may trim a frame)
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * 16000 / len(audio)
    assert abs(peak_hz - 440.0) < 5.0  # the same tone, not sped up or slowed down
    assert 0.25 < float(np.max(np.abs(audio))) < 0.35  # and at the same level


def builtin_stts() -> list[STTProvider]:
    """Every STT voicebot ships, as a user would name it."""
    regs = [r for r in registry.registrations() if r.kind == "stt" and r.source == "voicebot"]
    options = {"deepgram": {"api_key": "k"}, "fake": {"transcripts": []}}
    classes = {r.load() for r in regs}
    return [cls(**options.get(cls.name, {})) for cls in sorted(classes, key=lambda c: c.name)]


@pytest.mark.parametrize("stt", builtin_stts(), ids=lambda p: type(p).__name__)
def test_every_builtin_stt_accepts_a_phone_line_at_8khz(stt: STTProvider) -> None:
    if stt.missing_modules():
        pytest.skip(f"{type(stt).__name__}'s extra is not installed")
    bot = Bot(stt=stt, llm=FakeLLM(replies=[]), tts=FakeTTS(), sample_rate_in=8000)
    stt.check(bot.build_context(env={}))  # raised "needs 16000 Hz input" for Whisper before


# ---- the keypad stage -------------------------------------------------------------------------


def keys(text: str) -> list[InputDTMFFrame]:
    return [InputDTMFFrame(KeypadEntry(k)) for k in text]


async def test_an_entry_is_one_user_message_at_the_terminator_and_interrupts_once() -> None:
    from voicebot.processors.dtmf import Keypad

    keypad = Keypad()
    down, _ = await run_test(keypad, frames_to_send=keys("12#"))
    assert [type(f) for f in down if isinstance(f, InputDTMFFrame)] == [InputDTMFFrame] * 3
    (message,) = [f for f in down if isinstance(f, LLMMessagesAppendFrame)]
    assert message.messages == [{"role": "user", "content": "[caller pressed 1 2 #]"}]
    assert message.run_llm is True
    # Like speech, the first key stops the bot talking; the next keys of the entry do not.
    assert len([f for f in down if isinstance(f, InterruptionFrame)]) == 1
    assert keypad.pressed == ["1", "2", "#"]


async def test_no_interruption_when_the_bot_does_not_allow_them() -> None:
    from voicebot.processors.dtmf import DTMF, Keypad

    for keypad in (Keypad(allow_interruptions=False), Keypad(DTMF(interrupt=False))):
        down, _ = await run_test(keypad, frames_to_send=keys("5#"))
        assert not [f for f in down if isinstance(f, InterruptionFrame)]


def test_dtmf_options_are_checked() -> None:
    from voicebot.processors.dtmf import DTMF

    with pytest.raises(ConfigError, match=r"terminator='x'.*not a keypad key"):
        DTMF(terminator="x")
    with pytest.raises(ConfigError, match=r"must contain \{keys\}"):
        DTMF(text_format="[keys pressed]")
    with pytest.raises(ConfigError, match="pause_secs"):
        DTMF(pause_secs=0)
    with pytest.raises(ConfigError, match="did you mean 'as_text'"):
        DTMF(as_txt=False)
    assert DTMF(terminator=None).terminator is None
    with pytest.raises(ConfigError, match=r"Bot\(dtmf=...\) takes a DTMF"):
        Bot(stt=FakeSTT(transcripts=[]), llm=FakeLLM(replies=[]), tts=FakeTTS(), dtmf=True)


async def test_collect_refuses_bad_arguments() -> None:
    from voicebot.processors.dtmf import Keypad

    keypad = Keypad()
    with pytest.raises(ValueError, match=r"count=0"):
        await keypad.collect(0)
    with pytest.raises(ValueError, match=r"timeout_secs=0"):
        await keypad.collect(4, timeout_secs=0)
    with pytest.raises(ValueError, match=r"terminator='A'"):
        await keypad.collect(4, terminator="A")


# ---- tools outside a session ------------------------------------------------------------------


async def test_the_call_helpers_say_plainly_when_no_session_runs() -> None:
    with pytest.raises(RuntimeError, match="no voicebot session is running here"):
        current_session()
    with pytest.raises(RuntimeError, match="no voicebot session is running here"):
        await collect_digits(4)
    with pytest.raises(RuntimeError, match="no voicebot session is running here"):
        await end_call.call({})


def test_end_call_is_a_plain_tool_with_no_arguments_and_no_filler() -> None:
    assert end_call.name == "end_call"
    assert end_call.parameters_schema == {"properties": {}, "required": []}
    assert end_call.filler is None and end_call.apology is None
    assert "goodbye" in end_call.description


def test_a_sure_transcript_is_kept_though_whisper_thinks_it_may_be_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A VAD-cut phone segment: a right, confident transcript with a high no_speech_prob
    # (the pre-roll of line silence in front). Whisper's rule keeps it; noise is still dropped.
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: RecordingTranscriber())
    service = WhisperSTT(model="base").build(BuildContext(audio_in_sample_rate=8000))
    assert not service.is_no_speech(Transcript("Your call cannot be completed.", 0.76, -0.2))
    assert service.is_no_speech(Transcript("I'm going to put the sauce on", 0.64, -1.85))
    assert not service.is_no_speech(Transcript("Hello.", 0.3, -1.9))  # speech, unsure words
    strict = WhisperSTT(model="base", log_prob_threshold=None).build(BuildContext())
    assert strict.is_no_speech(Transcript("Your call cannot be completed.", 0.76, -0.2))
