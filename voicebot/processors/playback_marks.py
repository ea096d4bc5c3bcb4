"""Carrier playback marks: which of the bot's audio the carrier says the caller has heard.

A phone carrier buffers the bot's audio before it plays it (the network, a jitter buffer, its
own queue), and on a barge-in its ``clear`` drops what it has not played. So what the output
transport has *sent* is more than the caller has *heard*, by the depth of that buffer. Twilio
and Telnyx echo a ``mark`` sent after a media message once the audio before it has played;
Plivo answers a ``checkpoint`` with ``playedStream``. The phone serializer
(``voicebot.transports.phone.marks``) sends a mark after every audio chunk the output
transport writes and reports each echo to this call's ``PlaybackMarks``.

``ConfirmedPlayback`` is the heard-text stage's use of them (``voicebot.processors.heard_text``,
which stays the one place that decides what was heard): it keeps the stream position of every
chunk that passed the transport, and holds back each frame the assistant aggregator would
commit (a clause's text, the end of a reply) until the carrier has confirmed the audio before
it, so that on a barge-in the context holds only words whose audio the carrier played. A
carrier that has echoed nothing after ``hold_secs`` of audio is taken to send no marks, and
the estimate from the audio sent takes over; so does each frame whose audio has gone
unconfirmed that long.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loguru import logger
from pipecat.frames.frames import Frame, TTSTextFrame

#: Positions this close count as reached: float sums and resampling round by a sample or so.
EPS_SECS = 0.001
#: The prefix of the marks voicebot sends (``vb1``, ``vb2``, ...), so an echo of anything
#: else (a mark of the app's own, a test's) is told apart.
PREFIX = "vb"


@dataclass
class Cut:
    """What a barge-in kept, by marks: the last mark echoed as played before it, the audio
    position (seconds into the call's bot audio) that mark confirmed, and the words kept."""

    mark: int
    played_secs: float
    heard: str


class PlaybackMarks:
    """One call's marks, numbered in the order sent (one after each audio chunk).

    ``played`` is the highest mark the carrier echoed as played. After a ``clear``, Twilio and
    Telnyx echo the marks still queued at once; those echoes say nothing about playing, so
    marks up to ``cleared`` (the last sent before the clear) no longer count. ``echoing`` is
    None until the first echo, then True; False once the carrier was given up on.
    """

    def __init__(self, carrier: str, *, hold_secs: float = 2.0) -> None:
        self.carrier = carrier
        self.hold_secs = hold_secs
        self.sent = 0
        self.played = 0
        self.cleared = 0
        self.echoing: bool | None = None
        self.echoes = 0  # every echo of one of ours
        self.echoes_after_clear = 0  # ...of which came for audio a clear had dropped
        self.cuts: list[Cut] = []  # one per barge-in decided by marks
        self._listeners: list[Callable[[], Awaitable[None]]] = []

    def listen(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Await ``callback()`` whenever ``played`` or ``cleared`` moves."""
        self._listeners.append(callback)

    def next_mark(self) -> str:
        """The name of the mark to send after the chunk just sent."""
        self.sent += 1
        return f"{PREFIX}{self.sent}"

    async def echoed(self, name: str) -> None:
        """The carrier says the audio before mark ``name`` has played."""
        number = name[len(PREFIX) :] if name.startswith(PREFIX) else ""
        if not number.isdigit() or not 0 < int(number) <= self.sent:
            return  # not one of ours
        seq = int(number)
        self.echoes += 1
        if seq <= self.cleared:
            self.echoes_after_clear += 1
            return
        if self.echoing is None:
            self.echoing = True
        if seq > self.played:
            self.played = seq
            await self._changed()

    async def clear(self) -> None:
        """A ``clear`` is about to go out: the audio sent so far will not all be played."""
        if self.sent > self.cleared:
            self.cleared = self.sent
            await self._changed()

    async def _changed(self) -> None:
        for callback in self._listeners:
            await callback()


#: The attribute of an output transport that holds its call's marks. On the object itself, so
#: they live and die with it: a module-level ``WeakKeyDictionary`` kept every phone call's
#: whole session alive (the marks' listeners lead back to the transport, its key), ~40 MB
#: per call in a worker that never got it back.
MARKS_ATTR = "voicebot_playback_marks"


def attach_playback_marks(output: object, marks: PlaybackMarks) -> None:
    """Make ``marks`` the playback marks of the audio ``output`` (an output transport)
    writes; ``track_heard_text(output)`` finds them there."""
    setattr(output, MARKS_ATTR, marks)


def playback_marks(output: object) -> PlaybackMarks | None:
    """The playback marks of an output transport, or None when its peer sends none."""
    marks = getattr(output, MARKS_ATTR, None)
    return marks if isinstance(marks, PlaybackMarks) else None


@dataclass
class _Clause:
    """A clause that passed the transport: where its audio starts and ends in the stream."""

    segment_id: int
    context_id: str | None
    start: float
    end: float | None = None


@dataclass
class _Held:
    frame: Frame
    needed: float  # the stream position whose playing this frame waits for
    since: float  # when it was held (monotonic)
    sent_at: float | None = None  # when the audio up to ``needed`` had all been sent


class ConfirmedPlayback:
    """The frames after the output transport, held until the carrier has played the audio
    before them (see the module docstring).

    ``release(frame, played)`` pushes a frame on (``played``: confirmed by a mark, else
    assumed: its audio was cleared, or went unconfirmed for ``hold_secs``). Positions are
    seconds of bot audio through the transport since the call started. Every method that
    releases runs under ``lock``, which the heard-text stage holds while it handles a frame.
    """

    def __init__(
        self, marks: PlaybackMarks, release: Callable[[Frame, bool], Awaitable[None]]
    ) -> None:
        self.marks = marks
        self.lock = asyncio.Lock()
        self.pos = 0.0  # audio through the transport so far
        self.last_chunk_secs = 0.0  # ...the last chunk of it (which may still be playing)
        self.played_pos = 0.0  # ...of which the carrier confirmed as played
        self.floor = 0.0  # ...of which nothing is pending any more (played or cleared)
        self._release = release
        self._mark_pos: deque[tuple[int, float]] = deque()  # (mark, position after it)
        self._held: deque[_Held] = deque()
        self._changed = asyncio.Event()
        self._warned = False
        self._clause: _Clause | None = None  # the last clause announced
        self._starts: dict[int, float] = {}  # announced clause → where its audio starts
        marks.listen(self._marks_moved)

    @property
    def active(self) -> bool:
        """Whether frames wait for marks (False once the carrier was found to echo none)."""
        return self.marks.echoing is not False

    # ---- what passes the transport ---------------------------------------------------------

    def audio(self, secs: float) -> None:
        """A chunk of ``secs`` passed the transport, right after it was sent with its mark."""
        self.pos += secs
        self.last_chunk_secs = secs
        sent = self.marks.sent
        # A chunk whose mark did not go out keeps the earlier mark's position: conservative.
        if self.active and sent > 0 and (not self._mark_pos or self._mark_pos[-1][0] != sent):
            self._mark_pos.append((sent, self.pos))
        now = time.monotonic()
        for held in self._held:
            if held.sent_at is None and held.needed <= self.pos + EPS_SECS:
                held.sent_at = now
                self._changed.set()

    def clause_passed(self, segment_id: int, context_id: str | None) -> None:
        """A clause's announcement passed: its audio starts where the last clause of its TTS
        context ends (the transport may still hold that one's last partial chunk, so the
        stream position is short of it), else where the stream is now."""
        last = self._clause
        start = self.pos
        if last is not None and last.end is not None and last.context_id == context_id:
            start = last.end
        self._clause = _Clause(segment_id, context_id, start)
        self._starts[segment_id] = start
        if len(self._starts) > 64:
            self._starts.pop(next(iter(self._starts)))

    def start_of(self, segment_id: int) -> float | None:
        """Where the audio of an announced clause starts (once, as it becomes the one
        playing)."""
        return self._starts.pop(segment_id, None)

    def needed(self, frame: Frame, clause_secs: Callable[[int, str], float]) -> float:
        """The stream position whose playing ``frame`` waits for: a clause's text waits for
        the clause's last audio (``clause_secs``: its length), anything else for the audio
        that passed before it."""
        clause = self._clause
        if (
            isinstance(frame, TTSTextFrame)
            and frame.pts is None
            and clause is not None
            and frame.segment_id == clause.segment_id
        ):
            clause.end = clause.start + clause_secs(clause.segment_id, frame.text)
            return clause.end
        return self.pos

    async def hold(self, frame: Frame, needed: float) -> bool:
        """Hold ``frame`` until the audio up to ``needed`` is confirmed (or it must wait
        behind a frame held before it); False if it may go on now."""
        if not self._held and needed <= self.floor + EPS_SECS:
            return False
        now = time.monotonic()
        sent_at = now if needed <= self.pos + EPS_SECS else None
        self._held.append(_Held(frame, needed, now, sent_at))
        self._changed.set()
        return True

    # ---- releases --------------------------------------------------------------------------

    async def _marks_moved(self) -> None:
        async with self.lock:
            self._advance()
            await self._release_ready()

    def _advance(self) -> None:
        """Bring ``played_pos`` and ``floor`` up to the marks echoed and cleared."""
        marks = self.marks
        while self._mark_pos and self._mark_pos[0][0] <= max(marks.played, marks.cleared):
            mark, pos = self._mark_pos.popleft()
            if mark <= marks.played:
                self.played_pos = max(self.played_pos, pos)
            self.floor = max(self.floor, pos)
        self.floor = max(self.floor, self.played_pos)

    async def _release_ready(self) -> None:
        while self._held and self._held[0].needed <= self.floor + EPS_SECS:
            held = self._held.popleft()
            await self._release(held.frame, held.needed <= self.played_pos + EPS_SECS)

    def take_played(self) -> list[Frame]:
        """The held frames whose audio is confirmed, in order (a barge-in turns them into
        heard text: pushed as frames now, the interruption would drop them)."""
        self._advance()
        frames = []
        while self._held and self._held[0].needed <= self.played_pos + EPS_SECS:
            frames.append(self._held.popleft().frame)
        return frames

    def interrupted(self) -> list[Frame]:
        """A barge-in: drop what was held (its audio was not confirmed, and the carrier is
        told to clear it); return the uninterruptible frames among it, which go on anyway.
        Nothing sent so far is pending after this."""
        kept = [h.frame for h in self._held if not h.frame.interruptible]
        self._held.clear()
        self._mark_pos.clear()
        self.floor = self.pos
        self._clause = None
        return kept

    async def flush(self) -> None:
        """Release everything held (the call is ending: no more marks will come)."""
        while self._held:
            await self._release(self._held.popleft().frame, False)

    # ---- frames whose marks do not come ----------------------------------------------------

    async def run(self) -> None:
        """Release what waited ``hold_secs`` past its audio being sent, and give up on a
        carrier that has echoed nothing by then."""
        hold = self.marks.hold_secs
        while True:
            self._changed.clear()
            head = self._held[0] if self._held else None
            if head is None:
                await self._changed.wait()
                continue
            # An absolute bound too: a frame waiting for audio that never comes is let go.
            due = min(head.since + 5 * hold, (head.sent_at or float("inf")) + hold)
            wait = due - time.monotonic()
            if wait > 0:
                # Woken early by any change; polled at least every hold_secs for sent_at.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(wait, hold))
                continue
            async with self.lock:
                await self._expire()

    async def _expire(self) -> None:
        marks = self.marks
        if marks.echoing is None:
            marks.echoing = False
            logger.warning(
                f"{marks.carrier}: the carrier echoed no playback mark in {marks.hold_secs:g}s; "
                "what the caller heard is estimated from the audio sent"
            )
            self._mark_pos.clear()
            await self.flush()
            return
        if not self._warned:
            self._warned = True
            logger.warning(
                f"{marks.carrier}: audio sent {marks.hold_secs:g}s ago is not confirmed as "
                "played; taking it as heard (later cases are not logged)"
            )
        now = time.monotonic()
        hold = marks.hold_secs
        while self._held and (
            (self._held[0].sent_at is not None and now - self._held[0].sent_at >= hold)
            or now - self._held[0].since >= 5 * hold
        ):
            await self._release(self._held.popleft().frame, False)
