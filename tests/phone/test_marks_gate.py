"""Playback marks in pieces: the marks on the wire (``MarkingSerializer``), the call's ledger
(``PlaybackMarks``) and the heard-text stage holding what the context would commit until the
carrier confirmed its audio (``HeardText`` with marks). No server, no clock but the bounds."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pipecat.frames.frames import (
    AggregatedTextFrame,
    DataFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    OutputAudioRawFrame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.tests.utils import run_test

from voicebot.processors.heard_text import CUT_MARKER, HeardText, HeardTextFrame
from voicebot.processors.playback_marks import PlaybackMarks
from voicebot.transports.phone.guard import GuardedSerializer
from voicebot.transports.phone.marks import (
    MarkingSerializer,
    PlivoCheckpoints,
    TelnyxMarks,
    TwilioMarks,
)

RATE = 8000
CHUNK = 0.04  # seconds per chunk, as the output transport writes them
FIRST = "We open at nine."  # 16 characters: 0.8 s at 0.05 s a character (20 chunks)
SECOND = "On Saturdays we open at ten."  # 28 characters: 1.4 s (35 chunks)
BOUND_SECS = 30.0  # only turns a hang into a failure


# ---- the wire --------------------------------------------------------------------------------


async def test_each_audio_chunk_goes_out_with_a_mark_after_it() -> None:
    sent: list[str | bytes] = []

    async def send(data: str | bytes) -> None:
        sent.append(data)

    marks = PlaybackMarks("twilio")
    serializer = MarkingSerializer(
        TwilioFrameSerializer("MZ1", params=TwilioFrameSerializer.InputParams(auto_hang_up=False)),
        protocol=TwilioMarks("MZ1"),
        marks=marks,
        send=send,
    )
    for _ in range(2):
        frame = OutputAudioRawFrame(b"\x00\x10" * 320, RATE, 1)
        assert await serializer.serialize(frame) is None  # sent here, in order
    events = [json.loads(m) for m in sent]
    assert [e["event"] for e in events] == ["media", "mark", "media", "mark"]
    assert [e["mark"]["name"] for e in events[1::2]] == ["vb1", "vb2"]
    assert all(e["streamSid"] == "MZ1" for e in events)
    assert len(base64.b64decode(events[0]["media"]["payload"])) == 320  # 8 kHz: not resampled

    # The echo is read and kept from the pipeline; anything else reaches the inner serializer.
    echo = {"event": "mark", "sequenceNumber": "9", "streamSid": "MZ1", "mark": {"name": "vb2"}}
    assert await serializer.deserialize(json.dumps(echo)) is None
    assert marks.played == 2 and marks.echoing
    assert await serializer.deserialize('{"event": "mark", "mark": 3}') is None
    assert marks.played == 2

    # A barge-in: the clear goes out as Twilio's, and marks sent before it stop counting.
    clear = await serializer.serialize(InterruptionFrame())
    assert isinstance(clear, str) and json.loads(clear)["event"] == "clear"
    assert marks.cleared == 2


@pytest.mark.parametrize(
    ("protocol", "mark", "echo"),
    [
        (
            TelnyxMarks("st-1"),
            {"event": "mark", "stream_id": "st-1", "mark": {"name": "vb4"}},
            {"event": "mark", "sequence_number": "7", "stream_id": "st-1", "mark": {"name": "vb4"}},
        ),
        (
            PlivoCheckpoints("st-1"),
            {"event": "checkpoint", "streamId": "st-1", "name": "vb4"},
            {"event": "playedStream", "sequenceNumber": 7, "streamId": "st-1", "name": "vb4"},
        ),
    ],
    ids=["telnyx", "plivo"],
)
def test_each_carrier_is_asked_and_answers_in_its_own_shape(
    protocol: TwilioMarks, mark: dict[str, object], echo: dict[str, object]
) -> None:
    assert json.loads(protocol.mark("vb4")) == mark
    assert protocol.needle in json.dumps(echo)
    assert protocol.echo(echo) == "vb4"
    assert protocol.echo({"event": "media", "name": "vb4"}) is None


async def test_echoes_of_marks_a_clear_dropped_say_nothing() -> None:
    marks = PlaybackMarks("telnyx")
    for _ in range(5):
        marks.next_mark()
    await marks.echoed("vb2")
    await marks.clear()  # Telnyx then returns vb3..vb5 at once: they were not played
    for name in ("vb3", "vb4", "vb5", "vb99", "other", "vbx"):
        await marks.echoed(name)
    assert (marks.played, marks.cleared, marks.echoes, marks.echoes_after_clear) == (2, 5, 4, 3)
    marks.next_mark()
    await marks.echoed("vb6")  # audio after the clear counts again
    assert marks.played == 6


# ---- the heard-text stage with marks ---------------------------------------------------------


@dataclass
class Echo(DataFrame):
    """The carrier echoes a mark (in frame order, so the test controls when)."""

    mark: str = ""


@dataclass
class Clear(DataFrame):
    """The serializer sends the carrier a clear."""


@dataclass
class Interrupt(DataFrame):
    """The caller barges in: an ``InterruptionFrame`` goes down, in frame order."""


@dataclass
class WaitUntil(DataFrame):
    """Frames stop here until ``done()`` (polled, bounded)."""

    done: Callable[[], bool] = field(default=lambda: True)


@dataclass
class Snapshot(DataFrame):
    """Copies what has passed the heard-text stage so far into ``taken``."""

    taken: list[Frame] = field(default_factory=list)


class Recorder(FrameProcessor):
    """After the heard-text stage: notes every frame as it passes."""

    def __init__(self) -> None:
        super().__init__(enable_direct_mode=True)
        self.frames: list[Frame] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            self.frames.append(frame)
        await self.push_frame(frame, direction)


class Carrier(FrameProcessor):
    """Stands in for the output transport and its serializer: a mark goes out with each
    audio chunk, just before the chunk passes on; echoes and clears reach the marks."""

    def __init__(self, marks: PlaybackMarks, seen: list[Frame]) -> None:
        super().__init__(enable_direct_mode=True)
        self.marks = marks
        self.seen = seen

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, Echo):
            await self.marks.echoed(frame.mark)
        elif isinstance(frame, Clear):
            await self.marks.clear()
        elif isinstance(frame, Interrupt):
            await self.push_frame(InterruptionFrame())
        elif isinstance(frame, Snapshot):
            frame.taken.extend(self.seen)
        elif isinstance(frame, WaitUntil):
            deadline = time.monotonic() + BOUND_SECS
            while not frame.done():
                assert time.monotonic() < deadline, "not done within the bound"
                await asyncio.sleep(0.01)
        else:
            if isinstance(frame, TTSAudioRawFrame):
                self.marks.next_mark()
            await self.push_frame(frame, direction)


def announce(text: str) -> AggregatedTextFrame:
    frame = AggregatedTextFrame(text, "sentence")
    frame.will_be_spoken = True
    frame.append_to_context = False
    return frame


def audio(secs: float) -> list[Frame]:
    n = round(secs / CHUNK)
    return [TTSAudioRawFrame(b"\x00\x01" * int(RATE * CHUNK), RATE, 1) for _ in range(n)]


def spoken(segment: AggregatedTextFrame) -> TTSTextFrame:
    return TTSTextFrame(segment.text, "sentence", segment_id=segment.id)


async def run(heard: HeardText, synthesized: Sequence[Frame], played: Sequence[Frame]) -> list:
    """The synthesis side over what the TTS made, then the carrier and the playback side
    over what the transport released (echoes and barge-ins among it)."""
    assert heard.gate is not None
    await run_test(heard.synthesis, frames_to_send=list(synthesized))
    recorder = Recorder()
    pipeline = Pipeline([Carrier(heard.gate.marks, recorder.frames), heard.playback, recorder])
    down, _ = await run_test(pipeline, frames_to_send=list(played))
    return list(down)


def texts(frames: Sequence[Frame]) -> list[str]:
    return [f.text for f in frames if isinstance(f, TTSTextFrame)]


def reply() -> tuple[list[Frame], AggregatedTextFrame, AggregatedTextFrame]:
    first, second = announce(FIRST), announce(SECOND)
    frames = [
        LLMFullResponseStartFrame(),
        first,
        TTSStartedFrame(),
        *audio(0.8),
        spoken(first),
        second,
        *audio(1.4),
        spoken(second),
        TTSStoppedFrame(),
        LLMFullResponseEndFrame(),
    ]
    return frames, first, second


async def test_the_context_gets_only_what_the_carrier_confirmed_as_played() -> None:
    frames, _, second = reply()
    # All of the first clause and 0.4 s of the second were sent; the carrier confirmed the
    # first 10 chunks (0.4 s: "We open" is 7 of 16 characters, "at" ends at 0.5 s).
    sent = frames[: frames.index(second) + 1] + audio(0.4)
    heard = HeardText(marks=PlaybackMarks("twilio"))
    down = await run(heard, frames, [*sent, Echo(mark="vb10"), Interrupt()])
    assert texts(down) == [f"We open {CUT_MARKER}"]  # not the first clause's whole text
    assert heard.gate is not None and heard.gate.marks.cuts[0].mark == 10
    # The echo of everything up to the second clause's 5th chunk (0.2 s: "On" of it).
    heard = HeardText(marks=PlaybackMarks("twilio"))
    down = await run(heard, frames, [*sent, Echo(mark="vb25"), Interrupt()])
    assert texts(down) == [FIRST, f"On {CUT_MARKER}"]
    first_text = next(f for f in down if isinstance(f, TTSTextFrame) and f.text == FIRST)
    assert not isinstance(first_text, HeardTextFrame)  # released when confirmed, as it was


async def test_before_any_echo_nothing_unconfirmed_is_kept() -> None:
    frames, _, second = reply()
    sent = frames[: frames.index(second) + 1] + audio(0.4)
    down = await run(HeardText(marks=PlaybackMarks("twilio")), frames, [*sent, Interrupt()])
    assert texts(down) == []
    assert any(isinstance(f, InterruptionFrame) for f in down)


async def test_echoes_after_the_clear_do_not_make_the_dropped_audio_heard() -> None:
    frames, _, second = reply()
    sent = frames[: frames.index(second) + 1] + audio(0.4)
    marks = PlaybackMarks("telnyx")
    # The interruption is decided on vb5, the clear goes out, and the carrier returns the
    # queued marks at once (Telnyx): the context keeps what vb5 confirmed.
    played = [*sent, Echo(mark="vb5"), Interrupt(), Clear(), Echo(mark="vb30")]
    down = await run(HeardText(marks=marks), frames, played)
    assert texts(down) == [f"We {CUT_MARKER}"]  # 0.2 s: "We" (2 of 16 characters)
    assert marks.played == 5 and marks.echoes_after_clear == 1


async def test_a_reply_confirmed_to_its_end_is_committed_whole() -> None:
    frames, _, _ = reply()
    n = sum(isinstance(f, TTSAudioRawFrame) for f in frames)
    down = await run(
        HeardText(marks=PlaybackMarks("plivo")), frames, [*frames, Echo(mark=f"vb{n}")]
    )
    assert texts(down) == [FIRST, SECOND]
    assert isinstance(down[-1], LLMFullResponseEndFrame)  # held until then, in order


async def test_until_confirmed_the_end_of_a_reply_waits_and_what_follows_waits_behind() -> None:
    frames, _, _ = reply()
    n = sum(isinstance(f, TTSAudioRawFrame) for f in frames)
    after = LLMFullResponseStartFrame()  # the next reply: must not overtake the held end
    unconfirmed, half, whole = Snapshot(), Snapshot(), Snapshot()
    played = [*frames, after, unconfirmed, Echo(mark="vb25"), half, Echo(mark=f"vb{n}"), whole]
    down = await run(HeardText(marks=PlaybackMarks("twilio")), frames, played)
    # All the audio went on at once; text and the end waited for their audio's echo.
    assert sum(isinstance(f, TTSAudioRawFrame) for f in unconfirmed.taken) == n
    assert texts(unconfirmed.taken) == [] and texts(half.taken) == [FIRST]
    assert after not in half.taken
    assert texts(whole.taken) == [FIRST, SECOND]
    assert whole.taken[-2:] == [frames[-1], after]
    assert down[-1] is after


async def test_a_carrier_that_echoes_nothing_falls_back_to_the_estimate() -> None:
    frames, _, second = reply()
    marks = PlaybackMarks("pcm", hold_secs=0.05)
    sent = frames[: frames.index(second) + 1] + audio(0.4)
    played = [*sent, WaitUntil(done=lambda: marks.echoing is False), Interrupt()]
    down = await run(HeardText(marks=marks), frames, played)
    # Given up on: the first clause went on as played, and the cut is the estimate's (0.36
    # of the second clause's 1.4 s surely heard: 7.2 of 28 characters, "On").
    assert texts(down) == [FIRST, f"On {CUT_MARKER}"]
    assert marks.cuts == []


# ---- fuzzing the echo reader -----------------------------------------------------------------

names = st.text(max_size=6) | st.sampled_from(["vb1", "vb3", "vb99", "vb0", "vb-1", "vb 2"])
echoes = st.fixed_dictionaries(
    {"event": st.sampled_from(["mark", "playedStream", "played", "media", "clearedAudio"])},
    optional={
        "mark": st.fixed_dictionaries({}, optional={"name": names | st.integers()})
        | st.text(max_size=4)
        | st.integers(),
        "name": names | st.none() | st.lists(st.integers(), max_size=2),
        "streamSid": st.text(max_size=4),
    },
)
wire = echoes.map(json.dumps) | st.text(max_size=80) | st.binary(max_size=80)
FUZZ = settings(
    max_examples=int(os.environ.get("VOICEBOT_FUZZ_EXAMPLES", "300")),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.mark.parametrize("protocol", [TwilioMarks, TelnyxMarks, PlivoCheckpoints])
def test_no_echo_however_malformed_raises_or_confirms_a_mark_not_sent(
    protocol: type[TwilioMarks],
) -> None:
    async def send(data: str | bytes) -> None:
        pass

    @FUZZ
    @given(messages=st.lists(wire, max_size=5))
    def check(messages: list[str | bytes]) -> None:
        marks = PlaybackMarks("x")
        for _ in range(3):
            marks.next_mark()
        marking = MarkingSerializer(
            TwilioFrameSerializer(
                "MZ1", params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
            ),
            protocol=protocol("MZ1"),
            marks=marks,
            send=send,
        )
        guarded = GuardedSerializer(marking, carrier="x")
        for message in messages:
            asyncio.run(guarded.deserialize(message))
        assert 0 <= marks.played <= marks.sent == 3

    check()
