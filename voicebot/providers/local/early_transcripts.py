"""A segmented STT's transcript started at the caller's pause instead of at the VAD's stop.

Offline Whisper transcribes a whole utterance once the VAD has called it over, after
``stop_secs`` (0.2 s) of quiet: its ~0.15-0.2 s of work comes after that wait, in series.
Here the words so far go to Whisper a fraction into the pause (``PauseWatch``,
``voicebot.conversation.pauses``); when the stop follows with no more speech, the segment the
VAD hands over is those words plus the quiet it waited through, and the transcript started
at the pause is the turn's. If the caller speaks again first, it is dropped (the stop's
segment is transcribed as before): a pause talked through costs one transcription, while
the caller is talking.

The words so far are transcribed with the quiet still to come stood in for by noise at the
level of their last 64 ms ("room tone"). Without it, Whisper heard speech end 0.1 s before
the digital silence it is padded with, and repeated itself ("Agent logged in. Agent logged
in. Agent log"): on 348 recorded utterances, 64 ms into the pause, WER 14.1 % against 12.2 %
at the stop; with it, 11.9 % (``python benchmarks/early_transcripts.py --early 0.064
--pad``; the fresh set: docs/offline.md, "Transcribing at the pause"). An early transcript
that repeated itself ("5 5 5", "8 of spades 8 of Spades 8", ``whisper_repeats``) is not
trusted: the stop's segment is transcribed instead (``trust``), as it would have been.

Plain asyncio, no frames, so the service (``LocalWhisperSTTService``) only forwards to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from voicebot.audio.room_tone import is_quiet, room_tone, tail_level

T = TypeVar("T")


@dataclass
class EarlyCounts:
    """``started`` transcriptions at a pause; ``used`` ones became the turn's transcript;
    ``distrusted`` ones covered the turn but were not used (``trust`` said no)."""

    started: int = 0
    used: int = 0
    distrusted: int = 0

    def to_dict(self) -> dict[str, int]:
        return {"started": self.started, "used": self.used, "distrusted": self.distrusted}


@dataclass
class _Early(Generic[T]):
    audio: bytes  # the segment so far when the pause began
    task: asyncio.Task[T]
    fresh: bool = True  # False once the caller spoke again after it


class EarlyTranscripts(Generic[T]):
    """Keeps the segment as the STT's buffer does and transcribes it early at a pause.

    ``transcribe(pcm)`` is the service's transcription; ``spawn(coroutine)`` makes a task
    the service owns (cancelled with it); ``bytes_per_sec`` is the input rate in bytes;
    ``trust(result)`` says whether an early result may stand for the segment."""

    def __init__(
        self,
        transcribe: Callable[[bytes], Coroutine[Any, Any, T]],
        spawn: Callable[[Coroutine[Any, Any, T]], asyncio.Task[T]],
        bytes_per_sec: Callable[[], int],
        trust: Callable[[T], bool] = lambda _result: True,
    ) -> None:
        self._transcribe = transcribe
        self._trust = trust
        self._spawn = spawn
        self._bytes_per_sec = bytes_per_sec
        self.counts = EarlyCounts()
        self._heard = bytearray()
        self._in_speech = False
        self._early: _Early[T] | None = None

    def speech_started(self) -> None:
        self._in_speech = True

    def speech_stopped(self) -> None:
        self._in_speech = False
        self._heard.clear()

    def audio(self, pcm: bytes) -> None:
        """An input chunk. Kept by SegmentedSTTService's rule: the whole segment while the
        caller speaks, the last second otherwise. A copy that drifts from Pipecat's buffer
        costs only speed: an early transcript is used for a segment that starts with it."""
        self._heard += pcm
        keep = self._bytes_per_sec()
        if not self._in_speech and len(self._heard) > keep:
            del self._heard[: len(self._heard) - keep]

    def paused(self, stop_in_secs: float) -> None:
        """The caller went quiet inside speech: transcribe the segment so far, with room
        tone for the ``stop_in_secs`` of quiet the stop's segment would add."""
        if not self._in_speech or not self._heard:
            return
        if self._early is not None and not self._early.task.done():
            return  # Whisper runs one utterance at a time; the stop will have its own
        audio = bytes(self._heard)
        tone = room_tone(audio, stop_in_secs, self._bytes_per_sec())
        self._early = _Early(audio, self._spawn(self._transcribe(audio + tone)))
        self.counts.started += 1

    def resumed(self) -> None:
        if self._early is not None:
            self._early.fresh = False

    async def transcript(
        self,
        segment: bytes,
        transcribe: Callable[[bytes], Coroutine[Any, Any, T]] | None = None,
        *,
        use_early: bool = True,
    ) -> T:
        """The segment's transcript: the early one if the segment is its words plus quiet
        (and ``use_early``), else ``transcribe``'s (default: the one given at construction)."""
        early, self._early = self._early, None
        if early is not None:
            extra = segment[len(early.audio) :]
            level = tail_level(early.audio, self._bytes_per_sec())
            if (
                use_early
                and early.fresh
                and segment.startswith(early.audio)
                # Speech after the pause that the watch missed (it and the VAD's frames
                # came in one chunk) must be heard: then the whole segment is.
                and is_quiet(extra, level, self._bytes_per_sec())
            ):
                result = await early.task
                if self._trust(result):
                    self.counts.used += 1
                    return result
                self.counts.distrusted += 1
            elif not early.task.done():  # a dropped one still holds Whisper: let it finish
                await asyncio.wait([early.task])
        return await (transcribe or self._transcribe)(segment)

    def pending(self) -> asyncio.Task[T] | None:
        """The early transcription still running, if any (to cancel at cleanup)."""
        early, self._early = self._early, None
        return early.task if early is not None and not early.task.done() else None
