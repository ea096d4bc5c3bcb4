"""The STT hint for speech over the bot (``BargeIn.hint_stt``): the backchannel words as the
offline Whisper's prompt, for the segments that start while the bot speaks, and only those."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pipecat.frames.frames import (
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.tests.utils import run_test

from voicebot import BargeIn, Bot
from voicebot.conversation.barge_in import hint_backchannels
from voicebot.conversation.state import ConversationState
from voicebot.providers.base import BuildContext
from voicebot.providers.local.whisper import Transcript, WhisperSTT
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


def test_the_hint_is_the_policys_own_phrases_as_said_text() -> None:
    assert BargeIn(backchannels=("gotcha", "sounds good")).stt_hint() == "Gotcha. Sounds good."
    hint = BargeIn().stt_hint()
    assert hint.startswith("Mhm. Mmhmm.") and "I see." in hint and "Got it." in hint


class Heard:
    """A transcriber that records the words each call was told to expect."""

    def __init__(self) -> None:
        self.expected: list[str | None] = []

    def transcribe(
        self, audio: np.ndarray, *, tail_secs: float = 1.0, expect: str | None = None
    ) -> Transcript:
        self.expected.append(expect)
        return Transcript("sure", 0.01)


def segment() -> list[Any]:
    pcm = bytes(8000 * 2)  # 0.5 s at 16 kHz
    audio = [
        InputAudioRawFrame(audio=pcm[i : i + 640], sample_rate=16000, num_channels=1)
        for i in range(0, len(pcm), 640)
    ]
    return [VADUserStartedSpeakingFrame(), *audio, VADUserStoppedSpeakingFrame()]


async def test_only_a_segment_begun_while_the_bot_speaks_is_transcribed_with_the_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard = Heard()
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: heard)
    service = WhisperSTT(early_secs=None).build(BuildContext(audio_in_sample_rate=16000))
    bot_speaking = iter([True, False])  # read once per segment, at its VAD start
    service.expect_over_bot("Mhm. Sure.", lambda: next(bot_speaking))
    down, _ = await run_test(service, frames_to_send=[*segment(), *segment()])
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == ["sure", "sure"]
    assert heard.expected == ["Mhm. Sure.", None]


async def test_without_the_hint_no_segment_is_told_anything(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    heard = Heard()
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: heard)
    service = WhisperSTT(early_secs=None).build(BuildContext(audio_in_sample_rate=16000))
    await run_test(service, frames_to_send=segment())
    assert heard.expected == [None]


class Listens:
    def __init__(self) -> None:
        self.told: list[tuple[str, Any]] = []

    def expect_over_bot(self, words: str, bot_speaking: Any) -> None:
        self.told.append((words, bot_speaking))


def bot(**changes: Any) -> Bot:
    return Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS(), **changes)


def test_the_stt_is_told_the_policys_words_and_reads_the_sessions_bot_speaking() -> None:
    stt, conversation = Listens(), ConversationState()
    assert hint_backchannels(bot(barge_in=BargeIn(backchannels=("mhm",))), stt, conversation)
    ((words, bot_speaking),) = stt.told
    assert words == "Mhm."
    assert bot_speaking() is False
    conversation.bot_speaking = True  # as ConversationState.apply sets it on BotStarted...
    assert bot_speaking() is True


@pytest.mark.parametrize(
    "changes",
    [
        {"barge_in": None},
        {"barge_in": BargeIn(hint_stt=False)},
        {"allow_interruptions": False},
    ],
    ids=["no barge-in policy", "hint off", "no interruptions"],
)
def test_no_hint_when_the_bot_does_not_ask_for_one(changes: dict[str, Any]) -> None:
    stt = Listens()
    assert not hint_backchannels(bot(**changes), stt, ConversationState())
    assert stt.told == []


def test_an_stt_that_takes_no_hint_is_left_alone() -> None:
    assert not hint_backchannels(bot(), object(), ConversationState())
