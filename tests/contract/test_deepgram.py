"""Contract tests: ``DeepgramSTT`` against a local server speaking Deepgram's live protocol.

The provider is built exactly as a bot builds it, pointed at the local server with
``base_url``, and driven through a real Pipecat pipeline. The tests check both sides of the
wire: what comes out of the service (transcription frames, errors) and what the server saw
(path, auth header, query parameters, audio, control messages).
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import time

import pytest
from deepgram import AsyncDeepgramClient, DeepgramClientEnvironment
from deepgram.core.events import EventType
from deepgram.listen.v1.types import ListenV1Metadata, ListenV1Results
from pipecat.frames.frames import (
    ErrorFrame,
    InputAudioRawFrame,
    InterimTranscriptionFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.worker import PipelineParams
from pipecat.processors.frame_processor import FrameDirection
from pipecat.tests.utils import SleepFrame, run_test
from pipecat.utils.errors import ErrorCategory

from tests.contract.servers.deepgram_live import DeepgramLiveServer
from voicebot.providers.base import BuildContext
from voicebot.providers.deepgram import DeepgramSTT

pytestmark = pytest.mark.contract

RATE = 16000
FRAME_MS = 20
KEY = "dg-contract-key"


def speech(ms: int, rate: int = RATE) -> list[InputAudioRawFrame]:
    """``ms`` of a 220 Hz tone as 20 ms input frames, as a transport delivers a microphone."""
    per_frame = rate * FRAME_MS // 1000
    frames = []
    for i in range(ms // FRAME_MS):
        samples = (
            int(6000 * math.sin(2 * math.pi * 220 * (i * per_frame + n) / rate))
            for n in range(per_frame)
        )
        audio = struct.pack(f"<{per_frame}h", *samples)
        frames.append(InputAudioRawFrame(audio=audio, sample_rate=rate, num_channels=1))
    return frames


def build(server: DeepgramLiveServer, **options):  # type: ignore[no-untyped-def]
    options.setdefault("api_key", KEY)
    return DeepgramSTT(base_url=server.base_url, **options).build(BuildContext())


# ---- the happy path ------------------------------------------------------------------------------


async def test_utterance_is_transcribed_with_pipecat_run_test(deepgram_server: DeepgramLiveServer):
    deepgram_server.script("hello there how are you")
    stt = build(deepgram_server)

    down, up = await run_test(
        stt,
        frames_to_send=[*speech(500), VADUserStoppedSpeakingFrame(), SleepFrame(sleep=0.5)],
    )

    finals = [f for f in down if isinstance(f, TranscriptionFrame)]
    assert [f.text for f in finals] == ["hello there how are you"]
    assert isinstance(finals[0].result, ListenV1Results)
    assert finals[0].result.from_finalize is True
    interims = [f.text for f in down if isinstance(f, InterimTranscriptionFrame)]
    assert interims, "interim_results=true, yet no interim transcription came out"
    assert all("hello there how are you".startswith(t) for t in interims)
    # Interims come before the final.
    assert down.index(finals[0]) > max(
        i for i, f in enumerate(down) if isinstance(f, InterimTranscriptionFrame)
    )
    assert not [f for f in up if isinstance(f, ErrorFrame)]

    [session] = deepgram_server.sessions
    assert session.path == "/v1/listen"
    assert session.authorization == f"Token {KEY}"
    assert session.param("model") == "nova-3-general"
    assert session.param("language") == "en"
    assert session.param("encoding") == "linear16"
    assert session.param("sample_rate") == str(RATE)
    assert session.param("channels") == "1"
    assert session.param("interim_results") == "true"
    assert session.audio_bytes == 500 * RATE * 2 // 1000
    # EndFrame closes the stream the documented way, after the turn's Finalize.
    await deepgram_server.wait_for(lambda: "CloseStream" in session.control_types(), 2)
    assert session.control_types() == ["Finalize", "CloseStream"]


async def test_provider_options_reach_the_query_string(deepgram_server_factory, harness):
    server = await deepgram_server_factory(api_key="dg-key-from-env")
    server.script("hola que tal")
    provider = DeepgramSTT(
        model="nova-2-phonecall",
        language="es",
        base_url=server.base_url,
        sample_rate=RATE,
        interim_results=False,
        smart_format=True,
        endpointing=300,
        keyterms=["Pipecat", "voicebot"],
    )
    # No api_key=: the key is resolved from the bot's environment, as in production.
    stt = provider.build(BuildContext(env={"DEEPGRAM_API_KEY": "dg-key-from-env"}))
    h = await harness(stt)

    await h.push(*speech(300), VADUserStoppedSpeakingFrame())
    [final] = await h.wait_for(TranscriptionFrame)

    assert final.text == "hola que tal"
    [session] = server.sessions
    assert session.authorization == "Token dg-key-from-env"
    assert session.param("model") == "nova-2-phonecall"
    assert session.param("language") == "es"
    assert session.param("sample_rate") == str(RATE)
    assert session.param("interim_results") == "false"
    assert session.param("smart_format") == "true"
    assert session.param("endpointing") == "300"
    # A list becomes repeated parameters, the way Deepgram reads keyterms.
    assert session.query["keyterm"] == ["Pipecat", "voicebot"]
    # interim_results=false: the server sends none, and none come out.
    assert session.results(final=False) == []
    assert h.frames(InterimTranscriptionFrame) == []
    assert await h.stop() < 5


async def test_each_utterance_is_finalized_on_its_own(deepgram_server: DeepgramLiveServer, harness):
    deepgram_server.script("first thing", "second thing")
    h = await harness(build(deepgram_server))

    await h.push(*speech(300), VADUserStoppedSpeakingFrame())
    await h.wait_for(TranscriptionFrame)
    await h.push(*speech(400), VADUserStoppedSpeakingFrame())
    finals = await h.wait_for(TranscriptionFrame, count=2)

    assert [f.text for f in finals] == ["first thing", "second thing"]
    [session] = deepgram_server.sessions  # one connection for the whole conversation
    assert session.control_types() == ["Finalize", "Finalize"]
    first, second = session.results(final=True)
    assert first["from_finalize"] and second["from_finalize"]
    assert first["start"] == 0 and first["duration"] == pytest.approx(0.3)
    assert second["start"] == pytest.approx(0.3) and second["duration"] == pytest.approx(0.4)
    await h.stop()


async def test_server_endpointing_final_is_transcribed_without_vad(
    deepgram_server_factory, harness
):
    server = await deepgram_server_factory(auto_final_after_ms=300)
    server.script("no vad needed")
    h = await harness(build(server))

    await h.push(*speech(300))
    [final] = await h.wait_for(TranscriptionFrame)

    assert final.text == "no vad needed"
    assert final.result.speech_final is True
    assert final.result.from_finalize is False
    assert server.sessions[0].control_types() == []
    await h.stop()


async def test_idle_connection_is_kept_alive(deepgram_server: DeepgramLiveServer, harness):
    """Deepgram drops a connection that carries nothing for 10 s; the client sends KeepAlive."""
    deepgram_server.script("still here")
    h = await harness(build(deepgram_server))
    [session] = deepgram_server.sessions

    await deepgram_server.wait_for(lambda: "KeepAlive" in session.control_types(), timeout=7)
    assert {"type": "KeepAlive"} in session.control
    assert not session.closed

    await h.push(*speech(200), VADUserStoppedSpeakingFrame())
    [final] = await h.wait_for(TranscriptionFrame)
    assert final.text == "still here"
    assert len(deepgram_server.sessions) == 1
    await h.stop()


# ---- failures -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server_options", "key"),
    [({}, "dg-wrong-key"), ({"reject_auth": True}, KEY)],
    ids=["wrong-key", "revoked-key"],
)
async def test_rejected_key_is_reported_and_pipeline_keeps_going(
    deepgram_server_factory, harness, server_options, key
):
    server = await deepgram_server_factory(**server_options)
    stt = build(server, api_key=key)
    h = await harness(stt)

    [error] = await h.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM)
    assert error.processor is stt
    assert "401" in error.error
    assert error.category is ErrorCategory.AUTHENTICATION
    assert key not in error.error, "the API key leaked into the error message"
    assert not stt.is_usable

    # The pipeline keeps flowing: audio still passes through, nothing hangs.
    frames = speech(100)
    await h.push(*frames)
    await h.wait_for(InputAudioRawFrame, direction=FrameDirection.DOWNSTREAM, count=len(frames))
    # A 4xx is final: no retry storm against the server.
    await asyncio.sleep(0.3)
    assert server.rejected == [(401, f"Token {key}")]
    assert server.sessions == []
    assert len(h.frames(ErrorFrame)) == 1
    assert await h.stop() < 5


async def test_dropped_connection_reconnects_and_later_utterance_is_transcribed(
    deepgram_server_factory, harness
):
    server = await deepgram_server_factory(drop_after_ms=200)
    server.script("after the reconnect")
    stt = build(server)
    h = await harness(stt)

    dropped_at = time.monotonic()
    await h.push(*speech(300))
    [error] = await h.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM)
    assert error.processor is stt
    assert server.dropped == 1
    assert stt.is_usable, "a dropped connection is recoverable"

    # Pipecat waits out a backoff (4 s minimum) before reconnecting.
    await server.wait_for(lambda: len(server.sessions) == 2, timeout=8)
    reconnect_delay = time.monotonic() - dropped_at
    assert reconnect_delay < 8, reconnect_delay

    await h.push(*speech(300), VADUserStoppedSpeakingFrame())
    [final] = await h.wait_for(TranscriptionFrame)
    assert final.text == "after the reconnect"
    first, second = server.sessions
    assert first.ended_by == "dropped"
    assert second.authorization == f"Token {KEY}" and second.query == first.query
    assert len(h.frames(ErrorFrame)) == 1
    assert await h.stop() < 5


async def test_connection_that_keeps_dropping_is_given_up_on(deepgram_server_factory, harness):
    """Three connections in a row that die at once: Pipecat stops retrying, says so, moves on."""
    server = await deepgram_server_factory(drop_after_ms=0, drop_connections=10)
    stt = build(server)
    began = time.monotonic()
    h = await harness(stt)

    permanent = await h.wait_for(
        ErrorFrame,
        where=lambda e: "3 times in a row" in e.error,
        direction=FrameDirection.UPSTREAM,
        timeout=9.5,
    )
    gave_up_after = time.monotonic() - began
    assert permanent[0].processor is stt
    assert not stt.is_usable
    assert len(server.sessions) == server.dropped == 3
    # Two 4 s backoffs between the three attempts, then no more attempts.
    assert 7.5 < gave_up_after < 9.5, gave_up_after
    await asyncio.sleep(0.2)
    assert len(server.sessions) == 3
    assert await h.stop() < 5


async def test_multilingual_language_code_is_passed_through(deepgram_server, harness):
    provider = DeepgramSTT(
        model="nova-3", language="multi", api_key=KEY, base_url=deepgram_server.base_url
    )
    provider.check(BuildContext())
    stt = provider.build(BuildContext())
    await harness(stt)
    assert deepgram_server.sessions[0].param("language") == "multi"


# ---- the server itself speaks what Deepgram's SDK parses ----------------------------------------


async def test_server_messages_parse_as_deepgram_sdk_types(deepgram_server: DeepgramLiveServer):
    """Guards the fake: its Results and Metadata must be what the vendor SDK models."""
    deepgram_server.script("one two three")
    client = AsyncDeepgramClient(
        api_key=KEY,
        environment=DeepgramClientEnvironment(
            base=f"http://127.0.0.1:{deepgram_server.port}",
            production=deepgram_server.base_url,
            agent=deepgram_server.base_url,
            agent_rest=f"http://127.0.0.1:{deepgram_server.port}",
        ),
    )
    received: list[object] = []
    audio = b"".join(f.audio for f in speech(400))
    async with client.listen.v1.connect(
        model="nova-3", encoding="linear16", sample_rate=str(RATE), interim_results="true"
    ) as connection:
        connection.on(EventType.MESSAGE, received.append)
        listening = asyncio.create_task(connection.start_listening())
        await connection.send_media(audio)
        await connection.send_finalize()
        await connection.send_keep_alive()
        await connection.send_close_stream()
        # After CloseStream the server sends Metadata and closes: listening ends by itself.
        await asyncio.wait_for(listening, 5)

    results = [m for m in received if isinstance(m, ListenV1Results)]
    assert results and all(r.metadata.model_info.name == "nova-3" for r in results)
    final = [r for r in results if r.is_final]
    assert [r.channel.alternatives[0].transcript for r in final] == ["one two three"]
    assert final[0].from_finalize is True
    assert [w.word for w in final[0].channel.alternatives[0].words] == ["one", "two", "three"]
    [metadata] = [m for m in received if isinstance(m, ListenV1Metadata)]
    assert metadata.duration == pytest.approx(0.4)
    assert metadata.channels == 1
    assert received[-1] is metadata
    assert deepgram_server.sessions[0].ended_by == "server"


# ---- against the real Deepgram --------------------------------------------------------------------


def _real_key(name: str) -> str:
    key = os.environ.get(name)
    if not key:
        pytest.skip(f"{name} not set: set it to run this test against the real vendor API")
    return key


@pytest.mark.cloud
async def test_real_deepgram_accepts_key_and_rejects_bad_one(harness):
    key = _real_key("DEEPGRAM_API_KEY")
    stt = DeepgramSTT().build(BuildContext(env={"DEEPGRAM_API_KEY": key}))
    h = await harness(stt)
    await h.push(*speech(1000), VADUserStoppedSpeakingFrame())
    await asyncio.sleep(2)
    assert h.frames(ErrorFrame) == [], [e.error for e in h.frames(ErrorFrame)]
    assert stt.is_usable
    await h.stop(timeout=10)

    bad = DeepgramSTT(api_key="not-a-real-deepgram-key").build(BuildContext())
    hb = await harness(bad)
    [error] = await hb.wait_for(ErrorFrame, direction=FrameDirection.UPSTREAM, timeout=10)
    assert "401" in error.error
    assert not bad.is_usable
    await hb.stop(timeout=10)


@pytest.mark.cloud
async def test_real_round_trip_cartesia_speech_is_transcribed_by_deepgram(harness):
    """Speech made by the real Cartesia, heard by the real Deepgram."""
    dg_key = _real_key("DEEPGRAM_API_KEY")
    cartesia_key = _real_key("CARTESIA_API_KEY")
    from voicebot.providers.cartesia import CartesiaTTS

    tts = CartesiaTTS(api_key=cartesia_key, sample_rate=RATE).build(BuildContext())
    ht = await harness(tts, PipelineParams(audio_in_sample_rate=RATE, audio_out_sample_rate=RATE))
    await ht.push(TTSSpeakFrame("Hello there. How are you today?"))
    await ht.wait_for(TTSStoppedFrame, timeout=15)
    audio = b"".join(f.audio for f in ht.frames(TTSAudioRawFrame))
    await ht.stop(timeout=10)
    assert audio, "Cartesia produced no audio"

    stt = DeepgramSTT(api_key=dg_key).build(BuildContext())
    hs = await harness(stt)
    step = RATE * 2 * FRAME_MS // 1000
    for i in range(0, len(audio), step):
        await hs.push(
            InputAudioRawFrame(audio=audio[i : i + step], sample_rate=RATE, num_channels=1)
        )
    await hs.push(*speech(300), VADUserStoppedSpeakingFrame())
    finals = await hs.wait_for(TranscriptionFrame, timeout=15)
    assert "hello" in " ".join(f.text for f in finals).lower()
    await hs.stop(timeout=10)
