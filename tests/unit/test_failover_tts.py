"""The TTS fallback group on its own: the speech ledger and what a failed TTS leaves unsaid,
the next TTS saying only that, the budget for a TTS that owes audio, the apology clip.

The group runs in a real Pipecat pipeline between test voices (the test tone) a test breaks
on cue (an ``asyncio.Event``), so nothing here waits on a clock to decide an outcome; where
the budget is the subject, the switch is waited for and its ``after_secs`` is at least the
budget (a timer never fires early).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
from pipecat.frames.frames import (
    AggregatedTextFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSTextFrame,
)

from tests.contract.conftest import Harness
from tests.unit.failover_pipelines import start, stop_pipelines  # noqa: F401  (the fixture)
from voicebot.failover.apology import APOLOGY_TEXT, apology_audio, clip_path
from voicebot.failover.policy import FailoverPolicy
from voicebot.failover.speech import SpeechLedger
from voicebot.failover.tts import TTSFailover
from voicebot.testing import FakeTTS
from voicebot.testing.fake_tts import ToneTTSService

RATE = 16000
OUT_RATE = 24000
#: The test voice's speech rate: about a real voice's, which the ledger assumes until it has
#: measured the voice on finished clauses.
SECS_PER_CHAR = 0.065


# ---- the speech ledger -----------------------------------------------------------------------


def test_ledger_replays_the_unmade_rest_of_a_clause_cut_short() -> None:
    ledger = SpeechLedger(secs_per_char=0.05)
    start, end = LLMFullResponseStartFrame(), LLMFullResponseEndFrame()
    first = AggregatedTextFrame("Hello there.", "sentence")
    second = AggregatedTextFrame("How are you doing today?", "sentence")
    for frame in (start, first, second, end):
        ledger.sent(frame)
    ledger.came_out(start)
    for clause, secs in ((first, 0.6), (second, 0.6)):
        clause.will_be_spoken = True
        clause.context_id = "ctx"
        ledger.came_out(clause)
        ledger.came_out(TTSAudioRawFrame(b"\0" * int(secs * 2 * RATE), RATE, 1, context_id="ctx"))
        if clause is first:
            ledger.came_out(TTSTextFrame(first.text, "sentence", segment_id=first.id))

    frames, heard = ledger.replay()

    # 0.6 s of the second clause's 1.2 s (24 characters at 0.05 s): "How are you" was made
    # (its first 12 characters hold three whole words), "doing today?" was not.
    assert [h.text for h in heard] == ["How are you"]
    assert heard[0].segment_id == second.id and heard[0].append_to_context
    assert [(type(f).__name__, getattr(f, "text", "")) for f in frames] == [
        ("AggregatedTextFrame", "doing today?"),
        ("LLMFullResponseEndFrame", ""),
    ]
    assert ledger.reply_open


def test_ledger_sees_force_completed_words_that_were_never_voiced() -> None:
    """A word-timed TTS whose socket dropped: Pipecat closes the context and pushes the
    untimed rest as one word at the last word's time, with no audio behind it."""
    ledger = SpeechLedger(secs_per_char=0.05)

    def word(text: str, pts: int) -> TTSTextFrame:
        frame = TTSTextFrame(text, "word", segment_id=1)
        frame.pts, frame.context_id = pts, "ctx"
        return frame

    ledger.came_out(TTSAudioRawFrame(b"\0" * int(0.3 * 2 * RATE), RATE, 1, context_id="ctx"))
    ledger.came_out(word("Yes,", 1_000))
    assert not ledger.unvoiced(word("behind", 2_000))  # a word of its own, later
    assert ledger.unvoiced(word("behind the building.", 1_000))  # 0.3 s of 1.25 s
    # The same text with its audio all there was spoken: a vendor that dropped stamps.
    ledger.came_out(TTSAudioRawFrame(b"\0" * int(1.2 * 2 * RATE), RATE, 1, context_id="ctx"))
    assert not ledger.unvoiced(word("behind the building.", 1_000))


# ---- the TTS group ---------------------------------------------------------------------------


class Voice(ToneTTSService):
    """The test tone, breakable: on text containing ``fail_on`` it reports an error after
    ``after_chunks`` chunks, once ``go`` is set; with ``hang`` it never answers."""

    def __init__(
        self, name: str, *, fail_on: str | None = None, after_chunks: int = 0, hang: bool = False
    ) -> None:
        super().__init__(ttfb_secs=0.0, secs_per_char=SECS_PER_CHAR, name=name)
        self.fail_on, self.after_chunks, self.hang = fail_on, after_chunks, hang
        self.go = asyncio.Event()
        self.release = asyncio.Event()

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        if self.hang:
            await self.release.wait()
            return
        chunks = 0
        async for frame in super().run_tts(text, context_id):
            if self.fail_on and self.fail_on in text and isinstance(frame, TTSAudioRawFrame):
                if chunks == self.after_chunks:
                    await self.go.wait()
                    await self.push_error("socket dropped mid-audio")
                    return
                chunks += 1
            yield frame


async def tts_group(
    *voices: Voice, policy: FailoverPolicy | None = None
) -> tuple[Harness, TTSFailover]:
    group = TTSFailover(list(voices), [FakeTTS() for _ in voices], policy or FailoverPolicy())
    return await start(group), group


def audio_secs(h: Harness) -> float:
    return sum(len(f.audio) for f in h.frames(TTSAudioRawFrame)) / (2 * OUT_RATE)


def spoken(h: Harness) -> list[str]:
    """The words that went to the context: the text frames the group let out."""
    return [f.text for f in h.frames(TTSTextFrame) if f.append_to_context]


def reply(*clauses: str) -> list[Frame]:
    return [
        LLMFullResponseStartFrame(),
        *(AggregatedTextFrame(c, "sentence") for c in clauses),
        LLMFullResponseEndFrame(),
    ]


async def test_tts_failing_before_any_audio_has_the_next_say_the_whole_reply() -> None:
    a, b = Voice("A", fail_on="Hello"), Voice("B")
    a.go.set()
    h, group = await tts_group(a, b)

    await h.push(*reply("Hello there.", "How are you?"))
    await h.wait_for(LLMFullResponseEndFrame)

    assert spoken(h) == ["Hello there.", "How are you?"]
    assert audio_secs(h) == pytest.approx(24 * SECS_PER_CHAR, abs=0.05)  # all of it from B
    assert len(h.frames(LLMFullResponseStartFrame)) == len(h.frames(LLMFullResponseEndFrame)) == 1
    [event] = group.events
    assert event.reason == "error" and event.replayed
    await h.stop()


async def test_tts_cut_mid_clause_reports_what_it_said_and_the_next_says_the_rest() -> None:
    a, b = Voice("A", fail_on="doing", after_chunks=60), Voice("B")
    h, group = await tts_group(a, b)
    await h.push(*reply("Hello there.", "How are you doing today, my friend?"))
    first = round(len("Hello there.") * SECS_PER_CHAR / 0.02)  # 20 ms chunks
    await h.wait_for(TTSAudioRawFrame, count=first + 60)  # all A made is out

    a.go.set()
    await h.wait_for(LLMFullResponseEndFrame)

    # 1.2 s of the clause's 2.3 s: "How are you doing" had its audio, the rest is B's.
    assert spoken(h) == ["Hello there.", "How are you doing", "today, my friend?"]
    # The caller heard every word once: A's audio, then B's for the rest only.
    made = len("Hello there.") * SECS_PER_CHAR + 1.2 + len("today, my friend?") * SECS_PER_CHAR
    assert audio_secs(h) == pytest.approx(made, abs=0.05)
    [event] = group.events
    assert event.replayed
    await h.stop()


async def test_tts_that_owes_audio_and_sends_none_fails_over_after_the_budget() -> None:
    policy = FailoverPolicy(tts_first_byte_secs=0.2)
    a, b = Voice("A", hang=True), Voice("B")
    h, group = await tts_group(a, b, policy=policy)

    await h.push(TTSSpeakFrame("Hello there."))
    await h.wait_for(TTSTextFrame, timeout=10)

    assert spoken(h) == ["Hello there."]
    [event] = group.events
    assert event.reason == "no_first_token"
    assert event.after_secs is not None and event.after_secs >= policy.tts_first_byte_secs
    a.release.set()
    await h.stop()


async def test_tts_with_no_voice_left_plays_the_apology_clip() -> None:
    a = Voice("A", fail_on="parking")
    a.go.set()
    h, group = await tts_group(a)

    await h.push(*reply("Yes, there is parking."))
    await h.wait_for(LLMFullResponseEndFrame)

    assert spoken(h) == [APOLOGY_TEXT]
    assert audio_secs(h) == pytest.approx(len(apology_audio(OUT_RATE)) / (2 * OUT_RATE))
    assert [(e.to_provider, e.reason) for e in group.events] == [("apology", "error")]
    await h.stop()


async def test_tts_owes_nothing_after_the_caller_interrupts() -> None:
    a, b = Voice("A", fail_on="there", after_chunks=3), Voice("B")
    h, group = await tts_group(a, b)
    await h.push(*reply("Hello there."))
    await h.wait_for(TTSAudioRawFrame, count=3)
    assert group.ledger.owed() is not None
    await h.push(InterruptionFrame())
    await h.wait_for(InterruptionFrame)
    assert group.ledger.owed() is None

    await a.push_error("socket dropped")  # after the barge-in: there is nothing to say again

    [event] = group.events
    assert not event.replayed and group.active is b
    assert spoken(h) == []
    await h.stop()


def test_the_clip_says_the_llm_groups_apology() -> None:
    from voicebot import Bot

    default = Bot.model_fields["apology"].default
    assert default == APOLOGY_TEXT, "re-render the clip: python -m voicebot.failover.apology"
    assert clip_path().is_file()
    assert 2.0 < len(apology_audio(16000)) / (2 * 16000) < 6.0
