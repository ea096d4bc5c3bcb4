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


def test_the_default_hint_is_backchannels_the_policy_lets_pass() -> None:
    """Each phrase of the default hint, as Whisper would write it, is a backchannel to the
    default policy: what the hint makes Whisper hear resumes the bot."""
    policy = BargeIn()
    assert policy.hint_stt
    phrases = [p.strip() for p in policy.hint_stt.split(".") if p.strip()]
    assert len(phrases) >= 6
    assert all(policy.is_backchannel(p) for p in phrases), phrases


class Heard:
    """A transcriber that records the words each call was told to expect."""

    def __init__(self) -> None:
        self.expected: list[str | None] = []
        self.context: list[str | None] = []

    def transcribe(
        self,
        audio: np.ndarray,
        *,
        tail_secs: float = 1.0,
        expect: str | None = None,
        context: str | None = None,
    ) -> Transcript:
        self.expected.append(expect)
        self.context.append(context)
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
    bot_speaking = iter([True, True, False, False])  # read at each VAD start and stop
    service.expect_over_bot("Mhm. Sure.", lambda: next(bot_speaking))
    down, _ = await run_test(service, frames_to_send=[*segment(), *segment()])
    assert [f.text for f in down if isinstance(f, TranscriptionFrame)] == ["sure", "sure"]
    assert heard.expected == ["Mhm. Sure.", None]


async def test_a_stray_stop_with_no_audio_queues_no_words_so_later_segments_keep_theirs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Pipecat skips a segment with no audio since the last stop; its words must not be
    queued either, or every later segment would get the one before's."""
    heard = Heard()
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: heard)
    service = WhisperSTT(early_secs=None).build(BuildContext(audio_in_sample_rate=16000))
    bot_speaking = iter([True, True, False, False])  # each start and each stop reads it
    service.expect_over_bot("Mhm.", lambda: next(bot_speaking))
    frames = [*segment(), VADUserStoppedSpeakingFrame(), *segment()]
    await run_test(service, frames_to_send=frames)
    assert heard.expected == ["Mhm.", None]


async def test_a_segment_the_bot_stopped_speaking_during_is_not_hinted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Begun over the bot's last words and ended after them: what the caller says then is
    a turn of its own, heard without the backchannel words."""
    heard = Heard()
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: heard)
    service = WhisperSTT(early_secs=None).build(BuildContext(audio_in_sample_rate=16000))
    bot_speaking = iter([True, False])  # at the start, then at the stop
    service.expect_over_bot("Mhm.", lambda: next(bot_speaking))
    await run_test(service, frames_to_send=segment())
    assert heard.expected == [None]


def test_whispers_output_budget_allows_for_the_prompt() -> None:
    """CTranslate2's Whisper generates at most min(max_length // 2, max_length - prompt + 1)
    tokens: the limit asked for must give the wanted tokens whatever the prompt's length."""
    from voicebot.providers.local.whisper import generation_limit

    for tokens in (6, 30, 120):
        for prompt in (4, 27, 120):
            limit = generation_limit(tokens, prompt)
            assert min(limit // 2, limit - prompt + 1) == tokens, (tokens, prompt)


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
        self.languages: list[str | None] = []

    def expect_over_bot(self, words: str, bot_speaking: Any, *, language: str | None) -> None:
        self.told.append((words, bot_speaking))
        self.languages.append(language)


def bot(**changes: Any) -> Bot:
    return Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS(), **changes)


def test_the_stt_is_told_the_policys_words_and_reads_the_sessions_bot_speaking() -> None:
    stt, conversation = Listens(), ConversationState()
    assert hint_backchannels(bot(barge_in=BargeIn(hint_stt="Mhm.")), stt, conversation)
    ((words, bot_speaking),) = stt.told
    assert words == "Mhm."
    assert bot_speaking() is False
    conversation.bot_speaking = True  # as ConversationState.apply sets it on BotStarted...
    assert bot_speaking() is True


@pytest.mark.parametrize(
    "changes",
    [
        {"barge_in": None},
        {"barge_in": BargeIn(hint_stt=None)},
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


def test_each_member_of_a_failover_group_that_takes_the_hint_is_told() -> None:
    class Group:
        def __init__(self, *members: object) -> None:
            self.members = list(members)

    first, second = Listens(), Listens()
    group = Group(first, object(), second)
    assert hint_backchannels(bot(), group, ConversationState())
    assert [len(first.told), len(second.told)] == [1, 1]


def test_a_session_tells_its_stt_the_bots_backchannels(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The wiring in ``Session.build``: the built STT is told, and what it reads is the
    session's own record of the bot speaking."""
    from voicebot import WavFile
    from voicebot.audio.wav import Pcm, write_wav
    from voicebot.testing.fake_stt import ScriptedSTTService

    told: list[tuple[str, Any]] = []
    monkeypatch.setattr(
        ScriptedSTTService,
        "expect_over_bot",
        lambda self, words, speaking, language: told.append((words, speaking)),
        raising=False,
    )
    caller = tmp_path / "caller.wav"
    write_wav(caller, Pcm(np.zeros(16000, np.int16), 16000))
    policy = BargeIn(hint_stt="Mhm. Okay.")
    session = bot(barge_in=policy).session(
        transport=WavFile(input=caller, output=tmp_path / "out.wav"), env={}
    )
    ((words, speaking),) = told
    assert words == "Mhm. Okay."
    assert speaking() is False
    session.conversation.bot_speaking = True
    assert speaking() is True
    told.clear()
    bot(barge_in=BargeIn(hint_stt=None)).session(
        transport=WavFile(input=caller, output=tmp_path / "out2.wav"), env={}
    )
    assert told == []


def test_the_default_hint_is_english_and_a_bots_own_hint_any_language() -> None:
    default, own = Listens(), Listens()
    hint_backchannels(bot(), default, ConversationState())
    hint_backchannels(bot(barge_in=BargeIn(hint_stt="Ja. Genau.")), own, ConversationState())
    assert default.languages == ["en"] and own.languages == [None]


def test_a_whisper_transcribing_another_language_does_not_take_an_english_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(WhisperSTT, "transcriber", lambda self: Heard())
    german = WhisperSTT(model="base", language="de").build(BuildContext(audio_in_sample_rate=16000))
    german.expect_over_bot("Mm-hmm. Yeah.", lambda: True, language="en")
    english = WhisperSTT().build(BuildContext(audio_in_sample_rate=16000))
    english.expect_over_bot("Mm-hmm. Yeah.", lambda: True, language="en")
    assert german._segment_prompts.over_bot is None
    assert english._segment_prompts.over_bot is not None


def test_a_blank_hint_is_no_hint() -> None:
    assert BargeIn(hint_stt="   ").hint_stt is None
    assert BargeIn(hint_stt=" Mhm. ").hint_stt == "Mhm."


async def test_an_early_transcript_made_with_another_hint_is_not_used() -> None:
    """The early transcript (at a pause) used the hint the segment's start chose; if the stop
    chose otherwise (the bot stopped meanwhile), the segment is transcribed again."""
    import asyncio

    from voicebot.providers.local.early_transcripts import EarlyTranscripts

    calls: list[str] = []

    async def whisper(audio: bytes) -> str:
        calls.append("early" if not calls else "again")
        return f"{len(audio)} bytes"

    early = EarlyTranscripts(whisper, asyncio.create_task, lambda: 32000)
    early.speech_started()
    words = bytes(3200)
    early.audio(words)
    early.paused(0.0)
    await asyncio.sleep(0)

    async def unhinted(segment: bytes) -> str:
        calls.append("unhinted")
        return "heard without the hint"

    assert await early.transcript(words, unhinted, use_early=False) == "heard without the hint"
    assert calls == ["early", "unhinted"]


def test_the_default_vocabulary_passes_listening_words_and_not_ones_that_take_the_floor() -> None:
    """Whole backchannel phrases, alone or up to three words together, resume the bot; a
    transcript with any other word ("no", "wait", "really", "fine") is a barge-in, however
    short."""
    policy = BargeIn()
    for text in ("Mhmm.", "Gotcha.", "Sounds good.", "Okay, great.", "Alright, thank you.",
                 "Yes, go on.", "That's right.", "Perfect.", "Fair enough.", "Okay?"):  # fmt: skip
        assert policy.is_backchannel(text), text
    for text in ("No.", "Wait.", "Sorry, what?", "No, that's wrong.", "Hang on.", "Really?",
                 "Fine.", "Okay, and Sunday?", "Yeah, but no."):  # fmt: skip
        assert not policy.is_backchannel(text), text
    # Interim words that may still become one wait; others rule at once.
    assert policy.may_become_backchannel("sounds")
    assert policy.may_become_backchannel("All")  # a streaming STT's "all" of "all right"
    assert policy.may_become_backchannel("Okay, all")
    assert not policy.may_become_backchannel("hang")


def test_every_default_phrase_can_match_alone() -> None:
    """A phrase longer than ``max_backchannel_words`` could never match: none is."""
    policy = BargeIn()
    dead = [p for p in policy.backchannels if not policy.is_backchannel(p)]
    assert dead == []


def test_a_final_transcript_may_end_in_a_repeat_of_its_backchannel() -> None:
    """Whisper repeats and cuts repeats off ("Got it. Got", "Got it. Got it."): still a
    backchannel; a new word cut off, a repeat that opens a sentence ("I see. I"), or a
    repeat of something else is not."""
    policy = BargeIn()
    assert policy.is_heard_backchannel("Got it. Got")
    assert policy.is_heard_backchannel("Got it. Got it.")
    assert policy.is_heard_backchannel("Thank you. Thank you.")
    assert policy.is_heard_backchannel("Okay. Sounds good. Sounds")
    for text in ("Yeah, I", "I see. I", "I understand. I", "That's right. That's",
                 "Hold on a second. Hold on", "Got"):  # fmt: skip
        assert not policy.is_heard_backchannel(text), text
    assert not policy.is_backchannel("Got it. Got")  # interim words keep the strict rule


def test_all_right_counts_as_one_word() -> None:
    """Whisper writes "Alright, thank you." as "All right. Thank you.": three words' worth."""
    policy = BargeIn()
    assert policy.is_backchannel("All right. Thank you.")
    assert policy.is_backchannel("Alright, thank you.")
    assert policy.is_backchannel("All-right.")
    assert not policy.is_backchannel("All right, but what about Sunday?")


def test_a_bot_adds_its_callers_own_to_the_default_list() -> None:
    """docs/call_control.md's recipe: the defaults plus a phrase of the bot's callers."""
    default = BargeIn()
    assert not default.is_backchannel("Cheers, mate.")
    extended = BargeIn(backchannels=(*default.backchannels, "cheers mate", "righto"))
    assert extended.is_backchannel("Cheers, mate.") and extended.is_backchannel("Righto.")
    assert extended.is_backchannel("Okay, great.")  # the defaults still hold
