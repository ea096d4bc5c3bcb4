"""SmartTurnStopStrategy's words check: where smart-turn says "not yet" at a VAD stop, the
transcript so far may end the turn after ``wait_secs`` instead of the fallback.

Driven through Pipecat's own UserTurnController with a scripted analyzer and a scripted
check. The fallback is 30 s; waits are 0 (the turn ends as soon as the check answers) or
30 s (it must not end within the test), so nothing depends on how fast the machine is.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pipecat.audio.turn.base_turn_analyzer import BaseTurnParams, EndOfTurnState

from tests.unit.test_shared_onnx_sessions import WAV
from tests.unit.test_turn_strategies import LONG, said, start, stop
from tests.unit.test_turn_strategies import Turns as ControlledTurns
from voicebot import Bot, WavFile
from voicebot.providers.base import BuildContext
from voicebot.providers.turn import SmartTurn, TextCheck
from voicebot.providers.turn_strategies import SmartTurnStopStrategy
from voicebot.testing import FakeLLM, FakeSTT, FakeTTS


class ScriptedAnalyzer:
    """A turn analyzer whose verdict at each stop is set by the test (``last_state`` as
    voicebot's smart-turn analyzer records it)."""

    def __init__(self, complete: bool = False) -> None:
        self.complete = complete
        self.last_state: EndOfTurnState | None = None
        self.params = BaseTurnParams()

    def set_sample_rate(self, rate: int) -> None: ...
    def update_vad_start_secs(self, secs: float) -> None: ...
    def append_audio(self, buffer: bytes, is_speech: bool) -> EndOfTurnState:
        return EndOfTurnState.INCOMPLETE

    async def analyze_end_of_turn(self) -> tuple[EndOfTurnState, Any]:
        state = EndOfTurnState.COMPLETE if self.complete else EndOfTurnState.INCOMPLETE
        self.last_state = state
        return state, None

    def clear(self) -> None: ...
    async def cleanup(self) -> None: ...


class ScriptedWords:
    def __init__(self, ends: bool, *, wait_secs: float = 0.0, fails: bool = False) -> None:
        self.ends = ends
        self.wait_secs = wait_secs
        self.fails = fails
        self.asked: list[str] = []
        self.after: list[str | None] = []
        self.prompts: list[str | None] = []
        self.answered = asyncio.Event()

    async def ends_turn(
        self, text: str, *, after: str | None = None, system_prompt: str | None = None
    ) -> bool:
        self.asked.append(text)
        self.after.append(after)
        self.prompts.append(system_prompt)
        self.answered.set()
        if self.fails:
            raise RuntimeError("model gone")
        return self.ends


class Turns(ControlledTurns):
    def __init__(self, words: ScriptedWords, *, complete: bool = False) -> None:
        self.analyzer = ScriptedAnalyzer(complete)
        super().__init__(
            strategy=SmartTurnStopStrategy(
                turn_analyzer=self.analyzer, early_secs=None, words=words
            )
        )

    async def settled(self, words: ScriptedWords) -> None:
        """The check has answered and the task that asked it is over or waiting out its
        wait (no clock involved: loop turns, bounded)."""
        await asyncio.wait_for(words.answered.wait(), timeout=10)
        task = self.strategy._words_task
        for _ in range(100):
            if task is None or task.done():
                return
            await asyncio.sleep(0)


async def test_words_that_end_a_sentence_end_a_turn_smart_turn_called_unfinished() -> None:
    """Whisper's order: the VAD stop, smart-turn's "not yet", then the piece's transcript."""
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        await turns.send(start(), stop())
        assert words.asked == []  # nothing to read yet
        await turns.send(said("What time do you open on Sunday?"))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert turns.stopped == 1
        assert words.asked == ["What time do you open on Sunday?"]
        assert turns.strategy.words_ended == 1


async def test_words_that_do_not_end_a_sentence_leave_the_turn_to_the_fallback() -> None:
    words = ScriptedWords(ends=False)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), said("Please enter your password followed by the"))
        await turns.settled(words)
        assert turns.stopped == 0


async def test_a_final_transcript_before_the_stop_is_not_asked_about() -> None:
    """A streaming STT's words that all came while the caller spoke: the fallback decides,
    as without the check (nothing says they are the last words)."""
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        await turns.send(start(), said("What time do you open on Sunday?"), stop())
        for _ in range(20):
            await asyncio.sleep(0)
        assert words.asked == []
        assert turns.stopped == 0


async def test_the_caller_speaking_again_within_the_wait_keeps_the_turn_open() -> None:
    words = ScriptedWords(ends=True, wait_secs=LONG)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), said("I need a taxi."))
        await turns.settled(words)
        waiting = turns.strategy._words_task
        assert waiting is not None and not waiting.done()  # waiting out the 30 s
        await turns.send(start())  # before the wait is over
        assert waiting.cancelled()
        assert turns.stopped == 0
        # The next pause asks about the whole turn so far.
        words.answered.clear()
        await turns.send(stop(), said("To the station."))
        await turns.settled(words)
        assert words.asked[-1] == "I need a taxi. To the station."


async def test_earlier_words_alone_do_not_end_the_turn_at_a_later_pause() -> None:
    """ "Yes." passed at the first pause; the caller went on. At the next pause the check
    waits for that piece's transcript instead of judging "Yes." again."""
    words = ScriptedWords(ends=True, wait_secs=LONG)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), said("Yes."))
        await turns.settled(words)
        await turns.send(start(), stop())  # "I'd like to change my booking for..." not yet
        for _ in range(20):
            await asyncio.sleep(0)
        assert words.asked == ["Yes."]  # not asked again on the old words
        words.answered.clear()
        await turns.send(said("I'd like to change my booking for"))
        await turns.settled(words)
        assert words.asked == ["Yes.", "Yes. I'd like to change my booking for"]
        assert turns.stopped == 0


async def test_a_late_transcript_of_an_earlier_piece_is_not_judged_alone() -> None:
    """The first piece's transcript comes after the caller went on (a segmented STT
    transcribes in the background): at the second "not yet" it is one transcript for two
    pieces, so the check waits for the second."""
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), start())  # piece 1 "not yet", the caller goes on
        await turns.send(said("I'd like to book a table."))  # piece 1's words, late
        await turns.send(stop())  # piece 2 "for four people and..." not yet
        for _ in range(20):
            await asyncio.sleep(0)
        assert words.asked == []
        assert turns.stopped == 0
        await turns.send(said("For four people."))  # piece 2's
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert words.asked[-1].endswith("For four people.")


async def test_a_complete_verdict_does_not_ask_the_words() -> None:
    words = ScriptedWords(ends=False)
    async with Turns(words, complete=True) as turns:
        await turns.send(start(), stop(), said("Hello."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)  # Pipecat's STT wait
        assert words.asked == []


async def test_a_failing_check_leaves_the_turn_to_smart_turn() -> None:
    words = ScriptedWords(ends=True, fails=True)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), said("Hello there."))
        await turns.settled(words)
        assert turns.stopped == 0


async def test_the_next_turn_starts_with_no_words() -> None:
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        await turns.send(start(), stop(), said("First."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        turns.stopped_event.clear()
        await turns.send(start(), stop(), said("Second."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert words.asked == ["First.", "Second."]


async def test_the_words_are_judged_as_an_answer_to_what_the_bot_said_last() -> None:
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        turns.strategy.bot_words = lambda: "Which month were you born in?"
        await turns.send(start(), stop(), said("March."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert words.after == ["Which month were you born in?"]


def test_a_session_gives_the_strategy_what_the_caller_heard_the_bot_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read from the session's ConversationState, the one record of it, also through
    ``speculate=True``'s wrapper."""
    import voicebot.session as session_module

    built: list[Any] = []
    make = session_module.build_turn_detection

    def recorded(*args: Any, **kwargs: Any) -> Any:
        built.append(make(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(session_module, "build_turn_detection", recorded)
    bot = Bot(
        stt=FakeSTT(transcripts=["March."]),
        llm=FakeLLM(replies=["Thanks."]),
        tts=FakeTTS(),
        turn=SmartTurn(speculate=True),
    )
    session = bot.session(transport=WavFile(input=WAV, output=tmp_path / "o.wav"))
    (wrapper,) = built[0][1].stop
    strategy = wrapper.inner
    assert isinstance(strategy, SmartTurnStopStrategy) and strategy.bot_words is not None
    assert strategy.bot_words() == ""
    session.conversation.turn.hear("Which month were you born in?")
    assert strategy.bot_words() == "Which month were you born in?"
    # The system prompt is the LLM's as it is now: Session.update changes its settings
    # (Pipecat applies the update frame's delta so), and the check reads them.
    from pipecat.services.settings import LLMSettings

    assert strategy.system_prompt is not None
    assert strategy.system_prompt() == bot.system_prompt
    session.llm.settings.apply_update(LLMSettings(system_instruction="Answer in French."))
    assert strategy.system_prompt() == "Answer in French."


async def test_the_check_is_asked_under_the_system_prompt_of_the_moment() -> None:
    words = ScriptedWords(ends=True)
    async with Turns(words) as turns:
        prompts = iter(["Be brief.", "Answer in French."])
        turns.strategy.system_prompt = lambda: next(prompts)
        await turns.send(start(), stop(), said("March."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        turns.stopped_event.clear()
        await turns.send(start(), stop(), said("April."))
        await asyncio.wait_for(turns.stopped_event.wait(), timeout=10)
        assert words.prompts == ["Be brief.", "Answer in French."]


def test_auto_checks_only_with_an_in_process_llm() -> None:
    ctx = BuildContext(system_prompt="Be brief.")
    assert SmartTurn().words_check(ctx) is None  # a cloud LLM: nothing loaded for it
    assert SmartTurn(text_check=None).words_check(ctx) is None


def test_text_check_settings_are_validated() -> None:
    with pytest.raises(ValueError):
        TextCheck(threshold=1.5)
    with pytest.raises(ValueError):
        TextCheck(wait_secs=-1)
    with pytest.raises(ValueError):
        SmartTurn(text_check="sometimes")  # type: ignore[arg-type]
