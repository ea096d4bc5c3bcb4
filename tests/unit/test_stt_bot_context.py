"""The bot's last heard words as the offline Whisper's previous text
(``voicebot/providers/local/whisper_prompts.py``): every segment the caller starts while the
bot is quiet is transcribed with them, over the bot the backchannel hint wins, and the
session reads them from its conversation state."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from pipecat.tests.utils import run_test

from tests.unit.test_backchannel_hint import Heard, segment
from voicebot import Bot, WavFile
from voicebot.audio.wav import Pcm, write_wav
from voicebot.conversation.state import ConversationState
from voicebot.providers.base import BuildContext
from voicebot.providers.local.whisper import PROMPT_CACHE, WhisperSTT
from voicebot.providers.local.whisper_prompts import Prompt, SegmentPrompts
from voicebot.providers.local.whisper_repeats import looks_looped
from voicebot.session_wiring import stt_hears_after_bot
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


def test_a_segment_begun_and_ended_while_the_bot_is_quiet_gets_its_last_words() -> None:
    prompts = SegmentPrompts()
    said = ["Margherita or Diavola?"]
    prompts.bot_words = lambda: said[0]
    prompts.speech_started()
    assert prompts.current == Prompt("Margherita or Diavola?", context=True)
    said[0] = "Anything else?"  # read again at the stop: the words as they are then
    prompts.segment_stopped()
    assert prompts.next_segment() == Prompt("Anything else?", context=True)
    assert prompts.next_segment() is None


def test_over_the_bot_the_backchannel_hint_wins_until_the_bot_stops() -> None:
    prompts = SegmentPrompts()
    speaking = [True]
    prompts.over_bot = ("Mhm.", lambda: speaking[0])
    prompts.bot_words = lambda: "Which day suits you?"
    prompts.speech_started()
    assert prompts.current == Prompt("Mhm.", context=False)
    prompts.segment_stopped()  # still over the bot
    prompts.speech_started()
    speaking[0] = False  # the bot stopped (or was interrupted) before this one's stop
    prompts.segment_stopped()
    assert [prompts.next_segment(), prompts.next_segment()] == [
        Prompt("Mhm.", context=False),
        Prompt("Which day suits you?", context=True),
    ]


def test_nothing_heard_yet_is_no_prompt() -> None:
    prompts = SegmentPrompts()
    prompts.bot_words = lambda: ""
    prompts.speech_started()
    prompts.segment_stopped()
    assert prompts.current is None and prompts.next_segment() is None


async def test_the_service_transcribes_with_the_bots_words_unless_told_not_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for bot_context, expected in ((True, ["Which pizza?"]), (False, [None])):
        heard = Heard()
        monkeypatch.setattr(WhisperSTT, "transcriber", lambda self, heard=heard: heard)
        stt = WhisperSTT(early_secs=None, bot_context=bot_context)
        service = stt.build(BuildContext(audio_in_sample_rate=16000))
        service.expect_after_bot(lambda: "Which pizza?")
        await run_test(service, frames_to_send=segment())
        assert heard.context == expected and heard.expected == [None], bot_context


def test_the_encoded_prompts_are_bounded_and_the_latest_kept() -> None:
    transcriber = WhisperSTT(model="tiny.en").transcriber()
    for n in range(PROMPT_CACHE + 5):
        transcriber.prompt_tokens(f"Reply number {n}.")
    assert len(transcriber._prompts) == PROMPT_CACHE
    assert f"Reply number {PROMPT_CACHE + 4}." in transcriber._prompts
    assert "Reply number 0." not in transcriber._prompts


def test_each_stt_that_takes_them_reads_the_conversations_last_heard_words() -> None:
    class Takes:
        def __init__(self) -> None:
            self.source: Any = None

        def expect_after_bot(self, bot_words: Any) -> None:
            self.source = bot_words

    class Group:
        def __init__(self, *members: object) -> None:
            self.members = list(members)

    first, second = Takes(), Takes()
    conversation = ConversationState()
    assert stt_hears_after_bot(Group(first, object(), second), conversation)
    assert first.source() == "" and second.source() == ""
    conversation.turn.hear("We open at nine.")
    assert first.source() == "We open at nine." == second.source()
    assert not stt_hears_after_bot(object(), conversation)


def test_a_session_tells_its_stt_its_own_conversations_words(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from voicebot.testing.fake_stt import ScriptedSTTService

    told: list[Any] = []
    monkeypatch.setattr(
        ScriptedSTTService,
        "expect_after_bot",
        lambda self, bot_words: told.append(bot_words),
        raising=False,
    )
    caller = tmp_path / "caller.wav"
    write_wav(caller, Pcm(np.zeros(16000, np.int16), 16000))
    bot = Bot(stt=FakeSTT(), llm=FakeLLM(), tts=FakeTTS())
    session = bot.session(transport=WavFile(input=caller, output=tmp_path / "o.wav"), env={})
    (bot_words,) = told
    session.conversation.turn.hear("Hello, how can I help?")
    assert bot_words() == "Hello, how can I help?"


class Looping:
    """Stands in for the CTranslate2 model: with a previous text in the prompt it loops on
    the words the way the loop guard lets it (varied), without one it hears them once."""

    def __init__(self, real: Any, transcriber: Any) -> None:
        self.real, self.transcriber = real, transcriber
        self.prompted: list[bool] = []

    def generate(self, features: Any, prompts: list[list[int]], **options: Any) -> Any:
        tokenizer = self.transcriber._tokenizer
        prompted = prompts[0][0] == tokenizer.sot_prev
        self.prompted.append(prompted)
        said = " Ten of clubs Ten of clobes Ten of" if prompted else " Ten of clubs."
        ids = tokenizer.encode(said)
        result = type("R", (), {"sequences_ids": [ids], "scores": [-0.3], "no_speech_prob": 0.01})
        return [result]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_a_transcript_that_loops_with_the_bots_words_is_made_again_without_them() -> None:
    transcriber = WhisperSTT(model="tiny.en").transcriber()
    looping = Looping(transcriber.model.model, transcriber)
    transcriber.model.model = looping
    try:
        audio = np.zeros(16000, np.float32)
        heard = transcriber.transcribe(audio, context="Mr. Dashwood might have been made —")
        assert heard.text == "Ten of clubs." and not heard.runaway
        assert looping.prompted == [True, False]
        looping.prompted.clear()
        # The backchannel hint is kept whatever comes of it (its repeats are ruled on).
        hinted = transcriber.transcribe(audio, expect="Mhm. Got it.")
        assert hinted.runaway and looping.prompted == [True]
    finally:
        transcriber.model.model = looping.real


@pytest.mark.parametrize(
    ("text", "looped"),
    [
        ("Ten of clubs Ten of clobes Ten of cl", True),
        ("Agent logged in. Agent logged in.", True),
        ("5, 5, 5", True),
        ("8 of spades, 4 of clubs, 7 of hearts", False),
        ("Hi, what time does the library open tomorrow?", False),
        ("It's the 3rd of March, 1987.", False),
    ],
)
def test_a_loop_is_a_run_said_twice_or_any_two_words_twice(text: str, looped: bool) -> None:
    assert looks_looped(text) is looped
