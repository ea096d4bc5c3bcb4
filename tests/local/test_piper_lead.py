"""A reply's first piece from Piper starts within ``LEAD_KEEP_SECS`` of its first sound; later
pieces keep Piper's lead-in (the pause between clauses). Real voice, no clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

from voicebot.providers.base import BuildContext
from voicebot.providers.local import piper
from voicebot.providers.local.piper import LEAD_KEEP_SECS, SILENT_LEVEL, PiperTTS, trim_lead

RATE = 22050


def pcm(*parts: np.ndarray) -> bytes:
    return np.concatenate(parts).astype("<i2").tobytes()


def lead_secs(audio: bytes, rate: int = RATE) -> float:
    samples = np.abs(np.frombuffer(audio, dtype="<i2").astype(np.int32))
    return float(np.argmax(samples > SILENT_LEVEL)) / rate


def test_trim_lead_keeps_a_few_ms_before_the_first_sound() -> None:
    rng = np.random.default_rng(1)
    quiet = rng.integers(-SILENT_LEVEL, SILENT_LEVEL + 1, int(0.04 * RATE))  # 40 ms of hiss
    tone = (8000 * np.sin(np.arange(RATE // 10) / 5)).astype(np.int16)
    tone[0] = 5000  # the first loud sample is the tone's first
    trimmed = trim_lead(pcm(quiet, tone), RATE)
    keep = int(LEAD_KEEP_SECS * RATE)
    assert len(trimmed) == 2 * (keep + tone.size)
    assert trimmed[2 * keep :] == tone.astype("<i2").tobytes()


def test_trim_lead_leaves_silence_and_a_sound_at_the_start_alone() -> None:
    silent = pcm(np.zeros(RATE // 10))
    assert trim_lead(silent, RATE) == silent
    assert trim_lead(b"", RATE) == b""
    loud = pcm(np.full(100, 9000), np.zeros(100))
    assert trim_lead(loud, RATE) == loud


async def test_a_reply_s_first_piece_loses_piper_s_lead_in_and_later_pieces_keep_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    voice = PiperTTS().voice()
    rate = voice.config.sample_rate

    async def raw(service: Any, chunks: AsyncIterator[bytes], **_: Any) -> AsyncIterator[bytes]:
        async for chunk in chunks:  # the PCM the service hands Pipecat, before framing
            yield chunk

    monkeypatch.setattr(piper, "stream_audio_frames", raw)
    service = PiperTTS().build(BuildContext())

    async def said(text: str, context: str) -> bytes:
        return b"".join([chunk async for chunk in service.run_tts(text, context)])

    def piper_alone(text: str) -> bytes:
        return b"".join(chunk.audio_int16_bytes for chunk in voice.synthesize(text))

    # Piper's output varies from run to run (its noise): compared by the lead-in, not sample
    # by sample. Both texts open with ~50 ms of it.
    first, later = "Okay, let me check.", "Your appointment is on Friday."
    assert lead_secs(piper_alone(first), rate) > 4 * LEAD_KEEP_SECS
    assert lead_secs(piper_alone(later), rate) > 4 * LEAD_KEEP_SECS

    await service.on_turn_context_created("reply-1")
    heard = [await said(first, "reply-1"), await said(later, "reply-1")]
    assert lead_secs(heard[0], rate) == pytest.approx(LEAD_KEEP_SECS, abs=1.5 / rate)
    assert lead_secs(heard[1], rate) > 4 * LEAD_KEEP_SECS  # not a reply's first piece

    await service.on_turn_context_created("reply-2")  # the next reply: cut again
    assert lead_secs(await said(later, "reply-2"), rate) == pytest.approx(
        LEAD_KEEP_SECS, abs=1.5 / rate
    )
    # A piece of a context that was never opened as a turn (or already had its first): kept.
    assert lead_secs(await said(later, "reply-2"), rate) > 4 * LEAD_KEEP_SECS
    assert lead_secs(await said(later, "elsewhere"), rate) > 4 * LEAD_KEEP_SECS


async def test_through_pipecat_each_turn_context_s_first_audio_starts_at_its_sound() -> None:
    """Frames as a call sends them: a spoken line (``TTSSpeakFrame``) while the model is
    still thinking, then the reply's text in two sentences. Each turn context's first audio
    starts ``LEAD_KEEP_SECS`` before its sound; the reply's second sentence keeps its
    lead-in. A voice with a fixed 50 ms lead-in stands in for Piper, whose output varies."""
    from types import SimpleNamespace

    from pipecat.frames.frames import (
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
        TTSAudioRawFrame,
        TTSSpeakFrame,
    )
    from pipecat.tests.utils import SleepFrame, run_test

    lead_in = np.zeros(int(0.05 * RATE), dtype=np.int16)
    tone = (8000 * np.sin(np.arange(RATE // 5) / 3)).astype(np.int16)

    class Voice:
        config = SimpleNamespace(sample_rate=RATE)

        def synthesize(self, text: str) -> list[Any]:
            return [SimpleNamespace(audio_int16_bytes=pcm(lead_in, tone))]

    service = piper.LocalPiperTTSService(Voice(), voice_name="fixed", sample_rate=RATE)
    down, _ = await run_test(
        service,
        frames_to_send=[
            LLMFullResponseStartFrame(),
            TTSSpeakFrame("Okay, let me check."),
            LLMTextFrame("Your appointment is on Friday. It is at nine."),
            LLMFullResponseEndFrame(),
            SleepFrame(sleep=0.5),
        ],
    )
    contexts: dict[str, list[bytes]] = {}
    for frame in down:
        if isinstance(frame, TTSAudioRawFrame):
            assert frame.sample_rate == RATE
            contexts.setdefault(str(frame.context_id), []).append(frame.audio)
    assert len(contexts) == 2, "the spoken line and the reply: two turn contexts"
    speak, reply = (b"".join(chunks) for chunks in contexts.values())
    piece = len(pcm(lead_in, tone)) - len(trim_lead(pcm(lead_in, tone), RATE))
    assert lead_secs(speak) == pytest.approx(LEAD_KEEP_SECS, abs=1.5 / RATE)
    assert lead_secs(reply) == pytest.approx(LEAD_KEEP_SECS, abs=1.5 / RATE)
    assert len(speak) == len(pcm(lead_in, tone)) - piece  # one piece, cut
    assert len(reply) == 2 * len(pcm(lead_in, tone)) - piece  # two pieces, the first cut
