"""The STT fallback group on its own: the audio ring and its replay into the next STT,
recovery, the switch budget; and what both fallback providers check. (The TTS group:
``test_failover_tts.py``.)

The group runs in a real Pipecat pipeline between test STTs a test breaks on cue, so nothing
here waits on a clock to decide an outcome; where the budget is the subject, the switch is
waited for and its ``after_secs`` is at least the budget (a timer never fires early).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    MetricsFrame,
    TranscriptionFrame,
    UserStoppedSpeakingFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.metrics.metrics import TTFBMetricsData
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.settings import STTSettings
from pipecat.services.stt_service import STTService
from pipecat.utils.time import time_now_iso8601

from tests.contract.conftest import Harness
from tests.unit.failover_pipelines import start, stop_pipelines  # noqa: F401  (the fixture)
from voicebot.errors import ConfigError, SampleRateError
from voicebot.failover.policy import FailoverEvent, FailoverPolicy
from voicebot.failover.stt import AudioRing, FallbackSTT, STTFailover
from voicebot.failover.tts import FallbackTTS
from voicebot.providers.base import BuildContext
from voicebot.testing import FakeSTT, FakeTTS

RATE = 16000
OUT_RATE = 24000
#: The test voice's speech rate: about a real voice's, which the ledger assumes until it has
#: measured the voice on finished clauses.
SECS_PER_CHAR = 0.065
DOWN, UP = FrameDirection.DOWNSTREAM, FrameDirection.UPSTREAM


def audio(i: int) -> InputAudioRawFrame:
    """20 ms of input audio whose bytes say which frame it is."""
    return InputAudioRawFrame(audio=bytes([i]) * 640, sample_rate=RATE, num_channels=1)


# ---- the audio ring --------------------------------------------------------------------------


def test_ring_keeps_the_newest_audio_and_replays_fresh_copies_in_order() -> None:
    ring = AudioRing(preroll_secs=0.06)
    frames = [audio(i) for i in range(5)]
    for f in frames:
        ring.add(f, DOWN)
    ring.keep(ring.preroll_secs)  # idle: the lead-in only
    start = VADUserStartedSpeakingFrame()
    ring.add(start, UP)
    ring.add(audio(5), DOWN)

    replay = ring.replay(speaking=True)

    assert [(type(f).__name__, getattr(f, "audio", b"x")[:1]) for f, _ in replay] == [
        ("InputAudioRawFrame", b"\x02"),
        ("InputAudioRawFrame", b"\x03"),
        ("InputAudioRawFrame", b"\x04"),
        ("VADUserStartedSpeakingFrame", b"x"),
        ("InputAudioRawFrame", b"\x05"),
    ]
    assert [d for _, d in replay] == [DOWN, DOWN, DOWN, UP, DOWN]
    # Copies: the originals went their way already and must not be pushed twice.
    assert not {f.id for f, _ in replay} & {f.id for f in [*frames, start]}
    assert ring.secs == pytest.approx(0.08)


def test_ring_puts_back_a_vad_start_it_no_longer_holds() -> None:
    ring = AudioRing(max_secs=0.04)
    ring.add(VADUserStartedSpeakingFrame(), UP)
    for i in range(4):
        ring.add(audio(i), DOWN)  # the start falls out with the oldest audio
    ring.add(VADUserStoppedSpeakingFrame(), UP)

    kinds = [type(f).__name__ for f, _ in ring.replay(speaking=False)]

    assert kinds[0] == "VADUserStartedSpeakingFrame"
    assert kinds[1:] == ["InputAudioRawFrame"] * 2 + ["VADUserStoppedSpeakingFrame"]


# ---- the STT group ---------------------------------------------------------------------------


class Ear(STTService):
    """Hears audio; when the VAD says the caller stopped, answers with what it heard (one
    byte per frame) unless ``deaf``, or with TTFB metrics only when ``empty``."""

    def __init__(self, name: str) -> None:
        super().__init__(
            settings=STTSettings(model=name, language=None), ttfs_p99_latency=0.1, name=name
        )
        self.heard = bytearray()
        self.deaf = False
        self.empty = False

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        self.heard += audio[:1]
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStoppedSpeakingFrame) and not self.deaf:
            if self.empty:
                await self.push_frame(
                    MetricsFrame(data=[TTFBMetricsData(processor=self.name, value=0.1)])
                )
                return
            await self.say(self.heard.hex())
            self.heard.clear()

    async def say(self, text: str) -> None:
        await self.push_frame(
            TranscriptionFrame(f"{self.name}:{text}", "", time_now_iso8601(), finalized=True)
        )


async def stt_group(
    policy: FailoverPolicy | None = None, *, names: tuple[str, ...] = ("A", "B")
) -> tuple[Harness, STTFailover, list[Ear], list[FailoverEvent]]:
    ears = [Ear(n) for n in names]
    group = STTFailover(ears, [FakeSTT() for _ in ears], policy or FailoverPolicy())
    filed: list[FailoverEvent] = []
    group.add_listener(filed.append)
    return await start(group), group, ears, filed


async def say(h: Harness, *frames: InputAudioRawFrame) -> None:
    """Push caller audio and wait for it to come out below the STT, as it does before the
    VAD (after the STT, in a session) reports anything about it."""
    seen = len(h.frames(InputAudioRawFrame))
    await h.push(*frames)
    await h.wait_for(InputAudioRawFrame, count=seen + len(frames))


async def vad(h: Harness, frame: Frame) -> None:
    """A VAD or turn frame as the user aggregator sends it to the STT: upstream."""
    seen = len(h.frames(type(frame)))
    await h.push(frame, direction=UP)
    await h.wait_for(type(frame), count=seen + 1)


async def utterance(h: Harness, first: int, last: int) -> None:
    await vad(h, VADUserStartedSpeakingFrame())
    await say(h, *[audio(i) for i in range(first, last)])
    await vad(h, VADUserStoppedSpeakingFrame())


async def test_stt_failing_mid_utterance_replays_lead_in_and_utterance_into_the_next() -> None:
    h, group, (a, b), filed = await stt_group()
    await utterance(h, 0, 3)
    await h.wait_for(TranscriptionFrame)
    await say(h, *[audio(i) for i in range(3, 6)])  # silence before the next utterance
    await vad(h, VADUserStartedSpeakingFrame())
    await say(h, *[audio(i) for i in range(6, 9)])

    await a.push_error("socket dropped")  # mid-utterance: its words are only in A
    await say(h, *[audio(i) for i in range(9, 11)])
    await vad(h, VADUserStoppedSpeakingFrame())
    texts = [t.text for t in await h.wait_for(TranscriptionFrame, count=2)]

    # B heard the lead-in, the words spoken before the drop and after it: each once.
    assert texts == ["A:000102", "B:030405060708090a"]
    # Downstream, each frame of audio went by once (the replayed copies stay inside).
    assert [f.audio[0] for f in h.frames(InputAudioRawFrame)] == list(range(11))
    [event] = group.events
    assert (event.from_provider, event.to_provider, event.reason) == ("FakeSTT", "FakeSTT", "error")
    assert event.replayed
    assert group.active is b
    # Filed once the caller's turn ended (the session numbers the turn then), not before.
    assert filed == []
    await vad(h, UserStoppedSpeakingFrame())
    assert filed == [event]
    # A late transcript from the member left behind is not the caller's words any more.
    await a.say("late")
    await utterance(h, 11, 12)
    assert [t.text for t in await h.wait_for(TranscriptionFrame, count=3)][-1] == "B:0b"
    assert not [e for e in h.frames(ErrorFrame)]
    await h.stop()


async def test_stt_silent_after_the_caller_stopped_fails_over_once_the_budget_is_out() -> None:
    policy = FailoverPolicy(stt_final_secs=0.2)
    h, group, (a, _), _ = await stt_group(policy)
    a.deaf = True
    await say(h, audio(0))
    await utterance(h, 1, 4)

    [text] = await h.wait_for(TranscriptionFrame, timeout=10)

    assert text.text == "B:00010203"
    [event] = group.events
    assert event.reason == "no_first_token" and event.replayed
    assert event.after_secs is not None and event.after_secs >= policy.stt_final_secs
    await h.stop()


async def test_stt_that_finalizes_nothing_has_answered() -> None:
    """Deepgram answers a finalize over noise with an empty final, seen only as its TTFB
    metrics: that is an answer, not a silence to fail over for."""
    h, group, (a, _), _ = await stt_group()
    a.empty = True
    await utterance(h, 0, 2)
    await h.wait_for(MetricsFrame)
    assert not group.owes_transcript
    assert group.events == []
    await h.stop()


async def test_stt_takes_a_recovered_member_back_at_the_next_utterance() -> None:
    h, group, (a, _), _ = await stt_group(FailoverPolicy(retry_secs=0))
    await vad(h, VADUserStartedSpeakingFrame())
    await a.push_error("socket dropped")
    await say(h, audio(0))
    await vad(h, VADUserStoppedSpeakingFrame())
    await h.wait_for(TranscriptionFrame)
    await vad(h, UserStoppedSpeakingFrame())
    await say(h, audio(1), audio(2))

    await utterance(h, 3, 5)  # its backoff (0 s) is over: A gets this utterance

    texts = [t.text for t in await h.wait_for(TranscriptionFrame, count=2)]
    assert texts == ["B:00", "A:01020304"]  # with the lead-in replayed into it
    assert [e.reason for e in group.events] == ["error", "recovered"]
    assert group.active is a
    await h.stop()


async def test_stt_switches_at_most_the_policy_allows_in_one_turn() -> None:
    h, group, (a, b), _ = await stt_group(FailoverPolicy(max_switches_per_turn=1, retry_secs=60))
    await vad(h, VADUserStartedSpeakingFrame())
    await a.push_error("socket dropped")
    await b.push_error("socket dropped")  # same turn: no flapping back to A

    assert [(e.from_provider, e.to_provider) for e in group.events] == [("FakeSTT", "FakeSTT")]
    assert group.active is b
    await vad(h, UserStoppedSpeakingFrame())  # a new turn: B may fail over again
    await b.push_error("socket dropped")
    assert group.active is a and len(group.events) == 2
    await h.stop()


# ---- the providers ---------------------------------------------------------------------------


def test_fallback_providers_check_every_member_and_name_the_fix() -> None:
    with pytest.raises(SampleRateError, match="CartesiaTTS\\(sample_rate=16000\\)"):
        from voicebot import CartesiaTTS

        FallbackTTS([CartesiaTTS(api_key="k", sample_rate=16000), FakeTTS()]).check(BuildContext())
    with pytest.raises(ConfigError, match="needs a list of STT providers"):
        FallbackSTT([])
    with pytest.raises(ConfigError, match="not another list"):
        FallbackTTS([FallbackTTS([FakeTTS(), FakeTTS()]), FakeTTS()])
    group = FallbackSTT([FakeSTT(), "fake"])
    assert group.describe() == "FallbackSTT(FakeSTT() -> FakeSTT())"
